// Per-user limits through the real local stack (local API Gateway, the handler modules, dynalite, a real media
// node): one token's connect flood, open streams, join flood, replacement flood and prepare floods (per user and
// per channel) are each refused with the documented answer — 429 + hrpc.v1.Error `voice.rate-limited` with RetryInfo
// at `$connect`, the `voice.rate-limited` error frame with RetryInfo on the stream — and nothing changes for anyone
// else. Then the limits hold across containers: two instances of the handler modules (two Lambda containers, each
// with its own runtime and DynamoDB client) admit exactly the limit between them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { STATE_TABLE } from '../../data/tables';
import { createDocumentClient } from '../../routing/dynamo';
import { connectEvent, disconnectEvent, type ConnectionFacts } from '../../local/gateway/events';
import { awsStyleId } from '../../local/gateway/ids';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/stack';
import { SUBPROTOCOL_BASE64, VOICE_STREAM_PATH } from '../../protocol/hrpc';
import type { WebSocketEvent } from '../../functions/handlers/event';
import {
  clearOfMinuteEdge,
  connectFlood,
  initializedAndPrepareSent,
  joinLeaveFlood,
  nextErrorFrame,
  replaceFlood,
  streamFlood,
  tryConnect,
  type ConnectOutcome,
} from '../support/floods';
import { allConnectionRecords } from '../support/state-table';
import { joinedClient, sendJoin } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';
import { waitFor } from '../support/wait';

const GUILD = 9_007_199_254_740_993n; // above 2^53
const LIMITS = {
  VOICE_USER_CONNECTS_PER_MINUTE: '6',
  VOICE_USER_MAX_STREAMS: '3',
  VOICE_USER_JOINS_PER_MINUTE: '4',
  VOICE_USER_REPLACEMENTS_PER_MINUTE: '2',
  VOICE_USER_MAX_PREPARED: '2',
  VOICE_CHANNEL_MAX_PREPARED: '3',
};

let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true, handlerEnv: LIMITS });
});
after(async () => {
  for (const c of open) c.close();
  await stack?.close();
});

const as = (user: bigint, ...channels: bigint[]) => ({
  wsUrl: stack.wsUrl,
  token: devToken(user, GUILD, channels.length ? channels : [1n]),
});
const keep = <T extends VoiceTestClient>(c: T): T => (open.push(c), c);
const accepted = (outcomes: ConnectOutcome[]) => outcomes.flatMap((o) => ('accepted' in o ? [keep(o.accepted)] : []));
const refusals = (outcomes: ConnectOutcome[]) => outcomes.flatMap((o) => ('refused' in o ? [o.refused] : []));

async function recordsOf(user: bigint) {
  await stack.gateway.idle();
  const db = createDocumentClient({ endpoint: stack.dynamo.endpoint });
  try {
    return (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).filter(
      (r) => r.userId === String(user),
    );
  } finally {
    db.destroy();
  }
}

function assertRateLimited(error: Awaited<ReturnType<typeof nextErrorFrame>>, what: RegExp): void {
  assert.ok('identifier' in error, `expected an error frame, got ${JSON.stringify(error)}`);
  assert.equal(error.identifier, 'voice.rate-limited');
  assert.match(error.humanMessage, what);
  assert.ok(
    (error.retryAfterSeconds ?? 0) >= 1 && error.retryAfterSeconds! <= 60,
    `RetryInfo ${error.retryAfterSeconds}`,
  );
}

test('connect flood: the 7th connect of a minute gets 429 voice.rate-limited with RetryInfo, nothing recorded; other users connect', async () => {
  await clearOfMinuteEdge(15_000);
  const outcomes = await connectFlood(as(101n), 8);
  assert.equal(accepted(outcomes).length, 6);
  const refused = refusals(outcomes);
  assert.equal(refused.length, 2);
  for (const r of refused) {
    assert.equal(r.statusCode, 429);
    assert.equal(r.identifier, 'voice.rate-limited');
    assert.match(r.humanMessage, /connections a minute/);
    assert.ok((r.retryAfterSeconds ?? 0) >= 1 && r.retryAfterSeconds! <= 60, `RetryInfo ${r.retryAfterSeconds}`);
  }
  assert.deepEqual(await recordsOf(101n), [], 'no record of a refused connect (and the closed ones are gone)');
  const other = await tryConnect(as(102n));
  assert.ok('accepted' in other, 'another user is not affected');
  keep(other.accepted);
});

