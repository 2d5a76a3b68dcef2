// Forwarded RTP packets per worker, measured cheaply. A worker's packet work is what its consumers
// send: every packet a producer receives goes out once per active consumer of it. So instead of
// asking every consumer for its stats (a 100-member room has 9,900), the meter asks every producer
// (100) for its received packet count and multiplies the increase by the producer's active consumers
// (not paused, producer not paused, not closed; tracked from mediasoup's observer events, no request).
// With Opus DTX a silent member's producer counts ~2.5 packets/s, a talker's 50: the load follows the
// people talking, not the people present.
//
// The meter hooks each worker's observer (routers → transports → producers/consumers), so it needs
// nothing from Room/Rooms: it sees what mediasoup creates. Routers carry `appData.roomId` (Rooms).
import type { types } from 'mediasoup';
import type { WorkerPool, WorkerSlot } from '../workers/worker-pool';

export interface WorkerPackets {
  index: number;
  /** Packets/s the worker's consumers sent over the last sample interval (estimated as above). */
  forwardedPerSecond: number;
  /** Packets/s its producers received. */
  receivedPerSecond: number;
  /** Forwarded packets counted since the worker started (sum over samples). */
  forwardedTotal: number;
  producers: number;
  consumers: number;
}

/** One router of a room on one worker (a room spanning workers has several: RoomSpan). */
export interface RoomPart {
  workerIndex: number;
  /** Producers made here (joined members whose transports are on this part; pipe producers not counted). */
  producers: number;
  receivedPerSecond: number;
}

/** What a join into a room costs is computed from this (routing/load.ts joinCost, spanJoinCosts). */
export interface RoomPackets {
  roomId: string;
  /** Producers (= joined members) and their summed received packets/s, over every part. */
  producers: number;
  receivedPerSecond: number;
  consumers: number;
  parts: RoomPart[];
  /** Session ids that already have a producer here (a retried Join of one of them costs nothing). */
  producerSessions: Set<string>;
}

interface ProducerState {
  readonly producer: types.Producer;
  readonly routerId: string;
  /** Made by a PipeTransport (RoomSpan): a copy of a producer of another part. */
  readonly piped: boolean;
  readonly consumers: Set<types.Consumer>;
  lastCount: number | undefined;
  perSecond: number;
}

interface WorkerState {
  readonly slot: WorkerSlot;
  worker: types.Worker;
  readonly producers: Map<string, ProducerState>;
  readonly rooms: Map<string, string>; // routerId → roomId
  consumers: number;
  forwardedTotal: number;
  lastAt: number | undefined;
  last: WorkerPackets;
}

export class PacketMeter {
  private readonly workers: WorkerState[] = [];

