// Placement: which media node gets a new room. Pure, so the signalling side and tests share it.
import type { MediaNodeRecord } from './types';

/** A node whose heartbeat is older than this is presumed dead (three missed 5 s heartbeats). */
export const DEFAULT_STALE_AFTER_MS = 15_000;

/** Heartbeat fresh and record not expired. */
export function isNodeAlive(node: MediaNodeRecord, nowMs: number, staleAfterMs = DEFAULT_STALE_AFTER_MS): boolean {
  return nowMs - node.heartbeatAt <= staleAfterMs && node.expiresAt * 1000 > nowMs;
}

/** 0 = idle, 1 = full: the busier of consumer occupancy and average worker CPU. */
export function nodeLoad(node: MediaNodeRecord): number {
  const occupancy = node.capacity > 0 ? node.consumers / node.capacity : 1;
  return Math.max(occupancy, (node.cpu?.avg ?? 0) / 100);
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
    (node) =>
      node.state === 'active' &&
      isNodeAlive(node, nowMs, options.staleAfterMs) &&
      node.consumers < node.capacity,
  );
  candidates.sort(
    (a, b) => nodeLoad(a) - nodeLoad(b) || a.rooms - b.rooms || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
  );
  return candidates[0];
}
