// Load in packets and admission: the pure formula (routing/load.ts), placement on it, the node's
// PacketMeter against mediasoup's own counters, and every join / new room checked on a real worker.
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { types } from 'mediasoup';
import {
  admits,
  joinCost,
  pickNode,
  summarizeLoad,
  workerLoad,
  type MediaNodeRecord,
  type WorkerLimits,
} from '../../routing';
import { spanJoinCosts } from '../../routing/load';
import { mediaErrorToVoiceError } from '../../functions/voice/media-errors';
import { MediaError as PortMediaError } from '../../functions/voice/ports';
import { ErrorId } from '../../protocol/errors';
import {
  clientRtpCapabilities,
  joinSession,
  rejectsWith,
  routerCounts,
  rtpPacket,
  startTestNode,
  udpSocket,
  waitFor,
} from './helpers';

const LIMITS: WorkerLimits = { packetsPerSecond: 100_000, consumers: 20_000, admitLoad: 0.8 };
const NOW = 1_700_000_000_000;

function record(nodeId: string, workers: number[], overrides: Partial<MediaNodeRecord> = {}): MediaNodeRecord {
  return {
    nodeId,
    grpcAddress: `10.0.0.1:${nodeId.length}`,
    publicAddress: '203.0.113.10',
    capacity: 40_000,
    rooms: 1,
    sessions: 0,
    transports: 0,
    producers: 0,
    consumers: 0,
    cpu: { workers: [0, 0], avg: 0, max: 0 },
    load: summarizeLoad(workers, 0.8),
    state: 'active',
    heartbeatAt: NOW,
    expiresAt: Math.floor(NOW / 1000) + 15,
    ...overrides,
  };
}

describe('load formula (routing/load.ts)', () => {
  test('a worker is as loaded as the largest of packets, CPU and consumers against its limits', () => {
    assert.equal(workerLoad({ forwardedPerSecond: 50_000, cpuPercent: 10, consumers: 100 }, LIMITS), 0.5);
    assert.equal(workerLoad({ forwardedPerSecond: 1_000, cpuPercent: 70, consumers: 100 }, LIMITS), 0.7);
    assert.equal(workerLoad({ forwardedPerSecond: 1_000, cpuPercent: 1, consumers: 18_000 }, LIMITS), 0.9);
  });

  test("a join costs the room's current streams to the joiner plus the joiner to every member", () => {
    // 19 members: one talking (50/s), 18 silent with DTX (2.5/s): 95/s in.
    const room = { producers: 19, receivedPerSecond: 50 + 18 * 2.5 };
    const cost = joinCost(room);
    assert.equal(cost.consumers, 38);
    assert.equal(cost.forwardedPerSecond, 95 + 19 * (95 / 19));
    assert.deepEqual(joinCost({ producers: 0, receivedPerSecond: 0 }), { forwardedPerSecond: 0, consumers: 0 });
    // Silent members: the joiner is still assumed to send at least the DTX rate.
    assert.equal(joinCost({ producers: 4, receivedPerSecond: 0 }).forwardedPerSecond, 4 * 2.5);
  });

  test('admission: admitted while the projected load stays within the threshold', () => {
    const use = { forwardedPerSecond: 79_000, cpuPercent: 50, consumers: 1_000 };
    assert.equal(admits(use, { forwardedPerSecond: 900, consumers: 10 }, LIMITS).admitted, true);
    const refused = admits(use, { forwardedPerSecond: 1_100, consumers: 10 }, LIMITS);
    assert.equal(refused.admitted, false);
    assert.ok(refused.loadAfter > 0.8 && refused.loadBefore < 0.8);
  });

  test('placement: the node with the lowest mean worker load among those with a worker below the threshold', () => {
    const nodes = [
      record('busy', [0.6, 0.7]),
      record('light', [0.1, 0.3]),
      record('full', [0.85, 0.9]),
      record('one-free-worker', [0.95, 0.05]),
    ];
    assert.equal(pickNode(nodes, NOW)?.nodeId, 'light');
    assert.equal(pickNode([record('full', [0.85, 0.9])], NOW), undefined, 'no worker below 80 %: no new rooms');
    assert.equal(
      pickNode([record('full', [0.85, 0.9]), record('one-free-worker', [0.95, 0.05])], NOW)?.nodeId,
      'one-free-worker',
    );
    // A record of an older node (no `load`) still places by consumers and CPU.
    const legacy = record('legacy', [], { load: undefined, consumers: 10, capacity: 1000 });
    assert.equal(pickNode([legacy, record('full', [0.85, 0.9])], NOW)?.nodeId, 'legacy');
  });

  test('the signalling side answers over-capacity with hrpc.unavailable and a RetryInfo', () => {
    const error = mediaErrorToVoiceError(new PortMediaError('over-capacity', 'node-1: worker 0 is at 81%'));
    assert.equal(error.identifier, ErrorId.unavailable);
    assert.equal(error.options.retryAfterSeconds, 5);
    assert.equal(error.fatal, false);
  });
});