  constructor(
    pool: WorkerPool,
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const slot of pool.slots) this.attach(slot);
    pool.on('replaced', (slot) => this.attach(slot));
  }

  /** Samples every producer's packet count once; returns per-worker rates since the previous sample. */
  async sample(): Promise<WorkerPackets[]> {
    return Promise.all(this.workers.map((w) => this.sampleWorker(w)));
  }

  /** The latest sample of each worker (zeros before the first). */
  latest(): WorkerPackets[] {
    return this.workers.map((w) => w.last);
  }

  /** Routers (rooms) open on a worker now. */
  rooms(index: number): number {
    return this.workers.find((w) => w.slot.index === index)?.rooms.size ?? 0;
  }

  /** A room's producers and rates as of the latest sample; undefined when no router has that room id. */
  room(roomId: string): RoomPackets | undefined {
    let room: RoomPackets | undefined;
    for (const w of this.workers) {
      for (const [routerId, id] of w.rooms) {
        if (id !== roomId) continue;
        room ??= { roomId, producers: 0, receivedPerSecond: 0, consumers: 0, parts: [], producerSessions: new Set() };
        const part: RoomPart = { workerIndex: w.slot.index, producers: 0, receivedPerSecond: 0 };
        for (const p of w.producers.values()) {
          if (p.routerId !== routerId || p.producer.closed) continue;
          room.consumers += p.consumers.size;
          // A pipe producer (RoomSpan) repeats a producer of another part: its consumers count, the stream does not.
          if (p.piped) continue;
          part.producers++;
          // A paused producer (ProducerPolice) forwards nothing: what it still receives costs no join anything.
          if (!p.producer.paused) part.receivedPerSecond += p.perSecond;
          const sessionId = (p.producer.appData as { sessionId?: unknown }).sessionId;
          if (typeof sessionId === 'string') room.producerSessions.add(sessionId);
        }
        room.producers += part.producers;
        room.receivedPerSecond += part.receivedPerSecond;
        room.parts.push(part);
      }
    }
    return room;
  }

  private attach(slot: WorkerSlot): void {
    let state = this.workers.find((w) => w.slot === slot);
    const empty = {
      index: slot.index,
      forwardedPerSecond: 0,
      receivedPerSecond: 0,
      forwardedTotal: 0,
      producers: 0,
      consumers: 0,
    };
    if (!state) {
      state = {
        slot,
        worker: slot.worker,
        producers: new Map(),
        rooms: new Map(),
        consumers: 0,
        forwardedTotal: 0,
        lastAt: undefined,
        last: empty,
      };
      this.workers.push(state);
      this.workers.sort((a, b) => a.slot.index - b.slot.index);
    } else {
      // A replaced worker starts from nothing (its rooms were closed with the old one).
      state.worker = slot.worker;
      state.producers.clear();
      state.rooms.clear();
      state.consumers = 0;
      state.lastAt = undefined;
      state.last = { ...empty, forwardedTotal: state.forwardedTotal };
    }
    const w = state;
    const worker = slot.worker;
    worker.observer.on('newrouter', (router) => {
      if (w.worker !== worker) return;
      const roomId = (router.appData as { roomId?: unknown }).roomId;
      w.rooms.set(router.id, typeof roomId === 'string' ? roomId : router.id);
      router.observer.once('close', () => w.rooms.delete(router.id));
      router.observer.on('newtransport', (transport) => {
        transport.observer.on('newproducer', (producer) => {
          if (producer.kind !== 'audio' && producer.kind !== 'video') return;
          const state: ProducerState = {
            producer,
            routerId: router.id,
            piped: transport.type === 'pipe',
            consumers: new Set(),
            lastCount: undefined,
            perSecond: 0,
          };
          w.producers.set(producer.id, state);
          producer.observer.once('close', () => w.producers.delete(producer.id));
        });
        transport.observer.on('newconsumer', (consumer) => {
          w.consumers++;
          const owner = w.producers.get(consumer.producerId);
          owner?.consumers.add(consumer);
          consumer.observer.once('close', () => {
            w.consumers--;
            owner?.consumers.delete(consumer);
          });
        });
      });
    });
  }

  private async sampleWorker(w: WorkerState): Promise<WorkerPackets> {
    const at = this.now();
    const elapsedS = w.lastAt === undefined ? 0 : (at - w.lastAt) / 1000;
    const producers = [...w.producers.values()];
    const counts = await Promise.all(producers.map((p) => packetCount(p.producer)));
    let received = 0;
    let forwarded = 0;
    producers.forEach((p, i) => {
      const count = counts[i];
      if (count === undefined) return;
      const delta = p.lastCount === undefined ? 0 : Math.max(0, count - p.lastCount);
      p.lastCount = count;
      // The first sample of a producer only sets its baseline.
      p.perSecond = elapsedS > 0 ? delta / elapsedS : 0;
      const active = [...p.consumers].filter((c) => !c.closed && !c.paused && !c.producerPaused).length;
      received += delta;
      forwarded += delta * active;
    });
    w.forwardedTotal += forwarded;
    w.lastAt = at;
    w.last = {
      index: w.slot.index,
      forwardedPerSecond: elapsedS > 0 ? round1(forwarded / elapsedS) : 0,
      receivedPerSecond: elapsedS > 0 ? round1(received / elapsedS) : 0,
      forwardedTotal: w.forwardedTotal,
      producers: producers.length,
      consumers: w.consumers,
    };
    return w.last;
  }
}

async function packetCount(producer: types.Producer): Promise<number | undefined> {
  if (producer.closed) return undefined;
  try {
    const stats = await producer.getStats();
    return stats.reduce((sum, s) => sum + s.packetCount, 0);
  } catch {
    return undefined; // closed while asking
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
