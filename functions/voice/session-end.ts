// Every way a session ends ($disconnect, a 410, a fatal step, the sweep, the history saying it left), in one
// place: ending is a claim (`closing`), so it happens once whoever asks first; the client is told why (the end
// reasons' table, end-reasons.ts), its stream slot is freed, the media room is left (the node writes the leave to
// the room's history once) and the channel's feed announces it. A leave the node did not confirm keeps the record
// `closing` for the sweep to finish. resume.v1: a session that may be suspended (protocol-table.ts) waits for its
// client instead of ending when its socket goes away.
import type { VoiceError } from '../../protocol/errors';
import { errorFrameOf } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import type { ChannelPlacement } from './channel-placement';
import { END_REASONS, type EndReason } from './end-reasons';
import type { VoiceLimits } from './limits';
import {
  socketOf,
  type Clock,
  type ConnectionRecord,
  type ConnectionState,
  type Gateway,
  type MediaClient,
  type StateStore,
} from './ports';
import { deadlineAt, stateRule } from './protocol-table';
import type { Races } from './races';
import { logIds, onNode, resolveRecord, roomOf } from './records';
import type { SessionResume } from './session-resume';
import type { UserLimits } from './user-limits';

export interface SessionEndDeps {
  store: StateStore;
  media: MediaClient;
  gateway: Gateway;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  races: Races;
  limits: VoiceLimits;
  userLimits: UserLimits;
  placement: Pick<ChannelPlacement, 'isAlive'>;
  resumption: Pick<SessionResume, 'suspend'>;
  /** Delivers the channel's pending history (history-sync.ts); false when it failed (the sweep finishes it). */
  announce(conn: ConnectionRecord): Promise<boolean>;
}

/** A session claimed for ending (claim), to be finished (finish). */
export interface EndClaim {
  claimed: ConnectionRecord;
  previousState: ConnectionState | undefined;
}

export class SessionEnd {
  constructor(private readonly deps: SessionEndDeps) {}

  /** `$disconnect`. `normalClose`: the socket ended with status 1000 (a client leaving on purpose): never suspended. */
  async disconnect(connectionId: string, options: { normalClose?: boolean } = {}): Promise<void> {
    const { conn, alias, stale } = await resolveRecord(this.deps.store, connectionId);
    if (alias && stale) await this.forget(alias); // its session moved on (or ended)
    if (!conn) return;
    if (stale) return this.deps.races.lost('disconnect-of-old-socket', { connectionId, sessionId: conn.connectionId });
    // resume.v1: a session that can be resumed waits for its client (suspended) instead of ending.
    if (!options.normalClose && (await this.deps.resumption.suspend(conn, connectionId, 'disconnected'))) {
      if (alias) await this.forget(alias);
      return;
    }
    await this.end(conn, 'disconnected');
    if (alias) await this.forget(alias);
  }

  /**
   * A post to `socket` found it gone (410): the session it carried is suspended (resume.v1) or ended. Nothing
   * happens when the session has moved to another socket meanwhile.
   */
  async socketGone(sessionId: string, socket: string): Promise<void> {
    const conn = await this.deps.store.getConnection(sessionId);
    if (!conn) return;
    if (await this.deps.resumption.suspend(conn, socket, 'gone')) return;
    await this.end(conn, 'gone');
  }

  /**
   * Ends a session exactly once: claims it (state `closing`), optionally tells the client why and closes
   * the socket, and leaves the media room. The leave is in the room's history (written by the node, once),
   * and the channel's feed announces it. A leave the node did not confirm (slow, hung) keeps the record
   * `closing`, and the sweep finishes it: the node may still carry it out, and then it must be announced.
   */
  async end(target: string | ConnectionRecord, reason: EndReason, error?: VoiceError): Promise<void> {
    const claim = await this.claim(target, reason, error);
    if (claim) await this.finish(claim, reason);
  }

