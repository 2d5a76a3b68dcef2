// The voice protocol end to end through the real local stack: local API Gateway → the Lambda handler
// modules → dynalite → a real mediasoup media node over gRPC, with Node hRPC clients.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import type { UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { encodeRequest, KEEPALIVE_FRAME } from '../../protocol/hrpc';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { initialize, joinedClient, prepare, sendJoin } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 2n ** 63n + 11n; // above 2^53: must survive exactly
const CHANNEL = 7n;

let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 500 });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

function options(user: bigint | string, channel = CHANNEL, extra: { variant?: 'binary' | 'base64' } = {}) {
  return { wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]), ...extra };
}
async function join(user: bigint, channel = CHANNEL) {
  const result = await joinedClient(options(user, channel), GUILD, channel);
  open.push(result.client);
  return result;
}
async function connect(user: bigint | string, channel = CHANNEL) {
  const client = await VoiceTestClient.connect(options(user, channel));
  open.push(client);
  return client;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('three users in one channel', () => {
  const channel = 100n;
  let a: Awaited<ReturnType<typeof join>>, b: Awaited<ReturnType<typeof join>>, c: Awaited<ReturnType<typeof join>>;

  test('exact message sequences and the right consumers to the right users', async () => {
    a = await join(1n, channel);
    assert.equal(a.client.protocol, 'hrpc1.base64', 'the subprotocol is echoed, never the token');
    assert.deepEqual(a.joined.otherUsers, []);

    b = await join(2n, channel);
    assert.deepEqual(
      b.joined.otherUsers.map((u) => u.userId),
      [1n],
    );
    const aSeesB = await a.client.expect('userJoined');
    assert.equal(aSeesB.data?.userId, 2n);

    c = await join(3n, channel);
    assert.deepEqual(c.joined.otherUsers.map((u) => u.userId).sort(), [1n, 2n]);
    assert.equal((await a.client.expect('userJoined')).data?.userId, 3n);
    assert.equal((await b.client.expect('userJoined')).data?.userId, 3n);

    // Six consumers in all, each id delivered to exactly one user, none about oneself.
    const delivered: [bigint, UserConsumerOptions][] = [];
    for (const [self, client] of [
      [1n, a.client],
      [2n, b.client],
      [3n, c.client],
    ] as const) {
      const options = [
        ...client.all('joinedChannel').flatMap((j) => j.otherUsers),
        ...client.all('userJoined').map((u) => u.data!),
      ];
      for (const o of options) delivered.push([self, o]);
      assert.equal(options.length, 2, `user ${self} has one consumer per other member`);
      assert.ok(
        options.every((o) => o.userId !== self),
        `user ${self} never hears about itself`,
      );
      for (const o of options) {
        assert.equal(JSON.parse(o.rtpParameters).codecs[0].mimeType.toLowerCase(), 'audio/opus');
        assert.match(o.consumerId, /^[0-9a-f-]{36}$/, 'raw id strings, not JSON-quoted');
      }
    }
    assert.equal(new Set(delivered.map(([, o]) => o.consumerId)).size, 6);
    // Each producer is consumed by the two others.
    const byProducer = new Map<string, bigint[]>();
    for (const [self, o] of delivered) byProducer.set(o.producerId, [...(byProducer.get(o.producerId) ?? []), self]);
    assert.equal(byProducer.size, 3);
    for (const consumers of byProducer.values()) assert.equal(consumers.length, 2);
  });

  test('ResumeConsumer only for the stream that owns the consumer', async () => {
    const own = a.joined.otherUsers[0] ?? a.client.all('userJoined')[0]!.data!;
    const bOwn = b.joined.otherUsers[0]!;
    a.client.send({ $case: 'resumeConsumer', value: { consumerId: JSON.stringify(own.consumerId) } }); // quoted form accepted
    a.client.send({ $case: 'resumeConsumer', value: { consumerId: bOwn.consumerId } });
    assert.equal((await a.client.expectError()).identifier, 'voice.consumer-not-yours');
    a.client.send({ $case: 'resumeConsumer', value: { consumerId: '00000000-0000-0000-0000-000000000000' } });
    assert.equal((await a.client.expectError()).identifier, 'voice.unknown-consumer');
    assert.equal(a.client.errors().length, 2, 'resuming its own consumer produced no error');
  });

  test('a leaving user is announced exactly once to each remaining member', async () => {
    c.client.close();
    assert.equal((await a.client.expect('userLeft')).userId, 3n);
    assert.equal((await b.client.expect('userLeft')).userId, 3n);
    await sleep(1500); // time for any duplicate (disconnect + reaper) to show up
    assert.equal(a.client.all('userLeft').length, 1);
    assert.equal(b.client.all('userLeft').length, 1);
  });

  test('the same user joining again replaces the old session', async () => {
    const a2 = await join(1n, channel);
    assert.deepEqual(
      a2.joined.otherUsers.map((u) => u.userId),
      [2n],
    );
    const old = await a.client.expectError();
    assert.equal(old.identifier, 'voice.session-replaced');
    await a.client.waitClosed();
    assert.equal((await b.client.expect('userLeft')).userId, 1n, 'the others see the old session leave');
    assert.equal((await b.client.expect('userJoined')).data?.userId, 1n, 'and then the new one join');
  });
});

describe('out of order and duplicate messages change nothing', () => {
  test('JoinChannel before PrepareForJoinChannel, a second Initialize, ResumeConsumer before joining', async () => {
    const client = await connect(10n);
    sendJoin(client);
    assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
    client.send({ $case: 'resumeConsumer', value: { consumerId: 'x' } });
    assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
    await initialize(client, GUILD, CHANNEL);
    client.send({ $case: 'initialize', value: { guildId: GUILD, channelId: CHANNEL } });
    assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
    // The stream is still usable: the flow continues where it was.
    await prepare(client);
    client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: '{"codecs":[]}' } });
    assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
    sendJoin(client);
    assert.deepEqual((await client.expect('joinedChannel')).otherUsers, []);
  });

  test('duplicate JoinChannel sent twice at once: one JoinedChannel, one error', async () => {
    const client = await connect(11n, 101n);
    await initialize(client, GUILD, 101n);
    await prepare(client);
    sendJoin(client);
    sendJoin(client);
    const frames = [await client.next(), await client.next()];
    assert.equal(
      frames.filter((f) => f.kind === 'response' && f.response.message?.$case === 'joinedChannel').length,
      1,
    );
    assert.equal(frames.filter((f) => f.kind === 'error' && f.error.identifier === 'voice.out-of-order').length, 1);
  });

  test('malformed frames get error frames and the stream lives on; the keepalive frame gets nothing', async () => {
    const client = await connect(12n, 102n);
    client.sendRaw(KEEPALIVE_FRAME);
    client.sendRaw(''); // empty text frame
    assert.equal((await client.expectError()).identifier, 'hrpc.http.bad-streaming-request');
    client.sendRaw('!!!not-base64');
    assert.equal((await client.expectError()).identifier, 'hrpc.http.bad-streaming-request');
    client.sendRaw(Buffer.from([0xff, 0xff, 0xff]).toString('base64')); // garbage protobuf
    assert.equal((await client.expectError()).identifier, 'hrpc.http.bad-streaming-request');
    client.sendRaw(
      Buffer.from(
        encodeRequest({ message: { $case: 'initialize', value: { guildId: GUILD, channelId: 102n } } }).subarray(0, 4),
      ).toString('base64'),
    );
    assert.equal((await client.expectError()).identifier, 'hrpc.http.bad-streaming-request');
    client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: 'not json' } });
    assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
    await initialize(client, GUILD, 102n);
    client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: 'not json' } });
    assert.equal((await client.expectError()).identifier, 'voice.bad-rtp-capabilities');
    await prepare(client);
    client.send({
      $case: 'joinChannel',
      value: { rtpParamaters: '{}', producerDtlsParamaters: '{"role":"client"}', consumerDtlsParamaters: '{}' },
    });
    const bad = await client.expectError();
    assert.ok(['voice.bad-dtls-parameters', 'voice.bad-rtp-parameters'].includes(bad.identifier), bad.identifier);
    sendJoin(client); // the failed join left nothing behind: a good one succeeds
    assert.deepEqual((await client.expect('joinedChannel')).otherUsers, []);
  });

  test('a binary frame on the API Gateway (strict) front door is closed with 1003, as AWS does', async () => {
    const client = await connect(13n);
    client.sendRaw(encodeRequest({ message: { $case: 'initialize', value: { guildId: GUILD, channelId: CHANNEL } } }));
    assert.equal((await client.waitClosed()).code, 1003);
  });
});

