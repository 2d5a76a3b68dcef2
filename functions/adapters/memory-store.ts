// In-memory StateStore with the same conditional semantics as the DynamoDB one: the floor of the
// signalling benchmark, the deterministic simulation and unit tests. Not for production (one process only).
import {
  applyTransition,
  recordOrConflict,
  socketOf,
  type Claim,
  type ConnectionRecord,
  type ConnectionState,
  type FeedCursor,
  type Placement,
  type StateStore,
  type StoredPlacement,
  type Transition,
} from '../voice/ports';
import { sweepShardOf } from '../../data/tables';
import type { Variant } from '../../protocol/hrpc';
import type { DueItem } from '../voice/sweep';
import type { LimitedSet, RateEvent, SetAdmission, UserLimitStore } from '../voice/user-limits';

interface FeedItem extends FeedCursor {
  replaySet?: Set<string>;
  owner?: string;
  leaseUntil?: number;
  wanted?: boolean;
}

export class MemoryStateStore implements StateStore, UserLimitStore {
  private readonly connections = new Map<string, ConnectionRecord>();
  /** Per-user limits: counters by user and minute, sets of live ids (id → until, epoch ms) by set. */
  private readonly rates = new Map<string, Partial<Record<RateEvent, number>>>();
  private readonly limitSets = new Map<string, Map<string, number>>();
  private readonly placements = new Map<string, StoredPlacement>();
  private readonly feeds = new Map<string, FeedItem>();

  /**
   * `between`: awaited where DynamoStateStore makes a second request after a first one (a busy acquireFeed's
   * "wanted" mark), so a simulation can run other invocations in that gap; default nothing.
   */
  constructor(
    private readonly nowMs: () => number = Date.now,
    private readonly between: () => Promise<void> = async () => {},
  ) {}

  async putConnection(record: ConnectionRecord): Promise<void> {
    this.connections.set(record.connectionId, { ...record });
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const record = this.connections.get(connectionId);
    return record && this.live(record) ? { ...record } : undefined;
  }

  async getConnections(connectionIds: string[]): Promise<ConnectionRecord[]> {
    return connectionIds.flatMap((id) => {
      const record = this.connections.get(id);
      return record && this.live(record) ? [{ ...record }] : [];
    });
  }

  async tryTransition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<Transition> {
    const current = this.connections.get(expected.connectionId);
    if (!current || current.state !== expected.state || current.version !== expected.version) {
      // As DynamoStateStore: the record as it is now (ALL_OLD), expired ones treated as absent.
      return { ok: false, current: current && this.live(current) ? { ...current } : undefined };
    }
    const updated = applyTransition(current, next);
    this.connections.set(updated.connectionId, updated);
    return { ok: true, record: { ...updated } };
  }

  async claimFrom(
    connectionId: string,
    from: ConnectionState,
    variant: Variant,
    next: Partial<ConnectionRecord> & { state: ConnectionState; deadline: number },
    now: number,
  ): Promise<Claim> {
    const current = this.connections.get(connectionId);
    // As DynamoStateStore's condition: in `from`, its own socket's, of `variant`, live now and until the deadline.
    const live = current !== undefined && current.expiresAt * 1000 > now;
    if (
      !current ||
      !live ||
      current.state !== from ||
      socketOf(current) !== connectionId ||
      current.variant !== variant ||
      current.expiresAt * 1000 < next.deadline
    ) {
      return { ok: false, current: current && this.live(current) ? { ...current } : undefined };
    }
    const updated = applyTransition(current, next);
    this.connections.set(connectionId, updated);
    return { ok: true, before: { ...current }, record: { ...updated } };
  }

  async transition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<ConnectionRecord> {
    return recordOrConflict(expected, await this.tryTransition(expected, next));
  }

  async deleteConnection(record: ConnectionRecord): Promise<void> {
    this.connections.delete(record.connectionId);
  }

  async getPlacement(channelKey: string): Promise<StoredPlacement | undefined> {
    const placement = this.placements.get(channelKey);
    return placement && { ...placement };
  }

