// The voice protocol state machine (VOICE-PROTOCOL.md §3) over ports. No AWS, gRPC or WebSocket
// knowledge here: Lambda handlers and tests drive it; adapters carry out its effects.
//
// Concurrency model: on AWS, messages of one connection may be handled by concurrent invocations.
// Every step first claims the connection with a conditional transition (state + version), so a
// duplicate or out-of-order message loses the claim and is answered with an error, changing nothing.
// Membership has one truth and one order: the media room's history (media-node/src/room/room-ledger.ts), where
// a join is committed only once the node validated and meshed it and a leave once the node removed it.
// Members are told about it only by the channel's feed (channel-feed.ts), in that order, each entry once.
//
// This file is the entry points ($connect, $default, $disconnect, the sweep's hooks) and the wiring. The parts:
// the protocol table (protocol-table.ts: per state its rules, per client message the state it needs), the step
// runner (step-runner.ts) and the steps it runs (client-steps.ts), ending a session (session-end.ts, with the end
// reasons' table end-reasons.ts), streams following the history (history-sync.ts), replies (replies.ts), records
// (records.ts), limits (limits.ts); the extensions in their own modules (session-resume.ts, extension-negotiation.ts,
// relay-extension.ts, member-state.ts).
import { ErrorId, VoiceError } from '../../protocol/errors';
import { decodeClientFrame, errorFrameOf, fromWire, KEEPALIVE_FRAME, type Variant } from '../../protocol/hrpc';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import { ChannelFeed } from './channel-feed';
import { ChannelPlacement } from './channel-placement';
import { claimableStep, ClientSteps } from './client-steps';
import { endError, type EndReason } from './end-reasons';
import { ExtensionNegotiation } from './extension-negotiation';
import { HistorySync } from './history-sync';
import { DEFAULT_LIMITS, preparedForMs, type VoiceLimits } from './limits';
import { MemberStateControl } from './member-state';
import {
  ConflictError,
  socketOf,
  type ConnectionRecord,
  type Gateway,
  type MediaClient,
  type NodeDirectory,
  type Placement,
  type StateStore,
  type Clock,
} from './ports';
import { ExpectedRace, Races } from './races';
import { logIds, resolveRecord } from './records';
import type { RelayConfig } from './relay-credentials';
import { RelayExtension } from './relay-extension';
import { assertFits, Replies } from './replies';
import { SessionEnd } from './session-end';
import { SessionResume } from './session-resume';
import { StepRunner } from './step-runner';
import { DEFAULT_USER_LIMITS, UserLimits, type RefusedMinutes, type UserLimitSettings } from './user-limits';

// The public surface the adapters, benchmarks and tests import from here.
export { DEFAULT_LIMITS, type VoiceLimits } from './limits';
export { MAX_MEMBERS_THAT_FIT, MAX_SERVER_MESSAGE_BYTES } from './replies';
export type { EndReason } from './end-reasons';

export interface VoiceCoreDeps {
  store: StateStore;
  nodes: NodeDirectory;
  media: MediaClient;
  gateway: Gateway;
  policy: ChannelPolicy;
  clock: Clock;
  log: Logger;
  /** Operational metrics (EMF on AWS); none by default. */
  metrics?: Metrics;
  limits?: Partial<VoiceLimits>;
  /** Per-user limits (user-limits.ts); DEFAULT_USER_LIMITS by default. */
  userLimits?: Partial<UserLimitSettings>;
  /** The container's memory of refused minutes (user-limits.ts), shared by the cores of its invocations. */
  refusedMinutes?: RefusedMinutes;
  /** TURN relays for relay.v1 (relay-extension.ts); none: relay.v1 is not granted. */
  relays?: RelayConfig | (() => RelayConfig);
}

export class VoiceCore {
  private readonly limits: VoiceLimits;
  readonly feed: ChannelFeed;
  readonly resumption: SessionResume;
  readonly userLimits: UserLimits;
  private readonly placement: ChannelPlacement;
  private readonly negotiation: ExtensionNegotiation;
  private readonly relays: RelayExtension;
  private readonly races: Races;
  private readonly memberState: MemberStateControl;
  private readonly runner: StepRunner;
  private readonly steps: ClientSteps;
  private readonly ends: SessionEnd;
  private readonly sync: HistorySync;

