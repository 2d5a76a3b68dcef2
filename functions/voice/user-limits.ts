// Per-user limits that hold across Lambda containers, kept without a hot key and without a
// write per message. What one token may cost the service is bounded here:
//   - open streams (connection records) per user, at `$connect`;
//   - connects per user per minute, at `$connect`;
//   - joins per user per minute, and replacements (a join that takes the seat of the same user's other
//     session) per user per minute, at JoinChannel;
//   - sessions prepared but not joined, per user and per channel, at PrepareForJoinChannel (each holds an
//     admission reservation on its media node, which the node lets go after the same window: CreateTransports
//     `reserve_for_ms`).
// The counts live in the state table (port below; adapters: dynamo-store.ts, memory-store.ts) as conditional
// writes, so every container sees the same counts: items keyed by user (`USER#<userId>`) or by channel, never one
// shared item; rate counters in one item per user and minute, expiring after it; the sets of live ids carry each
// id's own expiry, so an entry whose holder died (a crashed invocation) frees itself, and are pruned on the way.
// A refusal is `voice.rate-limited` with RetryInfo (429 at `$connect`) and changes nothing.
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import { ErrorId, VoiceError } from '../../protocol/errors';
import type { Clock, ConnectionRecord, ConnectionState } from './ports';
import { stateRule } from './protocol-table';

export interface UserLimitSettings {
  /** Connection records of one user at once (a resumed session counts its first and its current connection). */
  maxStreamsPerUser: number;
  /** `$connect`s of one user per minute (resume.v1 reconnects and renewals included). */
  connectsPerUserPerMinute: number;
  /** JoinChannel attempts of one user per minute (replacements included). */
  joinsPerUserPerMinute: number;
  /** Joins of one user that replaced the same user's session, per minute: once reached, the user's joins wait. */
  replacementsPerUserPerMinute: number;
  /** Sessions of one user prepared (transports made, admission reserved) and not yet joined. */
  maxPreparedPerUser: number;
  /** Sessions of one channel prepared and not yet joined (never more waiting than a full channel holds). */
  maxPreparedPerChannel: number;
}

/** Generous for every honest client (docs/configuration.md "Per-user limits" says why each is out of an honest client's reach). */
export const DEFAULT_USER_LIMITS: UserLimitSettings = {
  maxStreamsPerUser: 10,
  connectsPerUserPerMinute: 60,
  joinsPerUserPerMinute: 20,
  replacementsPerUserPerMinute: 10,
  maxPreparedPerUser: 4,
  maxPreparedPerChannel: 100,
};

/** The counted events of a user's minute. */
export type RateEvent = 'connects' | 'joins' | 'replacements';

/** A set of live ids held against a maximum. */
export type LimitedSet =
  | { kind: 'streams'; userId: string }
  | { kind: 'prepared'; userId: string }
  | { kind: 'channel-prepared'; channelKey: string };

export type SetAdmission =
  | { admitted: true }
  | { admitted: false /** epoch ms when the oldest live entry expires */; freeAt: number };

/** What the limits need of the state store (DynamoDB: conditional writes on per-user and per-channel items). */
export interface UserLimitStore {
  /**
   * Counts one `event` of the user in minute `window` (epoch minutes) if fewer than `limit` are counted there and
   * every guard's event is below its limit; false (nothing counted) otherwise. `limit` undefined: always counted.
   */
  countUserEvent(
    userId: string,
    window: number,
    event: RateEvent,
    limit: number | undefined,
    guards?: readonly { event: RateEvent; limit: number }[],
  ): Promise<boolean>;
  /**
   * Adds `id`, live until `until` (epoch ms), to the set unless it holds `max` entries live at `now` (entries past
   * their `until` are dropped on the way). Idempotent per id.
   */
  admitToSet(set: LimitedSet, id: string, until: number, max: number, now: number): Promise<SetAdmission>;
  /** Removes ids from their sets (absent ones are ignored). */
  releaseFromSets(entries: readonly { set: LimitedSet; id: string }[]): Promise<void>;
}

