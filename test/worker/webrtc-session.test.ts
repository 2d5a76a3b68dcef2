// A real ICE + DTLS + SRTP session between the worker and an independent
// WebRTC stack (msc-node: the mediasoup-client API on werift), with RTP going
// client -> producer -> router -> consumer -> client. This is the test that
// catches a worker which starts but crashes or garbles media on the first
// handshake (e.g. the DTLS BIO/KTLS bug the offline build patches).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { Device, MediaStreamTrack, RTCRtpCodecParameters, RtpHeader, RtpPacket } from 'msc-node';
import type { types as clientTypes } from 'msc-node';

const PACKETS = 100;
const MIN_RECEIVED = 90; // loopback: loss beyond this means something is wrong
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// mediasoup and msc-node type the same signalling JSON separately (and slightly
// differently); in an application it crosses the wire as JSON anyway.
const overTheWire = <T>(value: unknown) => value as T;

// Loopback only; no STUN server (msc-node passes none), no IPv6 candidates.
const clientSettings = { iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' } };

describe('ICE + DTLS + SRTP with msc-node', () => {
  let worker: types.Worker;
  let workerDied: Error | undefined;
  const clientTransports: clientTypes.Transport[] = [];

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    worker.on('died', (error) => (workerDied = error));
  });

  after(() => {
    for (const t of clientTransports) t.close();
    worker?.close();
  });

  it('connects both transports and delivers RTP through a consumer', { timeout: 30_000 }, async () => {
    const router = await worker.createRouter({
      mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
    });
    const listen = { listenInfos: [{ protocol: 'udp' as const, ip: '127.0.0.1' }] };
    const serverSend = await router.createWebRtcTransport(listen);
    const serverRecv = await router.createWebRtcTransport(listen);

    // handlerName: Node >= 21 has a global `navigator`, which msc-node's detection takes for a browser.
    const device = new Device(
      {
        codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })] },
      },
      { handlerName: 'werift' },
    );
    await device.load({ routerRtpCapabilities: router.rtpCapabilities });

    const send = device.createSendTransport({
      id: serverSend.id,
      iceParameters: serverSend.iceParameters,
      iceCandidates: overTheWire(serverSend.iceCandidates),
      dtlsParameters: serverSend.dtlsParameters,
      additionalSettings: clientSettings,
    });
    clientTransports.push(send);
    send.on('connect', ({ dtlsParameters }, ok, fail) => serverSend.connect({ dtlsParameters }).then(ok, fail));
    send.on('produce', ({ kind, rtpParameters }, ok, fail) =>
      serverSend.produce({ kind, rtpParameters }).then((p) => ok({ id: p.id }), fail),
    );
    const track = new MediaStreamTrack({ kind: 'audio' });
    const producer = await send.produce({ track });

    const recv = device.createRecvTransport({
      id: serverRecv.id,
      iceParameters: serverRecv.iceParameters,
      iceCandidates: overTheWire(serverRecv.iceCandidates),
      dtlsParameters: serverRecv.dtlsParameters,
      additionalSettings: clientSettings,
    });
    clientTransports.push(recv);
    recv.on('connect', ({ dtlsParameters }, ok, fail) => serverRecv.connect({ dtlsParameters }).then(ok, fail));
    const serverConsumer = await serverRecv.consume({
      producerId: producer.id,
      rtpCapabilities: overTheWire(device.rtpCapabilities),
      paused: true,
    });
    const consumer = await recv.consume({
      id: serverConsumer.id,
      producerId: producer.id,
      kind: serverConsumer.kind,
      rtpParameters: serverConsumer.rtpParameters,
    });
    await serverConsumer.resume();

    let received = 0;
    const consumerTrack = consumer.track as unknown as MediaStreamTrack;
    consumerTrack.onReceiveRtp.subscribe(() => void received++);

    const payloadType = producer.rtpParameters.codecs[0]?.payloadType;
    const ssrc = producer.rtpParameters.encodings?.[0]?.ssrc;
    assert.ok(payloadType !== undefined && ssrc !== undefined, 'producer has a codec and an SSRC');
    // Count packets only once both DTLS sessions are up: the receive side connects lazily at consume(), and
    // packets the worker forwards before its handshake completes are (rightly) dropped, more so on a busy machine.
    for (
      let waited = 0;
      (serverSend.dtlsState !== 'connected' || serverRecv.dtlsState !== 'connected') && waited < 10_000;
      waited += 20
    ) {
      await sleep(20);
    }
    for (let i = 0; i < PACKETS; i++) {
      const header = new RtpHeader({ payloadType, sequenceNumber: i + 1, timestamp: i * 960, ssrc, marker: false });
      track.writeRtp(new RtpPacket(header, Buffer.alloc(80, i)));
      await sleep(10);
    }
    for (let waited = 0; received < PACKETS && waited < 2000; waited += 50) await sleep(50);

    assert.equal(workerDied, undefined, 'the worker must survive the DTLS handshake');
    assert.equal(serverSend.iceState === 'connected' || serverSend.iceState === 'completed', true);
    assert.equal(serverSend.dtlsState, 'connected');
    assert.equal(serverRecv.dtlsState, 'connected');
    const [sendStats] = await serverSend.getStats();
    const [recvStats] = await serverRecv.getStats();
    assert.ok((sendStats?.rtpBytesReceived ?? 0) > 0, 'the worker decrypted SRTP from the client');
    assert.ok((recvStats?.rtpBytesSent ?? 0) > 0, 'the worker encrypted SRTP to the client');
    assert.ok(received >= MIN_RECEIVED, `client received ${received} of ${PACKETS} RTP packets`);

    for (const t of clientTransports.splice(0)) t.close();
    router.close();
    assert.ok(serverSend.closed && serverRecv.closed && serverConsumer.closed);
  });
});
