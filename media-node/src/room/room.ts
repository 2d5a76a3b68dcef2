// One voice channel: its sessions and the consumer mesh between them, on the room's main Router and,
// when its worker is full, on parts on other workers of the node or on other nodes (RoomSpan: where a
// session's media lives; SessionMedia: the same shape wherever it is; producers are piped to the parts
// where their listeners are). Each session is a SessionSeat (its media, producer, consumers, holds, reservation),
// as on a far node's PartHost; the room adds membership and the mesh between seats.
// The room stays on its home node with its ledger, wherever its media is. Joins, leaves and losses run one
// at a time through the room's queue, so concurrent joins each see the members already joined and every
// pair ends up consuming each other exactly once. Each membership change is written to the room's
// ledger in that same order: the channel's one history.
import type { types } from 'mediasoup';
import type { ConsumerDelivery, SessionRef, TransportOptions } from '../../../gen/medianode/v1/media_node';
import type { FarNode } from '../span/far-nodes';
import type { RemotePart } from '../span/remote-part';
import { MediaError } from '../../api/errors';
import type { Logger } from '../../../lib/log';
import { ROOM_MEDIA_CODECS } from '../workers/codecs';
import { consumerParametersJson } from '../session/consumer-parameters';
import { RoomLedger, type HistorySlice, type StateEntry } from './room-ledger';
import { release } from '../session/media-holds';
import {
  applyToMedia,
  isDeafened,
  MemberStates,
  sameFlags,
  UNMUTED,
  type FlagChange,
  type VoiceFlags,
} from './member-states';
import { RoomSpan, type SpanPart } from '../span/room-span';
import { createLocalMedia, type LocalMediaFactory, type MediaLossReason } from '../session/session-media';
import { type SeatConsumer, SessionSeat } from '../session/session-seat';
import { Reservation } from '../load/reservation';
import { SerialQueue } from './serial-queue';
import type { ProducerPolice } from '../session/producer-police';
import { parseDtlsParameters, parseProducerRtpParameters, parseRtpCapabilities } from '../session/validate';
import type { WorkerSlot } from '../workers/worker-pool';

/** History entries are kept this long (the signalling side delivers them within seconds; replay needs minutes). */
const HISTORY_RETAIN_MS = 10 * 60 * 1000;
const HISTORY_MAX_ENTRIES = 10_000;
/**
 * One History answer carries at most about this much (always at least one entry; a 100-member join is ~0.2 MB),
 * far inside gRPC's 4 MB default; the signalling side pages on (functions/voice/channel-feed.ts).
 */
export const HISTORY_PAGE_BYTES = 1024 * 1024;

export type LossReason = MediaLossReason;

export interface SessionLostEvent {
  roomId: string;
  sessionId: string;
  userId: string;
  reason: LossReason;
}

/**
 * Where a new session's transports go (a worker: Admission.chooseSpanWorker; or another node when no worker
 * of this one admits it: FarNodes), with its join's reservation.
 */
export interface SessionPlacement {
  where: WorkerSlot | FarNode;
  /** Committed when the session joins (it counts until the next load sample), released if it goes first. */
  reservation: Reservation;
}

interface Session {
  readonly id: string;
  readonly userId: string;
  /** Its seat: part, media (on this node or another), producer, its consumers, its join's reservation. */
  readonly seat: SessionSeat<SpanPart>;
  rtpCapabilities: types.RtpCapabilities;
  /** What the join created and where it stands in the history, kept so a retried join answers the same. */
  joined?: { forJoiner: SeatConsumer[]; forMembers: SeatConsumer[]; seq: number; replaced: string[] };
}

export interface RoomHooks {
  logger: Logger;
  /** How long ICE may stay 'disconnected' before the session counts as lost. */
  iceDisconnectedGraceMs: number;
  /** A started transport not connected this long: the session is lost as 'media-unreachable' (SessionMedia). */
  iceConnectTimeoutMs?: number;
  /** Seconds without ICE consent (the client's STUN checks) before mediasoup calls ICE disconnected. */
  iceConsentTimeoutS: number;
  onSessionLost(event: SessionLostEvent): void;
  /** Opens a part of the room on another node (RemotePart.open); without it the room stays on this node. */
  openRemote?(room: Room, far: FarNode): Promise<RemotePart>;
  /** How a session's media is made on this node; default LocalSessionMedia.create (WebRTC). */
  localMedia?: LocalMediaFactory;
  /** Polices every producer made on this node (ProducerPolice); unset = none. */
  police?: ProducerPolice;
  /** Called (inside the queue) when the last session went away. */
  onEmpty(room: Room): void;
}

