// Deterministic simulation of the voice core: thousands of seeded interleavings of invocations, store
// operations, media calls (failing, answer lost, hung, dead node, sessions lost on the media side) and
// post deliveries, each checked against the members' invariant (see world.ts). A failing seed is printed
// and replays exactly:  SIM_SEED=<seed> node --import tsx --test test/sim/simulation.test.ts
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scheduler } from './scheduler';
import { DEFAULT_WORLD, World, type WorldOptions } from './world';

const SEEDS = Number(process.env.SIM_SEEDS ?? 1500);
const ONLY = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);

async function runSeed(seed: number, options: WorldOptions): Promise<{ problems: string[]; world: World }> {
  const sim = new Scheduler(seed);
  const world = new World(sim, options);
  await world.run();
  return { problems: [...world.check(), ...(await world.leftovers())], world };
}

async function explore(name: string, options: WorldOptions, seeds: number, firstSeed: number): Promise<void> {
  const list = ONLY !== undefined ? [ONLY] : Array.from({ length: seeds }, (_, i) => firstSeed + i);
  let steps = 0;
  let joins = 0;
  let resumed = 0;
  let suspended = 0;
  let consumersGranted = 0;
  for (const seed of list) {
    const { problems, world } = await runSeed(seed, options);
    steps += world.sim.steps;
    joins += world.logLines.filter((l) => l.msg === 'voice.joined').length;
    resumed += world.logLines.filter((l) => l.msg === 'voice.session-resumed').length;
    suspended += world.logLines.filter((l) => l.msg === 'voice.session-suspended').length;
    consumersGranted += [...world.clients.values()].filter((c) => c.consumersResumed && c.view).length;
    if (problems.length > 0) {
      if (process.env.SIM_TRACE) for (const l of world.logLines) console.log(l.line);
      assert.fail(
        `${name}: seed ${seed} broke the invariant (replay: SIM_SEED=${seed} node --import tsx --test test/sim/simulation.test.ts)\n  ${problems.slice(0, 12).join('\n  ')}`,
      );
    }
  }
  console.log(
    `# ${name}: ${list.length} seeds, ${steps} scheduling steps, ${joins} joins${options.resumeClients || options.extClients ? `, ${suspended} suspended, ${resumed} resumed` : ''}${options.extClients ? `, ${consumersGranted} joined with consumers.v1` : ''}: invariant held`,
  );
  assert.ok(joins > list.length, 'the scenarios actually join people (the check is not vacuous)');
  if (options.extClients && ONLY === undefined)
    assert.ok(
      consumersGranted > list.length / 2 && resumed > list.length / 8,
      'the negotiated scenario actually joins with consumers.v1 and resumes with resume.v1 granted by Welcome',
    );
  if (options.resumeClients && ONLY === undefined)
    assert.ok(
      resumed > list.length / 4 && suspended > list.length / 4,
      'the resume scenario actually suspends and resumes sessions',
    );
}

test("members' views are exact under every interleaving: churn with faults", { timeout: 600_000 }, async () => {
  await explore('churn', DEFAULT_WORLD, SEEDS, 1);
});

test('same-user races: five streams of one user into one channel at once', { timeout: 600_000 }, async () => {
  await explore(
    'same-user',
    { ...DEFAULT_WORLD, clients: 6, users: 2, closeAfterMessage: 0.03 },
    Math.ceil(SEEDS / 3),
    100_001,
  );
});

test('resume.v1: sockets cut (and replaced before they break), sessions suspended and resumed, or never resumed', {
  timeout: 600_000,
}, async () => {
  await explore(
    'resume',
    { ...DEFAULT_WORLD, resumeClients: 0.7, cut: 0.8, loseLate: 0.5 },
    Math.ceil(SEEDS / 3),
    200_001,
  );
});

test("poison entry: one entry undeliverable to receiver X ends X alone (voice.undeliverable); everyone else's view holds", {
  timeout: 600_000,
}, async () => {
  await explore(
    'undeliverable',
    { ...DEFAULT_WORLD, undeliverable: 0.3, resumeClients: 0.7, cut: 0.8 },
    Math.ceil(SEEDS / 3),
    300_001,
  );
  // The fault actually fires, and the receiver it hits is ended with the documented identifier.
  let refused = 0;
  let told = 0;
  for (let seed = 300_001; seed <= 300_060; seed++) {
    const world = new World(new Scheduler(seed), {
      ...DEFAULT_WORLD,
      undeliverable: 0.3,
      faults: { failBefore: 0, loseAnswer: 0, hang: 0 },
      closeAfterMessage: 0,
      dropDisconnect: 0,
      duplicate: 0,
      badJoin: 0,
      loseSession: 0,
      killNode: 0,
    });
    await world.run();
    assert.deepEqual([...world.check(), ...(await world.leftovers())], [], `seed ${seed}`);
    for (const client of world.clients.values()) {
      if (!client.refused) continue;
      refused++;
      assert.equal(client.open, false, `seed ${seed}: ${client.sessionId} was ended`);
      // (Unless another end claimed it first: the same user's next stream replaced it, say.)
      if (client.errors.includes('voice.undeliverable')) told++;
    }
  }
  assert.ok(
    refused > 10 && told > refused / 2,
    `the fault fired (${refused} receivers, ${told} told voice.undeliverable)`,
  );
});