  async placeChannel(
    channelKey: string,
    candidate: Placement,
    expiresAt: number,
    replacing?: string,
  ): Promise<Placement> {
    const current = this.placements.get(channelKey);
    if (current && current.nodeId !== replacing) return { nodeId: current.nodeId, grpcAddress: current.grpcAddress };
    this.placements.set(channelKey, { ...candidate, expiresAt });
    return candidate;
  }

  async refreshPlacement(channelKey: string, nodeId: string, expiresAt: number): Promise<void> {
    const current = this.placements.get(channelKey);
    if (current?.nodeId === nodeId) current.expiresAt = expiresAt;
  }

  async acquireFeed(
    channelKey: string,
    owner: string,
    leaseUntil: number,
    expiresAt?: number,
    replayFor?: string,
    attempt = 0,
  ): Promise<FeedCursor | undefined> {
    // The same two conditional writes as DynamoStateStore, with the same gap between them (see `between`).
    const feed: FeedItem = this.feeds.get(channelKey) ?? { roomInstance: '', delivered: 0 };
    if (feed.owner === undefined || (feed.leaseUntil ?? 0) < this.nowMs()) {
      const replaySet = replayFor === undefined ? feed.replaySet : new Set([...(feed.replaySet ?? []), replayFor]);
      this.feeds.set(channelKey, { ...feed, owner, leaseUntil, wanted: false, ...(replaySet ? { replaySet } : {}) });
      const replay = [...(replaySet ?? [])];
      return {
        roomInstance: feed.roomInstance,
        delivered: feed.delivered,
        ...(feed.node ? { node: feed.node } : {}),
        ...(replay.length ? { replay } : {}),
      };
    }
    await this.between();
    // Held by someone else: mark it wanted, so the holder delivers again before letting go.
    const held = this.feeds.get(channelKey);
    if (held?.owner !== undefined) {
      held.wanted = true;
      if (replayFor !== undefined) held.replaySet = new Set([...(held.replaySet ?? []), replayFor]);
      return undefined;
    }
    // Released in between: take it (the holder may have let go without seeing the new entry).
    if (attempt < 3) return this.acquireFeed(channelKey, owner, leaseUntil, expiresAt, replayFor, attempt + 1);
    return undefined;
  }

  async takeReplays(channelKey: string, owner: string): Promise<string[]> {
    const feed = this.feeds.get(channelKey);
    if (feed?.owner !== owner) return [];
    const taken = [...(feed.replaySet ?? [])];
    delete feed.replaySet;
    return taken;
  }

  async checkpointFeed(channelKey: string, owner: string, cursor: FeedCursor, leaseUntil: number): Promise<boolean> {
    const feed = this.feeds.get(channelKey);
    if (feed?.owner !== owner) return false;
    Object.assign(feed, cursorOnly(cursor), { leaseUntil });
    return true;
  }

  async releaseFeed(
    channelKey: string,
    owner: string,
    cursor: FeedCursor,
    leaseUntil: number,
  ): Promise<'released' | 'wanted' | 'lost'> {
    const feed = this.feeds.get(channelKey);
    if (feed?.owner !== owner) return 'lost';
    Object.assign(feed, cursorOnly(cursor));
    if (feed.wanted) {
      feed.wanted = false;
      feed.leaseUntil = leaseUntil;
      return 'wanted';
    }
    delete feed.owner;
    delete feed.leaseUntil;
    return 'released';
  }

  async getStalledFeed(channelKey: string, now: number): Promise<{ node?: Placement } | undefined> {
    const feed = this.feeds.get(channelKey);
    if (feed?.owner === undefined || (feed.leaseUntil ?? 0) >= now) return undefined;
    return feed.node ? { node: feed.node } : {};
  }

  async dropStalledFeed(channelKey: string, now: number): Promise<void> {
    const feed = this.feeds.get(channelKey);
    if (feed?.owner !== undefined && (feed.leaseUntil ?? 0) < now) {
      delete feed.owner;
      delete feed.leaseUntil;
    }
  }