/** The minute window of an epoch-ms time, and the seconds left in it (at least 1). */
export function windowOf(nowMs: number): { window: number; retryAfterSeconds: number } {
  const window = Math.floor(nowMs / 60_000);
  return { window, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * 60_000 - nowMs) / 1000)) };
}

/**
 * A container's memory of the minute counts the store refused. A refused count cannot come back within its minute,
 * so the same user's next attempts in this container are refused without asking the store: a flood past the limit
 * costs no DynamoDB request. Bounded (oldest forgotten first); never the truth — the store is, for every container.
 */
export class RefusedMinutes {
  private readonly until = new Map<string, number>();

  constructor(private readonly max = 10_000) {}

  refused(key: string, now: number): boolean {
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(key);
    return false;
  }

  remember(key: string, until: number): void {
    this.until.delete(key);
    this.until.set(key, until);
    while (this.until.size > this.max) this.until.delete(this.until.keys().next().value!);
  }
}

/** What a client with no stream to spare is told to wait: it must close one of its other streams first. */
const STREAMS_RETRY_AFTER_S = 10;
/** A prepared slot frees at its holder's join (usually well within a second) or at the latest when its window ends. */
const PREPARED_RETRY_AFTER_MAX_S = 10;

export interface UserLimitsDeps {
  store: UserLimitStore;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  settings: UserLimitSettings;
  /** How long a prepared session may wait to join (prepare step + JoinChannel window + the join step). */
  preparedForMs: number;
  /** The container's RefusedMinutes (one per container, shared by its invocations); none: always ask the store. */
  refusedMinutes?: RefusedMinutes;
}

export class UserLimits {
  constructor(private readonly deps: UserLimitsDeps) {}

  get settings(): UserLimitSettings {
    return this.deps.settings;
  }

  /** `$connect` of `connectionId`, open until `expiresAtMs`: counted, or refused (429) changing nothing. */
  async admitConnection(userId: string, connectionId: string, expiresAtMs: number): Promise<void> {
    const { settings, store, clock } = this.deps;
    const now = clock.now();
    const { window, retryAfterSeconds } = windowOf(now);
    if (!(await this.count(userId, window, 'connects', settings.connectsPerUserPerMinute))) {
      throw this.refused(
        'connects',
        userId,
        `more than ${settings.connectsPerUserPerMinute} connections a minute for this user; try again later`,
        retryAfterSeconds,
      );
    }
    const streams = await store.admitToSet(
      { kind: 'streams', userId },
      connectionId,
      expiresAtMs,
      settings.maxStreamsPerUser,
      now,
    );
    if (!streams.admitted) {
      throw this.refused(
        'streams',
        userId,
        `this user already has ${settings.maxStreamsPerUser} open voice streams; close one first`,
        STREAMS_RETRY_AFTER_S,
      );
    }
  }

  /** PrepareForJoinChannel of a claimed (`preparing`) stream: a slot for the user and one in the channel, or refused. */
  async admitPrepare(conn: ConnectionRecord): Promise<void> {
    const { settings, store, clock } = this.deps;
    const now = clock.now();
    const until = now + this.deps.preparedForMs;
    const user = { kind: 'prepared', userId: conn.userId } as const;
    const mine = await store.admitToSet(user, conn.connectionId, until, settings.maxPreparedPerUser, now);
    if (!mine.admitted) {
      throw this.refused(
        'prepared',
        conn.userId,
        `this user already has ${settings.maxPreparedPerUser} sessions waiting to join; join or close them first`,
        freeIn(mine.freeAt, now),
      );
    }
    const channel = await store.admitToSet(
      { kind: 'channel-prepared', channelKey: channelOf(conn) },
      conn.connectionId,
      until,
      settings.maxPreparedPerChannel,
      now,
    );
    if (!channel.admitted) {
      await store.releaseFromSets([{ set: user, id: conn.connectionId }]);
      throw this.refused(
        'channel-prepared',
        conn.userId,
        `${settings.maxPreparedPerChannel} sessions are already waiting to join this channel; try again shortly`,
        freeIn(channel.freeAt, now),
      );
    }
  }

  /** A prepare that failed after its admission gives its slots back. */
  async prepareFailed(conn: ConnectionRecord): Promise<void> {
    await this.release(conn, true, false);
  }