describe('authentication and authorization', () => {
  const refused = async (token: string | undefined) => {
    try {
      const c = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token });
      c.terminate();
    } catch (err) {
      const { statusCode, body } = err as { statusCode: number; body: Buffer };
      return { statusCode, error: HrpcError.decode(body) };
    }
    assert.fail('the upgrade was accepted');
  };

  test('no token, bad signature, expired token: 401 before the upgrade with h.blank-session', async () => {
    for (const [token, why] of [
      [undefined, /no session token/],
      [devToken(1n, GUILD, [7n]).slice(0, -4) + 'AAAA', /signature/],
      [devToken(1n, GUILD, [7n], -10), /expired/],
    ] as const) {
      const { statusCode, error } = await refused(token);
      assert.equal(statusCode, 401);
      assert.equal(error.identifier, 'h.blank-session');
      assert.match(error.humanMessage, why);
    }
  });

  test('token in the Authorization header works too', async () => {
    const client = await VoiceTestClient.connect({
      wsUrl: stack.wsUrl,
      token: devToken(20n, GUILD, [103n]),
      tokenInHeader: true,
    });
    open.push(client);
    await initialize(client, GUILD, 103n);
  });

  test('a channel the token does not grant: h.bad-channel-id; another guild: h.not-joined', async () => {
    const client = await connect(21n, 104n);
    client.send({ $case: 'initialize', value: { guildId: GUILD, channelId: 999n } });
    assert.equal((await client.expectError()).identifier, 'h.bad-channel-id');
    client.send({ $case: 'initialize', value: { guildId: 5n, channelId: 104n } });
    assert.equal((await client.expectError()).identifier, 'h.not-joined');
    await initialize(client, GUILD, 104n); // the rejection changed nothing
  });
});
