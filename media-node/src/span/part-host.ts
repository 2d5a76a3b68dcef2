// The far side of a channel that spans nodes: parts of other nodes' rooms hosted on this node. A part is
// a router on one of this node's workers for the sessions the room's home node placed here (spreading over
// this node's other workers like any room: RoomSpan, admitted by this node's Admission), plus this end of
// the room's PipeTransport pair to the home node (on the part's main router). The home node drives it (RemotePart, over the
// MediaNodeSpan gRPC service); this node keeps no membership or history for it — the home's ledger is
// the channel's one history. Sessions lost here (ICE/DTLS, worker death) are reported to the home node
// through WatchPart; a part whose worker died ends its watchers, which the home reads as the part lost.
// Each hosted session is a SessionSeat, as in the home node's Room.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { PipeEndpoint, SessionLost, TransportOptions } from '../../../gen/medianode/v1/media_node';
import { MediaError } from '../../api/errors';
import type { Logger } from '../../../lib/log';
import { ROOM_MEDIA_CODECS } from '../workers/codecs';
import { NodePipe, type PipeListen } from './node-pipe';
import { RoomSpan, type LocalPart } from './room-span';
import type { ProducerPolice } from '../session/producer-police';
import { NOTICE_PREFIX } from './remote-part';
import {
  createLocalMedia,
  type ConsumerHandle,
  type LocalMediaFactory,
  type MediaLossReason,
} from '../session/session-media';
import { SessionSeat } from '../session/session-seat';
import { Reservation } from '../load/reservation';
import { parseDtlsParameters, parseProducerRtpParameters, parseRtpCapabilities } from '../session/validate';
import type { WorkerPool, WorkerSlot } from '../workers/worker-pool';

const DEFAULT_WATCH_WITHIN_MS = 30_000;

export interface PartHostOptions {
  pool: WorkerPool;
  /** Load of a worker (Admission.score): a part goes on the least-loaded one. */
  workerScore: (slot: WorkerSlot) => number;
  /**
   * Which worker a new session of a part goes on, with its join's reservation (Admission.chooseSpanWorker:
   * 'over-capacity' when none has room); unset = the part's main worker.
   */
  chooseWorker?: (roomId: string, mainIndex: number, sessionId: string) => { worker: number; reservation: Reservation };
  pipe: PipeListen;
  iceConsentTimeoutS: number;
  iceDisconnectedGraceMs: number;
  iceConnectTimeoutMs?: number;
  /** Default LocalSessionMedia.create (WebRTC). */
  localMedia?: LocalMediaFactory;
  /** Polices the producers of the part's sessions (ProducerPolice); unset = none. */
  police?: ProducerPolice;
  /**
   * A part nobody starts watching this soon after OpenPart (its home node died or failed between OpenPart and
   * WatchPart) is closed; default 30 s.
   */
  watchWithinMs?: number;
  logger: Logger;
}

/** A session of a hosted part: its seat on one of the part's routers (the home node keeps its membership). */
type HostedSession = SessionSeat<LocalPart>;

interface HostedPart {
  readonly roomId: string;
  readonly homeNodeId: string;
  readonly slot: WorkerSlot;
  readonly worker: types.Worker;
  readonly router: types.Router;
  /** The part's routers on this node's workers (the main one holds the pipe to the home node). */
  readonly span: RoomSpan;
  pipe?: NodePipe;
  readonly sessions: Map<string, HostedSession>;
  /** Producers of the part's sessions → the router they are on (a pipe producer from home is on the main router). */
  readonly producers: Map<string, LocalPart>;
  /** Pipe consumers feeding the home node, by producer id. */
  readonly pipeOut: Map<string, Promise<types.Consumer>>;
  /** Pipe producers of the home node's producers, by producer id. */
  readonly pipeIn: Map<string, Promise<types.Producer>>;
  readonly events: EventEmitter<{ lost: [SessionLost]; closed: [] }>;
  /** Open WatchPart streams (the home node's). */
  watchers: number;
  /** Closes the part if no WatchPart comes after OpenPart (cleared by the first). */
  unwatched?: NodeJS.Timeout;
}

export class PartHost {
  private readonly parts = new Map<string, HostedPart>();
  private readonly opening = new Map<string, Promise<HostedPart>>();

  /** The node's id is known once its gRPC port is bound: logs carry it from then on. */
  useLogger(logger: Logger): void {
    this.options.logger = logger;
  }