  // ---- per-user limits (functions/voice/user-limits.ts), same meaning as in dynamo-store.ts ----

  async countUserEvent(
    userId: string,
    window: number,
    event: RateEvent,
    limit: number | undefined,
    guards: readonly { event: RateEvent; limit: number }[] = [],
  ): Promise<boolean> {
    const key = `${userId}#${window}`;
    const counts = this.rates.get(key) ?? {};
    if (limit !== undefined && (counts[event] ?? 0) >= limit) return false;
    if (guards.some((g) => (counts[g.event] ?? 0) >= g.limit)) return false;
    counts[event] = (counts[event] ?? 0) + 1;
    this.rates.set(key, counts);
    return true;
  }

  async admitToSet(set: LimitedSet, id: string, until: number, max: number, now: number): Promise<SetAdmission> {
    const entries = this.limitSets.get(setName(set)) ?? new Map<string, number>();
    this.limitSets.set(setName(set), entries);
    for (const [held, heldUntil] of entries) if (heldUntil <= now) entries.delete(held);
    if (!entries.has(id) && entries.size >= max) return { admitted: false, freeAt: Math.min(...entries.values()) };
    entries.set(id, until);
    return { admitted: true };
  }

  async releaseFromSets(entries: readonly { set: LimitedSet; id: string }[]): Promise<void> {
    for (const { set, id } of entries) this.limitSets.get(setName(set))?.delete(id);
  }

  /** Every non-empty set, `<kind>:<user or channel>` with its entries (the simulation checks that nothing is left behind). */
  heldLimitSets(): { set: string; entries: [string, number][] }[] {
    return [...this.limitSets].filter(([, e]) => e.size > 0).map(([set, e]) => ({ set, entries: [...e] }));
  }

  /** Every record (tests and the simulation; no periodic path reads all connections). */
  async listConnections(): Promise<ConnectionRecord[]> {
    return [...this.connections.values()].map((c) => ({ ...c }));
  }

  private live(record: ConnectionRecord): boolean {
    return record.expiresAt * 1000 > this.nowMs();
  }

  // ---- the sweep's reads (functions/voice/sweep.ts), same meaning as in dynamo-store.ts ----

  async listDue(shard: number, nowMs: number, limit: number): Promise<DueItem[]> {
    const dueAt = (c: ConnectionRecord) => Math.min(c.deadline ?? Number.POSITIVE_INFINITY, c.expiresAt * 1000);
    const items: { at: number; item: DueItem }[] = [
      ...[...this.connections.values()]
        .filter((c) => sweepShardOf(c.connectionId) === shard && dueAt(c) <= nowMs)
        .map((c) => ({ at: dueAt(c), item: { kind: 'connection', connectionId: c.connectionId } as DueItem })),
      ...[...this.feeds]
        .filter(([key, f]) => f.owner !== undefined && sweepShardOf(key) === shard && (f.leaseUntil ?? 0) <= nowMs)
        .map(([channelKey, f]) => ({ at: f.leaseUntil ?? 0, item: { kind: 'feed', channelKey } as DueItem })),
    ];
    return items
      .sort((a, b) => a.at - b.at)
      .slice(0, limit)
      .map((i) => i.item);
  }

  async listOnNode(nodeId: string, limit: number): Promise<string[]> {
    return [...this.connections.values()]
      .filter((c) => c.nodeId === nodeId)
      .slice(0, limit)
      .map((c) => c.connectionId);
  }

  /** Expired records too: the sweep ends them. */
  async getConnectionForSweep(connectionId: string): Promise<ConnectionRecord | undefined> {
    const record = this.connections.get(connectionId);
    return record && { ...record };
  }

  // ---- end of the sweep's block ----
}

function setName(set: LimitedSet): string {
  return set.kind === 'channel-prepared' ? `${set.kind}:${set.channelKey}` : `${set.kind}:${set.userId}`;
}

function cursorOnly(cursor: FeedCursor): FeedCursor {
  const { replay: _replay, ...rest } = cursor;
  return rest;
}
