// The extension negotiation and consumers.v1 through the real local stack (real sockets, the Lambda handlers,
// dynalite, a real media node, real WebRTC media from msc-node), per variant: `+ext.v1` → Hello → Welcome
// grants what the server supports; consumers.v1 clients hear the others without one ResumeConsumer (their
// consumers are created resumed on the node) while a stock voice.v1 member next to them sees exactly voice.v1
// (no extension frame, its consumers paused until it resumes them); resume.v1 granted by Welcome works as the
// `+resume.v1` value does; a Hello anywhere else changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinWithMedia, waitFor, type MediaJoined } from '../support/media-voice-client';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../support/client-params';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';
import type { Variant } from '../../protocol/hrpc';

const GUILD = 2n ** 63n + 29n;
let stack: LocalStack;
const open: { terminate(): void }[] = [];
const saved = process.env.MEDIA_ICE_CONSENT_TIMEOUT_S;

before(async () => {
  // msc-node never refreshes ICE consent (README); these sessions live less than a minute anyway.
  process.env.MEDIA_ICE_CONSENT_TIMEOUT_S = '0';
  // Not strict: the binary variant is accepted too (the strict front door is front-door-negotiation.test.ts).
  stack = await startLocalStack({ port: 0, strict: false, reaperIntervalMs: 1_000 });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
  if (saved === undefined) delete process.env.MEDIA_ICE_CONSENT_TIMEOUT_S;
  else process.env.MEDIA_ICE_CONSENT_TIMEOUT_S = saved;
});

const track = <T extends { terminate(): void }>(c: T): T => (open.push(c), c);
const sent = (client: VoiceTestClient) => (client as unknown as { ws: { send: (d: unknown) => void } }).ws;

/** Counts the client frames a test client sends that are ResumeConsumer requests. */
function countResumes(client: VoiceTestClient): () => number {
  let resumes = 0;
  const ws = sent(client);
  const original = ws.send.bind(ws);
  ws.send = (data: unknown) => {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data as Uint8Array);
    if (bytes[0] === 0x22) resumes++; // StreamMessageRequest field 4 (resume_consumer), length-delimited
    original(data);
  };
  return () => resumes;
}

for (const variant of ['base64', 'binary'] as Variant[]) {
  describe(`${variant} variant`, () => {
    const channel = variant === 'base64' ? 11n : 12n;
    const opts = (user: bigint, features?: string[]) => ({
      wsUrl: stack.wsUrl,
      token: devToken(user, GUILD, [channel, 99n]),
      variant,
      ...(features ? { features } : {}),
    });

    test('Hello → Welcome: the supported subset, nothing else; a second Hello is out of order and changes nothing', async () => {
      const client = track(await VoiceTestClient.connect(opts(1n, ['consumers.v1', 'relays.v9', 'resume.v1'])));
      assert.equal(client.protocol, variant === 'base64' ? 'hrpc1.base64+ext.v1' : 'hrpc1+ext.v1');
      assert.deepEqual(client.granted, ['consumers.v1', 'resume.v1']);
      client.sendExt({ $case: 'hello', value: { features: [] } });
      assert.equal((await client.expectError()).identifier, 'voice.out-of-order');
      client.send({ $case: 'initialize', value: { guildId: GUILD, channelId: 99n } });
      await client.expect('initialized');
      client.close();
    });

    test('a Hello on a stock stream, or after Initialize, changes nothing', async () => {
      const stock = track(await VoiceTestClient.connect(opts(2n)));
      stock.sendExt({ $case: 'hello', value: { features: ['consumers.v1'] } });
      assert.equal((await stock.expectError()).identifier, 'hrpc.http.bad-streaming-request');
      stock.close();
      const negotiating = track(
        await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: devToken(4n, GUILD, [99n]), variant, features: [] }),
      );
      assert.deepEqual(negotiating.granted, [], 'asking for nothing is granted nothing');
      negotiating.send({ $case: 'initialize', value: { guildId: GUILD, channelId: 99n } });
      await negotiating.expect('initialized');
      negotiating.sendExt({ $case: 'hello', value: { features: ['consumers.v1'] } });
      assert.equal((await negotiating.expectError()).identifier, 'voice.out-of-order');
      negotiating.close();
    });

    test('consumers.v1: the opted-in member hears the others with no ResumeConsumer; the stock member next to it is voice.v1 byte for byte', async () => {
      const a: MediaJoined = await joinWithMedia(opts(10n, ['consumers.v1']), GUILD, channel);
      track(a.client);
      const aResumes = countResumes(a.client);
      a.transports.forEach((t) => track({ terminate: () => t.close() }));
      assert.deepEqual(a.client.granted, ['consumers.v1']);
      const b: MediaJoined = await joinWithMedia(opts(20n), GUILD, channel);
      track(b.client);
      b.transports.forEach((t) => track({ terminate: () => t.close() }));
      const bResumes = countResumes(b.client);
      // B (stock) consumes A from its JoinedChannel and resumes it; A consumes B from its UserJoined and does not.
      await b.consume(b.joined.otherUsers[0]!);
      const joinedB = await a.client.expect('userJoined', 10_000);
      await a.consume(joinedB.data!);
      const stopA = a.speak();
      const stopB = b.speak();
      try {
        await waitFor(
          () => (a.received.get('20') ?? 0) >= 50,
          15_000,
          'A (consumers.v1) to receive 50 RTP packets from B',
        );
        await waitFor(() => (b.received.get('10') ?? 0) >= 50, 15_000, 'B (stock) to receive 50 RTP packets from A');
      } finally {
        stopA();
        stopB();
      }
      assert.equal(aResumes(), 0, 'the consumers.v1 member sent no ResumeConsumer');
      assert.equal(bResumes(), 1, 'the stock member resumed its consumer, as voice.v1 wants');
      assert.deepEqual(
        b.client.frames.filter((f) => f.kind === 'ext'),
        [],
        'no extension frame ever reached the stock member',
      );
      assert.deepEqual(b.client.errors(), []);
      assert.deepEqual(a.client.errors(), []);
      a.client.close();
      await waitFor(() => b.client.all('userLeft').length === 1, 10_000, 'B to see A leave');
      b.client.close();
    });

    test('resume.v1 granted by Welcome: a credential after the join, and a resume on a new negotiating stream', async () => {
      const client = track(await VoiceTestClient.connect(opts(30n, ['resume.v1'])));
      assert.deepEqual(client.granted, ['resume.v1']);
      client.send({ $case: 'initialize', value: { guildId: GUILD, channelId: channel } });
      await client.expect('initialized');
      client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
      await client.expect('preparedForJoinChannel');
      client.send({
        $case: 'joinChannel',
        value: {
          rtpParamaters: producerRtpParameters(),
          producerDtlsParamaters: dtlsParameters(),
          consumerDtlsParamaters: dtlsParameters(),
        },
      });
      await waitFor(
        () => client.credential !== undefined && client.all('joinedChannel').length === 1,
        10_000,
        'the session credential and JoinedChannel',
      );
      assert.ok(client.seqs.size > 0, 'membership messages arrive as Sequenced, with their history position');
      const credential = client.credential!;
      client.terminate();
      const next = track(await VoiceTestClient.connect(opts(30n, ['resume.v1'])));
      next.sendExt({
        $case: 'resume',
        value: {
          sessionId: credential.sessionId,
          credential: credential.credential,
          lastSeq: BigInt(client.lastSeq),
          restartIce: false,
        },
      });
      assert.equal((await next.nextExt(10_000)).$case, 'resumed');
      next.close();
    });
  });
}