  constructor(private readonly options: PartHostOptions) {
    options.pool.on('died', (slot) => {
      for (const part of [...this.parts.values()]) {
        if (part.slot === slot && part.worker === slot.worker) this.fail(part, 'worker-died');
        else
          for (const sessionId of part.span.sessionsOnWorker(slot.worker))
            this.lose(part, sessionId, part.sessions.get(sessionId)?.userId ?? '', 'worker-died');
      }
    });
  }

  /** Parts hosted here (diagnostics, tests). */
  list(): {
    roomId: string;
    homeNodeId: string;
    worker: number;
    router: types.Router;
    sessions: string[];
    pipe?: types.PipeTransport;
    workers: Record<string, number>;
  }[] {
    return [...this.parts.values()].map((p) => ({
      roomId: p.roomId,
      homeNodeId: p.homeNodeId,
      worker: p.slot.index,
      router: p.router,
      sessions: [...p.sessions.keys()],
      pipe: p.pipe?.transport,
      workers: Object.fromEntries(p.span.list().map((l) => [String((l as LocalPart).slot.index), l.sessions.size])),
    }));
  }

  async open(roomId: string, homeNodeId: string): Promise<types.RtpCapabilities> {
    const existing = this.parts.get(roomId) ?? (await this.opening.get(roomId));
    if (existing) return existing.router.rtpCapabilities;
    const opening = this.create(roomId, homeNodeId).finally(() => this.opening.delete(roomId));
    this.opening.set(roomId, opening);
    return (await opening).router.rtpCapabilities;
  }

  async createPipe(roomId: string): Promise<PipeEndpoint> {
    const part = this.get(roomId);
    part.pipe ??= await NodePipe.create(part.router, this.options.pipe, { roomId, homeNodeId: part.homeNodeId });
    return part.pipe.endpoint;
  }

  async connectPipe(roomId: string, remote: PipeEndpoint | undefined): Promise<void> {
    const part = this.get(roomId);
    if (!part.pipe) throw new MediaError('not-prepared', `part ${roomId} has no pipe yet`);
    await part.pipe.connect(remote);
  }

  async createTransports(
    roomId: string,
    sessionId: string,
    userId: string,
    minIceConsentTimeoutS = 0,
  ): Promise<{ consumer: TransportOptions; producer: TransportOptions }> {
    const part = this.get(roomId);
    let session = part.sessions.get(sessionId);
    if (!session) {
      const chosen = this.options.chooseWorker?.(roomId, part.slot.index, sessionId);
      const slot = chosen ? this.options.pool.slots[chosen.worker] : undefined;
      session = await SessionSeat.open<LocalPart>({
        id: sessionId,
        userId,
        reservation: chosen?.reservation ?? Reservation.none(),
        span: part.span,
        place: async () => (await part.span.place(sessionId, slot)) as LocalPart,
        media: (place, onLost) => createLocalMedia(place, this.options, sessionId, minIceConsentTimeoutS, onLost),
        onLost: (_seat, reason) => this.lose(part, sessionId, userId, reason),
      });
      part.sessions.set(sessionId, session);
      this.log(part).info('media-node.part-session-prepared', { sessionId, userId, worker: session.part.slot.index });
    }
    return { consumer: session.media.consumerOptions, producer: session.media.producerOptions };
  }

  async join(
    roomId: string,
    sessionId: string,
    rtp: string,
    producerDtls: string,
    consumerDtls: string,
  ): Promise<string> {
    const session = this.session(roomId, sessionId);
    if (session.producer) return session.producer.id;
    const producer = await session.produce(
      parseProducerRtpParameters(rtp),
      parseDtlsParameters(producerDtls, 'producer dtls parameters'),
      parseDtlsParameters(consumerDtls, 'consumer dtls parameters'),
    );
    this.get(roomId).producers.set(producer.id, session.part);
    session.reservation.commit();
    return producer.id;
  }

  async consume(
    roomId: string,
    sessionId: string,
    producerId: string,
    rtpCapabilities: string,
    producerSessionId: string,
  ): Promise<ConsumerHandle> {
    const session = this.session(roomId, sessionId);
    const part = this.get(roomId);
    // A member's producer, or one piped in from the home node (on the main router): piped to the receiver's router first.
    const from = part.producers.get(producerId) ?? part.span.mainPart;
    const record = await session.consume(
      { producerId, sessionId: producerSessionId, part: from },
      parseRtpCapabilities(rtpCapabilities),
    );
    return record.consumer;
  }

