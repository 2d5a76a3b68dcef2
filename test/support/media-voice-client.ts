// A voice client with real media for tests through the local stack: the hRPC flow of VOICE-PROTOCOL.md §4
// driven by msc-node (mediasoup-client's API on werift), so the media node sees real ICE and DTLS for its
// session — and, when the client vanishes, the ICE consent timeout that reports it lost.
import { createRequire } from 'node:module';
import { Device, MediaStreamTrack, RTCCertificate, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'msc-node';
import type { StreamMessageResponse_JoinedChannel, StreamMessageResponse_PreparedForJoinChannel, UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { VoiceTestClient, type ClientOptions } from './voice-client';

type Transport = ReturnType<Device['createSendTransport']>;
interface Keys { certPem: string; keyPem: string; signatureHash: { hash: number; signature: number } }

async function generateKeys(): Promise<Keys> {
  const require = createRequire(createRequire(import.meta.url).resolve('msc-node'));
  const { CipherContext } = require('werift/lib/dtls/src/context/cipher') as {
    CipherContext: { createSelfSignedCertificateWithKey(hash: { signature: number; hash: number }, curve: number): Promise<Keys> };
  };
  return CipherContext.createSelfSignedCertificateWithKey({ signature: 3, hash: 4 }, 23);
}

function toOptions(t: { id: string; iceParameters: string; iceCandidates: string[]; dtlsParameters: string }) {
  return { id: t.id, iceParameters: JSON.parse(t.iceParameters), iceCandidates: t.iceCandidates.map((c) => JSON.parse(c)), dtlsParameters: JSON.parse(t.dtlsParameters) };
}

export interface MediaJoined {
  client: VoiceTestClient;
  joined: StreamMessageResponse_JoinedChannel;
  /** Stops the WebRTC side without a DTLS close alert being awaited (transports dropped). */
  transports: Transport[];
  /** What PreparedForJoinChannel carried (the media node's ICE candidates: which node the session is on). */
  prepared: StreamMessageResponse_PreparedForJoinChannel;
  /** RTP packets received so far, by the producing member's user id (once consumed). */
  received: Map<bigint, number>;
  /** Consumes a member's audio (JoinedChannel.other_users or UserJoined.data) and sends ResumeConsumer. */
  consume(user: UserConsumerOptions): Promise<void>;
  /** Sends `count` Opus-sized RTP packets at 50 per second on the producer. */
  speak(count: number): Promise<void>;
}

/**
 * Connect + Initialize + Prepare + Join with a real producer; resolves once the producer transport's DTLS is up.
 * A join that fails closes what it opened (socket, transports), so a failing test ends instead of hanging.
 */
export async function joinWithMedia(options: ClientOptions, guildId: bigint, channelId: bigint): Promise<MediaJoined> {
  const client = await VoiceTestClient.connect(options);
  const opened: Transport[] = [];
  try {
    return await joinOn(client, opened, guildId, channelId);
  } catch (error) {
    for (const transport of opened) transport.close();
    client.terminate();
    throw error;
  }
}

async function joinOn(client: VoiceTestClient, opened: Transport[], guildId: bigint, channelId: bigint): Promise<MediaJoined> {
  client.send({ $case: 'initialize', value: { guildId, channelId } });
  const { rtpCapabilities } = await client.expect('initialized');
  // handlerName: Node >= 21 has a global `navigator`, which msc-node's detection takes for a browser.
  const device = new Device({ codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] } },
    { handlerName: 'werift' });
  await device.load({ routerRtpCapabilities: JSON.parse(rtpCapabilities) });
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify(device.rtpCapabilities) } });
  const prepared = await client.expect('preparedForJoinChannel', 10_000);
  const keys = await generateKeys();
  const fingerprints = new RTCCertificate(keys.keyPem, keys.certPem, keys.signatureHash as never).getFingerprints();
  const send = device.createSendTransport(toOptions(prepared.producerTransportOptions!));
  const recv = device.createRecvTransport({ ...toOptions(prepared.consumerTransportOptions!), additionalSettings: { dtls: { keys } } });
  opened.push(send, recv);
  let producerDtls: unknown;
  let joined: StreamMessageResponse_JoinedChannel | undefined;
  send.on('connect', ({ dtlsParameters }, ok) => {
    producerDtls = dtlsParameters;
    ok();
  });
  send.on('produce', ({ rtpParameters }, ok, fail) => {
    client.send({ $case: 'joinChannel', value: {
      rtpParamaters: JSON.stringify(rtpParameters),
      producerDtlsParamaters: JSON.stringify(producerDtls),
      consumerDtlsParamaters: JSON.stringify({ role: 'client', fingerprints }),
    } });
    client.expect('joinedChannel', 10_000).then((value) => {
      joined = value;
      ok({ id: `local-${Date.now()}` });
    }, fail);
  });
  recv.on('connect', (_params, ok) => ok());
  const track = new MediaStreamTrack({ kind: 'audio' });
  const producer = await send.produce({ track });
  await waitFor(() => send.connectionState === 'connected', 10_000, 'the producer transport to connect');
  const payloadType = producer.rtpParameters.codecs[0]!.payloadType;
  const ssrc = producer.rtpParameters.encodings![0]!.ssrc!;
  const received = new Map<bigint, number>();
  let sequence = 0;
  return {
    client, joined: joined!, transports: [send, recv], prepared, received,
    async consume(user) {
      const consumer = await recv.consume({
        id: user.consumerId, producerId: user.producerId, kind: 'audio', rtpParameters: JSON.parse(user.rtpParameters),
      });
      received.set(user.userId, 0);
      consumer.track.onReceiveRtp.subscribe(() => received.set(user.userId, (received.get(user.userId) ?? 0) + 1));
      client.send({ $case: 'resumeConsumer', value: { consumerId: user.consumerId } });
    },
    async speak(count) {
      for (let i = 0; i < count; i++) {
        sequence++;
        const header = new RtpHeader({ payloadType, sequenceNumber: sequence & 0xffff, timestamp: (sequence * 960) >>> 0, ssrc, marker: false });
        track.writeRtp(new RtpPacket(header, Buffer.alloc(80, sequence & 0xff)));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
