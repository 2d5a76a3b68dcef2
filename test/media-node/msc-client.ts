// A real WebRTC client for tests (msc-node: mediasoup-client's API on the werift stack) that
// follows the flow of VOICE-PROTOCOL.md §4 against the media node's gRPC API:
// consumer DTLS parameters come from a certificate generated up front.
import { createRequire } from 'node:module';
import { Device, MediaStreamTrack, RTCCertificate, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'msc-node';
import type { ConsumerDelivery } from '../../gen/medianode/v1/media_node';
import type { MediaNodeApi } from '../../media-node/api/client';

type Transport = ReturnType<Device['createSendTransport']>;

interface Keys {
  certPem: string;
  keyPem: string;
  signatureHash: { hash: number; signature: number };
}

async function generateKeys(): Promise<Keys> {
  // werift's own certificate generator (ECDSA P-256, SHA-256), as its DTLS transport uses.
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

export class TestClient {
  readonly received = new Map<string, number>();
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private track = new MediaStreamTrack({ kind: 'audio' });
  private producerRtp?: { payloadType: number; ssrc: number };
  private consumers: { close(): void }[] = [];
  private sent = 0;

  constructor(
    readonly api: MediaNodeApi,
    readonly roomId: string,
    readonly sessionId: string,
    readonly userId: string,
  ) {}

  /** OpenRoom → CreateTransports → produce (which sends Join) → consume what Join returned. */
  async join(): Promise<{ forJoiner: ConsumerDelivery[]; forMembers: ConsumerDelivery[] }> {
    const { api, roomId, sessionId, userId } = this;
    const { rtpCapabilities } = await api.openRoom({ roomId });
    // handlerName: Node >= 21 has a global `navigator`, which msc-node's detection takes for a browser.
    const device = new Device(
      { codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] } },
      { handlerName: 'werift' },
    );
    await device.load({ routerRtpCapabilities: JSON.parse(rtpCapabilities) });
    const prepared = await api.createTransports({
      roomId,
      sessionId,
      userId,
      rtpCapabilities: JSON.stringify(device.rtpCapabilities),
    });
    const keys = await generateKeys();
    const fingerprints = new RTCCertificate(keys.keyPem, keys.certPem, keys.signatureHash as never).getFingerprints();
    this.sendTransport = device.createSendTransport(toOptions(prepared.producerTransport!));
    this.recvTransport = device.createRecvTransport({
      ...toOptions(prepared.consumerTransport!),
      additionalSettings: { dtls: { keys } },
    });

    let producerDtls: unknown;
    let joined: { forJoiner: ConsumerDelivery[]; forMembers: ConsumerDelivery[] } | undefined;
    this.sendTransport.on('connect', ({ dtlsParameters }, ok) => {
      producerDtls = dtlsParameters;
      ok();
    });
    this.sendTransport.on('produce', ({ rtpParameters }, ok, fail) => {
      api
        .join({
          roomId,
          sessionId,
          rtpParameters: JSON.stringify(rtpParameters),
          producerDtlsParameters: JSON.stringify(producerDtls),
          consumerDtlsParameters: JSON.stringify({ role: 'client', fingerprints }),
        })
        .then((result) => {
          joined = result;
          ok({ id: `local-${sessionId}` });
        }, fail);
    });
    // The server connected this transport during Join already.
    this.recvTransport.on('connect', (_params, ok) => ok());
    const producer = await this.sendTransport.produce({ track: this.track });
    this.producerRtp = {
      payloadType: producer.rtpParameters.codecs[0]!.payloadType,
      ssrc: producer.rtpParameters.encodings![0]!.ssrc!,
    };
    for (const delivery of joined!.forJoiner) await this.consume(delivery);
    return joined!;
  }

  /** What UserJoined would carry: consume and resume. */
  async consume(delivery: ConsumerDelivery): Promise<void> {
    const consumer = await this.recvTransport!.consume({
      id: delivery.consumerId,
      producerId: delivery.producerId,
      kind: 'audio',
      rtpParameters: JSON.parse(delivery.rtpParameters),
    });
    this.consumers.push(consumer);
    this.received.set(delivery.producerSessionId, 0);
    consumer.track.onReceiveRtp.subscribe(() => {
      this.received.set(delivery.producerSessionId, (this.received.get(delivery.producerSessionId) ?? 0) + 1);
    });
    await this.api.resumeConsumer({ roomId: this.roomId, sessionId: this.sessionId, consumerId: delivery.consumerId });
  }

  /** Sends `count` Opus-sized RTP packets at 50 per second. */
  async speak(count: number): Promise<void> {
    const { payloadType, ssrc } = this.producerRtp!;
    // Sequence numbers and timestamps run on across calls (a restarted sequence reads as old packets).
    for (let n = 0; n < count; n++) {
      const i = this.sent++;
      const header = new RtpHeader({
        payloadType,
        sequenceNumber: (i + 1) & 0xffff,
        timestamp: (i * 960) >>> 0,
        ssrc,
        marker: false,
      });
      this.track.writeRtp(new RtpPacket(header, Buffer.alloc(80, i)));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    for (const consumer of this.consumers) consumer.close();
    this.sendTransport?.close();
    this.recvTransport?.close();
  }
}