  /**
   * The first half of ending a session: claims it (`closing`; undefined when another invocation is ending it),
   * tells the client why and closes its socket. The record stays `closing` until finish (or the sweep) ends it.
   */
  async claim(target: string | ConnectionRecord, reason: EndReason, error?: VoiceError): Promise<EndClaim | undefined> {
    const { store, clock } = this.deps;
    let conn = typeof target === 'string' ? await store.getConnection(target) : target;
    let claimed: ConnectionRecord | undefined;
    let previousState: ConnectionState | undefined;
    for (let attempt = 0; conn && !claimed && attempt < 5; attempt++) {
      const stuckClosing = conn.state === 'closing' && (conn.deadline ?? 0) < clock.now();
      if (conn.state === 'closing' && !stuckClosing) return undefined; // another invocation is ending it
      previousState = conn.state;
      const result = await store.tryTransition(conn, {
        state: 'closing',
        deadline: deadlineAt('closing', this.deps.limits, clock.now()),
      });
      // Lost to another invocation: try again from the record as that one left it (no re-read).
      if (result.ok) claimed = result.record;
      else conn = result.current;
    }
    if (!claimed) return undefined;
    this.deps.log.info('voice.session-ending', { ...logIds(claimed), reason, from: previousState });
    // Its stream is over (the socket is gone, or closed below) even while the leave is still to be finished:
    // the user's stream slot, and its prepared slots if it was still waiting to join, are free.
    await this.deps.userLimits.ended(claimed, previousState);
    // A session with no socket (suspended, resume.v1) has nobody to tell; any other is told on the socket carrying it.
    if (previousState === undefined || stateRule(previousState).socket !== 'none') {
      const { gateway } = this.deps;
      if (error) await gateway.send(socketOf(claimed), errorFrameOf(error), claimed.variant).catch(() => 'gone');
      if (error || END_REASONS[reason].closeUntold) await gateway.close(socketOf(claimed)).catch(() => undefined);
    }
    return { claimed, previousState };
  }

  /** The second half: leaves the media room, announces what that wrote, and deletes the record. */
  async finish({ claimed, previousState }: EndClaim, reason: EndReason): Promise<void> {
    if (claimed.nodeId && claimed.guildId) {
      const roomId = roomOf(claimed);
      try {
        const left = await onNode(claimed, (node) =>
          this.deps.media.leave(node, { roomId, sessionId: claimed.connectionId }),
        );
        if (left.announced) this.deps.metrics?.count(METRIC.leaves);
        // A member — or a prepared session whose join ran late on a hung node, a join in flight, a retried leave
        // that may have landed late, a suspended (or resuming) session whose media died meanwhile (resume.v1) —
        // has history to announce: its leave entry, written by this call or when the node lost or replaced it.
        const mayHaveHistory = left.announced || (previousState !== undefined && stateRule(previousState).history);
        if (mayHaveHistory && !(await this.deps.announce(claimed))) return; // the sweep finishes it (record stays `closing`)
      } catch (err) {
        if (await this.deps.placement.isAlive(claimed.nodeId)) {
          // The node may carry the leave out later (it was slow or hung): keep the record `closing`, so the
          // sweep retries the (idempotent) leave and announces what the node's history then says.
          this.deps.log.warn('voice.leave-deferred', { ...logIds(claimed), reason, error: (err as Error).message });
          return;
        }
        // A dead node took its room with it; the sweep ends the other members' sessions.
        this.deps.log.info('voice.leave-skipped', { ...logIds(claimed), reason, why: 'media node is gone' });
      }
    }
    await this.deps.store.deleteConnection(claimed);
    this.deps.log.info('voice.session-ended', { ...logIds(claimed), reason });
    this.deps.metrics?.count(METRIC.sessionsEnded, 1, { Reason: END_REASONS[reason].metric });
  }

  /** Deletes an `attached` record (resume.v1 alias): its connection's stream slot is free. */
  async forget(record: ConnectionRecord): Promise<void> {
    await this.deps.store.deleteConnection(record);
    await this.deps.userLimits.ended(record);
  }
}