  /** JoinChannel: counted, or refused (the user's joins, or its replacements, of this minute are used up). */
  async admitJoin(conn: ConnectionRecord): Promise<void> {
    const { settings, clock } = this.deps;
    const { window, retryAfterSeconds } = windowOf(clock.now());
    const admitted = await this.count(conn.userId, window, 'joins', settings.joinsPerUserPerMinute, [
      { event: 'replacements', limit: settings.replacementsPerUserPerMinute },
    ]);
    if (!admitted) {
      throw this.refused(
        'joins',
        conn.userId,
        `more than ${settings.joinsPerUserPerMinute} joins (or ${settings.replacementsPerUserPerMinute} replacements of this user's own session) a minute for this user; try again later`,
        retryAfterSeconds,
      );
    }
  }

  /** A join committed: its prepared slots are free, and a replacement is counted. Never throws (logged). */
  async joined(conn: ConnectionRecord, replaced: number): Promise<void> {
    const { store, clock } = this.deps;
    await Promise.all([
      this.release(conn, true, false),
      replaced > 0
        ? store.countUserEvent(conn.userId, windowOf(clock.now()).window, 'replacements', undefined)
        : undefined,
    ]).catch((err) =>
      this.deps.log.warn('voice.user-limits-update-failed', {
        connectionId: conn.connectionId,
        userId: conn.userId,
        error: (err as Error).message,
      }),
    );
  }

  /**
   * A connection record is gone (its session ended, an alias dropped, a `$connect` that failed after its
   * admission): its stream, and its prepared slots if it was still waiting to join, are free. Never throws:
   * an entry left behind frees itself at its expiry.
   */
  async ended(record: ConnectionRecord, previousState?: ConnectionState): Promise<void> {
    // Its state held a prepared slot (protocol-table.ts: it made transports and had not joined).
    const pending =
      previousState !== undefined && stateRule(previousState).preparedSlot && record.guildId !== undefined;
    await this.release(record, pending, true).catch((err) =>
      this.deps.log.warn('voice.user-limits-update-failed', {
        connectionId: record.connectionId,
        userId: record.userId,
        error: (err as Error).message,
      }),
    );
  }

  /** Counts an event of the user's minute unless this container already saw that minute refused. */
  private async count(
    userId: string,
    window: number,
    event: RateEvent,
    limit: number,
    guards?: readonly { event: RateEvent; limit: number }[],
  ): Promise<boolean> {
    const memo = this.deps.refusedMinutes;
    const key = `${event}:${userId}:${window}`;
    if (memo?.refused(key, this.deps.clock.now())) return false;
    const counted = await this.deps.store.countUserEvent(userId, window, event, limit, guards);
    if (!counted) memo?.remember(key, (window + 1) * 60_000);
    return counted;
  }

  private async release(conn: ConnectionRecord, prepared: boolean, stream: boolean): Promise<void> {
    const entries: { set: LimitedSet; id: string }[] = [];
    if (stream) entries.push({ set: { kind: 'streams', userId: conn.userId }, id: conn.connectionId });
    if (prepared) {
      entries.push({ set: { kind: 'prepared', userId: conn.userId }, id: conn.connectionId });
      if (conn.guildId !== undefined)
        entries.push({ set: { kind: 'channel-prepared', channelKey: channelOf(conn) }, id: conn.connectionId });
    }
    if (entries.length > 0) await this.deps.store.releaseFromSets(entries);
  }

  private refused(limit: string, userId: string, message: string, retryAfterSeconds: number): VoiceError {
    this.deps.log.info('voice.user-limited', { userId, limit, retryAfterSeconds });
    this.deps.metrics?.count(METRIC.userLimited, 1, { Limit: limit });
    return new VoiceError(ErrorId.rateLimited, message, { retryAfterSeconds });
  }
}

function channelOf(conn: ConnectionRecord): string {
  return `${conn.guildId}:${conn.channelId}`;
}

function freeIn(freeAt: number, now: number): number {
  return Math.min(PREPARED_RETRY_AFTER_MAX_S, Math.max(1, Math.ceil((freeAt - now) / 1000)));
}