/** A member fed from a UDP socket (PlainTransport producer, appData like the room's) and listeners (PlainTransport consumers). */
async function plainMember(router: types.Router, sessionId: string, ssrc: number, listeners: number, sink: Socket) {
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
    appData: { sessionId, userId: sessionId },
  });
  const consumers: types.Consumer[] = [];
  for (let i = 0; i < listeners; i++) {
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
    consumers.push(consumer);
  }
  return { inbound, producer, consumers, port: inbound.tuple.localPort };
}

describe('PacketMeter and admission on a real worker', () => {
  test('forwarded packets = packets in × active consumers, equal to what the consumers report sending', async () => {
    const { node, api, stop } = await startTestNode();
    const sender = await udpSocket();
    const sink = await udpSocket();
    let sinkPackets = 0;
    sink.on('message', () => sinkPackets++);
    try {
      await api.openRoom({ roomId: 'meter:1' });
      const router = node.rooms.find('meter:1')!.router;
      const member = await plainMember(router, 'm1', 0x4321, 2, sink);
      await node.admission.sample(); // baseline
      for (let i = 1; i <= 60; i++) {
        sender.send(rtpPacket(i, 0x4321), member.port, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitFor(() => sinkPackets >= 120, 3000, '2 × 60 packets at the sink');
      await node.admission.sample();
      const sent = async (c: types.Consumer) =>
        (await c.getStats()).find((s) => s.type === 'outbound-rtp')?.packetCount ?? 0;
      const consumerSent = (await sent(member.consumers[0]!)) + (await sent(member.consumers[1]!));
      const [worker] = node.admission.workers();
      assert.equal(consumerSent, 120);
      assert.equal(worker!.forwardedTotal, consumerSent, "the estimate equals the consumers' own counts");
      assert.ok(worker!.forwardedPerSecond > 0 && worker!.receivedPerSecond > 0);
      assert.equal(worker!.consumers, 2);

      // A paused consumer forwards nothing: 30 more packets count once.
      await member.consumers[1]!.pause();
      for (let i = 61; i <= 90; i++) sender.send(rtpPacket(i, 0x4321), member.port, '127.0.0.1');
      await waitFor(() => sinkPackets >= 150, 3000, '30 more packets at the sink');
      await node.admission.sample();
      assert.equal(node.admission.workers()[0]!.forwardedTotal, 150);

      // The registry record and the metrics carry it.
      const rec = await node.record();
      assert.equal(rec.packets!.workers.length, 1);
      assert.equal(rec.load!.workers.length, 1);
      assert.equal(rec.load!.admitLoad, 0.8);
    } finally {
      sender.close();
      sink.close();
      await stop();
    }
  });

  test('every join is checked against its worker: refused over-capacity (RESOURCE_EXHAUSTED), nothing left behind; a retried join passes; new rooms refused when no worker has room', async () => {
    // 4 consumers per worker, admit up to 50 %: two members (2 consumers) fit, a third (4 more) does not.
    const { node, api, stop } = await startTestNode({ capacity: 4, admitLoadPercent: 50 });
    try {
      await joinSession(api, 'adm:1', 'a', '1');
      await joinSession(api, 'adm:1', 'b', '2');
      const message = await rejectsWith(
        joinSession(api, 'adm:1', 'c', '3'),
        status.RESOURCE_EXHAUSTED,
        'over-capacity',
      );
      assert.match(message, /worker 0 of channel adm:1/);
      const counts = await routerCounts(node, 'adm:1');
      assert.equal(counts.producers, 2, 'the refused join created no producer');
      assert.equal(counts.consumers, 2, 'and no consumer');
      // The same join retried (an idempotent Join of a member already in) is not refused.
      const again = await api.join({
        roomId: 'adm:1',
        sessionId: 'b',
        rtpParameters: '{}',
        producerDtlsParameters: '{}',
        consumerDtlsParameters: '{}',
      });
      assert.equal(again.forJoiner.length, 1);
      // No worker below 50 %: a new room is refused; the existing room still opens (members may rejoin it).
      await node.admission.sample();
      await rejectsWith(api.openRoom({ roomId: 'adm:2' }), status.RESOURCE_EXHAUSTED, 'over-capacity');
      await api.openRoom({ roomId: 'adm:1' });
      const text = await (await fetch(`http://${node.metricsAddress}/metrics`)).text();
      assert.match(text, /media_node_admission_refused_total\{kind="join"\} 1/);
      assert.match(text, /media_node_admission_refused_total\{kind="room"\} 1/);
      // A leave frees the worker: the third member gets in.
      await api.leave({ roomId: 'adm:1', sessionId: 'b' });
      await node.admission.sample();
      await joinSession(api, 'adm:1', 'c', '3');
    } finally {
      await stop();
    }
  });

  test('a join is refused when the worker forwards too many packets (packets, not members)', async () => {
    // A worker rated at 10 packets/s: one member feeding two listeners at any real rate is over it.
    const { node, api, stop } = await startTestNode({ workerPacketsPerSecond: 10 });
    const sender = await udpSocket();
    const sink = await udpSocket();
    let sinkPackets = 0;
    sink.on('message', () => sinkPackets++);
    try {
      await joinSession(api, 'pps:1', 'quiet', '1'); // nothing sent yet: admitted
      const router = node.rooms.find('pps:1')!.router;
      const member = await plainMember(router, 'talker', 0x7777, 2, sink);
      await node.admission.sample();
      for (let i = 1; i <= 50; i++) {
        sender.send(rtpPacket(i, 0x7777), member.port, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await waitFor(() => sinkPackets >= 100, 3000, 'packets at the sink');
      await node.admission.sample();
      assert.ok(node.admission.workers()[0]!.load > 1, 'the worker is over its packet rating');
      await rejectsWith(joinSession(api, 'pps:1', 'late', '2'), status.RESOURCE_EXHAUSTED, 'over-capacity');
    } finally {
      sender.close();
      sink.close();
      await stop();
    }
  });
});

describe('joins into a room spanning workers (routing/load.ts spanJoinCosts)', () => {
  const talking = (workerIndex: number, producers: number) => ({
    workerIndex,
    producers,
    receivedPerSecond: 50 + (producers - 1) * 2.5,
  });

  test('with one part and the joiner on it, the cost is joinCost', () => {
    const part = talking(0, 19);
    assert.deepEqual(spanJoinCosts([part], 0).get(0), joinCost(part));
    assert.equal(spanJoinCosts([part], 0).size, 1);
  });

  test('the first join on a new part costs the main worker as much as joining there; later ones much less', () => {
    const main = talking(0, 19);
    const onMain = joinCost(main);
    const spill = spanJoinCosts([main], 1);
    assert.deepEqual(
      spill.get(0),
      onMain,
      'pipes out of the main worker + its members consuming the joiner = a join there',
    );
    assert.equal(
      spill.get(1)!.consumers,
      19 + 1,
      'on worker 1 the joiner consumes the 19 piped streams, and its own stream is piped out once',
    );
    // The part now has a member; the next joiner on worker 1 costs worker 0 only its members' consumers of the joiner.
    const next = spanJoinCosts([main, { workerIndex: 1, producers: 1, receivedPerSecond: 2.5 }], 1);
    assert.equal(next.get(0)!.consumers, 19);
    assert.ok(next.get(0)!.forwardedPerSecond < onMain.forwardedPerSecond / 2);
    assert.equal(
      next.get(1)!.consumers,
      20 + 1 + 1,
      "the joiner consumes 20, the part's member consumes it, one pipe out",
    );
  });
});

describe('Admission.chooseSpanWorker (where CreateTransports places a new session)', () => {
  test('the main worker until the join would pass the spill load, then another worker where every worker stays admitted', async () => {
    // 30 consumers per worker, admission at 80 % (24), spilling from 60 % (18).
    const { node, api, stop } = await startTestNode({ workers: 2, capacity: 60, admitLoadPercent: 80 });
    try {
      for (const s of ['a', 'b', 'c']) await joinSession(api, 'spill:1', s, s);
      await node.admission.sample();
      const main = node.rooms.find('spill:1')!.slot.index;
      const other = 1 - main;
      // A fourth member: 6 + 6 = 12 consumers (40 %) on the main worker.
      const fourth = node.admission.chooseSpanWorker('spill:1', main, 'd');
      assert.equal(fourth.worker, main);
      fourth.reservation.release();
      await joinSession(api, 'spill:1', 'd', 'd');
      await node.admission.sample();
      // A fifth: 12 + 8 = 20 consumers (67 %) would pass 60 %: spill to the other worker, where the joiner's
      // 4 consumers and one pipe land; the main worker still gets its members' 4 consumers of the joiner and
      // 4 pipe consumers (67 %, within 80 %).
      const fifth = node.admission.chooseSpanWorker('spill:1', main, 'e');
      assert.equal(fifth.worker, other);
      const reserved = node.admission.workers();
      assert.equal(reserved[main]!.consumers, 12 + 8);
      assert.equal(reserved[other]!.consumers, 4 + 1);
      fifth.reservation.release();
      assert.equal(node.admission.workers()[main]!.consumers, 12, 'a failed join drops its reservations');
      // A member already in is placed where it is, without a reservation.
      assert.equal(node.admission.chooseSpanWorker('spill:1', main, 'a').worker, main);
    } finally {
      await stop();
    }
  });
});

describe('admission reservations of sessions that never join (prepared-but-unjoined sessions)', () => {
  test('a reservation lasts the window CreateTransports asked for (reserve_for_ms), then no longer counts; another keeps the default', async () => {
    const { node, api, stop } = await startTestNode({ workers: 1, capacity: 1_000 });
    try {
      // Two members, so a joiner costs something (their streams to it, it to them).
      for (const s of ['a', 'b']) await joinSession(api, 'reserve:1', s, s);
      await node.admission.sample();
      const consumersAt = () => node.admission.workers()[0]!.consumers;
      const base = consumersAt();
      // Prepared, never joined: one with a short window (as the signalling side asks: its JoinChannel window), one with the node's default.
      await api.createTransports({
        roomId: 'reserve:1',
        sessionId: 'short',
        userId: 'short',
        rtpCapabilities: clientRtpCapabilities(),
        reserveForMs: 300,
      });
      await api.createTransports({
        roomId: 'reserve:1',
        sessionId: 'default',
        userId: 'default',
        rtpCapabilities: clientRtpCapabilities(),
      });
      assert.equal(node.admission.reserved(), 2);
      const perJoin = (consumersAt() - base) / 2;
      assert.ok(perJoin >= 4, `a join into a room of 2 reserves their 2 streams and its own to each (${perJoin})`);
      await waitFor(() => node.admission.reserved() === 1, 5_000);
      assert.equal(consumersAt(), base + perJoin, 'the short window passed: only the default reservation still counts');
      await node.admission.sample();
      assert.equal(node.admission.reserved(), 1, 'a sample drops the expired one and keeps the other');
    } finally {
      await stop();
    }
  });
});
