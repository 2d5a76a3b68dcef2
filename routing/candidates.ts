// Placement without listing the fleet. The reaper's sweep, which lists the registry anyway to
// find dead nodes, publishes every sweep (5 s) a short ranked list of placement candidates — the least loaded
// active, alive nodes with headroom — into a few copies of one small item (PLACE#<copy>); an Initialize reads one
// copy at random (one GetItem whatever the fleet size) and picks from it with the same rule as before (pickNode:
// least loaded, packet-rate aware through routing/load.ts). Liveness is judged by the reader from each
// candidate's own heartbeat time, so a node that dies stops getting new channels 15 s after its last heartbeat,
// as with the full list; drain and "full" reach placements within one heartbeat plus one publish (≤ 10 s), and a
// draining or full node refuses a new room at OpenRoom anyway. A list that is missing or holds no live candidate
// (no sweep ran yet, the reaper is down) falls back to listing the registry: slower, never wrong. Pure.
import { hasHeadroom, isNodeAlive, nodeLoad } from './placement';
import type { MediaNodeRecord } from './types';

/**
 * How many candidates a list holds: enough that a burst of placements between two publishes has choice, few
 * enough that the item stays under 4 KB (one read unit, the same whatever the fleet size).
 */
export const CANDIDATES_PER_LIST = 12;
/** Copies of the list (one partition each): Initializes read one at random, so none is hot. */
export const CANDIDATE_COPIES = 2;

/** The fields placement reads, nothing else (keeps the item small: ~250 B per candidate). */
export type Candidate = Pick<
  MediaNodeRecord,
  'nodeId' | 'grpcAddress' | 'capacity' | 'rooms' | 'consumers' | 'load' | 'state' | 'heartbeatAt' | 'expiresAt'
> & { cpu?: MediaNodeRecord['cpu'] };

export interface CandidateList {
  /** When the sweep published it (ms). */
  at: number;
  nodes: Candidate[];
}

/** The ranked candidates of a registry listing: active, alive, with headroom, least loaded first. */
export function rankCandidates(
  nodes: readonly MediaNodeRecord[],
  nowMs: number,
  staleAfterMs?: number,
  limit = CANDIDATES_PER_LIST,
): Candidate[] {
  return nodes
    .filter((n) => n.state === 'active' && isNodeAlive(n, nowMs, staleAfterMs) && hasHeadroom(n))
    .sort(
      (a, b) =>
        nodeLoad(a) - nodeLoad(b) || a.rooms - b.rooms || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
    )
    .slice(0, limit)
    .map((n) => ({
      nodeId: n.nodeId,
      grpcAddress: n.grpcAddress,
      capacity: n.capacity,
      rooms: n.rooms,
      consumers: n.consumers,
      // The load summary when the node sends one; CPU only for older nodes' records (nodeLoad's fallback).
      ...(n.load ? { load: n.load } : { cpu: n.cpu }),
      state: n.state,
      heartbeatAt: n.heartbeatAt,
      expiresAt: n.expiresAt,
    }));
}

/** A candidate as a node record for pickNode (the counters it does not carry are zero). */
export function candidateRecord(c: Candidate): MediaNodeRecord {
  return {
    publicAddress: '',
    sessions: 0,
    transports: 0,
    producers: 0,
    ...c,
    cpu: c.cpu ?? { workers: [], avg: 0, max: 0 },
  };
}