  constructor(private readonly deps: VoiceCoreDeps) {
    const limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.limits = limits;
    const { store, media, gateway, clock, log, metrics } = deps;
    const races = new Races({ log, metrics });
    this.races = races;
    this.userLimits = new UserLimits({
      store,
      clock,
      log,
      metrics,
      settings: { ...DEFAULT_USER_LIMITS, ...deps.userLimits },
      // A prepared session may wait this long: the prepare step, the JoinChannel window, the join step.
      preparedForMs: preparedForMs(limits),
      refusedMinutes: deps.refusedMinutes,
    });
    this.feed = new ChannelFeed({
      store,
      media,
      gateway,
      clock,
      log,
      metrics,
      races,
      leaseMs: limits.feedLeaseMs,
      ttlSeconds: limits.connectionTtlSeconds,
      assertFits,
    });
    this.placement = new ChannelPlacement({
      store,
      nodes: deps.nodes,
      media,
      clock,
      log,
      holdMs: limits.prepareWithinMs + limits.stepWithinMs,
      placementLifetimeSeconds: 2 * limits.connectionTtlSeconds,
      nodeStaleAfterMs: limits.nodeStaleAfterMs,
    });
    this.resumption = new SessionResume({
      store,
      gateway,
      media,
      policy: deps.policy,
      clock,
      log,
      races,
      limits,
      announce: async (session, replayFor) => {
        await this.sync.tryAnnounce(session, replayFor);
      },
      endMediaLost: (session, error) => this.ends.end(session, 'media-lost', error),
    });
    this.ends = new SessionEnd({
      store,
      media,
      gateway,
      clock,
      log,
      metrics,
      races,
      limits,
      userLimits: this.userLimits,
      placement: this.placement,
      resumption: this.resumption,
      announce: (conn) => this.sync.tryAnnounce(conn),
    });
    this.sync = new HistorySync({ store, feed: this.feed, log, races, ends: this.ends });
    this.runner = new StepRunner({ store, clock, log, races, limits });
    this.steps = new ClientSteps({
      runner: this.runner,
      placement: this.placement,
      media,
      policy: deps.policy,
      clock,
      log,
      metrics,
      limits,
      userLimits: this.userLimits,
      replies: new Replies({ gateway, metrics, gone: (connectionId) => this.ends.end(connectionId, 'gone') }),
      resumption: this.resumption,
      ends: this.ends,
      sync: this.sync,
    });
    this.relays = new RelayExtension({ gateway, clock, log, relays: deps.relays });
    this.negotiation = new ExtensionNegotiation({ store, gateway, log, relays: this.relays });
    this.memberState = new MemberStateControl({
      media,
      policy: deps.policy,
      clock,
      log,
      announce: async (conn) => {
        await this.sync.tryAnnounce(conn);
      },
    });
  }

  // ---- $connect ----

  /**
   * Records an authenticated connection (the token was verified by the caller), within the user's limits: a
   * VoiceError `voice.rate-limited` (429 at `$connect`) when the user is over one, nothing recorded.
   */
  async connect(
    connectionId: string,
    principal: { userId: string; grants: string[]; moderates?: string[]; expiresAt?: number },
    variant: Variant,
    extensions: { resume?: boolean; ext?: boolean } = {},
  ): Promise<void> {
    const now = this.deps.clock.now();
    const tokenBound =
      principal.expiresAt === undefined
        ? Number.POSITIVE_INFINITY
        : principal.expiresAt + this.limits.tokenGraceSeconds;
    const record: ConnectionRecord = {
      connectionId,
      userId: principal.userId,
      grants: principal.grants,
      variant,
      state: 'connected',
      version: 1,
      connectedAt: now,
      deadline: this.runner.deadlineIn('connected'),
      expiresAt: Math.min(Math.ceil(now / 1000) + this.limits.connectionTtlSeconds, tokenBound),
      ...(principal.expiresAt !== undefined ? { tokenExpiresAt: principal.expiresAt } : {}),
      ...(extensions.resume ? { resume: true } : {}),
      ...(extensions.ext ? { ext: true } : {}),
      ...(principal.moderates?.length ? { moderates: principal.moderates } : {}),
    };
    await this.userLimits.admitConnection(record.userId, connectionId, record.expiresAt * 1000);
    try {
      await this.deps.store.putConnection(record);
    } catch (err) {
      await this.userLimits.ended(record);
      throw err;
    }
    this.deps.log.info('voice.connected', {
      connectionId,
      userId: principal.userId,
      variant,
      ...(extensions.resume ? { resume: true } : {}),
      ...(extensions.ext ? { ext: true } : {}),
    });
  }

