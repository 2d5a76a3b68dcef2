// Load of a media worker and of a node, one formula for the node (heartbeat, metrics, admission),
// placement and the autoscaling gauge. Pure: no mediasoup, no AWS.
//
// A worker is one core. Its load is the largest of three ratios:
//   forwarded packets/s ÷ the packets/s it forwards at a full core (SRTP included; bench:media),
//   its CPU ÷ 100 %,
//   its consumers ÷ the consumers it may hold (memory and control work, even when nobody talks).
// Packets follow the people talking (Opus DTX: ~2.5 packets/s per silent member, 50 per talker);
// CPU is the ground truth when the packet model is off; the consumer bound caps huge silent rooms.

export interface WorkerLimits {
  /** Packets/s one worker forwards at 100 % of a core. */
  packetsPerSecond: number;
  /** Consumers one worker may hold. */
  consumers: number;
  /** Joins (and new rooms) are admitted while the projected load stays at or below this (0..1). */
  admitLoad: number;
}

/** Defaults; measured in docs/benchmarks.md "Media capacity" (bench:media). */
export const DEFAULT_WORKER_LIMITS: WorkerLimits = {
  packetsPerSecond: 100_000,
  consumers: 20_000,
  admitLoad: 0.8,
};

/** Opus with DTX in silence (one packet per 400 ms) and while speaking (20 ms frames). */
export const SILENT_DTX_PACKETS_PER_SECOND = 2.5;
export const TALKING_PACKETS_PER_SECOND = 50;

export interface WorkerUse {
  forwardedPerSecond: number;
  cpuPercent: number;
  consumers: number;
}

/** 0 = idle, 1 = a full core (can exceed 1). */
export function workerLoad(use: WorkerUse, limits: WorkerLimits): number {
  return Math.max(
    use.forwardedPerSecond / limits.packetsPerSecond,
    use.cpuPercent / 100,
    use.consumers / limits.consumers,
  );
}

/** What a join adds to the worker of its room. */
export interface JoinCost {
  forwardedPerSecond: number;
  consumers: number;
}

/**
 * A joiner into a room with `members` producing members receives every one of them (their current
 * packets/s: `receivedPerSecond`), and each member receives the joiner. The joiner's own rate is
 * unknown yet: the room's mean per member (it talks as much as they do), never below the DTX rate.
 */
export function joinCost(room: { producers: number; receivedPerSecond: number }): JoinCost {
  const members = room.producers;
  const joinerRate = members > 0 ? Math.max(SILENT_DTX_PACKETS_PER_SECOND, room.receivedPerSecond / members) : 0;
  return { forwardedPerSecond: room.receivedPerSecond + members * joinerRate, consumers: 2 * members };
}

export function addCost(use: WorkerUse, cost: JoinCost): WorkerUse {
  return {
    ...use,
    forwardedPerSecond: use.forwardedPerSecond + cost.forwardedPerSecond,
    consumers: use.consumers + cost.consumers,
  };
}

/** Admitted when the worker's load after the join stays within `limits.admitLoad`. */
export function admits(
  use: WorkerUse,
  cost: JoinCost,
  limits: WorkerLimits,
): { admitted: boolean; loadBefore: number; loadAfter: number } {
  const loadBefore = workerLoad(use, limits);
  const loadAfter = workerLoad(addCost(use, cost), limits);
  return { admitted: loadAfter <= limits.admitLoad, loadBefore, loadAfter };
}

/** The node's load as the registry and the autoscaling gauge carry it. */
export interface NodeLoadSummary {
  /** Per worker, 0..1+ (workerLoad). */
  workers: number[];
  /** Mean over workers: the fleet-scaling signal (media_node_load_percent = 100 × avg). */
  avg: number;
  /** The node's admission threshold (WorkerLimits.admitLoad): a new room needs a worker below it. */
  admitLoad: number;
}

export function summarizeLoad(workers: number[], admitLoad: number): NodeLoadSummary {
  const rounded = workers.map(round3);
  const avg = workers.length ? round3(workers.reduce((a, b) => a + b, 0) / workers.length) : 0;
  return { workers: rounded, avg, admitLoad };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** One router of a room (RoomSpan part) on one worker: the members whose producers are there. */
export interface RoomPartUse {
  workerIndex: number;
  producers: number;
  receivedPerSecond: number;
}

/**
 * What a join adds to each worker when the room spans `parts` and the joiner's transports go on worker
 * `target` (a part there, or a new one). The joiner consumes every member's stream on `target`; every
 * member consumes the joiner on its own part; the joiner's stream is piped once to each other part with
 * members; a new part first gets every other part's producers piped in (one pipe consumer each on the
 * origin worker). With one part and `target` on it this is joinCost().
 * The first join on a new part costs the other parts as much as joining there would (their producers are
 * piped once); later joins on the part cost them only their members' consumers of the joiner. So a room
 * should spill to another worker before its main worker is full, not when it is.
 */
export function spanJoinCosts(parts: readonly RoomPartUse[], target: number): Map<number, JoinCost> {
  const members = parts.reduce((n, p) => n + p.producers, 0);
  const received = parts.reduce((n, p) => n + p.receivedPerSecond, 0);
  const joinerRate = members > 0 ? Math.max(SILENT_DTX_PACKETS_PER_SECOND, received / members) : 0;
  const newPart = !parts.some((p) => p.workerIndex === target);
  const costs = new Map<number, JoinCost>();
  const add = (worker: number, forwardedPerSecond: number, consumers: number) => {
    const cost = costs.get(worker) ?? { forwardedPerSecond: 0, consumers: 0 };
    costs.set(worker, {
      forwardedPerSecond: cost.forwardedPerSecond + forwardedPerSecond,
      consumers: cost.consumers + consumers,
    });
  };
  // The joiner receives everyone (piped streams included) on its own worker.
  add(target, received, members);
  for (const part of parts) {
    if (part.producers === 0) continue;
    // The part's members receive the joiner.
    add(part.workerIndex, part.producers * joinerRate, part.producers);
    if (part.workerIndex === target) continue;
    // The joiner's stream is piped to this part once (a pipe consumer on the target worker)…
    add(target, joinerRate, 1);
    // …and a new part needs this part's producers piped to it (a pipe consumer each, here).
    if (newPart) add(part.workerIndex, part.receivedPerSecond, part.producers);
  }
  return costs;
}
