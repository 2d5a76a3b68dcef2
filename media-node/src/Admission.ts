// Node-side admission: every new room and every join is checked against the load of the worker it
// lands on (routing/load.ts: forwarded packets/s, CPU, consumers). Refusals are MediaError
// 'over-capacity' (gRPC RESOURCE_EXHAUSTED), which the signalling side answers with `hrpc.unavailable`
// and a RetryInfo — for a new room after trying the other nodes (VoiceCore.openRoom), for a join at once
// (the room cannot move; its load falls when people stop talking or leave).
//
// Load is sampled every heartbeat (pool CPU + PacketMeter). Joins admitted since the last sample are
// reserved on their worker until a sample that started after them, so a burst of concurrent joins
// cannot all pass on one stale sample.
import { MediaError } from '../api/errors';
import { addCost, admits, joinCost, workerLoad, type JoinCost, type WorkerLimits, type WorkerUse } from '../../routing/load';
import type { PacketMeter, WorkerPackets } from './PacketMeter';
import type { WorkerCpu, WorkerPool, WorkerSlot } from './WorkerPool';

export interface WorkerLoadView extends WorkerUse {
  index: number;
  /** workerLoad() of the sampled use plus the reservations. */
  load: number;
  receivedPerSecond: number;
  forwardedTotal: number;
}

/** Rooms only break ties: 100 empty rooms weigh as much as 1 % of load. */
const ROOM_TIE_BREAK = 1e-4;

interface Reservation {
  readonly id: number;
  readonly worker: number;
  readonly cost: JoinCost;
  done: boolean;
}

export interface AdmissionDecision {
  admitted: boolean;
  worker: number;
  loadBefore: number;
  loadAfter: number;
}

export class Admission {
  private cpu: WorkerCpu[] = [];
  private packets: WorkerPackets[] = [];
  private readonly reservations = new Set<Reservation>();
  private nextId = 0;

  constructor(
    private readonly pool: WorkerPool,
    private readonly meter: PacketMeter,
    readonly limits: WorkerLimits,
  ) {}

  /** Samples CPU and packets of every worker (the heartbeat calls this). */
  async sample(): Promise<void> {
    const startedAt = this.nextId;
    [this.cpu, this.packets] = await Promise.all([this.pool.cpu(), this.meter.sample()]);
    for (const r of this.reservations) if (r.done && r.id < startedAt) this.reservations.delete(r);
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
    throw new MediaError('over-capacity', `no worker has room for channel ${roomId} (loads ${loads}, admitting below ${Math.round(this.limits.admitLoad * 100)}%)`);
  }

  /**
   * Admits a join into `roomId` (on worker `workerIndex`) or throws 'over-capacity'. A session that
   * already produces in the room (a retried Join) is always admitted. Call the returned function
   * when the join settled: `true` keeps the reservation until the next sample, `false` drops it.
   */
  admitJoin(roomId: string, workerIndex: number, sessionId: string): { decision: AdmissionDecision; settle: (joined: boolean) => void } {
    const room = this.meter.room(roomId);
    const before = this.view(workerIndex);
    if (room?.producerSessions.has(sessionId)) {
      return { decision: { admitted: true, worker: workerIndex, loadBefore: before.load, loadAfter: before.load }, settle: () => {} };
    }
    const cost = joinCost(room ?? { producers: 0, receivedPerSecond: 0 });
    const verdict = admits(before, cost, this.limits);
    const decision = { admitted: verdict.admitted, worker: workerIndex, loadBefore: verdict.loadBefore, loadAfter: verdict.loadAfter };
    if (!verdict.admitted) {
      throw new MediaError(
        'over-capacity',
        `worker ${workerIndex} of channel ${roomId} is at ${pct(verdict.loadBefore)}; this join would take it to ${pct(verdict.loadAfter)} (admitting up to ${pct(this.limits.admitLoad)})`,
      );
    }
    const reservation: Reservation = { id: this.nextId++, worker: workerIndex, cost, done: false };
    this.reservations.add(reservation);
    return {
      decision,
      settle: (joined) => {
        if (joined) reservation.done = true;
        else this.reservations.delete(reservation);
      },
    };
  }

  private view(index: number): WorkerLoadView {
    const packets = this.packets.find((p) => p.index === index);
    const cpu = this.cpu.find((c) => c.index === index);
    let use: WorkerUse = {
      forwardedPerSecond: packets?.forwardedPerSecond ?? 0,
      cpuPercent: cpu?.cpuPercent ?? 0,
      consumers: packets?.consumers ?? 0,
    };
    for (const r of this.reservations) if (r.worker === index) use = addCost(use, r.cost);
    return {
      index,
      ...use,
      load: workerLoad(use, this.limits),
      receivedPerSecond: packets?.receivedPerSecond ?? 0,
      forwardedTotal: packets?.forwardedTotal ?? 0,
    };
  }
}

function pct(load: number): string {
  return `${Math.round(load * 1000) / 10}%`;
}
