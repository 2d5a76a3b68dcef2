// The gRPC API against a real mediasoup worker: rooms, transports, join mesh, resume, leave, errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { ConsumerDelivery } from '../../gen/medianode/v1/media_node';
import { connectMediaNode } from '../../media-node/api/client';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle } from '../../media-node/src/node/media-node';
import {
  clientRtpCapabilities,
  dtlsParameters,
  joinSession,
  producerRtpParameters,
  rejectsWith,
  routerCounts,
  startTestNode,
  waitFor,
} from './helpers';

let node: MediaNodeHandle;
let api: MediaNodeApi;
let stop: () => Promise<void>;

before(async () => {
  ({ node, api, stop } = await startTestNode({ workers: 2, roomGraceMs: 60_000 }));
});
after(() => stop());

describe('rooms', () => {
  test('OpenRoom returns Opus capabilities, is idempotent, and GetRoom reports the room', async () => {
    const first = await api.openRoom({ roomId: '1:10' });
    const again = await api.openRoom({ roomId: '1:10' });
    const caps = JSON.parse(first.rtpCapabilities);
    assert.deepEqual(
      caps.codecs.map((c: { mimeType: string; clockRate: number; channels: number }) => [
        c.mimeType,
        c.clockRate,
        c.channels,
      ]),
      [['audio/opus', 48000, 2]],
    );
    assert.ok(caps.headerExtensions.some((h: { uri: string }) => h.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid'));
    assert.equal(again.rtpCapabilities, first.rtpCapabilities);
    assert.deepEqual(await api.getRoom({ roomId: '1:10' }), { exists: true, sessions: [] });
    assert.deepEqual(await api.getRoom({ roomId: '1:11' }), { exists: false, sessions: [] });
  });

  test('rooms spread over workers (least loaded first)', async () => {
    await api.openRoom({ roomId: '2:20' });
    await api.openRoom({ roomId: '2:21' });
    const workers = new Set(['2:20', '2:21'].map((id) => node.rooms.find(id)!.worker.pid));
    assert.equal(workers.size, 2);
  });

  test('an empty room closes after its grace; a leave of the last session with grace 0 closes it at once', async () => {
    const short = await startTestNode({ roomGraceMs: 150 });
    try {
      await joinSession(short.api, '3:30', 's1', '100');
      const routerId = short.node.rooms.find('3:30')!.router.id;
      const left = await short.api.leave({ roomId: '3:30', sessionId: 's1' });
      assert.deepEqual(
        { ...left, roomInstance: undefined },
        { wasPresent: true, remaining: [], roomClosed: false, announced: true, seq: 2, roomInstance: undefined },
      );
      assert.equal((await short.api.getRoom({ roomId: '3:30' })).exists, true, 'kept during the grace');
      await waitFor(async () => !(await short.api.getRoom({ roomId: '3:30' })).exists, 3000, 'grace close');
      const workerDump = await short.node.pool.slots[0]!.worker.dump();
      assert.ok(!workerDump.routerIds.includes(routerId), 'router closed on the worker');
    } finally {
      await short.stop();
    }
    const zero = await startTestNode({ roomGraceMs: 0 });
    try {
      await joinSession(zero.api, '3:31', 's1', '100');
      const left = await zero.api.leave({ roomId: '3:31', sessionId: 's1' });
      assert.deepEqual(
        { ...left, roomInstance: undefined },
        { wasPresent: true, remaining: [], roomClosed: true, announced: true, seq: 2, roomInstance: undefined },
      );
      assert.equal(zero.node.rooms.find('3:31'), undefined);
    } finally {
      await zero.stop();
    }
  });
});

describe('transports', () => {
  test('CreateTransports gives two distinct WebRTC transports on the worker WebRtcServer, idempotently', async () => {
    const roomId = '4:40';
    await api.openRoom({ roomId });
    const request = { roomId, sessionId: 'conn-a', userId: '1001', rtpCapabilities: clientRtpCapabilities() };
    const created = await api.createTransports(request);
    const { consumerTransport, producerTransport } = created;
    assert.ok(consumerTransport && producerTransport);
    assert.notEqual(consumerTransport.id, producerTransport.id);
    for (const transport of [consumerTransport, producerTransport]) {
      const ice = JSON.parse(transport.iceParameters);
      assert.equal(typeof ice.usernameFragment, 'string');
      assert.equal(ice.iceLite, true);
      const dtls = JSON.parse(transport.dtlsParameters);
      assert.ok(dtls.fingerprints.length > 0);
      const candidates = transport.iceCandidates.map((c) => JSON.parse(c));
      assert.deepEqual(candidates.map((c) => c.protocol).sort(), ['tcp', 'udp']);
      assert.ok(candidates.every((c) => c.address === '127.0.0.1'));
    }
    // Candidates point at the room's worker's WebRtcServer ports, which also hold the transports.
    const room = node.rooms.find(roomId)!;
    const serverDump = await room.slot.webRtcServer.dump();
    const udpPort = serverDump.udpSockets[0]!.port;
    assert.ok(consumerTransport.iceCandidates.map((c) => JSON.parse(c)).some((c) => c.port === udpPort));
    assert.ok(serverDump.webRtcTransportIds.includes(consumerTransport.id));
    assert.ok(serverDump.webRtcTransportIds.includes(producerTransport.id));

    assert.deepEqual(await api.createTransports(request), created, 'retry returns the same transports');
    assert.equal((await routerCounts(node, roomId)).transports, 2);
    assert.deepEqual((await api.getRoom({ roomId })).sessions, [{ sessionId: 'conn-a', userId: '1001' }]);
  });

  test('CreateTransports in a room that is not open is unknown-room; bad capabilities are rejected', async () => {
    await rejectsWith(
      api.createTransports({ roomId: 'nope', sessionId: 'x', userId: '1', rtpCapabilities: clientRtpCapabilities() }),
      status.NOT_FOUND,
      'unknown-room',
    );
    await api.openRoom({ roomId: '4:41' });
    for (const rtpCapabilities of ['not json', '[]', '{"codecs":[{"mimeType":"video/VP8","clockRate":90000}]}']) {
      await rejectsWith(
        api.createTransports({ roomId: '4:41', sessionId: 'x', userId: '1', rtpCapabilities }),
        status.INVALID_ARGUMENT,
        'bad-rtp-capabilities',
      );
    }
    assert.equal((await routerCounts(node, '4:41')).transports, 0);
  });
});

function byReceiver(deliveries: ConsumerDelivery[]) {
  return deliveries.map((d) => `${d.receiverSessionId}<-${d.producerSessionId}`).sort();
}

describe('join', () => {
  test('three sessions: exactly 6 paused consumers, each delivered to its owner only', async () => {
    const roomId = '5:50';
    const a = await joinSession(api, roomId, 'A', '1');
    assert.deepEqual(
      { ...a.joined, roomInstance: undefined },
      { forJoiner: [], forMembers: [], seq: 1, roomInstance: undefined, replaced: [] },
    );
    const b = await joinSession(api, roomId, 'B', '2');
    assert.deepEqual(byReceiver(b.joined.forJoiner), ['B<-A']);
    assert.deepEqual(byReceiver(b.joined.forMembers), ['A<-B']);
    // C's device lacks abs-send-time: the consumers C receives must be built without it.
    const c = await joinSession(api, roomId, 'C', '3', clientRtpCapabilities({ absSendTime: false }));
    assert.deepEqual(byReceiver(c.joined.forJoiner), ['C<-A', 'C<-B']);
    assert.deepEqual(byReceiver(c.joined.forMembers), ['A<-C', 'B<-C']);
    assert.deepEqual(c.joined.forJoiner.map((d) => d.producerUserId).sort(), ['1', '2']);

    const room = node.rooms.find(roomId)!;
    assert.equal(room.load().consumers, 6);
    const counts = await routerCounts(node, roomId);
    assert.deepEqual(counts, { transports: 6, producers: 3, consumers: 6 });

    // Ownership: each delivered consumer lives on its receiver's consumer transport, paused,
    // built for the receiver's payload type (111), consuming the named producer.
    const all = [...b.joined.forJoiner, ...b.joined.forMembers, ...c.joined.forJoiner, ...c.joined.forMembers];
    assert.equal(new Set(all.map((d) => d.consumerId)).size, 6);
    for (const d of all) {
      assert.ok(room.consumerIdsOf(d.receiverSessionId).includes(d.consumerId));
      const rtp = JSON.parse(d.rtpParameters);
      assert.equal(rtp.codecs[0].mimeType, 'audio/opus');
      const uris = rtp.headerExtensions.map((h: { uri: string }) => h.uri);
      assert.equal(
        uris.includes('http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time'),
        d.receiverSessionId !== 'C',
        "built against the receiver's capabilities",
      );
      assert.ok(uris.includes('urn:ietf:params:rtp-hdrext:ssrc-audio-level'));
      const receiverTransport = room.transportsOf(d.receiverSessionId)!.consumer;
      assert.ok(
        (await receiverTransport.dump()).consumerIds.includes(d.consumerId),
        "on the receiver's consumer transport",
      );
      assert.equal((await room.consumerById(d.consumerId)!.dump()).paused, true, 'created paused');
    }
    assert.equal(a.transports.consumerTransport!.id, room.transportsOf('A')!.consumer.id);
    const routerDump = await room.router.dump();
    const consumerToProducer = new Map(routerDump.mapConsumerIdProducerId.map((e) => [e.key, e.value]));
    for (const d of all) assert.equal(consumerToProducer.get(d.consumerId), d.producerId);
  });

  test('a retried join returns the same deliveries and creates no second producer', async () => {
    const roomId = '5:51';
    await joinSession(api, roomId, 'A', '1');
    const b = await joinSession(api, roomId, 'B', '2');
    const retry = await api.join({
      roomId,
      sessionId: 'B',
      rtpParameters: producerRtpParameters(),
      producerDtlsParameters: dtlsParameters(),
      consumerDtlsParameters: dtlsParameters(),
    });
    assert.deepEqual(retry, b.joined);
    assert.deepEqual(await routerCounts(node, roomId), { transports: 4, producers: 2, consumers: 2 });
  });

  test('join before transports is not-prepared; unknown room is unknown-room', async () => {
    await api.openRoom({ roomId: '5:52' });
    const join = (roomId: string) =>
      api.join({
        roomId,
        sessionId: 'ghost',
        rtpParameters: producerRtpParameters(),
        producerDtlsParameters: dtlsParameters(),
        consumerDtlsParameters: dtlsParameters(),
      });
    await rejectsWith(join('5:52'), status.FAILED_PRECONDITION, 'not-prepared');
    await rejectsWith(join('5:99'), status.NOT_FOUND, 'unknown-room');
  });

  test('invalid DTLS or RTP JSON is rejected with its reason and leaves nothing behind', async () => {
    const roomId = '5:53';
    await joinSession(api, roomId, 'member', '1');
    await api.createTransports({ roomId, sessionId: 'bad', userId: '2', rtpCapabilities: clientRtpCapabilities() });
    const before = await routerCounts(node, roomId);
    assert.deepEqual(before, { transports: 4, producers: 1, consumers: 0 });
    const good = {
      rtpParameters: producerRtpParameters(),
      producerDtlsParameters: dtlsParameters(),
      consumerDtlsParameters: dtlsParameters(),
    };
    const cases: [Partial<typeof good>, 'bad-dtls-parameters' | 'bad-rtp-parameters'][] = [
      [{ producerDtlsParameters: '{not json' }, 'bad-dtls-parameters'],
      [{ consumerDtlsParameters: '{"role":"client","fingerprints":[]}' }, 'bad-dtls-parameters'],
      [
        { consumerDtlsParameters: '{"role":"client","fingerprints":[{"algorithm":"md5","value":"AA:BB"}]}' },
        'bad-dtls-parameters',
      ],
      [
        { producerDtlsParameters: '{"role":"boss","fingerprints":[{"algorithm":"sha-256","value":"AA:BB"}]}' },
        'bad-dtls-parameters',
      ],
      [{ rtpParameters: 'nope' }, 'bad-rtp-parameters'],
      [{ rtpParameters: '{"codecs":[]}' }, 'bad-rtp-parameters'],
      [
        {
          rtpParameters: JSON.stringify({
            codecs: [{ mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000 }],
            encodings: [{ ssrc: 5 }],
          }),
        },
        'bad-rtp-parameters',
      ],
      [
        {
          rtpParameters: JSON.stringify({
            codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
            encodings: [{ ssrc: 5 }],
          }),
        },
        'bad-rtp-parameters',
      ],
    ];
    for (const [override, reason] of cases) {
      await rejectsWith(api.join({ roomId, sessionId: 'bad', ...good, ...override }), status.INVALID_ARGUMENT, reason);
      assert.deepEqual(
        await routerCounts(node, roomId),
        before,
        `nothing left behind after ${JSON.stringify(override)}`,
      );
      assert.equal(node.rooms.find(roomId)!.load().consumers, 0);
    }
    // The session can still join correctly afterwards.
    const joined = await api.join({ roomId, sessionId: 'bad', ...good });
    assert.deepEqual(byReceiver(joined.forJoiner), ['bad<-member']);
    assert.deepEqual(await routerCounts(node, roomId), { transports: 4, producers: 2, consumers: 2 });
  });

  test('20 concurrent joins build the full mesh: every session consumes every other exactly once', async () => {
    const roomId = '6:60';
    await api.openRoom({ roomId });
    const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
    await Promise.all(
      ids.map((sessionId, i) =>
        api.createTransports({ roomId, sessionId, userId: String(1000 + i), rtpCapabilities: clientRtpCapabilities() }),
      ),
    );
    const results = await Promise.all(
      ids.map((sessionId) =>
        api.join({
          roomId,
          sessionId,
          rtpParameters: producerRtpParameters(),
          producerDtlsParameters: dtlsParameters(),
          consumerDtlsParameters: dtlsParameters(),
        }),
      ),
    );
    const room = node.rooms.find(roomId)!;
    const pairs = new Set<string>();
    for (const result of results) {
      for (const d of [...result.forJoiner, ...result.forMembers]) {
        const pair = `${d.receiverSessionId}<-${d.producerSessionId}`;
        assert.ok(!pairs.has(pair), `pair ${pair} delivered twice`);
        pairs.add(pair);
      }
    }
    assert.equal(pairs.size, 20 * 19);
    for (const sessionId of ids) {
      assert.equal(room.consumerIdsOf(sessionId).length, 19, `${sessionId} consumes 19`);
      for (const other of ids) if (other !== sessionId) assert.ok(pairs.has(`${sessionId}<-${other}`));
    }
    assert.deepEqual(await routerCounts(node, roomId), { transports: 40, producers: 20, consumers: 380 });
    // mediasoup's own view per transport: each consumer transport holds 19 consumers.
    const routerDump = await room.router.dump();
    const perProducer = routerDump.mapProducerIdConsumerIds.map((e) => e.values.length);
    assert.deepEqual(perProducer, Array(20).fill(19));
  });
});

describe('resume and leave', () => {
  test("a session resumes its own consumer; resuming another session's consumer is refused", async () => {
    const roomId = '7:70';
    await joinSession(api, roomId, 'A', '1');
    const b = await joinSession(api, roomId, 'B', '2');
    const [forB] = b.joined.forJoiner;
    const [forA] = b.joined.forMembers;
    assert.ok(forA && forB);
    await rejectsWith(
      api.resumeConsumer({ roomId, sessionId: 'A', consumerId: forB.consumerId }),
      status.PERMISSION_DENIED,
      'consumer-not-yours',
    );
    await rejectsWith(
      api.resumeConsumer({ roomId, sessionId: 'A', consumerId: 'no-such' }),
      status.NOT_FOUND,
      'unknown-consumer',
    );
    await rejectsWith(
      api.resumeConsumer({ roomId, sessionId: 'Z', consumerId: forA.consumerId }),
      status.NOT_FOUND,
      'unknown-session',
    );
    const room = node.rooms.find(roomId)!;
    const paused = async (id: string) => (await room.consumerById(id)!.dump()).paused;
    assert.equal(await paused(forB.consumerId), true, 'refused resume changed nothing');
    await api.resumeConsumer({ roomId, sessionId: 'B', consumerId: forB.consumerId });
    assert.equal(await paused(forB.consumerId), false, "B's consumer resumed");
    assert.equal(await paused(forA.consumerId), true, "A's consumer still paused");
    await api.resumeConsumer({ roomId, sessionId: 'A', consumerId: forA.consumerId });
    assert.equal(await paused(forA.consumerId), false, "A's consumer resumed");
  });

  test('leave closes everything of the session, returns the rest, and is idempotent', async () => {
    const roomId = '7:71';
    const a = await joinSession(api, roomId, 'A', '1');
    await joinSession(api, roomId, 'B', '2');
    await joinSession(api, roomId, 'C', '3');
    assert.deepEqual(await routerCounts(node, roomId), { transports: 6, producers: 3, consumers: 6 });
    const left = await api.leave({ roomId, sessionId: 'A' });
    assert.equal(left.wasPresent, true);
    assert.equal(left.roomClosed, false);
    assert.deepEqual(left.remaining.map((s) => s.sessionId).sort(), ['B', 'C']);
    // Only B<->C remain, in our bookkeeping and in mediasoup's.
    assert.deepEqual(await routerCounts(node, roomId), { transports: 4, producers: 2, consumers: 2 });
    assert.equal(node.rooms.find(roomId)!.load().consumers, 2);
    const serverDump = await node.rooms.find(roomId)!.slot.webRtcServer.dump();
    assert.ok(!serverDump.webRtcTransportIds.includes(a.transports.consumerTransport!.id));
    assert.ok(!serverDump.webRtcTransportIds.includes(a.transports.producerTransport!.id));

    const again = await api.leave({ roomId, sessionId: 'A' });
    assert.equal(again.wasPresent, false);
    assert.equal(again.announced, false, 'a second leave appends nothing to the history');
    assert.equal(again.seq, left.seq);
    await api.leave({ roomId, sessionId: 'B' });
    const last = await api.leave({ roomId, sessionId: 'C' });
    assert.deepEqual(
      { ...last, roomInstance: undefined },
      { wasPresent: true, remaining: [], roomClosed: false, announced: true, seq: 6, roomInstance: undefined },
    );
    assert.deepEqual(await routerCounts(node, roomId), { transports: 0, producers: 0, consumers: 0 });
    assert.deepEqual(await api.leave({ roomId: 'never-opened', sessionId: 'A' }), {
      wasPresent: false,
      remaining: [],
      roomClosed: true,
      announced: false,
      seq: 0,
      roomInstance: '',
    });
    // The history: three joins, then three leaves, each leave told exactly to who was told of the join.
    const history = await api.history({ roomId, after: 0 });
    assert.deepEqual(
      history.entries.map(
        (e) => `${e.seq}:${e.kind === 1 ? 'join' : 'leave'}:${e.sessionId}:${[...e.audience].sort().join(',')}`,
      ),
      ['1:join:A:', '2:join:B:', '3:join:C:', '4:leave:A:B,C', '5:leave:B:C', '6:leave:C:'],
    );
  });
});

describe('ICE restart (resume.v1)', () => {
  test('RestartIce gives both transports new ICE credentials and keeps transports, producer, consumers and history', async () => {
    const roomId = '7:72';
    const a = await joinSession(api, roomId, 'A', '1');
    await joinSession(api, roomId, 'B', '2');
    const before = await routerCounts(node, roomId);
    const head = (await api.history({ roomId, after: 0 })).head;
    const restarted = await api.restartIce({ roomId, sessionId: 'A' });
    const consumer = JSON.parse(restarted.consumerIceParameters);
    const producer = JSON.parse(restarted.producerIceParameters);
    const old = (t: { iceParameters: string }) => JSON.parse(t.iceParameters);
    assert.ok(consumer.usernameFragment && consumer.password && producer.usernameFragment && producer.password);
    assert.notEqual(
      consumer.usernameFragment,
      old(a.transports.consumerTransport!).usernameFragment,
      'new consumer ufrag',
    );
    assert.notEqual(producer.password, old(a.transports.producerTransport!).password, 'new producer password');
    assert.deepEqual(await routerCounts(node, roomId), before, 'same transports, producers and consumers');
    const transports = node.rooms.find(roomId)!.transportsOf('A')!;
    assert.equal(
      transports.consumer.iceParameters.usernameFragment,
      consumer.usernameFragment,
      "the node's transport carries them",
    );
    assert.equal((await api.history({ roomId, after: 0 })).head, head, "nothing in the room's history");
    await rejectsWith(api.restartIce({ roomId, sessionId: 'Z' }), status.NOT_FOUND, 'unknown-session');
  });
});

describe('authentication', () => {
  test('calls without the secret or with a wrong one are UNAUTHENTICATED', async () => {
    const anonymous = connectMediaNode(node.grpcAddress);
    const wrong = connectMediaNode(node.grpcAddress, { secret: 'not-the-secret' });
    try {
      await rejectsWith(anonymous.openRoom({ roomId: '8:80' }), status.UNAUTHENTICATED, 'unauthenticated');
      await rejectsWith(wrong.openRoom({ roomId: '8:80' }), status.UNAUTHENTICATED, 'unauthenticated');
      await rejectsWith(wrong.leave({ roomId: '8:80', sessionId: 'x' }), status.UNAUTHENTICATED, 'unauthenticated');
      const stream = wrong.watchSessions();
      const code = await new Promise<number>((resolve) => stream.on('error', (e: { code: number }) => resolve(e.code)));
      assert.equal(code, status.UNAUTHENTICATED);
      assert.equal(node.rooms.find('8:80'), undefined, 'nothing was opened');
    } finally {
      anonymous.close();
      wrong.close();
    }
  });

  test('the node refuses to start without a secret unless insecure is explicit', async () => {
    await assert.rejects(startTestNode({ secret: undefined }), /config\.missing-secret/);
    const open = await startTestNode({ secret: undefined, insecure: true });
    const anonymous = connectMediaNode(open.node.grpcAddress);
    try {
      assert.ok((await anonymous.openRoom({ roomId: '8:81' })).rtpCapabilities.length > 0);
    } finally {
      anonymous.close();
      await open.stop();
    }
  });
});
