// The whole product in a real browser: Debian's Chromium (playwright-core) runs the demo page and
// the SDK against the local stack (local API Gateway + signalling handlers + dynalite + a mediasoup
// media node), all on loopback. Three people hear each other (getStats: inbound-rtp packets rising
// and audio level above zero, per remote user); one mutes; one leaves; one reloads and is heard again;
// the page explains failures; a binary `hrpc1` participant is proven on a second, non-strict stack, where
// the gateway's maximum connection duration forces an automatic rejoin; and a third stack with a short
// idle limit shows the keepalive keeping a quiet stream open.
//
// The tests of a phase build on each other (same call), so they run in order.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { createLogger } from '../../lib/log';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/stack';
import { buildWeb } from '../../web/build';
import { launchChromium } from './support/chromium';
import { Participant, type JoinTarget } from './support/participant';

// Ids above 2^53 everywhere: they must survive the page, the SDK and the wire as uint64.
const GUILD = '9223372036854775813'; // 2^63 + 5
const CHANNEL = '18446744073709551557';
const USERS = { ada: '9007199254740993', bo: '9007199254740995', cy: '12345678901234567890' };
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'demo-three-participants.png');
const MAX_CONNECTION_MS = 12_000;
const IDLE_TIMEOUT_MS = 3_000;

let browser: Browser | undefined;
const everyone: Participant[] = [];

function person(
  name: string,
  user: string,
  stack: LocalStack,
  variant: JoinTarget['variant'],
  initScripts: string[] = [],
): Participant {
  const p = new Participant(
    name,
    browser!,
    { baseUrl: stack.url, user, guild: GUILD, channel: CHANNEL, variant, server: stack.wsUrl },
    initScripts,
  );
  everyone.push(p);
  return p;
}

/** Opens the pages, clicks Join on all at once, and reports page load → first inbound audio packet per remote user. */
async function joinTogether(people: Participant[], label: string): Promise<void> {
  await Promise.all(people.map((p) => p.open()));
  const timings = await Promise.all(
    people.map(async (p) => {
      const others = people.filter((o) => o !== p).map((o) => o.target.user);
      const firstPackets = p.firstPacketTimes(others, 30_000);
      await p.clickJoin();
      await p.waitJoined();
      const first = await firstPackets;
      const marks = await p.page.evaluate(() => {
        const demo = (window as unknown as { harmonyVoiceDemo: { joinClickedAt?: number; joinedAt?: number } })
          .harmonyVoiceDemo;
        return { clickedAt: demo.joinClickedAt ?? 0, joinedAt: demo.joinedAt ?? 0 };
      });
      return { p, first, ...marks };
    }),
  );
  for (const { p, first, clickedAt, joinedAt } of timings) {
    const parts = people.filter((o) => o !== p).map((o) => `${o.name} ${Math.round(first[o.target.user]!)} ms`);
    const earliest = Math.min(...Object.values(first));
    console.log(
      `[e2e timing] ${label} ${p.name}: page load → first inbound audio packet: ${parts.join(', ')} ` +
        `(join clicked at ${Math.round(clickedAt)} ms, joined +${Math.round(joinedAt - clickedAt)} ms, first packet +${Math.round(earliest - clickedAt)} ms after the click)`,
    );
  }
}

async function closeAll(people: Participant[]): Promise<void> {
  await Promise.all(people.map((p) => p.close()));
}

