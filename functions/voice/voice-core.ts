// The voice protocol state machine (VOICE-PROTOCOL.md §3) over ports. No AWS, gRPC or WebSocket
// knowledge here: Lambda handlers and tests drive it; adapters carry out its effects.
//
// Concurrency model: on AWS, messages of one connection may be handled by concurrent invocations.
// Every step first claims the connection with a conditional transition (state + version), so a
// duplicate or out-of-order message loses the claim and is answered with an error, changing nothing.
// Membership has one truth and one order: the media room's history (media-node/src/room/room-ledger.ts), where
// a join is committed only once the node validated and meshed it and a leave once the node removed it.
// Members are told about it only by the channel's feed (channel-feed.ts), in that order, each entry once.
import type { StreamMessageRequest, StreamMessageResponse } from '../../gen/protocol/voice/v1/voice';
import { ErrorId, VoiceError } from '../../protocol/errors';
import {
  decodeClientFrame,
  encodeResponseFrame,
  errorFrameOf,
  fromWire,
  KEEPALIVE_FRAME,
  MAX_MESSAGE_BYTES,
  normalizeId,
  type Variant,
} from '../../protocol/hrpc';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import { MAX_USER_CONSUMER_OPTIONS_BYTES } from '../../media-node/api/limits';
import { ChannelFeed } from './channel-feed';
import { ChannelPlacement } from './channel-placement';
import { mediaErrorToVoiceError, mediaLostError } from './media-errors';
import { SessionResume } from './session-resume';
import { DEFAULT_USER_LIMITS, UserLimits, type RefusedMinutes, type UserLimitSettings } from './user-limits';
import { ExtensionNegotiation } from './extension-negotiation';
import { RelayExtension } from './relay-extension';
import type { RelayConfig } from './relay-credentials';
import { ExpectedRace, Races } from './races';
import { MemberStateControl } from './member-state';
import {
  ConflictError,
  socketOf,
  type Clock,
  type ConnectionRecord,
  type ConnectionState,
  type Gateway,
  type MediaClient,
  type NodeDirectory,
  type Placement,
  type StateStore,
} from './ports';

export interface VoiceLimits {
  /** A client must send Initialize this soon after connecting, PrepareForJoinChannel after Initialized, ... */
  initializeWithinMs: number;
  prepareWithinMs: number;
  joinWithinMs: number;
  /** How long a claimed ("…ing") step may take before the sweep treats it as stuck. */
  stepWithinMs: number;
  /** API Gateway closes connections after 2 hours; records outlive that a little, for cleanup. */
  connectionTtlSeconds: number;
  /** A node whose heartbeat is older than this is dead: its channels are re-placed. */
  nodeStaleAfterMs: number;
  maxMembersPerChannel: number;
  /** How long a channel's delivery lease lasts (ChannelFeed). */
  feedLeaseMs: number;
  /**
   * resume.v1: how long a session whose socket went away waits for a resume. Its transports are created with an
   * ICE consent timeout of at least this (CreateTransports `min_ice_consent_timeout_s`, capped at 120 s by the
   * node), so its media survives the grace even when the client's network changed.
   */
  resumeGraceMs: number;
  /**
   * How long a stream may outlive its token's `exp` (VOICE_TOKEN_GRACE_SECONDS): the record expires then and the
   * sweep ends the session with `voice.token-expired`. resume.v1 clients renew before it by resuming on a new
   * socket with a fresh token (the SDK does, web/src/voice-client.ts).
   */
  tokenGraceSeconds: number;
}

export const DEFAULT_LIMITS: VoiceLimits = {
  initializeWithinMs: 30_000,
  prepareWithinMs: 30_000,
  joinWithinMs: 60_000,
  stepWithinMs: 30_000,
  connectionTtlSeconds: 2 * 3600 + 600,
  nodeStaleAfterMs: 15_000,
  maxMembersPerChannel: 100,
  feedLeaseMs: 15_000,
  resumeGraceMs: 30_000,
  tokenGraceSeconds: 120,
};

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

/** A session claimed for ending (claimEnd), to be finished (finishEnd). */
interface EndClaim {
  claimed: ConnectionRecord;
  previousState: ConnectionState | undefined;
}

type EndReason =
  | 'disconnected'
  | 'rejected'
  | 'gone'
  | 'replaced'
  | 'timeout'
  | 'media-lost'
  | 'expired'
  | 'stuck'
  | 'resume-grace-over'
  | 'undeliverable';

