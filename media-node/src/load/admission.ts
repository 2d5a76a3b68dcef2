// Node-side admission: every new room and every join is checked against the load of the workers it
// lands on (routing/load.ts: forwarded packets/s, CPU, consumers). A join is placed at CreateTransports
// (chooseSpanWorker): on the room's main worker while it has room, else on another worker of the node,
// where the room spans (RoomSpan). Refusals are MediaError 'over-capacity' (gRPC RESOURCE_EXHAUSTED),
// which the signalling side answers with `hrpc.unavailable` and a RetryInfo — for a new room after trying
// the other nodes (VoiceCore.openRoom), for a join at once (no worker of the node has room for it).
//
// Load is sampled every heartbeat (pool CPU + PacketMeter). Joins admitted since the last sample are
// reserved on their worker until a sample that started after them, so a burst of concurrent joins
// cannot all pass on one stale sample. A session prepared and never joined holds its reservation only for
// its window (`reserveForMs`: the signalling side's time to JoinChannel), so abandoned prepares cannot keep
// a worker looking full. Each join's reservation is one object (reservation.ts) that its session commits or releases.
import { MediaError } from '../../api/errors';
import { addCost, admits, spanJoinCosts, workerLoad, type WorkerLimits, type WorkerUse } from '../../../routing/load';
import type { PacketMeter, WorkerPackets } from './packet-meter';
import { Reservation } from './reservation';
import type { WorkerCpu, WorkerPool, WorkerSlot } from '../workers/worker-pool';

export interface WorkerLoadView extends WorkerUse {
  index: number;
  /** workerLoad() of the sampled use plus the reservations. */
  load: number;
  receivedPerSecond: number;
  forwardedTotal: number;
}

/** Rooms only break ties: 100 empty rooms weigh as much as 1 % of load. */
const ROOM_TIE_BREAK = 1e-4;

export interface AdmissionOptions {
  /** How long a reservation of a session that has not joined counts (default 120 s). */
  reserveForMs?: number;
  now?: () => number;
}

export class Admission {
  private cpu: WorkerCpu[] = [];
  private packets: WorkerPackets[] = [];
  /** Joins reserved and not yet seen by a sample (committed) or still within their window (held). */
  private readonly reservations = new Set<Reservation>();
  private nextSeq = 0;
  private readonly owner = {
    committed: (r: Reservation) => this.reservations.add(r),
    released: (r: Reservation) => this.reservations.delete(r),
  };

  constructor(
    private readonly pool: WorkerPool,
    private readonly meter: PacketMeter,
    readonly limits: WorkerLimits,
    private readonly options: AdmissionOptions = {},
  ) {}

  /** Samples CPU and packets of every worker (the heartbeat calls this). */
  async sample(): Promise<void> {
    const startedAt = this.nextSeq;
    [this.cpu, this.packets] = await Promise.all([this.pool.cpu(), this.meter.sample()]);
    const now = this.now();
    for (const r of this.reservations)
      if ((r.state === 'committed' && r.seq < startedAt) || !r.counts(now)) this.reservations.delete(r);
  }

  /** Joins reserved that count now (joined ones until the next sample, the others within their window). */
  reserved(): number {
    const now = this.now();
    return [...this.reservations].filter((r) => r.counts(now)).length;
  }

  /** Per-worker CPU of the latest sample (metrics, registry). */
  lastCpu(): WorkerCpu[] {
    return this.cpu;
  }

  /** Every worker's use and load as of the latest sample, reservations included. */
  workers(): WorkerLoadView[] {
    return this.pool.slots.map((slot) => this.view(slot.index));
  }

  /** What Rooms uses to put a new room on the least-loaded worker (at equal load, the one with fewer rooms). */
  score(slot: WorkerSlot): number {
    return this.view(slot.index).load + ROOM_TIE_BREAK * this.meter.rooms(slot.index);
  }

  /** A new room needs a ready worker below the admission threshold. */
  checkNewRoom(roomId: string): void {
    const ready = this.pool.slots.filter((s) => s.ready && !s.worker.closed).map((s) => this.view(s.index));
    if (ready.some((w) => w.load < this.limits.admitLoad)) return;
    const loads = ready.map((w) => `${Math.round(w.load * 100)}%`).join(', ') || 'no worker ready';
    throw new MediaError(
      'over-capacity',
      `no worker has room for channel ${roomId} (loads ${loads}, admitting below ${Math.round(this.limits.admitLoad * 100)}%)`,
    );
  }