test('concurrent streams: a 4th open stream of one user gets 429; once one closes, the next is accepted', async () => {
  await clearOfMinuteEdge(15_000);
  const outcomes = await streamFlood(as(103n), 4);
  const streams = accepted(outcomes);
  assert.equal(streams.length, 3);
  const [refused] = refusals(outcomes);
  assert.equal(refused?.statusCode, 429);
  assert.equal(refused?.identifier, 'voice.rate-limited');
  assert.match(refused!.humanMessage, /open voice streams/);
  assert.ok((refused?.retryAfterSeconds ?? 0) >= 1);
  assert.equal((await recordsOf(103n)).length, 3);
  assert.ok('accepted' in (await tryConnect(as(104n))), 'another user is not affected');

  streams[0]!.close();
  await streams[0]!.waitClosed();
  await stack.gateway.idle(); // its $disconnect ran
  const again = await tryConnect(as(103n));
  assert.ok('accepted' in again, 'a stream was freed');
  keep(again.accepted);
});

test('join flood: the 5th join of a minute is refused with voice.rate-limited; the stream stays prepared and the channel hears nothing of it', async () => {
  await clearOfMinuteEdge(20_000);
  const observer = keep((await joinedClient(as(106n, 11n), GUILD, 11n)).client);
  const attacker = 105n;
  const leftSoFar = () => observer.all('userLeft').filter((u) => u.userId === attacker).length;
  const result = await joinLeaveFlood(as(attacker, 11n), GUILD, 11n, 6, (cycle) =>
    waitFor(() => leftSoFar() === cycle + 1, 10_000, 'the leave'),
  );
  assert.equal(result.joined, 4);
  assert.ok(result.refused, 'the 5th join was refused');
  keep(result.refused.client);
  assertRateLimited(result.refused.error, /joins/);

  await stack.gateway.idle();
  assert.equal(
    observer.all('userJoined').filter((u) => u.data?.userId === attacker).length,
    4,
    'the observer heard of 4 joins, not 5',
  );
  assert.equal(leftSoFar(), 4);
  assert.equal(result.refused.client.closed, undefined, 'a refusal does not end the stream');
  assert.deepEqual(
    (await recordsOf(attacker)).map((r) => r.state),
    ['prepared'],
    'the refused stream is still prepared',
  );
});

test('replacement flood: after 2 replacements in a minute the next join waits; the seated session and the channel are untouched', async () => {
  await clearOfMinuteEdge(20_000);
  const observer = keep((await joinedClient(as(108n, 12n), GUILD, 12n)).client);
  const attacker = 107n;
  const result = await replaceFlood(as(attacker, 12n), GUILD, 12n, 4);
  keep(result.seated);
  assert.equal(result.replaced, 2);
  assert.ok(result.refused, 'the 3rd replacement was refused');
  keep(result.refused.client);
  assertRateLimited(result.refused.error, /replacements/);

  await waitFor(
    () => observer.all('userJoined').filter((u) => u.data?.userId === attacker).length === 3,
    10_000,
    'the joins',
  );
  await stack.gateway.idle();
  assert.equal(
    observer.all('userJoined').filter((u) => u.data?.userId === attacker).length,
    3,
    'the first join and 2 replacements',
  );
  assert.equal(
    observer.all('userLeft').filter((u) => u.userId === attacker).length,
    2,
    'only the 2 replaced sessions left',
  );
  assert.equal(result.seated.closed, undefined, 'the seated session was not replaced');
  assert.deepEqual((await recordsOf(attacker)).map((r) => r.state).sort(), ['joined', 'prepared']);
});