  // ---- $default ----

  /** Handles one client frame (text for hrpc1.base64, bytes for hrpc1). Never throws. */
  async receive(connectionId: string, payload: string | Uint8Array): Promise<void> {
    if (payload === KEEPALIVE_FRAME) return;
    // Until the record is read, the frame's own kind is the best guess of the stream's variant.
    const guessed: Variant = typeof payload === 'string' ? 'base64' : 'binary';
    let conn: ConnectionRecord | undefined;
    try {
      // PrepareForJoinChannel and JoinChannel claim the stream without reading it first when they can.
      const early = claimableStep(payload, guessed);
      let read: { own: ConnectionRecord | undefined } | undefined;
      if (early) {
        const claim = await this.runner.claimOnArrival(connectionId, early.step, guessed);
        if (claim.ok) {
          conn = claim.before;
          return await this.steps.runEarly(early, claim.before, claim.record);
        }
        read = { own: claim.current }; // not claimable: on as if read (the same answers as every other frame)
      }
      const resolved = await resolveRecord(this.deps.store, connectionId, read);
      conn = resolved.conn;
      if (resolved.stale) {
        // resume.v1: a late frame of a socket whose session moved to another stream: it changes nothing.
        this.races.lost('frame-of-old-socket', { connectionId, sessionId: conn?.connectionId });
        await this.deps.gateway.close(connectionId).catch(() => undefined);
        return;
      }
      if (!conn) {
        // The session was already ended (timeout, replacement, reaper): say so, then close.
        await this.deps.gateway.send(
          connectionId,
          errorFrameOf(new VoiceError(ErrorId.notFound, 'this stream has no voice session (it was ended); reconnect')),
          guessed,
        );
        await this.deps.gateway.close(connectionId);
        return;
      }
      const frame = decodeClientFrame(fromWire(payload, conn.variant), conn.resume === true || conn.ext === true);
      if (frame.kind === 'ext') {
        const ext = frame.message.message!;
        if (ext.$case === 'hello') await this.negotiation.hello(conn, ext.value);
        // relay.v1: the stream asking is the one granted it (a resumed session's new stream: its own record, the alias).
        else if (ext.$case === 'refreshRelays')
          await this.relays.deliver(resolved.alias ?? conn, connectionId, (resolved.alias ?? conn).variant);
        else if (ext.$case === 'setSelfState') await this.memberState.setSelf(conn, ext.value);
        else if (ext.$case === 'moderate') await this.memberState.moderate(conn, ext.value);
        else await this.resumption.resume(conn, ext.value);
        return;
      }
      await this.steps.dispatch(conn, frame.request);
    } catch (err) {
      await this.fail(connectionId, conn, err, guessed);
    }
  }

  /** What a step that threw tells its client: a race is no error; a fatal error ends the session. */
  private async fail(
    connectionId: string,
    conn: ConnectionRecord | undefined,
    err: unknown,
    guessed: Variant,
  ): Promise<void> {
    if (err instanceof ExpectedRace || err instanceof ConflictError) {
      // The stream was ended by another invocation while this step ran; that invocation tells the client.
      this.races.lost(err instanceof ExpectedRace ? err.race : 'conflict', {
        connectionId,
        userId: conn?.userId,
        message: err.message,
      });
      return;
    }
    const error =
      err instanceof VoiceError
        ? err
        : new VoiceError(ErrorId.internal, 'the voice service failed to handle this message');
    if (!(err instanceof VoiceError)) {
      this.deps.metrics?.count(METRIC.internalErrors);
      this.deps.log.error('voice.internal-error', {
        connectionId,
        userId: conn?.userId,
        error: (err as Error)?.stack ?? String(err),
      });
    } else {
      this.deps.log.info('voice.rejected', {
        connectionId,
        userId: conn?.userId,
        identifier: error.identifier,
        message: error.humanMessage,
      });
    }
    if (conn && error.fatal) return this.ends.end(conn.connectionId, 'rejected', endError('rejected', error));
    try {
      // Even when the state could not be read (a store outage), the client hears why nothing happened.
      await this.deps.gateway.send(connectionId, errorFrameOf(error), conn?.variant ?? guessed);
    } catch (sendErr) {
      this.deps.log.error('voice.error-send-failed', { connectionId, error: (sendErr as Error).message });
    }
  }