  /**
   * For a room that may span workers (RoomSpan; called at CreateTransports): the worker a new session's
   * transports should go on, with its join reserved on every worker it loads (spanJoinCosts). The main
   * worker while the join keeps it at or below `spillLoad`; else a worker that already holds a part, then
   * any other ready worker, least loaded first, where every worker involved stays within the admission
   * threshold; else the main worker up to the admission threshold; else 'over-capacity'. Spilling starts
   * below the threshold because the first join on a new part costs the main worker as much as a join there.
   */
  chooseSpanWorker(
    roomId: string,
    mainIndex: number,
    sessionId: string,
    options: { spillLoad?: number; reserveForMs?: number } = {},
  ): { worker: number; reservation: Reservation } {
    const spillLoad = options.spillLoad ?? 0.75 * this.limits.admitLoad;
    const until = this.now() + (options.reserveForMs ?? this.options.reserveForMs ?? DEFAULT_RESERVE_FOR_MS);
    const room = this.meter.room(roomId);
    if (room?.producerSessions.has(sessionId)) return { worker: mainIndex, reservation: Reservation.none() };
    const parts =
      room && room.parts.length > 0 ? room.parts : [{ workerIndex: mainIndex, producers: 0, receivedPerSecond: 0 }];
    const fits = (target: number, threshold: number) => {
      const costs = spanJoinCosts(parts, target);
      for (const [worker, cost] of costs)
        if (!admits(this.view(worker), cost, { ...this.limits, admitLoad: threshold }).admitted) return undefined;
      return costs;
    };
    const ready = this.pool.slots
      .filter((s) => s.ready && !s.worker.closed && s.index !== mainIndex)
      .map((s) => this.view(s.index));
    const withPart = ready.filter((w) => parts.some((p) => p.workerIndex === w.index)).sort((a, b) => a.load - b.load);
    const others = ready.filter((w) => !parts.some((p) => p.workerIndex === w.index)).sort((a, b) => a.load - b.load);
    const candidates: [number, number][] = [
      [mainIndex, spillLoad],
      ...withPart.map((w): [number, number] => [w.index, this.limits.admitLoad]),
      ...others.map((w): [number, number] => [w.index, this.limits.admitLoad]),
      [mainIndex, this.limits.admitLoad],
    ];
    for (const [worker, threshold] of candidates) {
      const costs = fits(worker, threshold);
      if (!costs) continue;
      const reservation = new Reservation(costs, until, this.nextSeq++, this.owner);
      this.reservations.add(reservation);
      return { worker, reservation };
    }
    const onMain = admits(this.view(mainIndex), spanJoinCosts(parts, mainIndex).get(mainIndex)!, this.limits);
    throw new MediaError(
      'over-capacity',
      `worker ${mainIndex} of channel ${roomId} is at ${pct(onMain.loadBefore)}; this join would take it to ${pct(onMain.loadAfter)} (admitting up to ${pct(this.limits.admitLoad)}), and no other worker of this node can take it`,
    );
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private view(index: number): WorkerLoadView {
    const packets = this.packets.find((p) => p.index === index);
    const cpu = this.cpu.find((c) => c.index === index);
    let use: WorkerUse = {
      forwardedPerSecond: packets?.forwardedPerSecond ?? 0,
      cpuPercent: cpu?.cpuPercent ?? 0,
      consumers: packets?.consumers ?? 0,
    };
    const now = this.now();
    for (const r of this.reservations) {
      const cost = r.costs.get(index);
      if (cost && r.counts(now)) use = addCost(use, cost);
    }
    return {
      index,
      ...use,
      load: workerLoad(use, this.limits),
      receivedPerSecond: packets?.receivedPerSecond ?? 0,
      forwardedTotal: packets?.forwardedTotal ?? 0,
    };
  }
}

const DEFAULT_RESERVE_FOR_MS = 120_000;

function pct(load: number): string {
  return `${Math.round(load * 1000) / 10}%`;
}
