// Media-level proof on this machine: RTP really flows through the node's routers.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HistoryEntry_Kind, type SessionLost } from '../../gen/medianode/v1/media_node';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle } from '../../media-node/src/node/media-node';
import { joinSession, routerCounts, rtpPacket, startTestNode, udpSocket, waitFor } from './helpers';
import { TestClient } from './msc-client';

let node: MediaNodeHandle;
let api: MediaNodeApi;
let stop: () => Promise<void>;
before(async () => {
  // ICE consent checks off: werift never refreshes consent, and these tests are not about loss.
  ({ node, api, stop } = await startTestNode({ iceConsentTimeoutS: 0 }));
});
after(() => stop());

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
      const inbound = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: true,
        comedia: true,
      });
      const producer = await inbound.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
          encodings: [{ ssrc }],
        },
      });
      const outbound = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: true,
        comedia: false,
      });
      await outbound.connect({ ip: '127.0.0.1', port: (sink.address() as AddressInfo).port });
      const consumer = await outbound.consume({
        producerId: producer.id,
        rtpCapabilities: router.rtpCapabilities,
        paused: true,
      });
      await consumer.resume();

      const port = inbound.tuple.localPort;
      for (let i = 0; i < 100; i++) {
        sender.send(rtpPacket(i + 1, ssrc, 100), port, '127.0.0.1');
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
  test('two clients complete the protocol flow and hear each other', async () => {
    const roomId = 'webrtc:1';
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
      await waitFor(
        () => (b.received.get('conn-a') ?? 0) >= 50 && (a.received.get('conn-b') ?? 0) >= 50,
        5000,
        'RTP both ways',
      );
      const room = node.rooms.find(roomId)!;
      for (const sessionId of ['conn-a', 'conn-b']) {
        const transports = room.transportsOf(sessionId)!;
        assert.equal(transports.producer.dtlsState, 'connected');
        assert.equal(transports.consumer.dtlsState, 'connected');
      }
    } finally {
      a.close();
      b.close();
    }
  });

  test('a client that goes away without a Leave is reported lost, cleaned up, and its Leave still answers once', async () => {
    // werift sends no DTLS close_notify and no ICE consent refreshes, so the loss shows as ICE consent
    // expiry: ICE 'disconnected', then after the grace the session is lost ('ice-failed').
    const lossy = await startTestNode({ iceDisconnectedGraceMs: 300, iceConsentTimeoutS: 2 });
    const roomId = 'webrtc:2';
    const lost: SessionLost[] = [];
    const stream = lossy.api.watchSessions();
    stream.on('data', (event: SessionLost) => lost.push(event));
    stream.on('error', () => {});
    const a = new TestClient(lossy.api, roomId, 'conn-a', '501');
    try {
      await a.join();
      // A listener that never connects media (its ICE stays 'new', so it is never lost).
      const listener = await joinSession(lossy.api, roomId, 'conn-l', '503');
      assert.deepEqual(byPair(listener.joined.forJoiner), ['conn-l<-conn-a']);
      a.close();
      await waitFor(() => lost.some((e) => e.sessionId === 'conn-a'), 20_000, 'conn-a reported lost');
      assert.deepEqual(lost, [{ roomId, sessionId: 'conn-a', userId: '501', reason: 'ice-failed' }]);
      assert.deepEqual((await lossy.api.getRoom({ roomId })).sessions, [{ sessionId: 'conn-l', userId: '503' }]);
      assert.deepEqual(await routerCounts(lossy.node, roomId), { transports: 2, producers: 1, consumers: 0 });
      // The loss is in the room's history at once, with its audience (whom the signalling side tells, once).
      const history = await lossy.api.history({ roomId, after: 0 });
      const leave = history.entries.find((e) => e.kind === HistoryEntry_Kind.KIND_LEAVE);
      assert.deepEqual(leave && { sessionId: leave.sessionId, audience: leave.audience, reason: leave.reason }, {
        sessionId: 'conn-a',
        audience: ['conn-l'],
        reason: 'ice-failed',
      });
      // The signalling side's later Leave is idempotent and appends nothing more.
      const late = await lossy.api.leave({ roomId, sessionId: 'conn-a' });
      assert.equal(late.announced, false);
      assert.equal(late.seq, history.head);
    } finally {
      a.close();
      stream.cancel();
      await lossy.stop();
    }
  });
});

function byPair(deliveries: { receiverSessionId: string; producerSessionId: string }[]): string[] {
  return deliveries.map((d) => `${d.receiverSessionId}<-${d.producerSessionId}`);
}
