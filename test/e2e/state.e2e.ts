// state.v1 in a real browser (Debian Chromium, demo page with ?state=1, SDK) against the local stack in API Gateway
// strict mode, three people (bo may moderate: the development token's `moderates` claim):
//   ada mutes → bo and cy see it and receive no RTP from ada (inbound counters stop) within a second; unmutes → back;
//   ada deafens → ada's inbound counters stop; undeafens → back;
//   bo server-mutes cy (the tile's moderator control) → cy's packets stop, everyone sees server_muted, cy's own
//   unmute is refused (voice.state-refused);
//   ada's socket is cut while bo mutes and cy unmutes → after the resume ada got exactly those two changes, in order.
// And the SDK reports who speaks from received audio levels (speakingChanged; the fake microphone beeps).
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
const USERS = { ada: '9007199254740993', bo: '9007199254740995', cy: '12345678901234567890' };

let browser: Browser | undefined;
let stack: LocalStack;
let ada: Participant, bo: Participant, cy: Participant;

function person(name: string, user: string, query: Record<string, string> = {}): Participant {
  return new Participant(
    name,
    browser!,
    {
      baseUrl: stack.url,
      user,
      guild: GUILD,
      channel: CHANNEL,
      variant: 'base64',
      server: stack.wsUrl,
      query: { resume: '1', state: '1', ...query },
    },
    [HOLD_SOCKETS],
  );
}

/** `p`'s last memberState for `user` (flags as letters: M self muted, D self deafened, S server muted, X server deafened). */
async function flagsSeen(p: Participant, user: string): Promise<string | undefined> {
  return (await p.events()).filter((e) => e.type === 'memberState' && e.userId === user).at(-1)?.flags;
}

/** Waits until `p`'s last memberState for `user` is `flags`; returns the wall-clock time (Date.now()) the page recorded it. */
async function waitFlags(p: Participant, user: string, flags: string, timeoutMs = 5_000): Promise<number> {
  await p.page
    .waitForFunction(
      ({ user, flags }) => {
        const events = (window as unknown as { e2eEvents: { type: string; userId?: string; flags?: string }[] })
          .e2eEvents;
        return events.filter((e) => e.type === 'memberState' && e.userId === user).at(-1)?.flags === flags;
      },
      { user, flags },
      { timeout: timeoutMs, polling: 50 },
    )
    .catch(async (err) => {
      const now = Date.now();
      const seen = (await p.events())
        .filter((e) => e.type === 'memberState' && e.userId === user)
        .map((e) => `${e.flags}@${(e.wall ?? 0) - now}ms`);
      throw new Error(
        `${p.name} did not see ${user} as ${flags} (seen: ${seen.join(' ')}): ${(err as Error).message}\n${p.tail()}`,
      );
    });
  return (await p.events()).filter((e) => e.type === 'memberState' && e.userId === user).at(-1)!.wall!;
}

/** No inbound RTP from `user` reaches `p`: the counter, read after in-flight packets are through, stands still for 1 s. */
async function assertSilent(p: Participant, user: string, what: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  const before = await p.packetsFrom(user);
  await new Promise((r) => setTimeout(r, 1_000));
  const after = await p.packetsFrom(user);
  assert.ok(before !== undefined && after === before, `${what} (${before} → ${after} packets in 1 s)`);
}

async function assertFlowing(p: Participant, user: string, what: string): Promise<void> {
  const before = (await p.packetsFrom(user)) ?? 0;
  await p.page
    .waitForFunction(
      async ({ user, before }) => {
        const stats = await (
          window as unknown as {
            harmonyVoiceDemo: { client: { getReceiveStats(): Promise<{ userId: bigint; packetsReceived: number }[]> } };
          }
        ).harmonyVoiceDemo.client.getReceiveStats();
        return (stats.find((s) => s.userId.toString() === user)?.packetsReceived ?? 0) > before + 10;
      },
      { user, before },
      { timeout: 5_000, polling: 100 },
    )
    .catch((err) => {
      throw new Error(`${what}: ${(err as Error).message}`);
    });
}

