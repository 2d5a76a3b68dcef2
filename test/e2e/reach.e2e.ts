// Every user connects and is heard, in the network lab (test/support/netlab.ts): per profile, a participant
// whose Chromium runs inside the profile's namespace (`ip netns exec`) joins a channel with one in the root namespace;
// each hears the other (inbound packets rising and audio level above zero, both ways), and the rung its send
// transport uses (getStats: the selected pair's local candidate) is the expected one. And a participant whose media
// can never connect (only the signalling port open) is told `voice.media-unreachable` while the other sees it leave.
//
// The stack (gateway, dynalite, media node) listens on a lab host address (a veth in the root namespace); the media
// node's WebRtcServer also takes ICE over TCP on 443 (MEDIA_ICE_TCP_PORT), the rung of the "only TCP 443" profiles
// for a stock voice.v1 client. Time from the click to the first audio packet is printed per profile (a figure, not
// an assertion).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { createLogger } from '../../lib/log';
import { DevIssuer } from '../../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { buildWeb } from '../../web/build';
import { startCoturn, type Coturn } from '../../local/coturn';
import { createLab, labNamespaces, labUnavailable, PROFILES, type Lab, type Profile } from '../support/netlab';
import { CHROMIUM_PATH, launchChromium } from './support/chromium';
import { Participant } from './support/participant';

const GUILD = '9223372036854775813';
/**
 * The media node's bound for a transport to connect (MEDIA_ICE_CONNECT_TIMEOUT_MS): shorter than the 15 s default so
 * the blocked case is quick, long enough for ICE over TCP 443 under 10 % loss on a loaded machine.
 */
const CONNECT_BOUND_MS = 10_000;
const LAB_USER = '9007199254740993';
const ROOT_USER = '9007199254740995';

/** The rung each profile's participant must end up on (a stock voice.v1 client: no relay offered). */
const EXPECTED: Record<Profile, { rung: string; remotePort?: number }> = {
  open: { rung: 'udp' },
  nat: { rung: 'udp' },
  'symmetric-nat': { rung: 'udp' },
  'udp-blocked': { rung: 'tcp' },
  'tcp443-only': { rung: 'tcp', remotePort: 443 },
  loss10: { rung: 'udp' },
  'tcp443-loss10': { rung: 'tcp', remotePort: 443 },
  'signalling-only': { rung: 'none' },
  'stun-only': { rung: 'relay-tls' },
};

type Paths = { send?: { rung: string; localCandidateType: string; protocol: string; remotePort?: number } };

async function mediaPaths(p: Participant): Promise<Paths> {
  return p.page.evaluate(() =>
    (
      window as unknown as { harmonyVoiceDemo: { client: { getMediaPaths(): Promise<Paths> } } }
    ).harmonyVoiceDemo.client.getMediaPaths(),
  );
}

const skip = labUnavailable();

