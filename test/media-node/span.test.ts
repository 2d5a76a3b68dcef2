// RoomSpan on its own (Room uses it: span-room.test.ts): a channel's members on two workers hear each other through
// pipeToRouter, each producer is piped once per part, and a part's router and pipes close when its
// last session goes (router dumps show nothing left).
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { silentLogger } from '../../lib/log';
import { ROOM_MEDIA_CODECS } from '../../media-node/src/workers/codecs';
import { RoomSpan, type LocalPart, type SpanPart } from '../../media-node/src/span/room-span';
import { WorkerPool } from '../../media-node/src/workers/worker-pool';
import { rtpPacket, udpSocket, waitFor } from './helpers';

let pool: WorkerPool;
before(async () => {
  pool = await WorkerPool.start({ count: 2, listenIp: '127.0.0.1', rtcPortBase: 0, logger: silentLogger });
});
after(() => pool.close());

/** A part on a worker of this node (a test failure otherwise). */
function localPart(part: SpanPart | undefined): LocalPart | undefined {
  if (part) assert.equal(part.kind, 'local');
  return part as LocalPart | undefined;
}

async function producerOn(router: types.Router, ssrc: number) {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await transport.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc }],
    },
  });
  return { producer, port: transport.tuple.localPort };
}

async function listenerOn(router: types.Router, producerId: string, sink: Socket) {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
  });
  await transport.connect({ ip: '127.0.0.1', port: (sink.address() as AddressInfo).port });
  const consumer = await transport.consume({ producerId, rtpCapabilities: router.rtpCapabilities, paused: true });
  await consumer.resume();
  return consumer;
}

describe('RoomSpan: one channel over two workers', () => {
  test('members on worker 0 and worker 1 hear each other; pipes are made once; an emptied part closes with its pipes', async () => {
    const [slotA, slotB] = pool.slots as [(typeof pool.slots)[0], (typeof pool.slots)[0]];
    const main = await slotA.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS, appData: { roomId: 'span:1' } });
    // Sessions named "b…" go to worker 1, the rest stay on the main router's worker.
    let next: 'A' | 'B' = 'A';
    const span = new RoomSpan({
      roomId: 'span:1',
      mainRouter: main,
      mainSlot: slotA,
      mediaCodecs: ROOM_MEDIA_CODECS,
      chooseWorker: () => (next === 'B' ? slotB : undefined),
    });
    const sender = await udpSocket();
    const sinkA = await udpSocket();
    const sinkB = await udpSocket();
    const got = { a: 0, b: 0 };
    sinkA.on('message', (m) => m.length > 12 && (m[1]! & 0x7f) === 100 && got.a++);
    sinkB.on('message', (m) => m.length > 12 && (m[1]! & 0x7f) === 100 && got.b++);
    try {
      const a = localPart(await span.place('a'))!;
      next = 'B';
      const b = localPart(await span.place('b'))!;
      assert.equal(a.router, main);
      assert.notEqual(b.router, main);
      assert.equal(b.slot, slotB, 'b landed on the other worker');
      assert.equal(span.list().length, 2);

      const fromA = await producerOn(a.router, 0xa);
      const fromB = await producerOn(b.router, 0xb);
      // Each hears the other: the producer is piped where its listener is, twice asked, once made.
      await Promise.all([span.reach(fromA.producer.id, a, b), span.reach(fromA.producer.id, a, b)]);
      await span.reach(fromB.producer.id, b, a);
      const bHearsA = await listenerOn(b.router, fromA.producer.id, sinkB);
      const aHearsB = await listenerOn(a.router, fromB.producer.id, sinkA);
      for (let i = 1; i <= 40; i++) {
        sender.send(rtpPacket(i, 0xa), fromA.port, '127.0.0.1');
        sender.send(rtpPacket(i, 0xb), fromB.port, '127.0.0.1');
      }
      await waitFor(() => got.a >= 40 && got.b >= 40, 5000, 'packets across the pipe both ways');
      assert.equal(got.a, 40, 'a received every packet of b (worker 1 → worker 0)');
      assert.equal(got.b, 40, 'b received every packet of a (worker 0 → worker 1)');
      const dumpB = await b.router.dump();
      assert.equal(
        dumpB.mapProducerIdConsumerIds.length,
        2,
        "part B holds b's producer and a single pipe producer of a",
      );
      assert.ok(bHearsA && aHearsB);

      // b leaves: its part closes, and with it the pipe transports on both routers.
      const pipesOnMainBefore = (await main.dump()).transportIds.length;
      span.release('b');
      assert.equal(b.router.closed, true, "the emptied part's router is closed");
      assert.equal(span.list().length, 1);
      await waitFor(
        async () => (await main.dump()).transportIds.length === pipesOnMainBefore - 1,
        3000,
        'the pipe transport on the main router closes',
      );
      const dumpMain = await main.dump();
      const pipedIn = dumpMain.mapProducerIdConsumerIds.find((e) => e.key === fromB.producer.id);
      assert.equal(pipedIn, undefined, "b's pipe producer is gone from the main router");
      span.release('a');
      assert.equal(main.closed, false, "the main router is the room's to close");
    } finally {
      sender.close();
      sinkA.close();
      sinkB.close();
      span.close();
      main.close();
    }
  });
});
