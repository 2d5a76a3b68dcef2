// Media-level proof on this machine: RTP really flows through the node's routers.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SessionLost } from '../../gen/medianode/v1/media_node';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle } from '../../media-node/src/MediaNode';
import { routerCounts, startTestNode, waitFor } from './helpers';
import { TestClient } from './mscClient';

let node: MediaNodeHandle;
let api: MediaNodeApi;
let stop: () => Promise<void>;
before(async () => {
  ({ node, api, stop } = await startTestNode({ iceDisconnectedGraceMs: 500, iceConsentTimeoutS: 2 }));
});
after(() => stop());

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

/** A 12-byte RTP header plus an 80-byte payload (a 20 ms Opus frame is 40–120 bytes). */
function rtpPacket(payloadType: number, sequence: number, ssrc: number): Buffer {
  const packet = Buffer.alloc(92, 0xab);
  packet[0] = 0x80;
  packet[1] = payloadType & 0x7f;
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE((sequence * 960) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

describe('RTP through a room router', () => {
  test('a PlainTransport producer fed Opus RTP reaches a consumer: stats and a UDP socket both count it', async () => {
    await api.openRoom({ roomId: 'rtp:1' });
    const router = node.rooms.find('rtp:1')!.router;
    const sender = await udpSocket();
    const sink = await udpSocket();
    let sinkPackets = 0;
    sink.on('message', (msg) => {
      if ((msg[1]! & 0x7f) === 100) sinkPackets++;
    });
    const ssrc = 0x1234;
    try {
      const inbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
      const producer = await inbound.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
          encodings: [{ ssrc }],
        },
      });
      const outbound = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false });
      await outbound.connect({ ip: '127.0.0.1', port: (sink.address() as AddressInfo).port });
      const consumer = await outbound.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true });
      await consumer.resume();

      const port = inbound.tuple.localPort;
      for (let i = 0; i < 100; i++) {
        sender.send(rtpPacket(100, i + 1, ssrc), port, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await waitFor(() => sinkPackets >= 95, 3000, 'packets at the sink');
      const [producerStats] = await producer.getStats();
      const consumerStats = (await consumer.getStats()).find((s) => s.type === 'outbound-rtp');
      assert.ok(producerStats && producerStats.packetCount >= 95, `producer received ${producerStats?.packetCount}`);
      assert.ok(consumerStats && consumerStats.packetCount >= 95, `consumer sent ${consumerStats?.packetCount}`);
      assert.ok(sinkPackets >= 95 && sinkPackets <= 100, `sink got ${sinkPackets}`);
      inbound.close();
      outbound.close();
    } finally {
      sender.close();
      sink.close();
    }
  });
});

describe('real WebRTC clients through the API (msc-node: ICE + DTLS + SRTP via the WebRtcServer)', () => {
  test('two clients hear each other; a client that goes away is reported lost and cleaned up', async () => {
    const roomId = 'webrtc:1';
    const lost: SessionLost[] = [];
    const stream = api.watchSessions();
    stream.on('data', (event: SessionLost) => lost.push(event));
    stream.on('error', () => {});
    const a = new TestClient(api, roomId, 'conn-a', '501');
    const b = new TestClient(api, roomId, 'conn-b', '502');
    try {
      await a.join();
      const bJoined = await b.join();
      // A learns of B the way UserJoined tells it.
      const [forA] = bJoined.forMembers;
      assert.equal(forA?.receiverSessionId, 'conn-a');
      await a.consume(forA!);

      await Promise.all([a.speak(60), b.speak(60)]);
      await waitFor(() => (b.received.get('conn-a') ?? 0) >= 50 && (a.received.get('conn-b') ?? 0) >= 50, 5000, 'RTP both ways');
      const room = node.rooms.find(roomId)!;
      const transports = room.transportsOf('conn-a')!;
      assert.equal(transports.producer.dtlsState, 'connected');
      assert.equal(transports.consumer.dtlsState, 'connected');

      // A disappears without a Leave (werift sends no DTLS close_notify): ICE consent expires,
      // ICE goes 'disconnected', and after the grace the node reports the session lost.
      a.close();
      await waitFor(() => lost.some((e) => e.sessionId === 'conn-a'), 10_000, 'conn-a reported lost');
      const event = lost.find((e) => e.sessionId === 'conn-a')!;
      assert.equal(event.roomId, roomId);
      assert.equal(event.userId, '501');
      assert.equal(event.reason, 'ice-failed');
      assert.deepEqual((await api.getRoom({ roomId })).sessions, [{ sessionId: 'conn-b', userId: '502' }]);
      assert.deepEqual(await routerCounts(node, roomId), { transports: 2, producers: 1, consumers: 0 });
      assert.equal((await api.leave({ roomId, sessionId: 'conn-a' })).wasPresent, false);
    } finally {
      a.close();
      b.close();
      stream.cancel();
    }
  });
});