export interface JoinResult {
  forJoiner: ConsumerDelivery[];
  forMembers: ConsumerDelivery[];
  seq: number;
  roomInstance: string;
  replaced: string[];
}

export interface LeaveResult {
  wasPresent: boolean;
  /** The leave entry's audience (empty when nothing was announced). */
  remaining: SessionRef[];
  announced: boolean;
  seq: number;
  roomInstance: string;
}

export interface RoomLoad {
  sessions: number;
  transports: number;
  producers: number;
  consumers: number;
}

export class Room {
  private readonly sessions = new Map<string, Session>();
  /** Membership and its ordered history. */
  readonly ledger = new RoomLedger({ retainMs: HISTORY_RETAIN_MS, maxEntries: HISTORY_MAX_ENTRIES });
  /** state.v1: who is muted and deafened (written to the ledger, acted on by the media). */
  readonly states = new MemberStates();
  private readonly queue = new SerialQueue();
  private readonly log: Logger;
  closed = false;
  /** The worker this room's router lives on (a replaced slot holds a different one). */
  readonly worker: types.Worker;
  /** The room's parts: the main router and routers on other workers (RoomSpan). */
  readonly span: RoomSpan;

  constructor(
    readonly id: string,
    readonly router: types.Router,
    readonly slot: WorkerSlot,
    private readonly hooks: RoomHooks,
  ) {
    this.log = hooks.logger.child({ roomId: id });
    this.worker = slot.worker;
    const openRemote = hooks.openRemote;
    this.span = new RoomSpan({
      roomId: id,
      mainRouter: router,
      mainSlot: slot,
      mediaCodecs: ROOM_MEDIA_CODECS,
      openRemote: openRemote && ((far) => openRemote(this, far)),
    });
  }

  get rtpCapabilities(): types.RtpCapabilities {
    return this.router.rtpCapabilities;
  }

  get isEmpty(): boolean {
    return this.sessions.size === 0;
  }

  sessionRefs(): SessionRef[] {
    return [...this.sessions.values()].map((s) => ({ sessionId: s.id, userId: s.userId }));
  }

  /** What the room holds on this node (sessions on a remote part count where their media is: on that node). */
  load(): RoomLoad {
    let sessions = 0;
    let producers = 0;
    let consumers = 0;
    for (const { seat } of this.sessions.values()) {
      for (const record of seat.consumerRecords()) if (record.consumer.local) consumers++;
      if (seat.part.kind === 'remote') continue;
      sessions++;
      if (seat.producer) producers++;
    }
    return { sessions, transports: 2 * sessions, producers, consumers };
  }

  /** Consumers on transports of sessions whose part is on `worker` (load per worker, parts included). */
  consumersOnWorker(worker: types.Worker): number {
    let count = 0;
    for (const { seat } of this.sessions.values())
      if (seat.part.kind === 'local' && seat.part.worker === worker) count += seat.consumerCount;
    return count;
  }

  /** Consumer ids owned by (consuming on the transport of) a session; for tests and diagnostics. */
  consumerIdsOf(sessionId: string): string[] {
    const seat = this.sessions.get(sessionId)?.seat;
    return seat ? Array.from(seat.consumerRecords(), (r) => r.consumer.id) : [];
  }

  /** A consumer on this node (tests and diagnostics). */
  consumerById(consumerId: string): types.Consumer | undefined {
    return this.findConsumer(consumerId)?.consumer.local;
  }

  /** The session's mediasoup transports (tests and diagnostics). */
  transportsOf(sessionId: string): { consumer: types.WebRtcTransport; producer: types.WebRtcTransport } | undefined {
    return this.sessions.get(sessionId)?.seat.media.local;
  }

