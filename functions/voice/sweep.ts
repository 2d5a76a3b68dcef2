// The reaper's sweep: ends the sessions that are due, and only those. Cost is proportional to events,
// never to connections: a healthy joined session is read by no periodic request at all.
//
// Per shard (data/tables.ts SWEEP_SHARDS; a connection's shard is a hash of its id) one sweep makes two
// Queries, whatever the number of connections:
//   - LOST#<shard> in the registry: sessions a media node reported lost (ICE consent / disconnected past
//     its grace, DTLS failed or closed, worker died, drained) → ended with voice.media-lost (policed: its
//     producer's repeated offences → voice.producer-policed, fatal); and the node's notices (a producer paused
//     by its police) → told once, non-fatal voice.producer-policed, the session goes on. Either only if the node
//     that wrote it is the one hosting the session (else ignored: a node cannot end or bother others' sessions);
//   - the DUE index: connections whose due time has passed — the stall deadline of a non-joined state,
//     the `closing` step's deadline (stuck), or the 2-hour expiry — each re-read strongly and judged again.
// Plus one listing of the node registry per sweep (one Query per NODES# shard of its LISTING index): a node whose
// heartbeat is stale has nobody left to report its sessions lost, so they are found by the BY_NODE index, ended,
// and the node's record then retired. The sweep of shard 0 also publishes what it listed as the placement candidates of the next 5 s
// (routing/candidates.ts), so no Initialize lists the fleet.
//
// Bounded and idempotent: at most `maxItemsPerShard` items per shard per sweep, `concurrency` at a time per
// shard, each awaited for at most `itemTimeoutMs` (a slow one keeps running in the background, holding its
// `closing` claim, while the others go on; `settled()` waits for stragglers before an invocation returns).
// Ending is the core's `endSession`, itself a claim: two sweeps of one shard never end a session twice.
// GetConnection (@connections) is never called here: no connection is probed without a concrete event.
import { sweepShardOf } from '../../data/tables';
import type { VoiceError } from '../../protocol/errors';
import { isNodeAlive } from '../../routing/placement';
import type { MediaNodeRecord } from '../../routing/types';
import type { Logger } from '../../lib/log';
import type { Clock, ConnectionRecord, LostSession } from './ports';
import { endError } from './end-reasons';
import { mediaNoticeError } from './media-errors';
import { stateRule } from './protocol-table';
import type { VoiceCore } from './voice-core';

/** Something due in a shard: a connection at its deadline, or a channel feed whose delivering holder's lease ran out. */
export type DueItem = { kind: 'connection'; connectionId: string } | { kind: 'feed'; channelKey: string };

/** What the sweep reads from the state store (adapters: dynamo-store.ts, memory-store.ts, the sweep's blocks). */
export interface SweepStore {
  /** The shard's items due by `nowMs`, most overdue first (may lag: the caller re-reads). */
  listDue(shard: number, nowMs: number, limit: number): Promise<DueItem[]>;
  /** Ids of the connections on a media node (may lag). */
  listOnNode(nodeId: string, limit: number): Promise<string[]>;
  /** Strongly consistent read, expired records included. */
  getConnectionForSweep(connectionId: string): Promise<ConnectionRecord | undefined>;
}

/** What the sweep reads from the media node registry (adapter: node-directory.ts). */
export interface SweepNodes {
  listNodes(): Promise<MediaNodeRecord[]>;
  listLostSessions(shard: number, limit: number): Promise<LostSession[]>;
  deleteLostSession(lost: LostSession): Promise<void>;
  /** Deletes a dead node's record (unless it heartbeat since it was read). */
  retireNode(node: MediaNodeRecord): Promise<void>;
  /** Publishes the placement candidates ranked from this listing (optional: adapters without placement skip it). */
  publishCandidates?(nodes: MediaNodeRecord[], nowMs: number, staleAfterMs: number): Promise<void>;
}

export interface SweepLimits {
  /** A node whose heartbeat is older than this is dead. */
  nodeStaleAfterMs: number;
  /** Items (lost + due) one sweep takes from one shard; the rest waits for the next sweep. */
  maxItemsPerShard: number;
  /** Sessions ended at once per shard. */
  concurrency: number;
  /** How long one item is awaited before the sweep moves on without it. */
  itemTimeoutMs: number;
}

/**
 * How the sweep is scheduled on AWS (functions/handlers/reaper.ts, infra/signalling-stack.ts): the shards are
 * split into groups (CDK context `reaperShardGroups`, 1 by default, 4 for 1,000,000 connections), one reaper
 * invocation per group per minute, each sweeping its shards every `intervalMs`. Shard math: docs/architecture.md,
 * "Liveness and cleanup at scale".
 */
export const SWEEP_SCHEDULE = { intervalMs: 5_000, shardGroupsAt1M: 4 } as const;