test('prepare flood (per user): a 3rd session waiting to join is refused and stays initialized; a join frees a slot', async () => {
  await clearOfMinuteEdge(15_000);
  const user = as(109n, 13n);
  const [a, b, c] = [
    keep(await initializedAndPrepareSent(user, GUILD, 13n)),
    keep(await initializedAndPrepareSent(user, GUILD, 13n)),
    keep(await initializedAndPrepareSent(user, GUILD, 13n)),
  ];
  await a.expect('preparedForJoinChannel');
  await b.expect('preparedForJoinChannel');
  assertRateLimited(await nextErrorFrame(c), /waiting to join/);
  assert.deepEqual((await recordsOf(109n)).map((r) => r.state).sort(), ['initialized', 'prepared', 'prepared']);

  sendJoin(a);
  await a.expect('joinedChannel');
  c.send({
    $case: 'prepareForJoinChannel',
    value: { rtpCapabilities: (await import('../support/client-params')).clientRtpCapabilities() },
  });
  await c.expect('preparedForJoinChannel');
});

test('prepare flood (per channel): a 4th session waiting to join one channel is refused; other channels are not affected', async () => {
  await clearOfMinuteEdge(15_000);
  const waiting = [];
  for (const user of [110n, 111n, 112n]) {
    const client = keep(await initializedAndPrepareSent(as(user, 14n), GUILD, 14n));
    await client.expect('preparedForJoinChannel');
    waiting.push(client);
  }
  const late = keep(await initializedAndPrepareSent(as(113n, 14n), GUILD, 14n));
  assertRateLimited(await nextErrorFrame(late), /waiting to join this channel/);
  const elsewhere = keep(await initializedAndPrepareSent(as(114n, 15n), GUILD, 15n));
  await elsewhere.expect('preparedForJoinChannel');
  assert.deepEqual(
    (await recordsOf(113n)).map((r) => r.state),
    ['initialized'],
  );

  sendJoin(waiting[0]!);
  await waiting[0]!.expect('joinedChannel');
  late.send({
    $case: 'prepareForJoinChannel',
    value: { rtpCapabilities: (await import('../support/client-params')).clientRtpCapabilities() },
  });
  await late.expect('preparedForJoinChannel');
});

// ---- across containers ----

type Handler = (event: WebSocketEvent) => Promise<APIGatewayProxyResult>;

/** A fresh instance of a handler module: its own runtime cache, DynamoDB client and memory, as a new Lambda container has. */
async function container(name: 'connect' | 'disconnect', instance: string): Promise<Handler> {
  const url = `${pathToFileURL(join(REPO_ROOT, 'functions/handlers', `${name}.ts`)).href}?container=${instance}`;
  return ((await import(url)) as { handler: Handler }).handler;
}

function facts(): ConnectionFacts {
  return {
    connectionId: awsStyleId(),
    connectedAt: Date.now(),
    sourceIp: '127.0.0.1',
    userAgent: null,
    domainName: '127.0.0.1',
    stage: 'local',
    apiId: 'local',
  };
}

const upgrade = (token: string) => ({
  rawHeaders: ['Sec-WebSocket-Protocol', `${SUBPROTOCOL_BASE64}, ${token}`],
  url: VOICE_STREAM_PATH,
  localPort: 1,
});

test('across containers: connects and open streams of one user through two handler instances are bounded by one limit', async () => {
  await clearOfMinuteEdge(15_000);
  const connects = [await container('connect', 'a'), await container('connect', 'b')];
  const disconnects = [await container('disconnect', 'a'), await container('disconnect', 'b')];

  // Connect and leave, alternating containers: 6 a minute for the user in all, not 6 per container.
  const token = devToken(115n, GUILD, [1n]);
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    const f = facts();
    const result = await connects[i % 2]!(connectEvent(f, upgrade(token)));
    statuses.push(result.statusCode);
    if (result.statusCode === 200) await disconnects[i % 2]!(disconnectEvent(f, { code: 1000, reason: '' }));
  }
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429, 429]);

  // Concurrent connects of another user, half in each container: exactly 3 open streams between them.
  const other = devToken(116n, GUILD, [1n]);
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => connects[i % 2]!(connectEvent(facts(), upgrade(other)))),
  );
  assert.equal(results.filter((r) => r.statusCode === 200).length, 3);
  assert.equal(results.filter((r) => r.statusCode === 429).length, 3);
  assert.equal((await recordsOf(116n)).length, 3);
});