test('extensions negotiated (+ext.v1: Hello/Welcome): resume.v1 and consumers.v1 in any subset, next to stock clients', {
  timeout: 600_000,
}, async () => {
  await explore(
    'negotiated',
    { ...DEFAULT_WORLD, extClients: 0.7, cut: 0.8, loseLate: 0.3 },
    Math.ceil(SEEDS / 3),
    400_001,
  );
});

test("state.v1: mute/deafen and moderation interleaved with joins, leaves, replacements, cuts and faults; every view of every state is the room's", {
  timeout: 600_000,
}, async () => {
  const options: WorldOptions = {
    ...DEFAULT_WORLD,
    extClients: 0.4,
    stateClients: 0.8,
    moderators: 0.4,
    resumeClients: 0.5,
    cut: 0.6,
    loseLate: 0.3,
  };
  await explore('state', options, Math.ceil(SEEDS / 3), 500_001);
  // The scenario actually changes states, moderates and refuses (a server-muted member unmuting itself).
  let changes = 0;
  let moderated = 0;
  let refused = 0;
  for (let seed = 500_001; seed <= 500_060; seed++) {
    const { problems, world } = await runSeed(seed, options);
    assert.deepEqual(problems, [], `seed ${seed}`);
    changes += world.logLines.filter((l) => l.msg === 'voice.state-set' && l.line.includes('"changed":true')).length;
    const moderations = world.logLines.filter((l) => l.msg === 'voice.moderated');
    // Who did what, by ids: the moderator, the member, the flags; never a credential.
    for (const l of moderations) assert.match(l.line, /"moderatorUserId":"\d+".*"targetUserId":"\d+"/);
    moderated += moderations.filter((l) => l.line.includes('"changed":true')).length;
    refused += [...world.clients.values()].filter((c) => c.errors.includes('voice.state-refused')).length;
  }
  assert.ok(
    changes > 60 && moderated > 10 && refused > 0,
    `states changed (${changes}), moderated (${moderated}), refused (${refused})`,
  );
});

test('resume.v1 without faults: every cut client that comes back is resumed and keeps an exact view', async () => {
  const options: WorldOptions = {
    ...DEFAULT_WORLD,
    clients: 5,
    users: 5,
    faults: { failBefore: 0, loseAnswer: 0, hang: 0 },
    closeAfterMessage: 0,
    dropDisconnect: 0,
    duplicate: 0,
    badJoin: 0,
    loseSession: 0,
    killNode: 0,
    resumeClients: 1,
    cut: 1,
  };
  let resumed = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const world = new World(new Scheduler(seed), options);
    await world.run();
    assert.deepEqual([...world.check(), ...(await world.leftovers())], [], `seed ${seed}`);
    resumed += world.logLines.filter((l) => l.msg === 'voice.session-resumed').length;
  }
  assert.ok(resumed > 30, `sessions were actually resumed (${resumed})`);
});

test('a fault-free world keeps everyone who did not leave (the check sees real views)', async () => {
  const options: WorldOptions = {
    ...DEFAULT_WORLD,
    clients: 5,
    users: 5,
    faults: { failBefore: 0, loseAnswer: 0, hang: 0 },
    closeAfterMessage: 0,
    dropDisconnect: 0,
    duplicate: 0,
    badJoin: 0,
    loseSession: 0,
    killNode: 0,
  };
  for (let seed = 1; seed <= 20; seed++) {
    const sim = new Scheduler(seed);
    const world = new World(sim, options);
    await world.run();
    assert.deepEqual([...world.check(), ...(await world.leftovers())], []);
    const stayed = [...world.clients.values()].filter((c) => c.open);
    for (const client of stayed)
      assert.equal(client.view?.size, stayed.length - 1, `seed ${seed}: ${client.connectionId} sees everyone else`);
  }
});

test('the same seed replays the same run', async () => {
  const a = await runSeed(4242, DEFAULT_WORLD);
  const b = await runSeed(4242, DEFAULT_WORLD);
  assert.equal(a.world.sim.steps, b.world.sim.steps);
  assert.deepEqual(
    a.world.logLines.map((l) => l.msg),
    b.world.logLines.map((l) => l.msg),
  );
});
