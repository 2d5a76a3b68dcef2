// Placement: which media node gets a new room. Pure, so the signalling side and tests share it.
import type { MediaNodeRecord } from './types';

/** A node whose heartbeat is older than this is presumed dead (three missed 5 s heartbeats). */
export const DEFAULT_STALE_AFTER_MS = 15_000;

/** Heartbeat fresh and record not expired. */
export function isNodeAlive(node: MediaNodeRecord, nowMs: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): boolean {
  return nowMs - node.heartbeatAt <= staleAfterMs && node.expiresAt * 1000 > nowMs;
}

/**
 * 0 = idle, 1 = full: the mean of the node's worker loads (routing/load.ts: forwarded packets, CPU,
 * consumers). A record without `load` (a node older than it) falls back to the busier of consumer
 * occupancy and average worker CPU.
 */
export function nodeLoad(node: MediaNodeRecord): number {
  if (node.load) return node.load.avg;
  const occupancy = node.capacity > 0 ? node.consumers / node.capacity : 1;
  return Math.max(occupancy, (node.cpu?.avg ?? 0) / 100);
}

/** A new room needs one worker below the node's admission threshold (the node checks again at OpenRoom). */
export function hasHeadroom(node: MediaNodeRecord): boolean {
  if (node.load && node.load.workers.length > 0) return Math.min(...node.load.workers) < node.load.admitLoad;
  return node.consumers < node.capacity;
}

/**
 * The least-loaded active, alive node with room to spare; undefined when none qualifies.
 * Ties go to the node with fewer rooms, then the smaller node id (deterministic).
 */
export function pickNode(
  nodes: readonly MediaNodeRecord[],
  nowMs: number,
  options: { staleAfterMs?: number } = {},
): MediaNodeRecord | undefined {
  const candidates = nodes.filter(
    (node) => node.state === 'active' && isNodeAlive(node, nowMs, options.staleAfterMs) && hasHeadroom(node),
  );
  candidates.sort(
    (a, b) =>
      nodeLoad(a) - nodeLoad(b) || a.rooms - b.rooms || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
  );
  return candidates[0];
}