  async resumeConsumer(roomId: string, sessionId: string, consumerId: string): Promise<void> {
    await this.consumer(roomId, sessionId, consumerId).resume();
  }

  /** state.v1: a deafened receiver's consumer (the home node keeps that consumer's holds and asks for resume too). */
  async pauseConsumer(roomId: string, sessionId: string, consumerId: string): Promise<void> {
    await this.consumer(roomId, sessionId, consumerId).pause();
  }

  /**
   * state.v1: a member whose producer is here is muted or not. Held beside this node's police (MediaHolds): the end
   * of a police cool-down does not unmute it, and unmuting resumes only what the police does not hold. A session
   * muted before its producer exists gets it held when it produces (join).
   */
  async setMuted(roomId: string, sessionId: string, muted: boolean): Promise<void> {
    await this.session(roomId, sessionId).setMuted(muted);
  }

  closeConsumer(roomId: string, sessionId: string, consumerId: string): void {
    this.parts.get(roomId)?.sessions.get(sessionId)?.dropConsumer(consumerId);
  }

  async restartIce(
    roomId: string,
    sessionId: string,
  ): Promise<{ consumer: types.IceParameters; producer: types.IceParameters }> {
    return this.session(roomId, sessionId).restartIce();
  }

  closeSession(roomId: string, sessionId: string): void {
    const part = this.parts.get(roomId);
    const session = part?.sessions.get(sessionId);
    if (!part || !session) return;
    part.sessions.delete(sessionId);
    if (session.producer) part.producers.delete(session.producer.id);
    session.close();
    this.log(part).info('media-node.part-session-closed', { sessionId });
  }

  async pipeProduce(roomId: string, producerId: string, kind: string, rtpParameters: string): Promise<void> {
    const part = this.get(roomId);
    if (!part.pipe) throw new MediaError('not-prepared', `part ${roomId} has no pipe yet`);
    if (kind !== 'audio') throw new MediaError('bad-rtp-parameters', `only audio is piped, not ${kind}`);
    let piping = part.pipeIn.get(producerId);
    if (!piping) {
      const pipe = part.pipe;
      piping = (async () => pipe.produce(producerId, 'audio', JSON.parse(rtpParameters) as types.RtpParameters))();
      part.pipeIn.set(producerId, piping);
      piping.then(
        (producer) =>
          producer.observer.once(
            'close',
            () => part.pipeIn.get(producerId) === piping && part.pipeIn.delete(producerId),
          ),
        () => part.pipeIn.delete(producerId),
      );
    }
    await piping;
  }

  async pipeCloseProducer(roomId: string, producerId: string): Promise<void> {
    const piping = this.parts.get(roomId)?.pipeIn.get(producerId);
    if (piping) (await piping.catch(() => undefined))?.close();
  }

  async pipeConsume(roomId: string, producerId: string): Promise<{ kind: string; rtpParameters: types.RtpParameters }> {
    const part = this.get(roomId);
    if (!part.pipe) throw new MediaError('not-prepared', `part ${roomId} has no pipe yet`);
    let piping = part.pipeOut.get(producerId);
    if (!piping) {
      const pipe = part.pipe;
      // A member on another worker of this node: its producer reaches the main router (the pipe's) first.
      piping = part.span
        .reach(producerId, part.producers.get(producerId) ?? part.span.mainPart, part.span.mainPart)
        .then(() => pipe.consume(producerId));
      part.pipeOut.set(producerId, piping);
      piping.then(
        (consumer) =>
          consumer.observer.once(
            'close',
            () => part.pipeOut.get(producerId) === piping && part.pipeOut.delete(producerId),
          ),
        () => part.pipeOut.delete(producerId),
      );
    }
    const consumer = await piping;
    return { kind: consumer.kind, rtpParameters: consumer.rtpParameters };
  }

  /** The part's lost sessions, until it closes (then `onEnd`). Returns the unsubscribe. */
  /**
   * The part's lost sessions, until it closes (then `onEnd`). Returns the unsubscribe. The home node watches
   * its part for as long as it uses it: when the last watcher goes (the home node closed the part, died, or
   * lost it), the part is closed here too, so a dead home node leaves nothing behind.
   */
  watch(roomId: string, onLost: (event: SessionLost) => void, onEnd: () => void): () => void {
    const part = this.get(roomId);
    part.events.on('lost', onLost);
    part.events.once('closed', onEnd);
    part.watchers++;
    clearTimeout(part.unwatched);
    let watching = true;
    return () => {
      if (!watching) return;
      watching = false;
      part.events.off('lost', onLost);
      part.events.off('closed', onEnd);
      part.watchers--;
      if (part.watchers === 0 && this.parts.get(roomId) === part) {
        this.log(part).warn('media-node.part-abandoned', { sessions: [...part.sessions.keys()] });
        this.close(roomId);
      }
    };
  }

