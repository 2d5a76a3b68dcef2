// Parameters and poison entries through the real local stack (real sockets, Lambda handlers, dynalite, a real media
// node): what a client sends about its media is built into the node's own values, so no member can change
// what another member receives, and an entry that cannot be posted to one receiver ends that receiver alone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../support/client-params';
import { joinWithMedia, waitFor, type MediaJoined } from '../support/media-voice-client';
import { initialize, joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 181n;
let stack: LocalStack;
const open: VoiceTestClient[] = [];
const media: MediaJoined[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 1_000, mediaNode: { forwardLogs: false } });
});
after(async () => {
  for (const m of media) for (const t of m.transports) t.close();
  for (const c of open) c.terminate();
  await stack?.close();
});

const options = (user: bigint, channel: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) });
const track = <T extends { client: VoiceTestClient } | VoiceTestClient>(x: T): T => {
  open.push('client' in x ? x.client : x);
  return x;
};

/** mediasoup-client's RtpParameters with the Opus codec parameters padded with junk keys to ~19 KB (valid JSON). */
function paddedRtpParameters(): string {
  const value = JSON.parse(producerRtpParameters()) as { codecs: { parameters: Record<string, unknown> }[] };
  for (let i = 0; i < 190; i++) value.codecs[0]!.parameters[`x-junk-${i}`] = 'A'.repeat(90);
  return JSON.stringify(value);
}

async function preparedClient(
  user: bigint,
  channel: bigint,
  rtpCapabilities = clientRtpCapabilities(),
): Promise<VoiceTestClient> {
  const client = track(await VoiceTestClient.connect(options(user, channel)));
  await initialize(client, GUILD, channel);
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities } });
  await client.expect('preparedForJoinChannel', 10_000);
  return client;
}

test('five members with ~19 KB padded Opus parameters are refused (voice.bad-rtp-parameters); an honest member then joins and is announced as usual', async () => {
  const channel = 1n;
  const a = track(await joinedClient(options(100n, channel), GUILD, channel));
  const b = track(await joinedClient(options(101n, channel), GUILD, channel));
  assert.equal((await a.client.expect('userJoined')).data?.userId, 101n);

  const padded = paddedRtpParameters();
  assert.ok(padded.length > 18_000 && padded.length < 24_000, `padded parameters are ~19 KB (${padded.length})`);
  const attackers = await Promise.all([0n, 1n, 2n, 3n, 4n].map((i) => preparedClient(110n + i, channel)));
  for (const attacker of attackers) {
    attacker.send({
      $case: 'joinChannel',
      value: {
        rtpParamaters: padded,
        producerDtlsParamaters: dtlsParameters(),
        consumerDtlsParamaters: dtlsParameters(),
      },
    });
  }
  for (const attacker of attackers)
    assert.equal((await attacker.expectError(10_000)).identifier, 'voice.bad-rtp-parameters');

  // The honest member joins and is announced within the usual time (joinedClient waits 10 s for its JoinedChannel).
  const c = track(await joinedClient(options(102n, channel), GUILD, channel));
  assert.deepEqual(c.joined.otherUsers.map((u) => u.userId).sort(), [100n, 101n]);
  assert.equal((await a.client.expect('userJoined', 10_000)).data?.userId, 102n);
  assert.equal((await b.client.expect('userJoined', 10_000)).data?.userId, 102n);
  // Nothing changed for anyone: no attacker was announced.
  for (const member of [a, b, c]) {
    assert.ok(
      !member.client.all('userJoined').some((u) => (u.data?.userId ?? 0n) >= 110n),
      'no attacker was announced',
    );
  }
});

