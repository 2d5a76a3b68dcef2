// `npm run bench:resume [-- --trials 20]`: resume.v1 through the strict local stack (figures, never assertions).
// Legs (a), (b) and (d) run in Chromium (the demo page, Chromium's fake microphone): three people talk; per trial
// one of them loses its socket. Audio gaps are the longest time an inbound-rtp packet counter stood still,
// sampled every 50 ms.
//   drop               the gateway cuts the socket (no close frame); the SDK resumes: time from the cut to
//                      `resumed`, and the gap the others hear from that person (and it hears from them)
//   make-before-break  the SDK's connection cap shortened to 2.5 s: it switches sockets before it; the gap at
//                      the switching page and at the others
//   rejoin baseline    the same cut without resume.v1: the SDK rejoins (new transports/producer/consumers);
//                      the gap the others hear from that person
// Leg (c) runs with Node clients (msc-node on werift, test/support/media-voice-client.ts), because Chromium
// cannot change its own address here and a Node client can:
//   address change     three people talk (RTP at 50 packets/s each); per trial one of them moves to new local UDP
//                      ports — its ICE sockets are replaced and the old ones closed (test/support/
//                      werift-address-change.ts) — and loses its WebSocket at the same moment; it resumes on a
//                      new one with `restart_ice` and restarts ICE on both transports with the new parameters
//                      (test/support/werift-ice-restart.ts). Measured from the new sockets opening to the first
//                      RTP from every other person at the moved client ("audio back"; the target is <= 1 s p95),
//                      and to the first RTP from it at every other person. The media node reports its selected
//                      tuples (test/support/media-node-ice-tuples.ts): every trial checks that both of the moved
//                      client's transports were switched to the new ports.
// `--legs address` (comma-separated: drop, address, make-before-break, rejoin; default all) runs some legs only
// (no Chromium for `address` alone); a leg not run is n/a in the last line.
// Ends with: resume: drop p95 … ms, others' gap … ms, make-before-break gap … ms, address change p95 … ms, rejoin baseline p95 … ms
import { allConnectionRecords } from '../test/support/state-table';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { STATE_TABLE } from '../data/tables';
import { socketOf } from '../functions/voice/ports';
import { createLogger } from '../lib/log';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from '../local/dynamo';
import { startLocalStack, type LocalStack } from '../local/stack';
import { createDocumentClient } from '../routing/dynamo';
import { launchChromium } from '../test/e2e/support/chromium';
import { Participant } from '../test/e2e/support/participant';
import { buildWeb } from '../web/build';
import { ICE_TUPLE_NODE_COMMAND, parseTupleLine, type SelectedTupleLine } from '../test/support/media-node-ice-tuples';
import { joinWithMedia, waitFor, type MediaJoined } from '../test/support/media-voice-client';
import { VoiceTestClient } from '../test/support/voice-client';
import { changeLocalAddress } from '../test/support/werift-address-change';
import { fmt, parseLegs, percentile, sleep, summary } from './leg-kit';

const ALL_LEGS = ['drop', 'address', 'make-before-break', 'rejoin'];
const { values } = parseArgs({
  options: { trials: { type: 'string', default: '20' }, legs: { type: 'string', default: ALL_LEGS.join(',') } },
});
const TRIALS = Math.max(1, Number(values.trials));
const LEGS = parseLegs(values.legs, ALL_LEGS);
const GUILD = '9223372036854775813';

let browser: Browser | undefined;
const pages: Participant[] = [];

async function people(
  stack: LocalStack,
  channel: string,
  names: [string, string][],
  query: Record<string, string>,
): Promise<Participant[]> {
  const group = names.map(
    ([name, user]) =>
      new Participant(name, browser!, {
        baseUrl: stack.url,
        user,
        guild: GUILD,
        channel,
        variant: 'base64',
        server: stack.wsUrl,
        query,
      }),
  );
  pages.push(...group);
  await Promise.all(group.map((p) => p.open()));
  for (const p of group) {
    await p.clickJoin();
    await p.waitJoined();
  }
  await Promise.all(
    group.map((p) =>
      p.hears(
        group.filter((o) => o !== p).map((o) => o.target.user),
        30_000,
      ),
    ),
  );
  return group;
}