  /**
   * Tells the home node something about one of the part's sessions that does not end it (its producer was paused
   * by this node's police): on WatchPart, reason `notice:<reason>`. False when no part here hosts that session.
   */
  notice(roomId: string, sessionId: string, userId: string, reason: string): boolean {
    const part = this.parts.get(roomId);
    if (!part?.sessions.has(sessionId)) return false;
    part.events.emit('lost', { roomId, sessionId, userId, reason: `${NOTICE_PREFIX}${reason}` });
    return true;
  }

  /** Closes the part: its router (and with it the pipe, transports, producers, consumers). */
  close(roomId: string): void {
    const part = this.parts.get(roomId);
    if (!part) return;
    this.parts.delete(roomId);
    clearTimeout(part.unwatched);
    for (const session of part.sessions.values()) session.close();
    part.sessions.clear();
    part.span.close();
    part.router.close();
    part.events.emit('closed');
    this.log(part).info('media-node.part-closed', {});
  }

  closeAll(): void {
    for (const roomId of [...this.parts.keys()]) this.close(roomId);
  }

  private async create(roomId: string, homeNodeId: string): Promise<HostedPart> {
    const slot = this.options.pool.leastLoaded(this.options.workerScore);
    if (!slot) throw new MediaError('internal', 'no mediasoup worker is available');
    const router = await slot.worker.createRouter({
      mediaCodecs: ROOM_MEDIA_CODECS,
      appData: { roomId, partOf: homeNodeId },
    });
    const part: HostedPart = {
      roomId,
      homeNodeId,
      slot,
      worker: slot.worker,
      router,
      span: new RoomSpan({ roomId, mainRouter: router, mainSlot: slot, mediaCodecs: ROOM_MEDIA_CODECS }),
      sessions: new Map(),
      producers: new Map(),
      pipeOut: new Map(),
      pipeIn: new Map(),
      events: new EventEmitter(),
      watchers: 0,
    };
    this.parts.set(roomId, part);
    part.unwatched = setTimeout(() => {
      if (this.parts.get(roomId) !== part || part.watchers > 0) return;
      this.log(part).warn('media-node.part-abandoned', {
        sessions: [...part.sessions.keys()],
        reason: 'never-watched',
      });
      this.close(roomId);
    }, this.options.watchWithinMs ?? DEFAULT_WATCH_WITHIN_MS);
    part.unwatched.unref();
    this.log(part).info('media-node.part-opened', { worker: slot.index, routerId: router.id });
    return part;
  }

  private lose(part: HostedPart, sessionId: string, userId: string, reason: MediaLossReason): void {
    if (part.sessions.get(sessionId) === undefined || this.parts.get(part.roomId) !== part) return;
    this.closeSession(part.roomId, sessionId);
    this.log(part).warn('media-node.part-session-lost', { sessionId, userId, reason });
    part.events.emit('lost', { roomId: part.roomId, sessionId, userId, reason });
  }

  /** The part's worker died: every session on it is lost, and the part ends. */
  private fail(part: HostedPart, reason: MediaLossReason): void {
    for (const [sessionId, session] of [...part.sessions]) {
      part.events.emit('lost', { roomId: part.roomId, sessionId, userId: session.userId, reason });
    }
    this.close(part.roomId);
  }

  private get(roomId: string): HostedPart {
    const part = this.parts.get(roomId);
    if (!part) throw new MediaError('unknown-room', `no part of room ${roomId} is hosted on this node`);
    return part;
  }

  private consumer(roomId: string, sessionId: string, consumerId: string): ConsumerHandle {
    const record = this.session(roomId, sessionId).consumer(consumerId);
    if (!record) throw new MediaError('unknown-consumer', `consumer ${consumerId} does not exist in part ${roomId}`);
    return record.consumer;
  }

  private session(roomId: string, sessionId: string): HostedSession {
    const session = this.get(roomId).sessions.get(sessionId);
    if (!session) throw new MediaError('unknown-session', `session ${sessionId} is not in part ${roomId}`);
    return session;
  }

  private log(part: HostedPart): Logger {
    return this.options.logger.child({ roomId: part.roomId, homeNodeId: part.homeNodeId });
  }
}
