// resume.v1 in a real browser (Debian Chromium, demo page, SDK) against the local stack in API Gateway strict
// mode: (a) one person's WebSocket is cut without a close frame → the SDK resumes; the others see no
// UserLeft/UserJoined and, sampled every 50 ms, no inbound-rtp packet counter at any of the three stalls for more
// than 200 ms; (c) while that person is away (new sockets held back) D joins and B leaves → after resuming it
// gets UserJoined(D) and UserLeft(B) once each, in order, and hears D; (b) the gateway's 2-hour cap shortened to
// seconds → make-before-break: the SDK switches sockets before the cap, zero gap, zero missed messages.
import { allConnectionRecords } from '../support/state-table';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { socketOf } from '../../functions/voice/ports';
import { STATE_TABLE } from '../../data/tables';
import { createLogger } from '../../lib/log';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from '../../local/dynamo';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { buildWeb } from '../../web/build';
import { launchChromium } from './support/chromium';
import { HOLD_SOCKETS } from './support/hold-sockets';
import { Participant } from './support/participant';

const GUILD = '9223372036854775813';
const CHANNEL = '18446744073709551557';
const USERS = { ada: '9007199254740993', bo: '9007199254740995', cy: '12345678901234567890', dee: '9007199254741007' };
const STALL_LIMIT_MS = 200;
const MAX_CONNECTION_MS = 9_000;

let browser: Browser | undefined;
const everyone: Participant[] = [];

function person(name: string, user: string, stack: LocalStack, query: Record<string, string> = {}): Participant {
  const p = new Participant(
    name,
    browser!,
    {
      baseUrl: stack.url,
      user,
      guild: GUILD,
      channel: CHANNEL,
      variant: 'base64',
      server: stack.wsUrl,
      query: { resume: '1', ...query },
    },
    [HOLD_SOCKETS],
  );
  everyone.push(p);
  return p;
}

async function join(people: Participant[]): Promise<void> {
  await Promise.all(people.map((p) => p.open()));
  for (const p of people) {
    await p.clickJoin();
    await p.waitJoined();
  }
  await Promise.all(
    people.map((p) =>
      p.hears(
        people.filter((o) => o !== p).map((o) => o.target.user),
        20_000,
      ),
    ),
  );
}

/** The socket currently carrying `user`'s session (from the state table). */
async function socketOfUser(stack: LocalStack, user: string): Promise<string> {
  const db = createDocumentClient({
    endpoint: stack.dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  try {
    const record = (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).find(
      (r) => r.userId === user && r.state === 'joined',
    );
    assert.ok(record, `user ${user} has a joined session`);
    return socketOf(record);
  } finally {
    db.destroy();
  }
}

/** Waits until `p` has recorded more than `seen` events of `type`. */
async function nextEvent(p: Participant, type: string, seen: number, timeoutMs: number): Promise<void> {
  await p.page
    .waitForFunction(
      ({ type, seen }) =>
        (window as unknown as { e2eEvents: { type: string }[] }).e2eEvents.filter((e) => e.type === type).length > seen,
      { type, seen },
      { timeout: timeoutMs },
    )
    .catch(async (err) => {
      throw new Error(
        `${p.name}: no new ${type}: ${(err as Error).message}\nevents: ${JSON.stringify(await p.events())}\n${p.tail()}`,
      );
    });
}

async function count(p: Participant, type: string): Promise<number> {
  return (await p.events()).filter((e) => e.type === type).length;
}

async function membershipEvents(p: Participant): Promise<string[]> {
  return (await p.events())
    .filter((e) => e.type === 'userJoined' || e.type === 'userLeft')
    .map((e) => `${e.type}:${e.userId}`);
}

type Watch = Awaited<ReturnType<Participant['stopStallWatch']>>;
/**
 * The acceptance check: inside the resume's window (wall clock: from just before the socket was cut or the
 * switch began, to 1 s after the resume), no inbound counter stood still for more than 200 ms. Stalls outside
 * it are this shared machine's (printed, not asserted: they hit streams the resume does not touch as well).
 */
function assertNoStall(
  name: string,
  watch: Watch,
  expectUsers: number,
  window: { from: number; to: number; clock?: 'wall' | 'page' },
): void {
  const round = (r: Record<string, number>) =>
    JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v)])));
  const inWindow: Record<string, number> = {};
  for (const s of watch.stalls) {
    const at = window.clock === 'page' ? s.at : s.wallAt;
    if (at >= window.from && at - s.ms <= window.to) inWindow[s.userId] = Math.max(inWindow[s.userId] ?? 0, s.ms);
  }
  console.log(
    `[e2e resume] ${name}: ${watch.samples} samples (${watch.late} late, not counted) of ${watch.users.length} remote users; ` +
      `longest stall in the resume window (${window.to - window.from} ms) ${round(inWindow)} ms, over the whole run ${round(watch.worst)} ms`,
  );
  assert.equal(watch.users.length, expectUsers, `${name} sampled everyone`);
  assert.ok(watch.samples > 20, `${name} sampled often enough`);
  for (const [user, ms] of Object.entries(inWindow))
    assert.ok(ms <= STALL_LIMIT_MS, `${name}: packets from ${user} stalled ${Math.round(ms)} ms during the resume`);
}