  /**
   * The session's two transports, made on first call (later calls return the same). `place` says where a
   * new session goes (and reserves its join there); without it, on the main router.
   */
  createTransports(
    sessionId: string,
    userId: string,
    rtpCapabilitiesJson: string,
    options: {
      place?: () => SessionPlacement | Promise<SessionPlacement>;
      minIceConsentTimeoutS?: number;
      consumersResumed?: boolean;
    } = {},
  ): Promise<{ consumer: TransportOptions; producer: TransportOptions }> {
    const rtpCapabilities = parseRtpCapabilities(rtpCapabilitiesJson);
    return this.serial(async () => {
      let session = this.sessions.get(sessionId);
      if (session) {
        if (!session.joined) session.rtpCapabilities = rtpCapabilities;
      } else {
        const placement = await options.place?.();
        const minIceConsentTimeoutS = options.minIceConsentTimeoutS ?? 0;
        session = await this.newSession(sessionId, userId, rtpCapabilities, placement, {
          minIceConsentTimeoutS,
          consumersResumed: options.consumersResumed ?? false,
        });
        this.sessions.set(sessionId, session);
        this.log.info('media-node.session-prepared', {
          sessionId,
          userId,
          minIceConsentTimeoutS,
          ...(session.seat.consumersResumed ? { consumersResumed: true } : {}),
          ...describePart(session.seat.part),
        });
      }
      const { media } = session.seat;
      return { consumer: media.consumerOptions, producer: media.producerOptions };
    });
  }

  /**
   * Joins a prepared session: validates, produces, connects and meshes it with every member, and only
   * then (nothing has failed) takes the seat from the same user's previous session, if any. A rejected
   * join changes nothing; a completed one is one history entry (two with a replacement: leave, then join).
   */
  join(request: {
    sessionId: string;
    rtpParameters: string;
    producerDtlsParameters: string;
    consumerDtlsParameters: string;
    maxMembers?: number;
  }): Promise<JoinResult> {
    return this.serial(async () => {
      const joiner = this.sessions.get(request.sessionId);
      if (!joiner) {
        throw new MediaError('not-prepared', `session ${request.sessionId} has no transports in room ${this.id}`);
      }
      if (joiner.joined) return this.joinResult(joiner.joined);

      const rtpParameters = parseProducerRtpParameters(request.rtpParameters);
      const producerDtls = parseDtlsParameters(request.producerDtlsParameters, 'producer dtls parameters');
      const consumerDtls = parseDtlsParameters(request.consumerDtlsParameters, 'consumer dtls parameters');
      const previous = this.ledger.memberOfUser(joiner.userId);
      const members = this.ledger.memberCount() - (previous ? 1 : 0);
      if (request.maxMembers && members >= request.maxMembers) {
        throw new MediaError('channel-full', `the channel is full (${request.maxMembers} members)`);
      }

      const producer = await joiner.seat.produce(rtpParameters, producerDtls, consumerDtls);

      const created = await this.meshWith(joiner, previous);
      const replaced: string[] = [];
      const previousSession = previous ? this.sessions.get(previous) : undefined;
      if (previous) {
        this.ledger.leave(previous, 'replaced');
        if (previousSession) this.closeSession(previousSession);
        replaced.push(previous);
        this.log.info('media-node.session-replaced', { sessionId: previous, userId: joiner.userId, by: joiner.id });
      }
      const forJoiner = created.filter((r) => r.ownerSessionId === joiner.id);
      const forMembers = created.filter((r) => r.ownerSessionId !== joiner.id);
      const entry = this.ledger.join(
        joiner.id,
        joiner.userId,
        this.describe(forJoiner),
        this.describe(forMembers),
        (m) => this.states.of(m.sessionId, m.userId),
      );
      // state.v1: a user server-muted/deafened in this room still is after rejoining.
      await this.applyState(joiner, UNMUTED, this.states.of(joiner.id, joiner.userId));
      joiner.joined = { forJoiner, forMembers, seq: entry.seq, replaced };
      joiner.seat.reservation.commit();
      this.log.info('media-node.session-joined', {
        sessionId: joiner.id,
        userId: joiner.userId,
        producerId: producer.id,
        ...describePart(joiner.seat.part),
        consumersCreated: created.length,
        seq: entry.seq,
      });
      return this.joinResult(joiner.joined);
    });
  }