describe('reach: every network profile is heard (network lab, Chromium)', { skip, timeout: 360_000 }, () => {
  let hub: Lab;
  let stack: LocalStack;
  let relay: Coturn;
  const relayLog: string[] = [];
  let rootBrowser: Browser;
  let secureOrigin: string;
  const labsBefore = labNamespaces();
  const results: string[] = [];

  before(async () => {
    await buildWeb();
    // The hub lab only provides the host address the stack listens on (reached from every other lab through its router).
    hub = createLab({ profile: 'open' });
    // The relay (coturn) on its own host address (the media node's ICE-TCP holds 443 on the hub's), TLS on 443,
    // relaying to the media node only. The handlers grant relay.v1 with it: credentials reach the SDK on the wire.
    relay = await startCoturn({
      listenIp: hub.addHostAddress(),
      mediaNodeIps: [hub.hostIp],
      tlsPort: 443,
      port: 3478,
      onLine: (l) => relayLog.push(l),
    });
    const issuer = DevIssuer.load();
    stack = await startLocalStack({
      port: 0,
      host: hub.hostIp,
      strict: true,
      logger: createLogger({ level: 'warn' }),
      issuer,
      // Plain-http JWKS URLs are accepted on loopback only; the stack listens on a lab address, so the handlers get the keys inline.
      handlerEnv: {
        TOKEN_JWKS_URL: '',
        TOKEN_JWKS: JSON.stringify(issuer.jwks()),
        VOICE_RELAY_URLS: `turns:${relay.listenIp}:443?transport=tcp`,
        VOICE_RELAY_SECRET: relay.secret,
      },
      mediaNode: {
        forwardLogs: false,
        env: {
          MEDIA_LISTEN_IP: hub.hostIp,
          MEDIA_ICE_TCP_PORT: '443',
          MEDIA_ICE_CONNECT_TIMEOUT_MS: String(CONNECT_BOUND_MS),
        },
      },
    });
    // getUserMedia needs a secure origin; the lab's is plain http on a lab address.
    secureOrigin = `--unsafely-treat-insecure-origin-as-secure=${stack.url}`;
    rootBrowser = await launchChromium([secureOrigin]);
  });

  after(async () => {
    await rootBrowser?.close().catch(() => {});
    await stack?.close();
    await relay?.close();
    hub?.close();
    for (const line of results) console.log(line);
    assert.deepEqual(labNamespaces(), labsBefore, 'every lab namespace is removed');
  });

  /** A lab of `profile` with its own Chromium inside, one participant there and one in the root namespace, on a fresh channel. */
  async function pair(
    profile: Profile,
    channel: string,
    body: (inLab: Participant, inRoot: Participant, lab: Lab) => Promise<void>,
    labQuery: Record<string, string> = {},
    labArgs: string[] = [],
  ): Promise<void> {
    const signallingPort = Number(new URL(stack.url).port);
    const lab = createLab({ profile, signallingPort, relayIp: relay.listenIp });
    let labBrowser: Browser | undefined;
    const people: Participant[] = [];
    try {
      labBrowser = await launchChromium([secureOrigin, ...labArgs], { executablePath: lab.wrapper(CHROMIUM_PATH) });
      const target = { baseUrl: stack.url, guild: GUILD, channel, variant: 'base64' as const, server: stack.wsUrl };
      const inLab = new Participant(`${profile}`, labBrowser, { ...target, user: LAB_USER, query: labQuery });
      const inRoot = new Participant('root', rootBrowser, { ...target, user: ROOT_USER });
      people.push(inLab, inRoot);
      await Promise.all(people.map((p) => p.open()));
      await body(inLab, inRoot, lab);
    } catch (err) {
      const paths = await Promise.all(people.map((p) => mediaPaths(p).catch(() => undefined)));
      const tails = people.map((p) => p.tail(15)).join('\n');
      throw new Error(
        `${profile}: ${(err as Error).message}\npaths (lab, root): ${JSON.stringify(paths)}\n${tails}\nrouter counters:\n${lab.counters()}`,
      );
    } finally {
      await Promise.all(people.map((p) => p.close()));
      await labBrowser?.close().catch(() => {});
      lab.close();
    }
  }

  /**
   * The lab participant joins with the root one; each must hear the other (packets rising, audio level above zero);
   * returns the lab's send path and the time from its click to its first audio packet.
   */
  async function heardBothWays(
    inLab: Participant,
    inRoot: Participant,
    firstAudioWithinMs: number,
  ): Promise<{ paths: Paths; firstAudioMs: number }> {
    const firstAudio = inLab.firstPacketTimes([ROOT_USER], firstAudioWithinMs);
    const firstBack = inRoot.firstPacketTimes([LAB_USER], firstAudioWithinMs);
    const clickedAt = await inLab.page.evaluate(() => performance.now());
    await inRoot.clickJoin();
    await inRoot.waitJoined();
    await inLab.clickJoin();
    await inLab.waitJoined(30_000);
    // Both awaited together: neither rejection may escape the test while the lab still runs.
    const [first] = await Promise.all([firstAudio, firstBack]);
    const [labHears] = await inLab.hears([ROOT_USER], 30_000);
    const [rootHears] = await inRoot.hears([LAB_USER], 30_000);
    for (const [who, h] of [
      ['lab ← root', labHears!],
      ['root ← lab', rootHears!],
    ] as const) {
      assert.ok(h.packetsLast > h.packetsFirst, `${who}: packetsReceived rises (${h.packetsFirst} → ${h.packetsLast})`);
      assert.ok(h.maxAudioLevel > 0, `${who}: audioLevel above zero (${h.maxAudioLevel})`);
    }
    return { paths: await mediaPaths(inLab), firstAudioMs: Math.round(first[ROOT_USER]! - clickedAt) };
  }

  /** Runs a relay test; a failure carries the relay's last log lines. */
  async function withRelayLog(run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      throw new Error(`${(err as Error).message}\nrelay log:\n${relayLog.slice(-40).join('\n')}`);
    }
  }

  for (const [i, profile] of PROFILES.entries()) {
    it(`(${String.fromCharCode(97 + i)}) ${profile}: both hear each other, on the expected rung`, async () => {
      await pair(profile, String(1000 + i), async (inLab, inRoot) => {
        const { paths, firstAudioMs } = await heardBothWays(inLab, inRoot, 45_000);
        const expected = EXPECTED[profile];
        assert.equal(paths.send?.rung, expected.rung, `rung of the send transport: ${JSON.stringify(paths)}`);
        if (expected.remotePort !== undefined)
          assert.equal(paths.send?.remotePort, expected.remotePort, JSON.stringify(paths));
        results.push(
          `[reach] ${profile}: heard both ways via ${paths.send?.rung} (${paths.send?.localCandidateType}/${paths.send?.protocol} → port ${paths.send?.remotePort}); click → first audio ${firstAudioMs} ms`,
        );
      });
    });
  }

  it('(e) only TCP 443, relay only: heard both ways through TURN over TLS on 443, credentials from relay.v1', async () => {
    await withRelayLog(() =>
      pair(
        'tcp443-only',
        '1500',
        async (inLab, inRoot) => {
          const { paths, firstAudioMs } = await heardBothWays(inLab, inRoot, 60_000);
          assert.equal(paths.send?.rung, 'relay-tls', JSON.stringify(paths));
          assert.equal(await inLab.subprotocol(), 'hrpc1.base64+ext.v1', 'the relays came through the negotiation');
          results.push(
            `[reach] tcp443-only with relay only (relay.v1): heard both ways via ${paths.send?.rung}; click → first audio ${firstAudioMs} ms`,
          );
          // The lab relay's certificate is self-signed (made at start); a deployment's relay has the operator's.
        },
        { relay: '1', relayOnly: '1' },
        ['--ignore-certificate-errors'],
      ),
    );
  });

  it('STUN passes but no media (DTLS blocked): the direct rung never connects, the SDK takes the next rung (relay only) and both are heard', async () => {
    await withRelayLog(() =>
      pair(
        'stun-only',
        '1600',
        async (inLab, inRoot) => {
          const { paths, firstAudioMs } = await heardBothWays(inLab, inRoot, 60_000);
          const rung = await inLab.waitForEvent('nextRung', undefined, 1_000);
          assert.ok(
            ['voice.media-unreachable', 'client.media-unreachable'].includes(rung.identifier ?? ''),
            JSON.stringify(rung),
          );
          assert.equal(paths.send?.rung, 'relay-tls', JSON.stringify(paths));
          const joins = (await inLab.events()).filter((e) => e.type === 'joined').length;
          assert.equal(joins, 2, 'joined on the direct rung, then again on the relay rung');
          results.push(
            `[reach] stun-only (DTLS blocked) with relay.v1: direct rung failed (${rung.identifier}), next rung ${paths.send?.rung}; click → first audio ${firstAudioMs} ms`,
          );
        },
        { relay: '1' },
        ['--ignore-certificate-errors'],
      ),
    );
  });

  it('only the signalling port open: the participant is told voice.media-unreachable within the bound, the other sees it leave', async () => {
    await pair('signalling-only', '2000', async (inLab, inRoot) => {
      await inRoot.clickJoin();
      await inRoot.waitJoined();
      await inLab.clickJoin();
      // Signalling passes, so the join completes; the media never connects.
      await inLab.waitJoined(30_000);
      const joinedAt = Date.now();
      await inRoot.waitForEvent('userJoined', LAB_USER);
      // The node's bound, then the sweep (every 5 s) ends the session.
      const error = await inLab.waitForEvent('error', undefined, CONNECT_BOUND_MS + 20_000);
      assert.equal(error.identifier, 'voice.media-unreachable', JSON.stringify(error));
      assert.match(error.message ?? '', /another network|UDP or TCP port 443/);
      const banner = await inLab.banner();
      assert.equal(banner.title, 'Your audio could not connect.');
      const left = await inRoot.waitForEvent('userLeft', LAB_USER, 20_000);
      results.push(
        `[reach] signalling-only: told voice.media-unreachable ${Math.round(error.wall! - joinedAt)} ms after joining (bound ${CONNECT_BOUND_MS} ms + sweep); the other saw it leave ${Math.round(left.wall! - joinedAt)} ms after`,
      );
    });
  });
});