/** The shards of group `group` (0 ≤ group < groups): every shard in exactly one group. */
export function shardGroup(group: number, groups: number, shards: number): number[] {
  return [...Array(shards).keys()].filter((s) => s % groups === group);
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = {
  nodeStaleAfterMs: 15_000,
  maxItemsPerShard: 500,
  concurrency: 16,
  itemTimeoutMs: 10_000,
};

export interface SweepDeps {
  core: Pick<VoiceCore, 'endSession' | 'finishFeed' | 'sweepResumable' | 'tellSession'>;
  store: SweepStore;
  nodes: SweepNodes;
  clock: Clock;
  log: Logger;
  limits?: Partial<SweepLimits>;
}

export interface SweepResult {
  /** Sessions ended, by why. */
  ended: Record<'media-lost' | 'node-dead' | 'timeout' | 'stuck' | 'expired', number>;
  /** Stalled channel feeds finished (their history delivered) or let go (their room died with its node). */
  feeds: number;
  /** resume.v1 records handled by the core (a suspended session past its grace ended, a replay asked again, …). */
  resumable: number;
  /** Media-node notices told to their (joined) sessions (a producer paused by the node's police). */
  told: number;
  /** Due items that had moved on (re-read: not due any more) or were already gone. */
  skipped: number;
  /** Items whose ending failed or was not awaited to the end (retried by a later sweep if still due). */
  failed: number;
  /** Shards that had more work than one sweep takes. */
  saturated: number[];
}

type Verdict = { reason: 'timeout' | 'stuck' | 'expired'; error?: VoiceError } | undefined;

/**
 * Why a due connection must end now, or undefined when it is not due (any more). Pure. Past its expiry: `expired`;
 * otherwise its state's sweep rule (protocol-table.ts): `finish-end` (closing) past its deadline is `stuck`; a
 * joined session (`replay-owed`) has no deadline of its own to miss; any other state past its deadline timed out.
 * (resume.v1's records are the core's to judge first: VoiceCore.sweepResumable.)
 */
export function judge(conn: ConnectionRecord, nowMs: number): Verdict {
  if (conn.expiresAt * 1000 <= nowMs) {
    // Past its expiry because the token it was opened with expired (and the grace after it ran out): say so.
    const tokenExpired = conn.tokenExpiresAt !== undefined && conn.tokenExpiresAt * 1000 <= nowMs;
    return { reason: 'expired', error: endError('expired', { tokenExpired }) };
  }
  const rule = stateRule(conn.state).sweep;
  if (rule === 'finish-end') return (conn.deadline ?? 0) < nowMs ? { reason: 'stuck' } : undefined;
  if (rule !== 'replay-owed' && conn.deadline !== undefined && conn.deadline < nowMs) {
    return { reason: 'timeout', error: endError('timeout', conn.state) };
  }
  return undefined;
}

export class Sweep {
  private readonly limits: SweepLimits;
  private readonly stragglers = new Set<Promise<unknown>>();

  constructor(private readonly deps: SweepDeps) {
    this.limits = { ...DEFAULT_SWEEP_LIMITS, ...deps.limits };
  }

  /** One sweep of the given shards (all in parallel), plus the sessions of dead media nodes in them. */
  async run(shards: readonly number[]): Promise<SweepResult> {
    const result: SweepResult = {
      ended: { 'media-lost': 0, 'node-dead': 0, timeout: 0, stuck: 0, expired: 0 },
      feeds: 0,
      resumable: 0,
      told: 0,
      skipped: 0,
      failed: 0,
      saturated: [],
    };
    const owned = new Set(shards);
    const nodes = await this.deps.nodes.listNodes();
    const now = this.deps.clock.now();
    const dead = nodes.filter((n) => !isNodeAlive(n, now, this.limits.nodeStaleAfterMs));
    const alive = new Set(nodes.filter((n) => !dead.includes(n)).map((n) => n.nodeId));
    // One publisher per sweep round (the invocation that holds shard 0): a failure only delays placements' news.
    const publish =
      owned.has(0) && this.deps.nodes.publishCandidates
        ? this.deps.nodes.publishCandidates(nodes, now, this.limits.nodeStaleAfterMs).catch((err) => {
            this.deps.log.warn('voice.candidates-publish-failed', { error: (err as Error).message });
          })
        : undefined;
    await Promise.all([
      publish,
      ...dead.map((node) => this.sweepDeadNode(node, owned, result)),
      ...shards.map((shard) => this.sweepShard(shard, result, (nodeId) => alive.has(nodeId))),
    ]);
    return result;
  }

  /** Resolves when every item a sweep stopped waiting for has finished (call before an invocation returns). */
  async settled(): Promise<void> {
    while (this.stragglers.size > 0) await Promise.allSettled([...this.stragglers]);
  }

  private async sweepShard(shard: number, result: SweepResult, isAlive: (nodeId: string) => boolean): Promise<void> {
    const max = this.limits.maxItemsPerShard;
    // Lost sessions first: the media node's own reason is the most precise one to tell the client.
    const lost = await this.deps.nodes.listLostSessions(shard, max);
    const lostIds = new Set(lost.filter((l) => !l.notice).map((l) => l.sessionId));
    const due =
      lost.length < max
        ? (await this.deps.store.listDue(shard, this.deps.clock.now(), max - lost.length)).filter(
            (d) => d.kind === 'feed' || !lostIds.has(d.connectionId),
          )
        : [];
    if (lost.length + due.length >= max) result.saturated.push(shard);
    const items: (() => Promise<void>)[] = [
      ...lost.map((l) => async () => {
        // A report counts only from the node that hosts the session (its writer is the registry partition it was
        // written to, which IAM binds to the writing node): another node's report, or one about a session that
        // moved on, ends (or tells) nothing.
        const conn = await this.deps.store.getConnectionForSweep(l.sessionId);
        if (conn && (conn.nodeId !== l.nodeId || `${conn.guildId}:${conn.channelId}` !== l.roomId)) {
          this.deps.log.warn('voice.lost-report-ignored', {
            connectionId: l.sessionId,
            reportedBy: l.nodeId,
            nodeId: conn.nodeId,
            roomId: l.roomId,
            notice: l.notice ?? false,
            why: 'not the node hosting this session',
          });
          await this.deps.nodes.deleteLostSession(l);
          result.skipped++;
          return;
        }
        if (l.notice) {
          // A notice (the session goes on): told once if the session is joined, then forgotten.
          const error = mediaNoticeError(l.reason);
          if (conn && error && (await this.deps.core.tellSession(l.sessionId, error))) result.told++;
          await this.deps.nodes.deleteLostSession(l);
          return;
        }
        if (conn)
          await this.deps.core.endSession(conn, 'media-lost', endError('media-lost', { mediaReason: l.reason }));
        await this.deps.nodes.deleteLostSession(l);
        if (conn) result.ended['media-lost']++;
        else result.skipped++;
      }),
      ...due.map((d) => async () => {
        if (d.kind === 'feed') {
          if (await this.deps.core.finishFeed(d.channelKey, isAlive)) result.feeds++;
          else result.skipped++;
          return;
        }
        const conn = await this.deps.store.getConnectionForSweep(d.connectionId);
        // resume.v1's states (suspended, resuming, attached, a replay still owed) are the core's to judge.
        if (conn && (await this.deps.core.sweepResumable(conn, isAlive))) {
          result.resumable++;
          return;
        }
        const verdict = conn && judge(conn, this.deps.clock.now());
        if (!conn || !verdict) {
          result.skipped++;
          return;
        }
        await this.deps.core.endSession(conn, verdict.reason, verdict.error);
        result.ended[verdict.reason]++;
      }),
    ];
    await this.pool(items, result, { shard });
  }

  private async sweepDeadNode(node: MediaNodeRecord, owned: Set<number>, result: SweepResult): Promise<void> {
    const ids = await this.deps.store.listOnNode(node.nodeId, 10_000);
    if (ids.length === 0) {
      // Nothing left on it (every shard's sweep ended its part): forget the node.
      await this.deps.nodes.retireNode(node);
      this.deps.log.info('voice.node-retired', { nodeId: node.nodeId, heartbeatAt: node.heartbeatAt });
      return;
    }
    const mine = ids.filter((id) => owned.has(sweepShardOf(id))).slice(0, this.limits.maxItemsPerShard * owned.size);
    await this.pool(
      mine.map((id) => async () => {
        const conn = await this.deps.store.getConnectionForSweep(id);
        if (!conn || conn.nodeId !== node.nodeId) {
          result.skipped++;
          return;
        }
        await this.deps.core.endSession(conn, 'media-lost', endError('media-lost', { nodeStopped: true }));
        result.ended['node-dead']++;
      }),
      result,
      { nodeId: node.nodeId },
    );
  }

  /** Runs items `concurrency` at a time; an item not done within itemTimeoutMs is left running, and counted failed. */
  private async pool(
    items: (() => Promise<void>)[],
    result: SweepResult,
    where: Record<string, unknown>,
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++]!;
        const work = item().catch((err) => {
          result.failed++;
          this.deps.log.warn('voice.sweep-item-failed', { ...where, error: (err as Error)?.message ?? String(err) });
        });
        this.stragglers.add(work);
        void work.finally(() => this.stragglers.delete(work));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          work.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.limits.itemTimeoutMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          result.failed++;
          this.deps.log.warn('voice.sweep-item-slow', { ...where, afterMs: this.limits.itemTimeoutMs });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.limits.concurrency, items.length) }, worker));
  }
}
