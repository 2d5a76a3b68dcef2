// relay.v1 through the real local stack (real sockets, Lambda handlers, dynalite, a real media node): the relays
// and their short-lived credentials reach a client that asked for them in the one negotiation (Hello → Welcome →
// RelayServers), for the user of its own token; RefreshRelays gets fresh ones; a resumed session's new stream gets
// them with its own Welcome and may refresh there; a stream that did not ask gets none (and a stock voice.v1
// stream sees no extension frame at all).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { initialize, joinedClient, prepare, sendJoin } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 98n;
const SECRET = 'relay-test-secret-0123456789abcdefghijklmnop';
const URLS = ['turns:198.18.200.1:443?transport=tcp', 'turn:198.18.200.1:3478?transport=udp'];
const TTL_S = 300;
let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    handlerEnv: {
      VOICE_RELAY_URLS: URLS.join(','),
      VOICE_RELAY_SECRET: SECRET,
      VOICE_RELAY_TTL_SECONDS: String(TTL_S),
    },
  });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

const track = <T extends VoiceTestClient>(c: T): T => (open.push(c), c);
const options = (user: bigint, channel: bigint, features?: string[]) => ({
  wsUrl: stack.wsUrl,
  token: devToken(user, GUILD, [channel]),
  features,
});

async function relaysOf(client: VoiceTestClient) {
  const m = await client.nextExt();
  assert.equal(m.$case, 'relays', `expected RelayServers, got ${m.$case}`);
  return (m as Extract<typeof m, { $case: 'relays' }>).value;
}

function assertIssuedFor(relays: Awaited<ReturnType<typeof relaysOf>>, user: bigint): void {
  assert.equal(relays.servers.length, 1);
  const [server] = relays.servers;
  assert.deepEqual(server!.urls, URLS);
  const [expiry, who] = server!.username.split(':');
  assert.equal(who, user.toString(), "issued for the user of the stream's token");
  const nowS = Date.now() / 1000;
  assert.ok(
    Number(expiry) > nowS + TTL_S - 30 && Number(expiry) <= nowS + TTL_S + 1,
    `expiry ${expiry} is now + ${TTL_S} s`,
  );
  assert.equal(
    server!.credential,
    createHmac('sha1', SECRET).update(server!.username).digest('base64'),
    'the TURN REST API credential of that username',
  );
  assert.equal(relays.expiresInS, TTL_S);
  assert.ok(
    relays.refreshInS > 0 && relays.refreshInS < relays.expiresInS,
    `refresh (${relays.refreshInS} s) before expiry`,
  );
}

test("Hello{relay.v1} is granted where relays are configured; RelayServers follow Welcome, for the token's user; RefreshRelays gets fresh ones", async () => {
  const user = 18446744073709551557n; // uint64 near the top: kept exact end to end
  const client = track(await VoiceTestClient.connect(options(user, 1n, ['resume.v1', 'relay.v1'])));
  assert.equal(client.protocol, 'hrpc1.base64+ext.v1');
  assert.deepEqual(client.granted, ['resume.v1', 'relay.v1']);
  assertIssuedFor(await relaysOf(client), user);

  client.sendExt({ $case: 'refreshRelays', value: {} });
  assertIssuedFor(await relaysOf(client), user);
});

test('a stream that did not ask for relay.v1 gets no relays, and RefreshRelays on it is refused', async () => {
  const client = track(await VoiceTestClient.connect(options(21n, 2n, ['resume.v1'])));
  assert.deepEqual(client.granted, ['resume.v1']);
  client.sendExt({ $case: 'refreshRelays', value: {} });
  const error = await client.expectError();
  assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
  assert.match(error.humanMessage, /relay\.v1/);
  assert.ok(
    !client.frames.some((f) => f.kind === 'ext' && f.message.message?.$case === 'relays'),
    'no RelayServers ever',
  );
});

test('a stock voice.v1 stream joins with no extension frame at all', async () => {
  const { client } = await joinedClient(options(22n, 3n), GUILD, 3n);
  track(client);
  assert.equal(client.protocol, 'hrpc1.base64');
  assert.ok(
    client.frames.every((f) => f.kind !== 'ext'),
    'no 0x02 frame reaches a stock stream',
  );
});

test("resume.v1 + relay.v1: the resumed session's new stream gets fresh relays with its Welcome, and refreshes on that stream", async () => {
  const user = 23n;
  const channel = 4n;
  const first = track(await VoiceTestClient.connect(options(user, channel, ['resume.v1', 'relay.v1'])));
  assertIssuedFor(await relaysOf(first), user);
  await initialize(first, GUILD, channel);
  await prepare(first);
  sendJoin(first);
  for (let i = 0; i < 250 && !first.credential; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(first.credential, 'a joined resume.v1 session has its credential');
  first.terminate(); // lost without a close frame: suspended

  const next = track(await VoiceTestClient.connect(options(user, channel, ['resume.v1', 'relay.v1'])));
  assertIssuedFor(await relaysOf(next), user);
  next.sendExt({
    $case: 'resume',
    value: {
      sessionId: first.credential!.sessionId,
      credential: first.credential!.credential,
      lastSeq: BigInt(first.lastSeq),
      restartIce: false,
    },
  });
  assert.equal((await next.nextExt(10_000)).$case, 'resumed');
  // The frame now resolves to the session record; the relays are still the asking stream's own grant.
  next.sendExt({ $case: 'refreshRelays', value: {} });
  assertIssuedFor(await relaysOf(next), user);
});
