// A voice client with real media for tests through the local stack: the hRPC flow of VOICE-PROTOCOL.md §4
// driven by msc-node (mediasoup-client's API on werift), so the media node sees real ICE and DTLS for its
// session — and, when the client vanishes, the ICE consent timeout that reports it lost. It can also consume
// the others (over the stream: consume, then ResumeConsumer), send Opus-sized RTP at 50 packets per second and
// count the RTP it receives per user; its transports can restart ICE (werift-ice-restart.ts).
import { createRequire } from 'node:module';
import { Device, MediaStreamTrack, RTCCertificate, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'msc-node';
import type {
  StreamMessageResponse_JoinedChannel,
  StreamMessageResponse_PreparedForJoinChannel,
  UserConsumerOptions,
} from '../../gen/protocol/voice/v1/voice';
import { enableIceRestart } from './werift-ice-restart';
import { describe, VoiceTestClient, type ClientOptions } from './voice-client';
import { waitFor } from './wait';

type Transport = ReturnType<Device['createSendTransport']>;
interface Keys {
  certPem: string;
  keyPem: string;
  signatureHash: { hash: number; signature: number };
}

async function generateKeys(): Promise<Keys> {
  const require = createRequire(createRequire(import.meta.url).resolve('msc-node'));
  const { CipherContext } = require('werift/lib/dtls/src/context/cipher') as {
    CipherContext: {
      createSelfSignedCertificateWithKey(hash: { signature: number; hash: number }, curve: number): Promise<Keys>;
    };
  };
  return CipherContext.createSelfSignedCertificateWithKey({ signature: 3, hash: 4 }, 23);
}

function toOptions(t: { id: string; iceParameters: string; iceCandidates: string[]; dtlsParameters: string }) {
  return {
    id: t.id,
    iceParameters: JSON.parse(t.iceParameters),
    iceCandidates: t.iceCandidates.map((c) => JSON.parse(c)),
    dtlsParameters: JSON.parse(t.dtlsParameters),
  };
}

export interface MediaJoined {
  /** The stream carrying the session (a resume replaces it: set `client` to the new one). */
  client: VoiceTestClient;
  joined: StreamMessageResponse_JoinedChannel;
  /** Stops the WebRTC side without a DTLS close alert being awaited (transports dropped). */
  transports: Transport[];
  /** The producer (send) and consumer (receive) transports; their ids are the media node's. */
  send: Transport;
  recv: Transport;
  /** RTP packets received per producing user (decimal user id), counted at each consumer's track. */
  received: Map<string, number>;
  /** Calls `listener(user, at)` for every RTP packet received from now on (at = Date.now()); returns the unsubscribe. */
  onRtp(listener: (user: string, at: number) => void): () => void;
  /** Consumer ids by producing user (decimal user id). */
  consumers: Map<string, string>;
  /** Consumes a user (JoinedChannel.otherUsers / UserJoined.data) and resumes the consumer over `client`. */
  consume(data: UserConsumerOptions): Promise<void>;
  /** Starts sending RTP (50 packets per second) on the producer; returns the stop. */
  speak(): () => void;
  /** Sends `count` Opus-sized RTP packets at 50 per second on the producer. */
  speakPackets(count: number): Promise<void>;
  /** Sends RTP of `payloadBytes` at `packetsPerSecond` (a flood, for the media node's police); returns the stop. */
  sendAt(packetsPerSecond: number, payloadBytes: number): () => void;
  /** What PreparedForJoinChannel carried (the media node's ICE candidates: which node the session is on). */
  prepared: StreamMessageResponse_PreparedForJoinChannel;
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

async function joinOn(
  client: VoiceTestClient,
  opened: Transport[],
  guildId: bigint,
  channelId: bigint,
): Promise<MediaJoined> {
  client.send({ $case: 'initialize', value: { guildId, channelId } });
  const { rtpCapabilities } = await client.expect('initialized');
  // handlerName: Node >= 21 has a global `navigator`, which msc-node's detection takes for a browser.
  const device = new Device(
    { codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] } },
    { handlerName: 'werift' },
  );
  await device.load({ routerRtpCapabilities: JSON.parse(rtpCapabilities) });
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify(device.rtpCapabilities) } });
  const prepared = await client.expect('preparedForJoinChannel', 10_000);
  const keys = await generateKeys();
  const fingerprints = new RTCCertificate(keys.keyPem, keys.certPem, keys.signatureHash as never).getFingerprints();
  const send = device.createSendTransport(toOptions(prepared.producerTransportOptions!));
  const recv = device.createRecvTransport({
    ...toOptions(prepared.consumerTransportOptions!),
    additionalSettings: { dtls: { keys } },
  });
  opened.push(send, recv);
  enableIceRestart(send);
  enableIceRestart(recv);
  let producerDtls: unknown;
  let joined: StreamMessageResponse_JoinedChannel | undefined;
  send.on('connect', ({ dtlsParameters }, ok) => {
    producerDtls = dtlsParameters;
    ok();
  });
  send.on('produce', ({ rtpParameters }, ok, fail) => {
    client.send({
      $case: 'joinChannel',
      value: {
        rtpParamaters: JSON.stringify(rtpParameters),
        producerDtlsParamaters: JSON.stringify(producerDtls),
        consumerDtlsParamaters: JSON.stringify({ role: 'client', fingerprints }),
      },
    });
    joinedOn(client).then((value) => {
      joined = value;
      ok({ id: `local-${Date.now()}` });
    }, fail);
  });
  recv.on('connect', (_params, ok) => ok());
  const track = new MediaStreamTrack({ kind: 'audio' });
  const producer = await send.produce({ track });
  await waitFor(() => send.connectionState === 'connected', 10_000, 'the producer transport to connect');
  const rtp = {
    payloadType: producer.rtpParameters.codecs[0]!.payloadType,
    ssrc: producer.rtpParameters.encodings![0]!.ssrc!,
  };

  let seq = 0;
  const sendOne = (payloadBytes = 80) => {
    seq++;
    const header = new RtpHeader({
      payloadType: rtp.payloadType,
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      ssrc: rtp.ssrc,
      marker: false,
    });
    track.writeRtp(new RtpPacket(header, Buffer.alloc(payloadBytes, seq & 0xff)));
  };
  const received = new Map<string, number>();
  const listeners = new Set<(user: string, at: number) => void>();
  const consumers = new Map<string, string>();
  const result: MediaJoined = {
    client,
    joined: joined!,
    transports: [send, recv],
    send,
    recv,
    received,
    consumers,
    prepared,
    async consume(data) {
      const user = String(data.userId);
      const consumer = await recv.consume({
        id: data.consumerId,
        producerId: data.producerId,
        kind: 'audio',
        rtpParameters: JSON.parse(data.rtpParameters),
      });
      consumers.set(user, data.consumerId);
      received.set(user, received.get(user) ?? 0);
      consumer.track.onReceiveRtp.subscribe(() => {
        received.set(user, (received.get(user) ?? 0) + 1);
        if (listeners.size > 0) for (const listener of listeners) listener(user, Date.now());
      });
      // consumers.v1: the consumer was created resumed; a stock client resumes it.
      if (!result.client.granted.includes('consumers.v1'))
        result.client.send({ $case: 'resumeConsumer', value: { consumerId: data.consumerId } });
    },
    onRtp(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    speak() {
      const timer = setInterval(() => sendOne(), 20);
      return () => clearInterval(timer);
    },
    sendAt(packetsPerSecond, payloadBytes) {
      const perTick = packetsPerSecond / 100;
      let due = 0;
      const timer = setInterval(() => {
        for (due += perTick; due >= 1; due--) sendOne(payloadBytes);
      }, 10);
      return () => clearInterval(timer);
    },
    async speakPackets(count) {
      for (let i = 0; i < count; i++) {
        sendOne();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
  return result;
}

/** The JoinedChannel (a concurrent joiner's UserJoined, or resume.v1's credential, may come first; both stay in `frames`). */
async function joinedOn(client: VoiceTestClient): Promise<StreamMessageResponse_JoinedChannel> {
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel')
      return frame.response.message.value;
    if (frame.kind === 'ext' || (frame.kind === 'response' && frame.response.message?.$case === 'userJoined')) continue;
    throw new Error(`expected joinedChannel, got ${describe(frame)}`);
  }
}

export { waitFor };