async function socketOfUser(stack: LocalStack, user: string, channel: string): Promise<string> {
  const db = createDocumentClient({
    endpoint: stack.dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  try {
    const record = (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).find(
      (r) => r.userId === user && r.channelId === channel && r.state === 'joined',
    );
    if (!record) throw new Error(`no joined session of ${user}`);
    return socketOf(record);
  } finally {
    db.destroy();
  }
}

async function countOf(p: Participant, type: string): Promise<number> {
  return (await p.events()).filter((e) => e.type === type).length;
}

async function waitCount(p: Participant, type: string, above: number, timeoutMs = 30_000): Promise<void> {
  await p.page.waitForFunction(
    ({ type, above }) =>
      (window as unknown as { e2eEvents: { type: string }[] }).e2eEvents.filter((e) => e.type === type).length > above,
    { type, above },
    { timeout: timeoutMs },
  );
}

/** Longest stall of `user`'s audio at `p` inside [from, to] (wall clock), from a finished stall watch. */
function gapIn(
  watch: Awaited<ReturnType<Participant['stopStallWatch']>>,
  user: string | undefined,
  from: number,
  to: number,
): number {
  let worst = 0;
  for (const s of watch.stalls)
    if ((user === undefined || s.userId === user) && s.wallAt >= from && s.wallAt - s.ms <= to)
      worst = Math.max(worst, s.ms);
  return worst;
}

/** One cut-and-recover trial: returns time to recovery (or undefined) and the gaps. */
async function cutTrial(
  stack: LocalStack,
  group: Participant[],
  victim: Participant,
  channel: string,
  recoveredBy: string,
): Promise<{ recoveredMs: number; othersGap: number; ownGap: number }> {
  const others = group.filter((p) => p !== victim);
  await Promise.all(group.map((p) => p.startStallWatch(50)));
  await sleep(400);
  const before = await countOf(victim, recoveredBy);
  const socket = await socketOfUser(stack, victim.target.user, channel);
  const cutAt = Date.now();
  if (!stack.gateway.cut(socket)) throw new Error('cut failed');
  await waitCount(victim, recoveredBy, before);
  const recovered = (await victim.events()).filter((e) => e.type === recoveredBy)[before]!;
  // Rejoin: audio is back when the others receive the new consumer's packets; wait for that too.
  await sleep(recoveredBy === 'joined' ? 2_500 : 1_200);
  const watches = await Promise.all(group.map((p) => p.stopStallWatch()));
  const to = Date.now();
  const othersGap = Math.max(
    ...others.map((o) => gapIn(watches[group.indexOf(o)]!, victim.target.user, cutAt - 50, to)),
  );
  const ownGap = gapIn(watches[group.indexOf(victim)]!, undefined, cutAt - 50, to);
  return { recoveredMs: (recovered.wall ?? to) - cutAt, othersGap, ownGap };
}

const tuples: SelectedTupleLine[] = [];

/** Leg (c): Node clients, one of them moving to new UDP ports and resuming with an ICE restart per trial. */
async function addressChangeLeg(stack: LocalStack, channel: string, users: string[]): Promise<{ back: number[] }> {
  const people: MediaJoined[] = [];
  const clients: VoiceTestClient[] = [];
  const stops: (() => void)[] = [];
  try {
    for (const user of users) {
      const person = await joinWithMedia(
        { wsUrl: stack.wsUrl, token: stack.mintToken(user, GUILD, channel), resume: true },
        BigInt(GUILD),
        BigInt(channel),
      );
      people.push(person);
      clients.push(person.client);
      for (const other of person.joined.otherUsers) await person.consume(other);
    }
    for (const [i, person] of people.entries()) {
      await waitFor(
        () =>
          person.client.all('userJoined').length === people.length - 1 - i && person.client.credential !== undefined,
        10_000,
        `${users[i]}'s joins`,
      );
      for (const joined of person.client.all('userJoined')) await person.consume(joined.data!);
    }
    stops.push(...people.map((p) => p.speak()));
    await waitFor(
      () => people.every((p, i) => users.every((u, j) => i === j || (p.received.get(u) ?? 0) > 25)),
      15_000,
      'everyone hearing everyone',
    );
    const back: number[] = [];
    const heard: number[] = [];
    const resumedIn: number[] = [];
    const restartedIn: number[] = [];
    let switched = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const index = trial % people.length;
      const victim = people[index]!;
      const user = users[index]!;
      const others = people.filter((p) => p !== victim);
      const { sessionId, credential } = victim.client.credential!;
      const lastSeq = victim.client.lastSeq;
      // The network changes: the WebSocket dies (no close frame) and the UDP sockets move to new ports.
      victim.client.terminate();
      const moved = [await changeLocalAddress(victim.send), await changeLocalAddress(victim.recv)];
      const openedAt = Math.min(...moved.map((m) => m.openedAt));
      const firstAtVictim = new Map<string, number>();
      const firstAtOthers = new Map<MediaJoined, number>();
      const offs = [
        victim.onRtp((from, at) => void (firstAtVictim.has(from) || firstAtVictim.set(from, at))),
        ...others.map((o) =>
          o.onRtp((from, at) => void (from === user && !firstAtOthers.has(o) && firstAtOthers.set(o, at))),
        ),
      ];
      const next = await VoiceTestClient.connect({
        wsUrl: stack.wsUrl,
        token: stack.mintToken(user, GUILD, channel),
        resume: true,
      });
      clients.push(next);
      next.lastSeq = lastSeq;
      next.sendExt({ $case: 'resume', value: { sessionId, credential, lastSeq: BigInt(lastSeq), restartIce: true } });
      const resumed = await next.nextExt(10_000);
      if (resumed.$case !== 'resumed' || !resumed.value.ice)
        throw new Error(`bench.resume-failed: got ${resumed.$case} without new ICE parameters`);
      const resumedAt = Date.now();
      victim.client = next;
      await Promise.all([
        victim.send.restartIce({ iceParameters: JSON.parse(resumed.value.ice.producerIceParameters) }),
        victim.recv.restartIce({ iceParameters: JSON.parse(resumed.value.ice.consumerIceParameters) }),
      ]);
      const restartedAt = Date.now();
      await waitFor(
        () => firstAtVictim.size === others.length && firstAtOthers.size === others.length,
        10_000,
        'audio both ways after the ICE restart',
      );
      offs.forEach((off) => off());
      back.push(Math.max(...firstAtVictim.values()) - openedAt);
      heard.push(Math.max(...firstAtOthers.values()) - openedAt);
      resumedIn.push(resumedAt - openedAt);
      restartedIn.push(restartedAt - resumedAt);
      const now = (t: { id: string }) => tuples.filter((x) => x.transportId === t.id).at(-1)?.remotePort;
      if (moved[0]!.newPorts.includes(now(victim.send)!) && moved[1]!.newPorts.includes(now(victim.recv)!)) switched++;
      await sleep(300);
    }
    // Nobody may have seen a leave or a (re)join: only the setup's UserJoined (person i sees the n-1-i after it).
    const seen = (kind: string) =>
      clients.flatMap((c) => c.frames).filter((f) => f.kind === 'response' && f.response.message?.$case === kind)
        .length;
    const membership = seen('userLeft') + seen('userJoined') - (people.length * (people.length - 1)) / 2;
    console.log(
      `address change (Node clients: new UDP ports + resume with ICE restart; ${switched}/${TRIALS} trials with both of the node's ` +
        `selected tuples on the new ports; ${membership} UserLeft/UserJoined seen beyond the setup):`,
    );
    summary('new sockets → audio back at the moved client (first RTP from everyone)', back);
    summary('new sockets → the others hear it again', heard);
    summary('new sockets → Resumed (new WebSocket + resume)', resumedIn);
    summary('Resumed → ICE restarted (checks from the new ports nominated)', restartedIn);
    return { back };
  } finally {
    stops.forEach((stop) => stop());
    for (const p of people) {
      p.client.close();
      for (const t of p.transports) t.close();
    }
  }
}

async function main(): Promise<void> {
  const chromium = LEGS.has('drop') || LEGS.has('make-before-break') || LEGS.has('rejoin');
  if (chromium) {
    await buildWeb();
    browser = await launchChromium();
  }
  const stack = await startLocalStack({
    port: 0,
    strict: true,
    reaperIntervalMs: 1_000,
    logger: createLogger({ level: 'warn' }),
    // The media node as always, plus its transports' selected tuples for leg (c).
    mediaNode: {
      command: ICE_TUPLE_NODE_COMMAND,
      forwardLogs: false,
      onLine: (line) => {
        const t = parseTupleLine(line);
        if (t) tuples.push(t);
      },
    },
  });
  const drop = { recovered: [] as number[], others: [] as number[], own: [] as number[] };
  let address = { back: [] as number[] };
  const mbb: number[] = [];
  const rejoin = { recovered: [] as number[], others: [] as number[] };
  try {
    if (LEGS.has('drop')) {
      // (a) socket-only drop
      const a = await people(
        stack,
        '1',
        [
          ['a1', '9007199254740993'],
          ['a2', '9007199254740995'],
          ['a3', '12345678901234567890'],
        ],
        { resume: '1' },
      );
      for (let i = 0; i < TRIALS; i++) {
        const r = await cutTrial(stack, a, a[i % 3]!, '1', 'resumed');
        drop.recovered.push(r.recoveredMs);
        drop.others.push(r.othersGap);
        drop.own.push(r.ownGap);
      }
      console.log('drop (socket cut, resumed):');
      summary('cut → resumed', drop.recovered);
      summary('gap the others hear', drop.others);
      summary('gap at the resumed client', drop.own);
      await Promise.all(a.map((p) => p.close()));
    }

    if (LEGS.has('address')) {
      // (c) address change (Node clients): new local UDP ports + a resume with an ICE restart
      address = await addressChangeLeg(stack, '3', ['9007199254741011', '9007199254741013', '9007199254741015']);
    }

    if (LEGS.has('make-before-break')) {
      // (b) make-before-break: the SDK's cap shortened to 2.5 s (renews 625 ms before it)
      const b = await people(
        stack,
        '2',
        [
          ['b1', '9007199254741001'],
          ['b2', '9007199254741003'],
          ['b3', '9007199254741005'],
        ],
        { resume: '1', maxConnectionMs: '2500' },
      );
      await Promise.all(b.map((p) => p.startStallWatch(50)));
      const startCounts = await Promise.all(b.map((p) => countOf(p, 'resumed')));
      const deadline = Date.now() + 120_000;
      let switches = 0;
      while (switches < TRIALS && Date.now() < deadline) {
        await sleep(500);
        switches = (await Promise.all(b.map((p) => countOf(p, 'resumed')))).reduce(
          (x, y, i) => x + y - startCounts[i]!,
          0,
        );
      }
      await sleep(800);
      const watches = await Promise.all(b.map((p) => p.stopStallWatch()));
      for (const [i, p] of b.entries()) {
        for (const e of (await p.events()).filter((x) => x.type === 'resumed' && x.makeBeforeBreak)) {
          const to = e.wall!;
          const from = to - (e.afterMs ?? 0) - 50;
          mbb.push(gapIn(watches[i]!, undefined, from, to + 500)); // at the switching page
          for (const [j, _o] of b.entries()) if (j !== i) mbb.push(gapIn(watches[j]!, p.target.user, from, to + 500)); // at the others
        }
      }
      const rejoins = (await Promise.all(b.map((p) => countOf(p, 'closed')))).reduce((x, y) => x + y, 0);
      console.log(`make-before-break (${switches} switches, ${rejoins} lost streams):`);
      summary('gap around a switch (switching page and the others)', mbb);
      await Promise.all(b.map((p) => p.close()));
    }

    if (LEGS.has('rejoin')) {
      // (d) baseline: the same cut without resume.v1 → the SDK rejoins
      const d = await people(
        stack,
        '4',
        [
          ['d1', '9007199254741021'],
          ['d2', '9007199254741023'],
          ['d3', '9007199254741025'],
        ],
        {},
      );
      for (let i = 0; i < TRIALS; i++) {
        const r = await cutTrial(stack, d, d[i % 3]!, '4', 'joined');
        rejoin.recovered.push(r.recoveredMs);
        rejoin.others.push(r.othersGap);
      }
      console.log('rejoin baseline (no resume.v1):');
      summary('cut → joined again', rejoin.recovered);
      summary('gap the others hear', rejoin.others);
      await Promise.all(d.map((p) => p.close()));
    }

    console.log(
      `resume: drop p95 ${fmt(percentile(drop.recovered, 95))} ms, others' gap ${fmt(percentile(drop.others, 95))} ms, ` +
        `make-before-break gap ${fmt(percentile(mbb, 95))} ms, address change p95 ${fmt(percentile(address.back, 95))} ms, ` +
        `rejoin baseline p95 ${fmt(percentile(rejoin.others, 95))} ms`,
    );
  } finally {
    await Promise.all(pages.map((p) => p.close()));
    await browser?.close().catch(() => {});
    await stack.close();
  }
}

await main();