describe('voice in a real browser (Chromium, local stack)', { timeout: 240_000 }, () => {
  before(async () => {
    await buildWeb();
    browser = await launchChromium();
    browser.on('disconnected', () => console.log('[e2e] chromium disconnected'));
  });

  after(async () => {
    await closeAll(everyone);
    await browser?.close().catch(() => {});
  });

  describe('API Gateway strict mode, hrpc1.base64', () => {
    let stack: LocalStack;
    let ada: Participant, bo: Participant, cy: Participant;

    before(async () => {
      stack = await startLocalStack({
        port: 0,
        strict: true,
        mediaNode: { forwardLogs: false },
        logger: createLogger({ level: 'warn' }),
      });
      assert.equal(stack.gateway.strict, true);
      ada = person('ada', USERS.ada, stack, 'base64');
      bo = person('bo', USERS.bo, stack, 'base64');
      cy = person('cy', USERS.cy, stack, 'base64');
    });

    after(async () => {
      await closeAll([ada, bo, cy].filter(Boolean));
      await stack?.close();
    });

    it('the page explains a denied microphone, a refused token and a server error', async () => {
      const denied = person('eve', '9007199254741001', stack, 'base64', [
        `navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));`,
      ]);
      await denied.open();
      await denied.clickJoin();
      assert.equal((await denied.banner()).title, 'Microphone blocked.');
      assert.equal((await denied.waitForEvent('error')).identifier, 'client.microphone-denied');
      await denied.close();

      const fay = person('fay', '9007199254741003', stack, 'base64');
      await fay.open();
      // A forged token: the gateway's $connect refuses it before the upgrade (the browser only sees 1006).
      await fay.pasteToken('eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl');
      await fay.clickJoin();
      assert.equal((await fay.banner()).title, 'Could not connect to the voice server.');
      assert.equal((await fay.waitForEvent('error')).identifier, 'client.connect-failed');

      // A valid token for another channel: accepted at connect, refused at Initialize with an 0x01 frame.
      await fay.page.evaluate(() => ((window as unknown as { e2eEvents: unknown[] }).e2eEvents.length = 0));
      await fay.pasteToken(stack.mintToken(fay.target.user, GUILD, '42'));
      await fay.clickJoin();
      const refused = await fay.waitForEvent('error');
      assert.equal(
        refused.identifier,
        'h.bad-channel-id',
        `the server's identifier surfaces: ${JSON.stringify(refused)}`,
      );
      const banner = await fay.banner();
      assert.equal(banner.title, 'You cannot join this channel.');
      assert.match(banner.text, /h\.bad-channel-id/);
      assert.ok(await fay.page.isVisible('#join-view'), 'the form is back for another try');
      await fay.close();
    });

    it('three participants each receive audio from the other two', async () => {
      const people = [ada, bo, cy];
      await joinTogether(people, 'strict/base64');
      for (const p of people) {
        assert.equal(await p.variant(), 'hrpc1.base64', `${p.name} negotiated the base64 variant`);
        const others = people
          .filter((o) => o !== p)
          .map((o) => o.target.user)
          .sort();
        assert.deepEqual(await p.remoteUsers(), others, `${p.name} has one consumer per other member`);
      }
      const heard = await Promise.all(
        people.map((p) => p.hears(people.filter((o) => o !== p).map((o) => o.target.user))),
      );
      heard.forEach((list, i) => {
        for (const h of list) {
          assert.ok(
            h.packetsLast > h.packetsFirst,
            `${people[i]!.name} ← ${h.userId}: packetsReceived rises (${h.packetsFirst} → ${h.packetsLast})`,
          );
          assert.ok(
            h.maxAudioLevel > 0,
            `${people[i]!.name} ← ${h.userId}: audioLevel above zero (${h.maxAudioLevel})`,
          );
        }
      });

      // The demo page shows all three, none still connecting; screenshot it while someone speaks.
      for (const p of people) {
        const tiles = await p.tiles();
        assert.equal(tiles.length, 3, `${p.name} shows three participants`);
        assert.ok(
          tiles.every((t) => !t.connecting),
          `${p.name}: every participant's audio arrived`,
        );
      }
      await ada.page
        .waitForSelector('.participant--speaking:not([data-self="true"])', { timeout: 5_000 })
        .catch(() => {});
      await ada.page.waitForTimeout(150); // let the indicator's transition finish
      await mkdir(ARTIFACTS, { recursive: true });
      await ada.page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`[e2e] screenshot: ${SCREENSHOT}`);
    });

    it('muting pauses the microphone producer: the others receive nothing from it until unmuted', async () => {
      await ada.page.click('#mute-button');
      assert.equal(await ada.page.getAttribute('#mute-button', 'aria-pressed'), 'true');
      assert.equal(await ada.page.textContent('#mute-button span'), 'Unmute');
      await ada.page.waitForSelector('.participant[data-self="true"][data-muted="true"]');
      await bo.page.waitForTimeout(800); // packets already in flight
      const before = await bo.packetsFrom(ada.target.user);
      await bo.page.waitForTimeout(1_500);
      const after = await bo.packetsFrom(ada.target.user);
      assert.ok(
        before !== undefined && after !== undefined && after - before <= 1,
        `no audio from a muted ada (${before} → ${after} packets in 1.5 s)`,
      );
      await ada.page.click('#mute-button');
      assert.equal(await ada.page.getAttribute('#mute-button', 'aria-pressed'), 'false');
      const [again] = await bo.hears([ada.target.user]);
      assert.ok(
        again!.packetsLast > again!.packetsFirst && again!.maxAudioLevel > 0,
        'bo hears ada again after unmute',
      );
    });

    it('a participant who leaves is reported to the other two, whose consumer for it closes', async () => {
      // Keep the leaver's track in each remaining page, to see it end when its consumer closes.
      for (const p of [ada, bo]) {
        await p.page.evaluate((user) => {
          const w = window as unknown as {
            harmonyVoiceDemo: { client: { participants: Array<{ userId: bigint; track: MediaStreamTrack }> } };
            e2eLeaverTrack?: MediaStreamTrack;
          };
          w.e2eLeaverTrack = w.harmonyVoiceDemo.client.participants.find((x) => x.userId.toString() === user)?.track;
        }, cy.target.user);
      }
      await cy.page.click('#leave-button');
      await cy.page.waitForSelector('#join-view:not([hidden])');
      for (const p of [ada, bo]) {
        await p.waitForEvent('userLeft', cy.target.user);
        const leftCount = (await p.events()).filter((e) => e.type === 'userLeft' && e.userId === cy.target.user).length;
        assert.equal(leftCount, 1, `${p.name} got exactly one UserLeft for cy`);
        assert.deepEqual(
          await p.remoteUsers(),
          [ada, bo].filter((o) => o !== p).map((o) => o.target.user),
          `${p.name} no longer has a consumer for cy`,
        );
        const trackState = await p.page.evaluate(
          () => (window as unknown as { e2eLeaverTrack?: MediaStreamTrack }).e2eLeaverTrack?.readyState,
        );
        assert.equal(trackState, 'ended', `${p.name}: cy's consumer is closed (its track ended)`);
        await p.page.waitForFunction(() => document.querySelectorAll('#participants .participant').length === 2);
      }
      // The two who stayed still hear each other.
      await Promise.all([ada.hears([bo.target.user]), bo.hears([ada.target.user])]);
    });

    it('a participant who reloads its page rejoins and is heard again', async () => {
      const before = (await ada.consumers())[bo.target.user];
      assert.ok(before, 'ada receives bo before the reload');
      await ada.page.evaluate(() => ((window as unknown as { e2eEvents: unknown[] }).e2eEvents.length = 0));
      await bo.reload();
      const firstPacket = bo.firstPacketTimes([ada.target.user], 30_000);
      await bo.clickJoin(); // the form is prefilled from the URL the demo kept
      await bo.waitJoined();
      console.log(
        `[e2e timing] reload bo: page load → first inbound audio packet: ada ${Math.round((await firstPacket)[ada.target.user]!)} ms`,
      );
      await ada.waitForEvent('userJoined', bo.target.user);
      const [adaHearsBo] = await ada.hears([bo.target.user]);
      assert.notEqual(adaHearsBo!.consumerId, before, 'ada receives bo through a new consumer');
      assert.ok(
        adaHearsBo!.packetsLast > adaHearsBo!.packetsFirst && adaHearsBo!.maxAudioLevel > 0,
        'ada hears bo again',
      );
      const [boHearsAda] = await bo.hears([ada.target.user]);
      assert.ok(
        boHearsAda!.packetsLast > boHearsAda!.packetsFirst && boHearsAda!.maxAudioLevel > 0,
        'bo hears ada after rejoining',
      );

      // What ada was told: bo left (the reload closed its stream), then bo joined; no errors.
      const events = await ada.events();
      const about = (type: string) => events.findIndex((e) => e.type === type && e.userId === bo.target.user);
      assert.deepEqual(
        events.filter((e) => e.type === 'error'),
        [],
        'ada saw no errors',
      );
      assert.ok(
        about('userLeft') >= 0,
        `ada got UserLeft for bo when bo's page reloaded; ada's events: ${JSON.stringify(events)}`,
      );
      assert.ok(about('userLeft') < about('userJoined'), 'UserLeft came before the new UserJoined');
    });
  });

  describe('binary hrpc1 (local gateway, non-strict)', () => {
    let stack: LocalStack;
    let dee: Participant, eli: Participant;

    before(async () => {
      // API Gateway ends every connection after 2 hours; here after a few seconds, to prove the rejoin.
      stack = await startLocalStack({
        port: 0,
        strict: false,
        maxConnectionMs: MAX_CONNECTION_MS,
        mediaNode: { forwardLogs: false },
        logger: createLogger({ level: 'warn' }),
      });
      dee = person('dee', '9007199254740997', stack, 'binary');
      eli = person('eli', '9007199254740999', stack, 'base64');
    });

    after(async () => {
      await closeAll([dee, eli].filter(Boolean));
      await stack?.close();
    });

    it('a binary hrpc1 participant and a base64 one hear each other', async () => {
      await joinTogether([dee, eli], 'binary');
      assert.equal(await dee.variant(), 'hrpc1');
      assert.equal(await eli.variant(), 'hrpc1.base64');
      const [deeHears] = await dee.hears([eli.target.user]);
      const [eliHears] = await eli.hears([dee.target.user]);
      for (const h of [deeHears!, eliHears!])
        assert.ok(h.packetsLast > h.packetsFirst && h.maxAudioLevel > 0, `heard ${h.userId}`);
    });

    it('when the gateway ends the connection (its maximum duration), the client rejoins with backoff and is heard again', async () => {
      const consumersBefore = await dee.consumers();
      for (const p of [dee, eli]) {
        const closed = await p.waitForEvent('closed', undefined, MAX_CONNECTION_MS + 5_000);
        assert.equal(closed.code, 1001, `${p.name}: the gateway's "going away" close`);
        assert.equal(closed.willReconnect, true, `${p.name} will reconnect`);
        await p.waitForEvent('reconnecting');
        const rejoined = await p.page.waitForFunction(
          () =>
            (window as unknown as { e2eEvents: Array<{ type: string; reconnected?: boolean }> }).e2eEvents.some(
              (e) => e.type === 'joined' && e.reconnected,
            ),
          undefined,
          { timeout: 15_000 },
        );
        assert.ok(await rejoined.jsonValue(), `${p.name} rejoined`);
      }
      assert.equal(await dee.variant(), 'hrpc1', 'dee rejoined over binary hrpc1');
      const [deeHears] = await dee.hears([eli.target.user]);
      const [eliHears] = await eli.hears([dee.target.user]);
      assert.notEqual(deeHears!.consumerId, consumersBefore[eli.target.user], 'a new consumer after the rejoin');
      for (const h of [deeHears!, eliHears!])
        assert.ok(h.packetsLast > h.packetsFirst && h.maxAudioLevel > 0, `heard ${h.userId} again`);
    });
  });
  describe('keepalive against the idle timeout (strict gateway, idle limit shortened)', () => {
    let stack: LocalStack;

    before(async () => {
      stack = await startLocalStack({
        port: 0,
        strict: true,
        idleTimeoutMs: IDLE_TIMEOUT_MS,
        mediaNode: { forwardLogs: false },
        logger: createLogger({ level: 'warn' }),
      });
    });

    after(async () => {
      await stack?.close();
    });

    it('a client sending the keepalive frame stays joined; one that does not is closed as idle (1001)', async () => {
      // The SDK bundle itself (web/dist/voice-client.js), two clients in one page: only the policy differs.
      const context = await browser!.newContext();
      try {
        await context.addInitScript('globalThis.__name ??= (fn) => fn;');
        const page = await context.newPage();
        await page.goto(`${stack.url}/`);
        const result = await page.evaluate(
          async ({ wsUrl, guild, channel, idleMs }) => {
            type Sdk = {
              VoiceClient: new (
                o: object,
              ) => {
                state: string;
                connect(o: object): Promise<void>;
                leave(): Promise<void>;
                on(e: string, l: (p: Record<string, unknown>) => void): void;
              };
              KEEPALIVE_FRAME: string;
            };
            const sdk = (await import('/dist/voice-client.js' as string)) as Sdk;
            const token = async (user: string) =>
              (
                (await (await fetch(`/dev/token?user=${user}&guild=${guild}&channel=${channel}`)).json()) as {
                  token: string;
                }
              ).token;
            const start = async (user: string, keepalive: object | false) => {
              const client = new sdk.VoiceClient({ keepalive, backoff: { maxAttempts: 0 } });
              const events: Array<{ type: string; code?: unknown; identifier?: unknown }> = [];
              client.on('closed', (e) => events.push({ type: 'closed', code: e.code }));
              client.on('error', (e) => events.push({ type: 'error', identifier: e.identifier }));
              await client.connect({ url: wsUrl, token: () => token(user), guildId: guild, channelId: channel });
              return { client, events };
            };
            const kept = await start('9007199254741005', {
              intervalMs: 1_000,
              send: (s: { sendWire(p: string): void }) => s.sendWire(sdk.KEEPALIVE_FRAME),
            });
            const quiet = await start('9007199254741007', false);
            await new Promise((r) => setTimeout(r, idleMs * 2 + 1_000));
            const out = {
              kept: { state: kept.client.state, events: [...kept.events] },
              quiet: { state: quiet.client.state, events: [...quiet.events] },
            };
            await kept.client.leave();
            return out;
          },
          { wsUrl: stack.wsUrl, guild: GUILD, channel: CHANNEL, idleMs: IDLE_TIMEOUT_MS },
        );
        assert.equal(
          result.quiet.events.find((e) => e.type === 'closed')?.code,
          1001,
          `without keepalive the gateway closes the idle stream: ${JSON.stringify(result.quiet)}`,
        );
        assert.equal(
          result.kept.state,
          'joined',
          `with keepalive the stream outlives the idle timeout: ${JSON.stringify(result.kept)}`,
        );
        assert.deepEqual(result.kept.events, [], 'the keepalive frames drew no error and no close');
      } finally {
        await context.close();
      }
    });
  });
});