  // ---- $disconnect and every other way a session ends (session-end.ts) ----

  /** `normalClose`: the socket ended with status 1000 (a client leaving on purpose): never suspended. */
  disconnect(connectionId: string, options: { normalClose?: boolean } = {}): Promise<void> {
    return this.ends.disconnect(connectionId, options);
  }

  /** Ends a session exactly once (session-end.ts); `error`: what its client is told (end-reasons.ts endError). */
  endSession(target: string | ConnectionRecord, reason: EndReason, error?: VoiceError): Promise<void> {
    return this.ends.end(target, reason, error);
  }

  /**
   * Delivers the channel's pending history and brings the streams it is about in line with it (history-sync.ts).
   * Throws (after doing all that) when delivery stopped on a failure: the feed is then stalled and the sweep finishes it.
   */
  announce(conn: ConnectionRecord | { channelKey: string; node: Placement }, replayFor?: string): Promise<void> {
    return this.sync.announce(conn, replayFor);
  }

  // ---- the reaper's part (functions/voice/sweep.ts calls these) ----

  /**
   * The sweep's part of the feed: a channel whose delivering invocation died (or failed) is finished from its
   * cursor on the node holding the room — or let go when that node is dead. False when it was not stalled (any more).
   */
  finishFeed(channelKey: string, isAlive: (nodeId: string) => boolean): Promise<boolean> {
    return this.sync.finishFeed(channelKey, isAlive, this.deps.clock.now());
  }

  /**
   * Tells a joined session something that does not end it (a media node's notice: its producer was paused by the
   * node's police). A session not joined now (ended, closing, suspended without a socket) is told nothing.
   */
  async tellSession(connectionId: string, error: VoiceError): Promise<boolean> {
    const conn = await this.deps.store.getConnection(connectionId);
    if (conn?.state !== 'joined') return false;
    this.deps.log.info('voice.session-told', { ...logIds(conn), identifier: error.identifier });
    return (
      (await this.deps.gateway.send(socketOf(conn), errorFrameOf(error), conn.variant).catch(() => 'gone' as const)) !==
      'gone'
    );
  }

  /**
   * The sweep's rules for the records resume.v1 adds (protocol-table.ts: `grace-over`, `drop-alias`, and a joined
   * session's `replay-owed`), for a due record: a suspended session past its grace ends (the ordinary leave); an
   * attached alias whose session moved on is dropped; a resumed session still waiting for its replay (the delivery
   * that took it failed) asks the feed again. True when the record was handled here.
   */
  async sweepResumable(conn: ConnectionRecord, isAlive: (nodeId: string) => boolean): Promise<boolean> {
    const now = this.deps.clock.now();
    const decision = await this.resumption.sweepDecision(conn, now);
    if (decision === undefined) return false;
    if (decision === 'drop-alias') await this.ends.forget(conn);
    else if (decision === 'end') await this.ends.end(conn, 'resume-grace-over');
    else if (decision === 'replay' && conn.nodeId && isAlive(conn.nodeId))
      await this.sync.tryAnnounce(conn, conn.connectionId);
    else if (decision === 'keep' && conn.nodeId && !isAlive(conn.nodeId)) {
      // Nobody to tell (no socket, or one still taking it over): endError gives none.
      await this.ends.end(conn, 'media-lost', endError('media-lost', undefined));
    } else if (decision === 'keep' && conn.expiresAt * 1000 <= now) {
      return false; // expired: judged as any other record
    }
    return true;
  }
}