async function socketOfUser(user: string): Promise<string> {
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

describe('state.v1 in a real browser (Chromium, strict local stack, three people)', { timeout: 240_000 }, () => {
  before(async () => {
    await buildWeb();
    browser = await launchChromium();
    stack = await startLocalStack({
      port: 0,
      strict: true,
      reaperIntervalMs: 1_000,
      mediaNode: { forwardLogs: false },
      logger: createLogger({ level: 'warn' }),
    });
    ada = person('ada', USERS.ada);
    bo = person('bo', USERS.bo, { moderator: '1' });
    cy = person('cy', USERS.cy);
    await Promise.all([ada, bo, cy].map((p) => p.open()));
    for (const p of [ada, bo, cy]) {
      await p.clickJoin();
      await p.waitJoined();
    }
    await Promise.all(
      [ada, bo, cy].map((p) =>
        p.hears(
          [ada, bo, cy].filter((o) => o !== p).map((o) => o.target.user),
          20_000,
        ),
      ),
    );
  });
  after(async () => {
    await Promise.all([ada, bo, cy].map((p) => p?.close()));
    await stack?.close();
    await browser?.close().catch(() => {});
  });

  it("negotiates state.v1 and sees everyone's state; speaking comes from received audio levels", async () => {
    assert.equal(await ada.subprotocol(), 'hrpc1.base64+ext.v1');
    for (const p of [ada, bo, cy])
      for (const u of Object.values(USERS)) assert.equal(await flagsSeen(p, u), '----', `${p.name} knows ${u}'s state`);
    // The fake microphone beeps: each page reports the others speaking at least once (no signalling involved).
    for (const p of [ada, bo, cy]) {
      for (const o of [ada, bo, cy].filter((x) => x !== p))
        await p.waitForEvent('speakingChanged', o.target.user, 10_000);
    }
    // Moderator controls only where the token allows them.
    assert.equal(await bo.page.locator(`.participant[data-user-id="${USERS.cy}"] .moderation`).isVisible(), true);
    assert.equal(await ada.page.locator(`.participant[data-user-id="${USERS.cy}"] .moderation`).isVisible(), false);
  });

  it('ada mutes: bo and cy see it and receive nothing from ada within a second; unmutes: audio back', async () => {
    const clicked = Date.now();
    await ada.page.click('#mute-button');
    const seen = await Promise.all([bo, cy].map((p) => waitFlags(p, USERS.ada, 'M---')));
    // A figure, not an assertion (the acceptance is the packets stopping, below).
    console.log(
      `[e2e state] mute seen by bo, cy ${seen.map((t) => t - clicked).join(', ')} ms after the click (clicked at ${new Date(clicked).toISOString()})`,
    );
    await Promise.all([
      assertSilent(bo, USERS.ada, 'bo receives nothing from muted ada'),
      assertSilent(cy, USERS.ada, 'cy receives nothing from muted ada'),
    ]);
    await bo.page.waitForSelector(`.participant[data-user-id="${USERS.ada}"][data-muted="true"]`);
    await ada.page.click('#mute-button');
    await Promise.all([bo, cy].map((p) => waitFlags(p, USERS.ada, '----')));
    await Promise.all([
      assertFlowing(bo, USERS.ada, 'bo hears ada again'),
      assertFlowing(cy, USERS.ada, 'cy hears ada again'),
    ]);
  });

  it('ada deafens: her inbound counters stop; undeafens: back', async () => {
    await ada.page.click('#deafen-button');
    await waitFlags(bo, USERS.ada, '-D--');
    await Promise.all([
      assertSilent(ada, USERS.bo, 'deafened ada receives nothing from bo'),
      assertSilent(ada, USERS.cy, 'deafened ada receives nothing from cy'),
    ]);
    await assertFlowing(bo, USERS.ada, 'deafened ada is still heard');
    await ada.page.click('#deafen-button');
    await waitFlags(cy, USERS.ada, '----');
    await Promise.all([
      assertFlowing(ada, USERS.bo, 'ada hears bo again'),
      assertFlowing(ada, USERS.cy, 'ada hears cy again'),
    ]);
  });

  it("bo (moderator) server-mutes cy: cy's packets stop, everyone sees server_muted, cy's own unmute is refused", async () => {
    await bo.page.click(`.participant[data-user-id="${USERS.cy}"] [data-action="server-mute"]`);
    await Promise.all([ada, bo, cy].map((p) => waitFlags(p, USERS.cy, '--S-')));
    await Promise.all([
      assertSilent(ada, USERS.cy, 'ada receives nothing from server-muted cy'),
      assertSilent(bo, USERS.cy, 'bo receives nothing from server-muted cy'),
    ]);
    await cy.page.waitForSelector('.participant[data-self="true"][data-server-muted="true"]');
    // cy mutes herself (allowed), then tries to unmute: refused, nothing changes.
    await cy.page.click('#mute-button');
    await waitFlags(ada, USERS.cy, 'M-S-');
    await cy.page.click('#mute-button');
    const refused = await cy.waitForEvent('error', undefined, 5_000);
    assert.equal(refused.identifier, 'voice.state-refused');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await flagsSeen(ada, USERS.cy), 'M-S-', 'the refused unmute changed nothing');
    // The SDK undid its own unmute on the refusal: muted again, and the page's button says so.
    assert.equal(
      await cy.page.evaluate(
        () => (window as unknown as { harmonyVoiceDemo: { client: { muted: boolean } } }).harmonyVoiceDemo.client.muted,
      ),
      true,
      "cy's SDK is muted again",
    );
    assert.equal(await cy.page.getAttribute('#mute-button', 'aria-pressed'), 'true', "cy's mute button shows muted");
    await assertSilent(ada, USERS.cy, 'cy stays silent');
    // bo lifts the server mute; cy is still self-muted (her page asked for it last: the refusal is on screen).
    await bo.page.click(`.participant[data-user-id="${USERS.cy}"] [data-action="server-mute"]`);
    await Promise.all([ada, bo, cy].map((p) => waitFlags(p, USERS.cy, 'M---')));
  });

  it("ada's socket is cut while bo mutes and cy unmutes: after the resume ada has exactly those two changes, in order", async () => {
    const before = (await ada.events()).filter((e) => e.type === 'memberState').length;
    const resumedBefore = (await ada.events()).filter((e) => e.type === 'resumed').length;
    await ada.page.evaluate(() => {
      (window as unknown as { __holdSockets: boolean }).__holdSockets = true;
    });
    assert.ok(stack.gateway.cut(await socketOfUser(USERS.ada)), "the gateway cut ada's socket");
    await bo.page.click('#mute-button');
    await waitFlags(cy, USERS.bo, 'M---');
    // cy's page believes it is unmuted after the refusal; its button now says Mute: press twice (mute: no change, unmute).
    await cy.page.evaluate(() =>
      (
        window as unknown as { harmonyVoiceDemo: { client: { setMuted(m: boolean): void } } }
      ).harmonyVoiceDemo.client.setMuted(true),
    );
    await cy.page.evaluate(() =>
      (
        window as unknown as { harmonyVoiceDemo: { client: { setMuted(m: boolean): void } } }
      ).harmonyVoiceDemo.client.setMuted(false),
    );
    await waitFlags(bo, USERS.cy, '----', 5_000);
    await ada.page.evaluate(() => {
      (window as unknown as { __holdSockets: boolean }).__holdSockets = false;
    });
    await ada.page.waitForFunction(
      (n) =>
        (window as unknown as { e2eEvents: { type: string }[] }).e2eEvents.filter((e) => e.type === 'resumed').length >
        n,
      resumedBefore,
      { timeout: 20_000 },
    );
    await waitFlags(ada, USERS.cy, '----', 5_000);
    await new Promise((r) => setTimeout(r, 500));
    const changes = (await ada.events())
      .filter((e) => e.type === 'memberState')
      .slice(before)
      .map((e) => `${e.userId}:${e.flags}`);
    assert.deepEqual(changes, [`${USERS.bo}:M---`, `${USERS.cy}:----`], 'exactly the two changes, once each, in order');
    assert.ok(!(await ada.events()).some((e) => e.type === 'closed'), 'a resume, not a rejoin');
  });
});