  /** The room's history after position `after`: one bounded page (HISTORY_PAGE_BYTES; the caller pages on). */
  history(after: number): HistorySlice {
    return this.ledger.since(after, HISTORY_PAGE_BYTES);
  }

  /**
   * resume.v1: new ICE credentials for both of the session's transports (the client's address may have
   * changed). Transports, producer and consumers stay; the client restarts ICE with these parameters.
   */
  async restartIce(sessionId: string): Promise<{ consumerIceParameters: string; producerIceParameters: string }> {
    const session = this.sessions.get(sessionId);
    if (!session) throw new MediaError('unknown-session', `session ${sessionId} is not in room ${this.id}`);
    const { consumer, producer } = await session.seat.restartIce();
    return { consumerIceParameters: JSON.stringify(consumer), producerIceParameters: JSON.stringify(producer) };
  }

  async resume(sessionId: string, consumerId: string): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session) throw new MediaError('unknown-session', `session ${sessionId} is not in room ${this.id}`);
    // One lookup in the session's own seat; the room is searched only to say why a consumer is not there.
    const record = session.seat.consumer(consumerId);
    if (!record) {
      if (this.findConsumer(consumerId)) {
        throw new MediaError('consumer-not-yours', `consumer ${consumerId} does not belong to session ${sessionId}`);
      }
      throw new MediaError('unknown-consumer', `consumer ${consumerId} does not exist in room ${this.id}`);
    }
    try {
      // Runs only if nothing else holds it paused (state.v1: its receiver is deafened; MediaHolds).
      await release(record.consumer, 'client');
    } catch (error) {
      if (record.consumer.closed)
        throw new MediaError('unknown-consumer', `consumer ${consumerId} closed while resuming`);
      throw error;
    }
  }

  /**
   * Removes the session (idempotent). A member's leave is appended to the history; a session the media
   * side already lost (or a replaced one) was written there when that happened, so it is not written twice.
   */
  leave(sessionId: string): Promise<LeaveResult> {
    return this.serial(async () => {
      const session = this.sessions.get(sessionId);
      const entry = this.ledger.leave(sessionId, 'left');
      if (session) {
        this.closeSession(session);
        this.log.info('media-node.session-left', { sessionId, userId: session.userId, seq: entry?.seq });
      }
      const audience = new Set(entry?.audience ?? []);
      return {
        wasPresent: session !== undefined,
        remaining: this.sessionRefs().filter((r) => audience.has(r.sessionId)),
        announced: entry !== undefined,
        seq: this.ledger.head,
        roomInstance: this.ledger.instance,
      };
    });
  }

  /**
   * state.v1: changes a member's voice state — its own (`targetUserId` unset: self flags only) or, for a moderator
   * (the signalling side checked the permission), another member's server flags — and pauses or resumes its media
   * to match. A change is one history entry; setting what already is changes nothing (no entry).
   */
  setMemberState(request: {
    sessionId: string;
    targetUserId?: string;
    change: FlagChange;
    stamp?: number;
  }): Promise<{ changed: boolean; seq: number; state: VoiceFlags; sessionId: string; userId: string }> {
    return this.serial(async () => {
      const caller = this.sessions.get(request.sessionId);
      if (!caller || !this.ledger.isMember(caller.id))
        throw new MediaError('unknown-session', `session ${request.sessionId} is not a member of room ${this.id}`);
      const targetId = request.targetUserId ? this.ledger.memberOfUser(request.targetUserId) : caller.id;
      const target = targetId === undefined ? undefined : this.sessions.get(targetId);
      if (!target)
        throw new MediaError('unknown-member', `user ${request.targetUserId} is not a member of room ${this.id}`);
      const { before, after } = this.states.apply(
        target.id,
        target.userId,
        request.change,
        request.targetUserId ? 'moderator' : 'self',
        request.stamp,
      );
      const changed = !sameFlags(before, after);
      let entry: StateEntry | undefined;
      if (changed) {
        entry = this.ledger.state(target.id, after, caller.userId);
        await this.applyState(target, before, after);
        this.log.info('media-node.member-state', {
          sessionId: target.id,
          userId: target.userId,
          by: caller.userId,
          ...after,
          seq: entry?.seq,
        });
      }
      return { changed, seq: entry?.seq ?? 0, state: after, sessionId: target.id, userId: target.userId };
    });
  }

  private async applyState(session: Session, before: VoiceFlags, after: VoiceFlags): Promise<void> {
    const { seat } = session;
    const consumers = Array.from(seat.consumerRecords(), (r) => r.consumer);
    // A producer on another node is muted there (its police's hold is there too): RemoteSessionMedia.remoteMute.
    const producer = seat.producer ? (seat.producer.local ?? seat.media.remoteMute) : undefined;
    const failures = await applyToMedia({ producer, consumers }, before, after);
    if (failures.length > 0) {
      this.log.warn('media-node.member-state-media', {
        sessionId: session.id,
        failures: failures.map(String),
        remoteProducer: !seat.producer?.local,
      });
    }
  }

  /** Closes the router if nobody is in the room; true when it did. */
  closeIfEmpty(): Promise<boolean> {
    return this.serial(async () => {
      if (!this.isEmpty) return false;
      this.close();
      return true;
    }).catch(() => this.closed);
  }

  /**
   * Closes everything. With a reason, every session still present is reported lost
   * (drain, worker death); without one the room was empty or the node is shutting down.
   */
  close(reason?: LossReason): void {
    if (this.closed) return;
    this.closed = true;
    for (const session of [...this.sessions.values()]) {
      this.closeSession(session);
      if (reason) this.hooks.onSessionLost({ roomId: this.id, sessionId: session.id, userId: session.userId, reason });
    }
    this.span.close();
    this.router.close();
    this.log.info('media-node.room-closed', { reason: reason ?? 'empty' });
  }

  /**
   * A worker holding one of the room's parts (not the main router's) died: its sessions are lost
   * ('worker-died'); the rest of the channel keeps talking (their pipes to it closed with its router).
   */
  partWorkerDied(worker: types.Worker): void {
    // (A remote part's losses come from its node: RemotePart reports them per session.)
    for (const sessionId of this.span.sessionsOnWorker(worker)) {
      const session = this.sessions.get(sessionId);
      if (session) this.lose(session, 'worker-died');
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      if (this.closed) throw new MediaError('unknown-room', `room ${this.id} is closed`);
      const result = await task();
      if (this.isEmpty && !this.closed) this.hooks.onEmpty(this);
      return result;
    });
  }

  private async newSession(
    id: string,
    userId: string,
    rtpCapabilities: types.RtpCapabilities,
    placement: SessionPlacement | undefined,
    options: { minIceConsentTimeoutS: number; consumersResumed: boolean },
  ): Promise<Session> {
    const { minIceConsentTimeoutS } = options;
    // Its media-side death (ICE/DTLS, its node lost) is reported here once the session exists.
    let session: Session | undefined;
    const seat = await SessionSeat.open<SpanPart>({
      id,
      userId,
      reservation: placement?.reservation ?? Reservation.none(),
      span: this.span,
      consumersResumed: options.consumersResumed,
      place: () => this.span.place(id, placement?.where),
      media: (part, onLost) =>
        part.kind === 'local'
          ? createLocalMedia(part, this.hooks, id, minIceConsentTimeoutS, onLost)
          : part.createSession(id, userId, onLost, minIceConsentTimeoutS),
      onLost: (_seat, reason) => session && this.lose(session, reason),
    });
    session = { id, userId, seat, rtpCapabilities };
    return session;
  }

  private lose(session: Session, reason: LossReason): void {
    this.serial(async () => {
      if (this.sessions.get(session.id) !== session) return;
      this.ledger.leave(session.id, reason);
      this.closeSession(session);
      this.log.warn('media-node.session-lost', { sessionId: session.id, userId: session.userId, reason });
      this.hooks.onSessionLost({ roomId: this.id, sessionId: session.id, userId: session.userId, reason });
    }).catch(() => {
      // The room closed first; whoever closed it reported its sessions.
    });
  }

  /**
   * Consumers (paused, or resumed for consumers.v1 receivers) both ways between the joiner and every joined member. A joiner that cannot
   * consume someone fails the whole join (rolled back); a member that cannot consume the joiner
   * is skipped and logged, so one odd client cannot keep others out.
   */
  private async meshWith(joiner: Session, replacing: string | undefined): Promise<SeatConsumer[]> {
    const members = [...this.sessions.values()].filter(
      (m) => m !== joiner && m.id !== replacing && m.seat.producer && this.ledger.isMember(m.id),
    );
    const attempts = members.flatMap((member) => [
      { receiver: joiner, sender: member },
      { receiver: member, sender: joiner },
    ]);
    const results = await Promise.allSettled(attempts.map(({ receiver, sender }) => this.consume(receiver, sender)));
    const created: SeatConsumer[] = [];
    let failure: unknown;
    results.forEach((result, i) => {
      const attempt = attempts[i]!;
      if (result.status === 'fulfilled') created.push(result.value);
      else if (
        attempt.receiver !== joiner &&
        result.reason instanceof MediaError &&
        result.reason.reason === 'cannot-consume'
      ) {
        this.log.warn('media-node.member-cannot-consume', {
          sessionId: attempt.receiver.id,
          producerSessionId: joiner.id,
        });
      } else failure ??= result.reason;
    });
    if (failure !== undefined) {
      for (const record of created) this.sessions.get(record.ownerSessionId)?.seat.dropConsumer(record.consumer.id);
      joiner.seat.dropProducer();
      throw failure;
    }
    return created;
  }

  private consume(receiver: Session, sender: Session): Promise<SeatConsumer> {
    // The sender's stream is piped to the receiver's part first; what the receiver is handed is built from
    // allow-listed fields and bounded (consumer-parameters.ts). Created paused: it runs once its receiver resumes
    // it, and (state.v1) while its receiver is not deafened.
    return receiver.seat.consume(
      { producerId: sender.seat.producer!.id, sessionId: sender.id, userId: sender.userId, part: sender.seat.part },
      receiver.rtpCapabilities,
      {
        parameters: (consumer) => consumerParametersJson(consumer.rtpParameters),
        deafened: () => isDeafened(this.states.of(receiver.id, receiver.userId)),
      },
    );
  }

  /** A consumer of any session in the room, while open. */
  private findConsumer(consumerId: string): SeatConsumer | undefined {
    for (const { seat } of this.sessions.values()) {
      const record = seat.consumer(consumerId);
      if (record) return record;
    }
    return undefined;
  }

  private closeSession(session: Session): void {
    // Close both ends of the session's mesh now rather than when the worker reports them,
    // so the bookkeeping is exact as soon as the leave returns.
    for (const other of this.sessions.values()) if (other !== session) other.seat.dropConsumersOf(session.id);
    // Its part's router closes with its last session (and the pipes to it with the router); a reservation of
    // a session that never joined is released.
    session.seat.close();
    this.sessions.delete(session.id);
    this.states.forget(session.id);
  }

  /** The consumers a join created that are still open, as the history and the join's answer carry them. */
  private describe(records: SeatConsumer[]): ConsumerDelivery[] {
    return records.filter((r) => !r.consumer.closed).map(delivery);
  }

  private joinResult(joined: NonNullable<Session['joined']>): JoinResult {
    return {
      forJoiner: this.describe(joined.forJoiner),
      forMembers: this.describe(joined.forMembers),
      seq: joined.seq,
      roomInstance: this.ledger.instance,
      replaced: joined.replaced,
    };
  }
}

function delivery(record: SeatConsumer): ConsumerDelivery {
  const { consumer } = record;
  return {
    receiverSessionId: record.ownerSessionId,
    producerUserId: record.producerUserId,
    producerSessionId: record.producerSessionId,
    producerId: consumer.producerId,
    consumerId: consumer.id,
    rtpParameters: record.rtpParametersJson,
  };
}

function describePart(part: SpanPart): Record<string, unknown> {
  return part.kind === 'local'
    ? { worker: part.slot.index, routerId: part.router.id, spanPart: !part.main }
    : { farNodeId: part.nodeId, spanPart: true };
}