describe('resume.v1 in a real browser (Chromium, strict local stack)', { timeout: 240_000 }, () => {
  before(async () => {
    await buildWeb();
    browser = await launchChromium();
  });
  after(async () => {
    await Promise.all(everyone.map((p) => p.close()));
    await browser?.close().catch(() => {});
  });

  describe('a cut socket', () => {
    let stack: LocalStack;
    let ada: Participant, bo: Participant, cy: Participant;
    before(async () => {
      stack = await startLocalStack({
        port: 0,
        strict: true,
        reaperIntervalMs: 1_000,
        mediaNode: { forwardLogs: false },
        logger: createLogger({ level: 'warn' }),
      });
      ada = person('ada', USERS.ada, stack);
      bo = person('bo', USERS.bo, stack);
      cy = person('cy', USERS.cy, stack);
      await join([ada, bo, cy]);
    });
    after(async () => {
      await Promise.all([ada, bo, cy].map((p) => p?.close()));
      await stack?.close();
    });

    it("(a) is resumed: the others see nothing and no one's audio stalls for more than 200 ms", async () => {
      assert.equal(
        await ada.subprotocol(),
        'hrpc1.base64+ext.v1',
        'the SDK negotiates resume.v1 through +ext.v1 (Hello/Welcome)',
      );
      const before = await Promise.all([ada, bo, cy].map(membershipEvents));
      await Promise.all([ada, bo, cy].map((p) => p.startStallWatch(50)));
      await new Promise((r) => setTimeout(r, 1_000));
      const socket = await socketOfUser(stack, USERS.ada);
      const statesBefore = (await ada.states()).length;
      const cutAt = Date.now();
      assert.ok(stack.gateway.cut(socket), "the gateway cut ada's socket");
      const resumed = await ada.waitForEvent('resumed', undefined, 15_000);
      const window = { from: cutAt - 100, to: Date.now() + 1_000 };
      assert.equal(resumed.makeBeforeBreak, false);
      assert.deepEqual(
        (await ada.states()).slice(statesBefore),
        ['resuming', 'joined'],
        'the app saw `resuming` while the session moved (not `reconnecting`: no rejoin)',
      );
      await new Promise((r) => setTimeout(r, 2_000));
      const watches = await Promise.all([ada, bo, cy].map((p) => p.stopStallWatch()));
      assertNoStall('ada', watches[0]!, 2, window);
      assertNoStall('bo', watches[1]!, 2, window);
      assertNoStall('cy', watches[2]!, 2, window);
      assert.deepEqual(
        await Promise.all([ada, bo, cy].map(membershipEvents)),
        before,
        'nobody saw a UserLeft or UserJoined',
      );
      assert.ok(
        !(await ada.events()).some((e) => e.type === 'closed' || (e.type === 'joined' && e.reconnected)),
        'a resume, not a rejoin',
      );
      assert.deepEqual(await ada.remoteUsers(), [USERS.bo, USERS.cy].sort());
    });

    it('(c) while away, D joins and B leaves: after resuming, UserJoined(D) then UserLeft(B), once each, and D is heard', async () => {
      const dee = person('dee', USERS.dee, stack);
      await dee.open();
      const adaBefore = await membershipEvents(ada);
      const resumedBefore = await count(ada, 'resumed');
      await ada.page.evaluate(() => {
        (window as unknown as { __holdSockets: boolean }).__holdSockets = true;
      });
      assert.ok(stack.gateway.cut(await socketOfUser(stack, USERS.ada)));
      await dee.clickJoin();
      await dee.waitJoined();
      // B leaves on purpose (the SDK's leave(): a close with 1000, resolved once the socket and media are closed); a
      // resumable session whose page just vanished would wait out its grace first.
      await bo.page.evaluate(() =>
        (
          window as unknown as { harmonyVoiceDemo: { client: { leave(): Promise<void> } } }
        ).harmonyVoiceDemo.client.leave(),
      );
      await cy.waitForEvent('userLeft', USERS.bo, 10_000);
      await bo.close();
      await ada.page.evaluate(() => {
        (window as unknown as { __holdSockets: boolean }).__holdSockets = false;
      });
      await nextEvent(ada, 'resumed', resumedBefore, 20_000);
      await ada.hears([USERS.dee, USERS.cy], 15_000);
      await new Promise((r) => setTimeout(r, 500));
      const adaAfter = (await membershipEvents(ada)).slice(adaBefore.length);
      assert.deepEqual(adaAfter, [`userJoined:${USERS.dee}`, `userLeft:${USERS.bo}`], 'replayed once each, in order');
      assert.ok(!(await membershipEvents(cy)).includes(`userLeft:${USERS.ada}`), 'cy never saw ada leave');
      assert.ok(!(await membershipEvents(dee)).includes(`userLeft:${USERS.ada}`), 'dee never saw ada leave');
      await dee.hears([USERS.ada], 15_000);
      await dee.close();
    });
  });

  describe("make-before-break before the gateway's maximum connection duration", () => {
    let stack: LocalStack;
    let ada: Participant, bo: Participant, cy: Participant;
    before(async () => {
      stack = await startLocalStack({
        port: 0,
        strict: true,
        maxConnectionMs: MAX_CONNECTION_MS,
        reaperIntervalMs: 1_000,
        mediaNode: { forwardLogs: false },
        logger: createLogger({ level: 'warn' }),
      });
      const query = { maxConnectionMs: String(MAX_CONNECTION_MS) };
      ada = person('ada2', USERS.ada, stack, query);
      bo = person('bo2', USERS.bo, stack, query);
      cy = person('cy2', USERS.cy, stack, query);
      await join([ada, bo, cy]);
    });
    after(async () => {
      await Promise.all([ada, bo, cy].map((p) => p?.close()));
      await stack?.close();
    });

    it('(b) every socket is replaced before the cap: zero gap, zero missed messages, no rejoin', async () => {
      const before = await Promise.all([ada, bo, cy].map(membershipEvents));
      await Promise.all([ada, bo, cy].map((p) => p.startStallWatch(50)));
      // Each page's switch, by its own clock: from when it began opening its new socket to 1 s after the switch.
      const windows = await Promise.all(
        [ada, bo, cy].map(async (p) => {
          const resumed = await p.waitForEvent('resumed', undefined, MAX_CONNECTION_MS + 5_000);
          return { from: resumed.at - (resumed.afterMs ?? 0) - 100, to: resumed.at + 1_000, clock: 'page' as const };
        }),
      );
      for (const p of [ada, bo, cy]) {
        const events = await p.events();
        assert.ok(
          events.some((e) => e.type === 'resumed' && e.makeBeforeBreak),
          `${p.name} switched sockets before the cap`,
        );
        assert.ok(
          !events.some((e) => e.type === 'closed' || e.type === 'reconnecting'),
          `${p.name} never lost its stream`,
        );
        assert.deepEqual(await p.states(), ['connecting', 'joined'], `${p.name} stayed joined while switching`);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      const watches = await Promise.all([ada, bo, cy].map((p) => p.stopStallWatch()));
      watches.forEach((w, i) => assertNoStall(['ada2', 'bo2', 'cy2'][i]!, w, 2, windows[i]!));
      // Messages still reach everyone on the new sockets.
      const dee = person('dee2', USERS.dee, stack, { maxConnectionMs: String(MAX_CONNECTION_MS) });
      await dee.open();
      await dee.clickJoin();
      await dee.waitJoined();
      for (const p of [ada, bo, cy]) await p.waitForEvent('userJoined', USERS.dee, 10_000);
      for (const [i, p] of [ada, bo, cy].entries()) {
        assert.deepEqual(
          await membershipEvents(p),
          [...before[i]!, `userJoined:${USERS.dee}`],
          `${p.name}: exactly one more membership message`,
        );
      }
      await dee.close();
    });
  });
});