test('odd but well-formed parameters: what other members receive carries nothing the attacker chose, and a real client consumes it', async () => {
  const channel = 2n;
  // A real WebRTC member (msc-node, mediasoup-client's API): it must be able to consume what the node built.
  const honest = await joinWithMedia(options(200n, channel), GUILD, channel);
  media.push(honest);
  open.push(honest.client);

  // The attacker's capabilities list junk codecs and header extensions beside its Opus (dropped, never an error),
  // and its producer has a cname, msid and mid of its own choosing and fmtp values written as strings.
  const caps = JSON.parse(clientRtpCapabilities()) as { codecs: unknown[]; headerExtensions: unknown[] };
  caps.codecs.push({
    kind: 'video',
    mimeType: 'video/ATTACKER',
    clockRate: 90000,
    preferredPayloadType: 96,
    parameters: { 'attacker-param': 'attacker' },
  });
  caps.headerExtensions.push({ kind: 'audio', uri: 'urn:attacker:ext', preferredId: 13, direction: 'sendrecv' });
  const attacker = await preparedClient(201n, channel, JSON.stringify(caps));
  const rtp = JSON.parse(producerRtpParameters()) as Record<string, unknown> & {
    codecs: { parameters: Record<string, unknown> }[];
    rtcp: Record<string, unknown>;
  };
  rtp.mid = 'attackermid';
  rtp.msid = 'attacker-stream attacker-track';
  rtp.rtcp = { cname: 'attacker-cname', reducedSize: true };
  rtp.codecs[0]!.parameters = { useinbandfec: '1', stereo: '1', maxaveragebitrate: '64000' };
  attacker.send({
    $case: 'joinChannel',
    value: {
      rtpParamaters: JSON.stringify(rtp),
      producerDtlsParamaters: dtlsParameters(),
      consumerDtlsParamaters: dtlsParameters(),
    },
  });
  const joined = await attacker.expect('joinedChannel', 10_000);
  assert.deepEqual(
    joined.otherUsers.map((u) => u.userId),
    [200n],
  );

  const told = await honest.client.expect('userJoined', 10_000);
  assert.equal(told.data?.userId, 201n);
  const text = told.data!.rtpParameters;
  assert.ok(
    !/attacker/i.test(text),
    `the honest member's consumer parameters carry nothing the attacker wrote: ${text}`,
  );
  const params = JSON.parse(text) as Record<string, unknown> & {
    codecs: { parameters: Record<string, unknown> }[];
    rtcp: { cname: string };
  };
  assert.deepEqual(Object.keys(params).sort(), ['codecs', 'encodings', 'headerExtensions', 'mid', 'rtcp'].sort());
  assert.notEqual(params.rtcp.cname, 'attacker-cname');
  assert.deepEqual(
    params.codecs[0]!.parameters,
    { useinbandfec: 1, stereo: 1, maxaveragebitrate: 64000 },
    "fmtp values are the node's numbers",
  );
  // The attacker's own consumer (built with its own capabilities) carries none of its junk either.
  assert.ok(!/attacker/i.test(joined.otherUsers[0]!.rtpParameters), joined.otherUsers[0]!.rtpParameters);

  // A real client consumes the node-built parameters (mediasoup-client fills in the defaults left out).
  await honest.consume(told.data!);
  assert.ok(honest.consumers.has('201'));
});

test('an entry the gateway refuses to one receiver (413) ends that receiver alone with voice.undeliverable; later joins are announced to everyone else', async () => {
  const channel = 3n;
  const a = track(await joinedClient(options(300n, channel), GUILD, channel));
  const b = track(await joinedClient(options(301n, channel), GUILD, channel));
  await a.client.expect('userJoined');

  const before = new Set(stack.gateway.connectionIds());
  const x = await preparedClient(302n, channel);
  const [xId] = stack.gateway.connectionIds().filter((id) => !before.has(id));
  assert.ok(xId, "the receiver's connection id");
  // From now on a post to x over 600 bytes is refused as API Gateway refuses a message over its limit: its
  // JoinedChannel (two consumers) cannot be posted; the error frame that tells it why can.
  stack.gateway.limitPosts(xId, 600);
  x.send({
    $case: 'joinChannel',
    value: {
      rtpParamaters: producerRtpParameters(),
      producerDtlsParamaters: dtlsParameters(),
      consumerDtlsParamaters: dtlsParameters(),
    },
  });
  assert.equal((await x.expectError(10_000)).identifier, 'voice.undeliverable');
  await x.waitClosed(10_000);
  assert.ok(!x.frames.some((f) => f.kind === 'response' && f.response.message?.$case === 'joinedChannel'));

  // Everyone else saw x come and go, in order, and the channel goes on: a later join is announced.
  for (const member of [a, b]) {
    assert.equal((await member.client.expect('userJoined', 10_000)).data?.userId, 302n);
    assert.equal((await member.client.expect('userLeft', 10_000)).userId, 302n);
  }
  const c = track(await joinedClient(options(303n, channel), GUILD, channel));
  assert.deepEqual(c.joined.otherUsers.map((u) => u.userId).sort(), [300n, 301n]);
  for (const member of [a, b]) assert.equal((await member.client.expect('userJoined', 10_000)).data?.userId, 303n);
  await waitFor(
    async () => (await stack.gateway.connectionIds()).includes(xId) === false,
    5_000,
    'x to be disconnected',
  );
});