export class VoiceCore {
  private readonly limits: VoiceLimits;
  readonly feed: ChannelFeed;
  readonly resumption: SessionResume;
  private readonly placement: ChannelPlacement;
  readonly userLimits: UserLimits;
  private readonly negotiation: ExtensionNegotiation;
  private readonly relays: RelayExtension;
  private readonly races: Races;
  private readonly memberState: MemberStateControl;

  constructor(private readonly deps: VoiceCoreDeps) {
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
    this.races = new Races({ log: deps.log, metrics: deps.metrics });
    this.userLimits = new UserLimits({
      store: deps.store,
      clock: deps.clock,
      log: deps.log,
      metrics: deps.metrics,
      settings: { ...DEFAULT_USER_LIMITS, ...deps.userLimits },
      // A prepared session may wait this long: the prepare step, the JoinChannel window, the join step.
      preparedForMs: this.preparedForMs(),
      refusedMinutes: deps.refusedMinutes,
    });
    this.feed = new ChannelFeed({
      store: deps.store,
      media: deps.media,
      gateway: deps.gateway,
      clock: deps.clock,
      log: deps.log,
      metrics: deps.metrics,
      races: this.races,
      leaseMs: this.limits.feedLeaseMs,
      ttlSeconds: this.limits.connectionTtlSeconds,
      assertFits,
    });
    this.placement = new ChannelPlacement({
      store: deps.store,
      nodes: deps.nodes,
      media: deps.media,
      clock: deps.clock,
      log: deps.log,
      holdMs: this.limits.prepareWithinMs + this.limits.stepWithinMs,
      placementLifetimeSeconds: 2 * this.limits.connectionTtlSeconds,
      nodeStaleAfterMs: this.limits.nodeStaleAfterMs,
    });
    this.resumption = new SessionResume({
      store: deps.store,
      gateway: deps.gateway,
      media: deps.media,
      policy: deps.policy,
      clock: deps.clock,
      log: deps.log,
      races: this.races,
      graceMs: this.limits.resumeGraceMs,
      stepWithinMs: this.limits.stepWithinMs,
      connectionTtlSeconds: this.limits.connectionTtlSeconds,
      announce: async (session, replayFor) => {
        await this.tryAnnounce(session, replayFor);
      },
      endMediaLost: (session, error) => this.endSession(session, 'media-lost', error),
    });
    this.relays = new RelayExtension({ gateway: deps.gateway, clock: deps.clock, log: deps.log, relays: deps.relays });
    this.negotiation = new ExtensionNegotiation({
      store: deps.store,
      gateway: deps.gateway,
      log: deps.log,
      relays: this.relays,
    });
    this.memberState = new MemberStateControl({
      media: deps.media,
      policy: deps.policy,
      clock: deps.clock,
      log: deps.log,
      announce: async (conn) => {
        await this.tryAnnounce(conn);
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
      deadline: this.deadlineIn('connected'),
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

  /**
   * The record a frame or event of `connectionId` acts on: its own, or (resume.v1) the session it was
   * attached to by a resume. `stale` when the connection no longer carries that session (an old socket).
   */
  private async resolve(
    connectionId: string,
    read?: { own: ConnectionRecord | undefined },
  ): Promise<{ conn?: ConnectionRecord; alias?: ConnectionRecord; stale: boolean }> {
    const own = read ? read.own : await this.deps.store.getConnection(connectionId);
    if (own?.state !== 'attached') return { conn: own, stale: own !== undefined && socketOf(own) !== connectionId };
    const session = own.sessionId ? await this.deps.store.getConnection(own.sessionId) : undefined;
    return { conn: session, alias: own, stale: !session || socketOf(session) !== connectionId };
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
        const claim = await this.deps.store.claimFrom(
          connectionId,
          early.from,
          guessed,
          { state: early.to, deadline: this.deadlineIn(early.to) },
          this.deps.clock.now(),
        );
        if (claim.ok) {
          conn = claim.before;
          if (early.kind === 'prepare') return await this.prepare(claim.before, early.rtpCapabilities, claim.record);
          return await this.joinStep(claim.before, early.msg, claim.record);
        }
        read = { own: claim.current }; // not claimable: on as if read (the same answers as every other frame)
      }
      const resolved = await this.resolve(connectionId, read);
      conn = resolved.conn;
      if (resolved.stale) {
        // resume.v1: a late frame of a socket whose session moved to another stream: it changes nothing.
        this.race('frame-of-old-socket', { connectionId, sessionId: conn?.connectionId });
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
      await this.dispatch(conn, frame.request);
    } catch (err) {
      await this.fail(connectionId, conn, err, guessed);
    }
  }

  private async dispatch(conn: ConnectionRecord, request: StreamMessageRequest): Promise<void> {
    const message = request.message!;
    switch (message.$case) {
      case 'initialize':
        return this.initialize(conn, message.value.guildId, message.value.channelId);
      case 'prepareForJoinChannel':
        return this.prepare(conn, message.value.rtpCapabilities);
      case 'joinChannel':
        return this.joinStep(conn, message.value);
      case 'resumeConsumer':
        return this.resume(conn, message.value.consumerId);
    }
  }

  /** JoinChannel, its failures counted by identifier (a lost race is not a failure). `claimed`: see join(). */
  private joinStep(conn: ConnectionRecord, msg: JoinMessage, claimed?: ConnectionRecord): Promise<void> {
    return this.join(conn, msg, claimed).catch((err) => {
      if (!(err instanceof ExpectedRace || err instanceof ConflictError)) {
        this.deps.metrics?.count(METRIC.joinFailures, 1, {
          Identifier: err instanceof VoiceError ? err.identifier : ErrorId.internal,
        });
      }
      throw err;
    });
  }

  private async initialize(conn: ConnectionRecord, guildId: bigint, channelId: bigint): Promise<void> {
    requireState(conn, 'connected', 'Initialize must be the first and only Initialize of a stream');
    if (guildId === 0n) throw new VoiceError(ErrorId.badGuildId, 'guild_id 0 is not a guild');
    if (channelId === 0n) throw new VoiceError(ErrorId.badChannelId, 'channel_id 0 is not a channel');
    await this.deps.policy.authorize({ userId: conn.userId, grants: conn.grants }, guildId, channelId);

    const roomId = `${guildId}:${channelId}`;
    const claimed = await this.claim(conn, {
      state: 'initializing',
      guildId: guildId.toString(),
      channelId: channelId.toString(),
    });
    let next: ConnectionRecord;
    let rtpCapabilities: string;
    try {
      const opened = await this.placement.open(roomId);
      rtpCapabilities = opened.rtpCapabilities;
      next = await this.advance(claimed, {
        state: 'initialized',
        nodeId: opened.placement.nodeId,
        nodeAddress: opened.placement.grpcAddress,
        deadline: this.deadlineIn('initialized'),
      });
    } catch (err) {
      await this.revert(claimed, 'connected');
      throw err;
    }
    this.deps.log.info('voice.initialized', logIds(next));
    await this.send(next, { message: { $case: 'initialized', value: { rtpCapabilities } } });
  }

  /** `early`: the stream was claimed on arrival (claimableStep: the same checks passed, it was initialized). */
  private async prepare(conn: ConnectionRecord, rtpCapabilities: string, early?: ConnectionRecord): Promise<void> {
    if (!early) {
      requireState(conn, 'initialized', 'PrepareForJoinChannel must follow Initialized, once');
      checkPrepare(rtpCapabilities);
    }
    const claimed = early ?? (await this.claim(conn, { state: 'preparing' }));
    try {
      await this.userLimits.admitPrepare(claimed);
    } catch (err) {
      await this.revert(claimed, 'initialized');
      throw err;
    }
    let prepared = false;
    try {
      const transports = await this.media(claimed, (node) =>
        this.deps.media.createTransports(node, {
          roomId: roomOf(claimed),
          sessionId: claimed.connectionId,
          userId: claimed.userId,
          rtpCapabilities,
          // resume.v1: the session's media outlives its socket for the whole grace, even if the network changed.
          ...(claimed.resume ? { minIceConsentTimeoutS: Math.ceil(this.limits.resumeGraceMs / 1000) } : {}),
          // Its admission reservation on the node lasts as long as it may wait to join (UserLimits' window).
          reserveForMs: this.preparedForMs(),
          // consumers.v1: the session's consumers are created resumed (its client sends no ResumeConsumer).
          ...(claimed.consumersResumed ? { consumersResumed: true } : {}),
        }),
      );
      const next = await this.advance(claimed, { state: 'prepared', deadline: this.deadlineIn('prepared') });
      prepared = true;
      this.deps.log.info('voice.prepared', logIds(next));
      const toWire = (t: typeof transports.consumerTransport) => ({
        id: t.id,
        dtlsParameters: t.dtlsParameters,
        iceCandidates: t.iceCandidates,
        iceParameters: t.iceParameters,
      });
      await this.send(next, {
        message: {
          $case: 'preparedForJoinChannel',
          value: {
            consumerTransportOptions: toWire(transports.consumerTransport),
            producerTransportOptions: toWire(transports.producerTransport),
          },
        },
      });
    } catch (err) {
      if (!prepared) await this.userLimits.prepareFailed(claimed).catch(() => undefined);
      await this.revert(claimed, 'initialized');
      throw err;
    }
  }

  /**
   * JoinChannel. The media node's join is the commit point: it validates everything first (a rejected
   * join changes nothing — no seat taken, no session replaced), then meshes the joiner, takes the seat from
   * the same user's previous session and writes both to the room's history. The feed then tells everyone.
   */
  private async join(conn: ConnectionRecord, msg: JoinMessage, early?: ConnectionRecord): Promise<void> {
    const started = this.deps.clock.now();
    let claimed: ConnectionRecord;
    if (early) {
      // Claimed on arrival (joinClaimable: the same checks passed, the stream was prepared): counted after the claim.
      claimed = early;
      try {
        await this.userLimits.admitJoin(conn);
      } catch (err) {
        await this.revert(claimed, 'prepared', conn.deadline);
        throw err;
      }
    } else {
      requireState(conn, 'prepared', 'JoinChannel must follow PreparedForJoinChannel, once');
      checkJoin(msg);
      await this.userLimits.admitJoin(conn);
      claimed = await this.claim(conn, { state: 'joining' });
    }
    const channelKey = roomOf(conn);
    let result: Awaited<ReturnType<MediaClient['join']>>;
    try {
      result = await this.media(claimed, (node) =>
        this.deps.media.join(node, {
          roomId: channelKey,
          sessionId: claimed.connectionId,
          rtpParameters: msg.rtpParamaters,
          producerDtlsParameters: msg.producerDtlsParamaters,
          consumerDtlsParameters: msg.consumerDtlsParamaters,
          maxMembers: this.limits.maxMembersPerChannel,
        }),
      );
    } catch (err) {
      // A failed join leaves the stream prepared within its original window (JoinChannel within
      // VOICE_JOIN_WITHIN_MS of PreparedForJoinChannel, however many attempts).
      await this.revert(claimed, 'prepared', conn.deadline);
      throw err;
    }
    // From here the join is a fact of the channel's history, whatever happens to this stream.
    try {
      // resume.v1: a stream that opted in gets the session's credential with its joined state.
      const issued = claimed.resume ? SessionResume.issue(claimed.userId, claimed.connectionId) : undefined;
      const joined = await this.deps.store.transition(claimed, {
        state: 'joined',
        deadline: undefined,
        ...(issued ? { credentialHash: issued.hash } : {}),
      });
      this.deps.log.info('voice.joined', { ...logIds(joined), others: result.forJoiner.length, seq: result.seq });
      if (issued) await this.resumption.sendCredential(joined, issued.credential);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // The stream is being ended meanwhile (closed right after JoinChannel): its end leaves the room, and
      // the history announces the join and the leave in order.
      this.race('join-overtaken', logIds(claimed));
    }
    await Promise.all(result.replaced.map((sessionId) => this.endSession(sessionId, 'replaced', replacedError())));
    await this.tryAnnounce(claimed);
    this.deps.metrics?.timing(METRIC.joinLatency, this.deps.clock.now() - started);
    this.deps.metrics?.count(METRIC.joins);
    await this.userLimits.joined(claimed, result.replaced.length);
  }

  private async resume(conn: ConnectionRecord, consumerId: string): Promise<void> {
    // `joining` too: JoinedChannel can reach the client before its join's own invocation wrote `joined`.
    if (conn.state !== 'joining') requireState(conn, 'joined', 'ResumeConsumer needs a joined channel');
    const id = normalizeId(consumerId);
    if (!id) throw new VoiceError(ErrorId.unknownConsumer, 'consumer_id is empty');
    await this.media(conn, (node) =>
      this.deps.media.resumeConsumer(node, { roomId: roomOf(conn), sessionId: conn.connectionId, consumerId: id }),
    );
    this.deps.log.info('voice.consumer-resumed', { ...logIds(conn), consumerId: id });
  }

  // ---- $disconnect and every other way a session ends ----

  /** `normalClose`: the socket ended with status 1000 (a client leaving on purpose): never suspended. */
  async disconnect(connectionId: string, options: { normalClose?: boolean } = {}): Promise<void> {
    const { conn, alias, stale } = await this.resolve(connectionId);
    if (alias && stale) await this.forget(alias); // its session moved on (or ended)
    if (!conn) return;
    if (stale) return this.race('disconnect-of-old-socket', { connectionId, sessionId: conn.connectionId });
    // resume.v1: a session that can be resumed waits for its client (suspended) instead of ending.
    if (!options.normalClose && (await this.resumption.suspend(conn, connectionId, 'disconnected'))) {
      if (alias) await this.forget(alias);
      return;
    }
    await this.endSession(conn, 'disconnected');
    if (alias) await this.forget(alias);
  }

  /**
   * A post to `socket` found it gone (410): the session it carried is suspended (resume.v1) or ended. Nothing
   * happens when the session has moved to another socket meanwhile.
   */
  private async socketGone(sessionId: string, socket: string): Promise<void> {
    const conn = await this.deps.store.getConnection(sessionId);
    if (!conn) return;
    if (await this.resumption.suspend(conn, socket, 'gone')) return;
    await this.endSession(conn, 'gone');
  }

  /**
   * Ends a session exactly once: claims it (state `closing`), optionally tells the client why and closes
   * the socket, and leaves the media room. The leave is in the room's history (written by the node, once),
   * and the channel's feed announces it. A leave the node did not confirm (slow, hung) keeps the record
   * `closing`, and the sweep finishes it: the node may still carry it out, and then it must be announced.
   */
  async endSession(target: string | ConnectionRecord, reason: EndReason, error?: VoiceError): Promise<void> {
    const claim = await this.claimEnd(target, reason, error);
    if (claim) await this.finishEnd(claim, reason);
  }

  /**
   * The first half of ending a session: claims it (`closing`; undefined when another invocation is ending it),
   * tells the client why and closes its socket. The record stays `closing` until finishEnd (or the sweep) ends it.
   */
  private async claimEnd(
    target: string | ConnectionRecord,
    reason: EndReason,
    error?: VoiceError,
  ): Promise<EndClaim | undefined> {
    let conn = typeof target === 'string' ? await this.deps.store.getConnection(target) : target;
    let claimed: ConnectionRecord | undefined;
    let previousState: ConnectionState | undefined;
    for (let attempt = 0; conn && !claimed && attempt < 5; attempt++) {
      const stuckClosing = conn.state === 'closing' && (conn.deadline ?? 0) < this.deps.clock.now();
      if (conn.state === 'closing' && !stuckClosing) return undefined; // another invocation is ending it
      previousState = conn.state;
      const result = await this.deps.store.tryTransition(conn, {
        state: 'closing',
        deadline: this.deadlineIn('closing'),
      });
      // Lost to another invocation: try again from the record as that one left it (no re-read).
      if (result.ok) claimed = result.record;
      else conn = result.current;
    }
    if (!claimed) return undefined;
    this.deps.log.info('voice.session-ending', { ...logIds(claimed), reason, from: previousState });
    // Its stream is over (the socket is gone, or closed below) even while the leave is still to be finished:
    // the user's stream slot, and its prepared slots if it was still waiting to join, are free.
    await this.userLimits.ended(claimed, previousState);
    // A suspended session has no socket to tell (resume.v1); any other is told on the socket carrying it.
    if (previousState !== 'suspended') {
      if (error) {
        await this.deps.gateway.send(socketOf(claimed), errorFrameOf(error), claimed.variant).catch(() => 'gone');
      }
      if (error || reason === 'gone') await this.deps.gateway.close(socketOf(claimed)).catch(() => undefined);
    }
    return { claimed, previousState };
  }

  /** The second half: leaves the media room, announces what that wrote, and deletes the record. */
  private async finishEnd({ claimed, previousState }: EndClaim, reason: EndReason): Promise<void> {
    if (claimed.nodeId && claimed.guildId) {
      const roomId = roomOf(claimed);
      try {
        const left = await this.media(claimed, (node) =>
          this.deps.media.leave(node, { roomId, sessionId: claimed.connectionId }),
        );
        if (left.announced) this.deps.metrics?.count(METRIC.leaves);
        // A member — or a prepared session whose join ran late on a hung node, a join in flight, a retried leave
        // that may have landed late, a suspended (or resuming) session whose media died meanwhile (resume.v1) —
        // has history to announce: its leave entry, written by this call or when the node lost or replaced it.
        const mayHaveHistory =
          left.announced ||
          ['prepared', 'joining', 'joined', 'closing', 'suspended', 'resuming'].includes(previousState ?? '');
        if (mayHaveHistory && !(await this.tryAnnounce(claimed))) return; // the sweep finishes it (record stays `closing`)
      } catch (err) {
        if (await this.placement.isAlive(claimed.nodeId)) {
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
    this.deps.metrics?.count(METRIC.sessionsEnded, 1, { Reason: reason });
  }

  /**
   * The sweep's part of the feed: a channel whose delivering invocation died (or failed) is finished from its
   * cursor on the node holding the room — or let go when that node is dead (its room, and everyone in it, is
   * gone: nobody is left to tell). False when the feed was not stalled (any more).
   */
  async finishFeed(channelKey: string, isAlive: (nodeId: string) => boolean): Promise<boolean> {
    const now = this.deps.clock.now();
    const stalled = await this.deps.store.getStalledFeed(channelKey, now);
    if (!stalled) return false;
    const node = stalled.node ?? (await this.deps.store.getPlacement(channelKey));
    if (!node || !isAlive(node.nodeId)) {
      await this.deps.store.dropStalledFeed(channelKey, now);
      this.deps.log.info('voice.feed-dropped', { channelKey, nodeId: node?.nodeId, why: 'its media node is gone' });
      return true;
    }
    this.deps.log.info('voice.feed-resumed', { channelKey, nodeId: node.nodeId });
    await this.announce({ channelKey, node: { nodeId: node.nodeId, grpcAddress: node.grpcAddress } });
    return true;
  }

  /** announce(), with a failure left to the sweep (the feed is left stalled): false when it failed. */
  private async tryAnnounce(conn: ConnectionRecord, replayFor?: string): Promise<boolean> {
    try {
      await this.announce(conn, replayFor);
      return true;
    } catch (err) {
      this.deps.log.warn('voice.announce-deferred', { ...logIds(conn), error: (err as Error).message });
      return false;
    }
  }

  /**
   * Delivers the channel's pending history, ends every receiver a post found gone, and brings the streams
   * the entries were about in line with the history. Throws (after doing all that) when delivery stopped
   * on a failure: the feed is then stalled and the sweep finishes it.
   */
  async announce(conn: ConnectionRecord | { channelKey: string; node: Placement }, replayFor?: string): Promise<void> {
    const channelKey = 'channelKey' in conn ? conn.channelKey : roomOf(conn);
    const node =
      'node' in conn
        ? conn.node
        : conn.nodeId && conn.nodeAddress
          ? { nodeId: conn.nodeId, grpcAddress: conn.nodeAddress }
          : undefined;
    if (!node) return;
    // A receiver an entry cannot be posted to is claimed, told and cut off inside the delivery (so no later entry
    // reaches it), and its leave is carried out once the delivery is done.
    const refused: EndClaim[] = [];
    const { gone, subjects, error } = await this.feed.drain(channelKey, node, replayFor, async (receiver) => {
      const claim = await this.claimEnd(receiver, 'undeliverable', undeliverableError());
      if (claim) refused.push(claim);
    });
    for (const { sessionId, socket } of gone) await this.socketGone(sessionId, socket);
    for (const claim of refused) await this.finishEnd(claim, 'undeliverable');
    // The history is the truth; streams follow it.
    for (const { entry, record } of subjects) {
      if (entry.kind === 'join' && record.state === 'prepared') {
        // Its join happened on the node though its own invocation lost the answer (and put the stream back).
        const result = await this.deps.store.tryTransition(record, { state: 'joined', deadline: undefined });
        if (result.ok) this.race('join-answer-lost', { ...logIds(record), seq: entry.seq });
      } else if (entry.kind === 'leave' && record.state !== 'closing') {
        // (Also when a post found its socket gone: that only suspends a resumable session, and this one has
        // left the room. Ending twice is harmless: the first claim wins.)
        // Its session left the room without this stream ending: replaced, or lost on the media side.
        if (entry.reason === 'replaced') await this.endSession(record, 'replaced', replacedError());
        else await this.endSession(record, 'media-lost', mediaLostError(entry.reason));
      }
    }
    if (error) throw error;
  }

  // ---- the reaper's part (functions/voice/sweep.ts calls these) ----

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
   * resume.v1's part of the sweep, for a due record: a suspended session past its grace ends (the ordinary leave);
   * an attached alias whose session moved on is dropped; a resumed session still waiting for its replay (the
   * delivery that took it failed) asks the feed again. True when the record was handled here.
   */
  async sweepResumable(conn: ConnectionRecord, isAlive: (nodeId: string) => boolean): Promise<boolean> {
    const now = this.deps.clock.now();
    const decision = await this.resumption.sweepDecision(conn, now);
    if (decision === undefined) return false;
    if (decision === 'drop-alias') await this.forget(conn);
    else if (decision === 'end') await this.endSession(conn, 'resume-grace-over');
    else if (decision === 'replay' && conn.nodeId && isAlive(conn.nodeId))
      await this.tryAnnounce(conn, conn.connectionId);
    else if (decision === 'keep' && conn.nodeId && !isAlive(conn.nodeId)) {
      await this.endSession(conn, 'media-lost');
    } else if (decision === 'keep' && conn.expiresAt * 1000 <= now) {
      return false; // expired: judged as any other record
    }
    return true;
  }

  // ---- helpers ----

  /** Deletes an `attached` record (resume.v1 alias): its connection's stream slot is free. */
  private async forget(record: ConnectionRecord): Promise<void> {
    await this.deps.store.deleteConnection(record);
    await this.userLimits.ended(record);
  }

  /** How long a prepared session may wait to join: the prepare step, the JoinChannel window, the join step. */
  private preparedForMs(): number {
    return this.limits.stepWithinMs + this.limits.joinWithinMs + this.limits.stepWithinMs;
  }

  private async claim(
    conn: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<ConnectionRecord> {
    const result = await this.deps.store.tryTransition(conn, { ...next, deadline: this.deadlineIn(next.state) });
    if (result.ok) return result.record;
    throw new VoiceError(
      ErrorId.outOfOrder,
      `another message of this stream is being handled (${conn.state}); this one changes nothing`,
    );
  }

  /**
   * When a connection in `state` must have moved on: the client's turn in connected/initialized/prepared,
   * the server's own step (a claimed `…ing` or `closing`) otherwise. `joined` has no deadline.
   */
  private deadlineIn(state: ConnectionState): number {
    const clientTurn: Partial<Record<ConnectionState, number>> = {
      connected: this.limits.initializeWithinMs,
      initialized: this.limits.prepareWithinMs,
      prepared: this.limits.joinWithinMs,
    };
    return this.deps.clock.now() + (clientTurn[state] ?? this.limits.stepWithinMs);
  }

  /** The step's own transition after its claim: losing it means the stream was ended meanwhile. */
  private async advance(
    claimed: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<ConnectionRecord> {
    const result = await this.deps.store.tryTransition(claimed, next);
    if (result.ok) return result.record;
    throw new ExpectedRace('step-overtaken', `the stream was ended while ${claimed.state}`);
  }

  private async revert(
    claimed: ConnectionRecord,
    state: ConnectionState,
    deadline = this.deadlineIn(state),
  ): Promise<void> {
    const result = await this.deps.store.tryTransition(claimed, { state, deadline }).catch((err: Error) => {
      this.deps.log.warn('voice.revert-failed', { ...logIds(claimed), error: err.message });
    });
    // Losing the claim here means the stream is being ended: nothing to put back.
    if (result && !result.ok) this.race('revert-overtaken', logIds(claimed));
  }

  /** An expected race (races.ts: logged and counted with its name). */
  private race(race: string, fields: Record<string, unknown>): void {
    this.races.lost(race, fields);
  }

  /** Calls the connection's media node, mapping failures to voice errors. */
  private async media<T>(conn: ConnectionRecord, call: (node: Placement) => Promise<T>): Promise<T> {
    if (!conn.nodeId || !conn.nodeAddress) throw new Error(`connection ${conn.connectionId} has no media node`);
    try {
      return await call({ nodeId: conn.nodeId, grpcAddress: conn.nodeAddress });
    } catch (err) {
      throw mediaErrorToVoiceError(err);
    }
  }

  private async send(conn: ConnectionRecord, response: StreamMessageResponse): Promise<void> {
    const frame = encodeResponseFrame(response);
    assertFits(frame);
    const result = await this.deps.gateway.send(conn.connectionId, frame, conn.variant);
    if (result === 'gone') {
      this.deps.metrics?.count(METRIC.deliveriesGone);
      await this.endSession(conn.connectionId, 'gone');
    }
  }

  private async fail(
    connectionId: string,
    conn: ConnectionRecord | undefined,
    err: unknown,
    guessed: Variant,
  ): Promise<void> {
    if (err instanceof ExpectedRace || err instanceof ConflictError) {
      // The stream was ended by another invocation while this step ran; that invocation tells the client.
      this.race(err instanceof ExpectedRace ? err.race : 'conflict', {
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
    if (conn && error.fatal) return this.endSession(conn.connectionId, 'rejected', error);
    try {
      // Even when the state could not be read (a store outage), the client hears why nothing happened.
      await this.deps.gateway.send(connectionId, errorFrameOf(error), conn?.variant ?? guessed);
    } catch (sendErr) {
      this.deps.log.error('voice.error-send-failed', { connectionId, error: (sendErr as Error).message });
    }
  }
}

type JoinMessage = { rtpParamaters: string; producerDtlsParamaters: string; consumerDtlsParamaters: string };

/** JoinChannel's own checks (before anything is written). */
function checkJoin(msg: JoinMessage): void {
  parseJson(msg.rtpParamaters, ErrorId.badRtpParameters, 'rtp_paramaters');
  parseJson(msg.producerDtlsParamaters, ErrorId.badDtlsParameters, 'producer_dtls_paramaters');
  parseJson(msg.consumerDtlsParamaters, ErrorId.badDtlsParameters, 'consumer_dtls_paramaters');
}

/** PrepareForJoinChannel's own checks (before anything is written). */
function checkPrepare(rtpCapabilities: string): void {
  const caps = parseJson(rtpCapabilities, ErrorId.badRtpCapabilities, 'rtp_capabilities');
  if (!Array.isArray((caps as { codecs?: unknown }).codecs)) {
    throw new VoiceError(ErrorId.badRtpCapabilities, 'rtp_capabilities has no codecs array');
  }
}

/** A step that may claim its stream on arrival: from which state, into which. */
type EarlyStep =
  | { kind: 'prepare'; from: 'initialized'; to: 'preparing'; rtpCapabilities: string }
  | { kind: 'join'; from: 'prepared'; to: 'joining'; msg: JoinMessage };

/**
 * The PrepareForJoinChannel or JoinChannel a frame carries, if it may claim its stream on arrival: a plain request
 * in the frame's own variant that passes the step's checks. Anything else (or a check failing) takes the ordinary
 * path, so the answer is the same as if the stream had been read first.
 */
function claimableStep(payload: string | Uint8Array, variant: Variant): EarlyStep | undefined {
  try {
    const frame = decodeClientFrame(fromWire(payload, variant), false);
    const message = frame.kind === 'request' ? frame.request.message : undefined;
    if (message?.$case === 'prepareForJoinChannel') {
      checkPrepare(message.value.rtpCapabilities);
      return { kind: 'prepare', from: 'initialized', to: 'preparing', rtpCapabilities: message.value.rtpCapabilities };
    }
    if (message?.$case !== 'joinChannel') return undefined;
    checkJoin(message.value);
    return { kind: 'join', from: 'prepared', to: 'joining', msg: message.value };
  } catch {
    return undefined;
  }
}

function requireState(conn: ConnectionRecord, expected: ConnectionState, rule: string): void {
  if (conn.state !== expected) throw new VoiceError(ErrorId.outOfOrder, `${rule} (stream is ${conn.state})`);
}

function parseJson(text: string, identifier: (typeof ErrorId)[keyof typeof ErrorId], field: string): unknown {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object') return value;
  } catch {
    /* fall through */
  }
  throw new VoiceError(identifier, `${field} is not a JSON object`);
}

/**
 * What a stream an entry of its channel's history could not be posted to is told (fatal): it cannot keep a true
 * view, so it alone ends — never suspended (a replay would meet the same entry).
 */
function undeliverableError(): VoiceError {
  return new VoiceError(
    ErrorId.undeliverable,
    'a membership message of this channel could not be delivered to this stream; join again',
    { fatal: true },
  );
}

/** What a stream whose seat another stream of the same user took is told (fatal). */
function replacedError(): VoiceError {
  return new VoiceError(ErrorId.replaced, 'the same user joined this channel from another stream', { fatal: true });
}

function roomOf(conn: ConnectionRecord): string {
  return `${conn.guildId}:${conn.channelId}`;
}

function logIds(conn: ConnectionRecord) {
  return {
    connectionId: conn.connectionId,
    userId: conn.userId,
    guildId: conn.guildId,
    channelId: conn.channelId,
    nodeId: conn.nodeId,
  };
}

/**
 * API Gateway accepts at most 128 KB per PostToConnection, and the hrpc1.base64 variant grows bytes by 4/3,
 * so a server message may carry at most 96 KB. maxMembersPerChannel keeps JoinedChannel inside it.
 */
export const MAX_SERVER_MESSAGE_BYTES = Math.floor((MAX_MESSAGE_BYTES * 3) / 4);
/**
 * The most members a channel may have so that JoinedChannel (every other member's UserConsumerOptions, each at
 * most MAX_USER_CONSUMER_OPTIONS_BYTES by construction, plus 64 bytes of framing and the resume.v1 wrapper)
 * always fits MAX_SERVER_MESSAGE_BYTES: 115. The default (100) leaves ~13% of the budget spare.
 */
export const MAX_MEMBERS_THAT_FIT = Math.floor((MAX_SERVER_MESSAGE_BYTES - 64) / MAX_USER_CONSUMER_OPTIONS_BYTES) + 1;
function assertFits(frame: Uint8Array): void {
  if (frame.length > MAX_SERVER_MESSAGE_BYTES) {
    throw new Error(
      `server message of ${frame.length} bytes exceeds the ${MAX_SERVER_MESSAGE_BYTES}-byte budget of one API Gateway message`,
    );
  }
}
