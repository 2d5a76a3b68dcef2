// The home node's side of a room's part on another node (a "remote part"). The far node hosts a router for
// the sessions placed there (PartHost); this proxy drives it over the MediaNodeSpan gRPC service, gives the
// room the same SessionMedia shape as a local part, and owns the home end of the room's PipeTransport pair
// with that node (on the room's main router, SRTP on). A producer crosses by a pipe consumer on one end and
// a pipe producer with the same id on the other. When the far node is lost (its WatchPart stream ends, or a
// call finds it unavailable), every session on the part is reported lost ('node-lost') and the pipe closed.
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { types } from 'mediasoup';
import type { CreateTransportsResponse, SessionLost, TransportOptions } from '../../../gen/medianode/v1/media_node';
import { MediaError, parseMediaError } from '../../api/errors';
import type { MediaNodeSpanApi } from '../../api/span-client';
import type { Logger } from '../../../lib/log';
import { NodePipe, type PipeListen } from './node-pipe';
import type { ConsumerHandle, MediaLossReason, ProducerHandle, SessionMedia } from '../session/session-media';

export interface RemotePartOptions {
  roomId: string;
  homeNodeId: string;
  nodeId: string;
  /** The far node's gRPC address (host:port). */
  grpcAddress: string;
  api: MediaNodeSpanApi;
  mainRouter: types.Router;
  pipe: PipeListen;
  logger: Logger;
  /** Called once when the far node is lost (after its sessions were reported). */
  onFailed?(part: RemotePart): void;
  /**
   * A notice about one of the part's sessions (WatchPart reason `notice:<what>`: the far node's police paused its
   * producer); the session goes on. The home node tells its member, as for its own sessions.
   */
  onNotice?(notice: { roomId: string; sessionId: string; userId: string; reason: string }): void;
}

/** WatchPart's reason prefix for a notice (not a loss): `notice:policed`. */
export const NOTICE_PREFIX = 'notice:';

export class RemotePart {
  readonly kind = 'remote';
  readonly main = false;
  readonly sessions = new Set<string>();
  private readonly lostHandlers = new Map<string, (reason: MediaLossReason) => void>();
  /** Home pipe producers of the part's producers, by producer id. */
  private readonly pipeProducers = new Map<string, Promise<types.Producer>>();
  private readonly consumers = new Set<RemoteConsumer>();
  private stream?: ClientReadableStream<SessionLost>;
  private state: 'open' | 'closed' | 'failed' = 'open';
  private readonly log: Logger;

  private constructor(
    private readonly options: RemotePartOptions,
    private readonly pipe: NodePipe,
  ) {
    this.log = options.logger.child({ roomId: options.roomId, farNodeId: options.nodeId });
  }

  /** Opens the part on the far node and connects the room's pipe pair with it. */
  static async open(options: RemotePartOptions): Promise<RemotePart> {
    const { api, roomId } = options;
    await call(() => api.openPart({ roomId, homeNodeId: options.homeNodeId }));
    const pipe = await NodePipe.create(options.mainRouter, options.pipe, { roomId, farNodeId: options.nodeId });
    try {
      const far = await call(() => api.createPipe({ roomId }));
      await call(() => api.connectPipe({ roomId, remote: pipe.endpoint }));
      await pipe.connect(far);
    } catch (error) {
      pipe.close();
      api.closePart({ roomId }).catch(() => {});
      throw error;
    }
    const part = new RemotePart(options, pipe);
    part.watch();
    part.log.info('media-node.remote-part-opened', { pipe: pipe.endpoint.ip + ':' + pipe.endpoint.port });
    return part;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get roomId(): string {
    return this.options.roomId;
  }

  get grpcAddress(): string {
    return this.options.grpcAddress;
  }

  get api(): MediaNodeSpanApi {
    return this.options.api;
  }

  get closed(): boolean {
    return this.state !== 'open';
  }

  /** The home end of the room's pipe pair with this node (tests and diagnostics). */
  get pipeTransport(): types.PipeTransport {
    return this.pipe.transport;
  }

  async createSession(
    sessionId: string,
    userId: string,
    onLost: (reason: MediaLossReason) => void,
    minIceConsentTimeoutS = 0,
  ): Promise<SessionMedia> {
    this.lostHandlers.set(sessionId, onLost);
    try {
      const prepared = await this.call(() =>
        this.options.api.partCreateTransports({
          roomId: this.options.roomId,
          sessionId,
          userId,
          minIceConsentTimeoutS,
        }),
      );
      return new RemoteSessionMedia(this, sessionId, prepared);
    } catch (error) {
      this.lostHandlers.delete(sessionId);
      throw error;
    }
  }

  /** Makes a producer on the room's main router consumable on the part (once per producer). */
  async pipeIn(producerId: string, onGone: () => void): Promise<void> {
    const consumer = await this.pipe.consume(producerId);
    try {
      await this.call(() =>
        this.options.api.pipeProduce({
          roomId: this.options.roomId,
          producerId,
          kind: consumer.kind,
          rtpParameters: JSON.stringify(consumer.rtpParameters),
        }),
      );
    } catch (error) {
      consumer.close();
      throw error;
    }
    // The producer went (or the pipe closed): its pipe producer on the far node goes too.
    consumer.observer.once('close', () => {
      onGone();
      if (!this.closed) this.options.api.pipeCloseProducer({ roomId: this.options.roomId, producerId }).catch(() => {});
    });
  }

  /** Makes a producer of the part consumable on the room's main router (a pipe producer, same id). */
  async pipeOut(producerId: string): Promise<types.Producer> {
    let piping = this.pipeProducers.get(producerId);
    if (!piping) {
      piping = (async () => {
        const { kind, rtpParameters } = await this.call(() =>
          this.options.api.pipeConsume({ roomId: this.options.roomId, producerId }),
        );
        return this.pipe.produce(producerId, kind as types.MediaKind, JSON.parse(rtpParameters) as types.RtpParameters);
      })();
      this.pipeProducers.set(producerId, piping);
      piping.then(
        (producer) =>
          producer.observer.once(
            'close',
            () => this.pipeProducers.get(producerId) === piping && this.pipeProducers.delete(producerId),
          ),
        () => this.pipeProducers.delete(producerId),
      );
    }
    return piping;
  }

  /** The home pipe producer of a part producer that went. */
  closePipeProducer(producerId: string): void {
    void this.pipeProducers.get(producerId)?.then(
      (p) => p.close(),
      () => {},
    );
  }

  forgetSession(sessionId: string): void {
    this.lostHandlers.delete(sessionId);
  }

  trackConsumer(consumer: RemoteConsumer): void {
    this.consumers.add(consumer);
    consumer.onClose(() => this.consumers.delete(consumer));
  }

  /**
   * The part emptied (or the room closed): the far node closes its router, the pipe pair closes. Resolves
   * once the far node answered (a new part of the room on that node is opened only after).
   */
  close(): Promise<void> {
    if (this.state !== 'open') return Promise.resolve();
    this.state = 'closed';
    this.stream?.cancel();
    this.shutdown();
    const { api, roomId } = this.options;
    this.log.info('media-node.remote-part-closed', {});
    return api
      .closePart({ roomId })
      .then(
        () => {},
        (error) => this.log.warn('media-node.remote-part-close-failed', { error }),
      )
      .finally(() => api.close());
  }

  /** This node dies (MediaNodeHandle.abort): the connection to the far node just drops, nothing is asked of it. */
  abandon(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.stream?.cancel();
    this.options.api.close();
  }

  /** Runs a call to the far node; unavailable → the part is lost; a refusal → its MediaError. */
  async call<T>(request: () => Promise<T>): Promise<T> {
    if (this.state === 'failed')
      throw new MediaError(
        'internal',
        `node ${this.options.nodeId} carrying part of room ${this.options.roomId} is lost`,
      );
    try {
      return await call(request);
    } catch (error) {
      const code = (error as ServiceError).code;
      if (code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED) this.fail(error);
      throw error;
    }
  }

  private watch(): void {
    const stream = this.options.api.watchPart(this.options.roomId);
    this.stream = stream;
    stream.on('data', (event: SessionLost) => {
      if (!event.reason.startsWith(NOTICE_PREFIX))
        return this.lostHandlers.get(event.sessionId)?.(event.reason as MediaLossReason);
      if (this.sessions.has(event.sessionId))
        this.options.onNotice?.({ ...event, reason: event.reason.slice(NOTICE_PREFIX.length) });
    });
    stream.on('error', (error) => this.fail(error));
    stream.on('end', () => this.fail(new Error('WatchPart ended')));
  }

  /** The far node is gone (died, drained, or unreachable): its sessions are lost, the pipe closes. */
  private fail(error: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.log.warn('media-node.remote-part-lost', { error, sessions: [...this.sessions] });
    this.stream?.cancel();
    this.shutdown();
    for (const onLost of [...this.lostHandlers.values()]) onLost('node-lost');
    this.lostHandlers.clear();
    this.options.api.close();
    this.options.onFailed?.(this);
  }

  private shutdown(): void {
    this.pipe.close();
    for (const consumer of [...this.consumers]) consumer.markClosed();
  }
}

class RemoteSessionMedia implements SessionMedia {
  readonly consumerOptions: TransportOptions;
  readonly producerOptions: TransportOptions;
  private producerId?: string;
  readonly remoteMute = {
    pause: () => this.setMuted(true),
    resume: () => this.setMuted(false),
  };

  constructor(
    private readonly part: RemotePart,
    private readonly sessionId: string,
    prepared: CreateTransportsResponse,
  ) {
    if (!prepared.consumerTransport || !prepared.producerTransport)
      throw new MediaError('internal', 'far node returned no transports');
    this.consumerOptions = prepared.consumerTransport;
    this.producerOptions = prepared.producerTransport;
  }

  private get roomId(): string {
    return this.part.roomId;
  }

  private get api(): MediaNodeSpanApi {
    return this.part.api;
  }

  async start(
    rtpParameters: types.RtpParameters,
    producerDtls: types.DtlsParameters,
    consumerDtls: types.DtlsParameters,
  ): Promise<ProducerHandle> {
    const { producerId } = await this.part.call(() =>
      this.api.partJoin({
        roomId: this.roomId,
        sessionId: this.sessionId,
        rtpParameters: JSON.stringify(rtpParameters),
        producerDtlsParameters: JSON.stringify(producerDtls),
        consumerDtlsParameters: JSON.stringify(consumerDtls),
      }),
    );
    this.producerId = producerId;
    // Closing it here closes its pipe producer on the home node (the far producer goes with the session).
    return { id: producerId, kind: 'audio', close: () => this.part.closePipeProducer(producerId) };
  }

  async consume(
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
    appData: { sessionId: string; producerSessionId: string },
  ): Promise<ConsumerHandle> {
    const { consumerId, rtpParameters } = await this.part.call(() =>
      this.api.partConsume({
        roomId: this.roomId,
        sessionId: this.sessionId,
        producerId,
        rtpCapabilities: JSON.stringify(rtpCapabilities),
        producerSessionId: appData.producerSessionId,
      }),
    );
    const consumer = new RemoteConsumer(consumerId, producerId, JSON.parse(rtpParameters) as types.RtpParameters, {
      resume: () =>
        this.part
          .call(() => this.api.partResumeConsumer({ roomId: this.roomId, sessionId: this.sessionId, consumerId }))
          .then(() => {}),
      pause: () =>
        this.part
          .call(() => this.api.partPauseConsumer({ roomId: this.roomId, sessionId: this.sessionId, consumerId }))
          .then(() => {}),
      close: () =>
        void this.api.partCloseConsumer({ roomId: this.roomId, sessionId: this.sessionId, consumerId }).catch(() => {}),
    });
    this.part.trackConsumer(consumer);
    return consumer;
  }

  private async setMuted(muted: boolean): Promise<void> {
    await this.part.call(() => this.api.partSetMuted({ roomId: this.roomId, sessionId: this.sessionId, muted }));
  }

  async restartIce(): Promise<{ consumer: types.IceParameters; producer: types.IceParameters }> {
    const answer = await this.part.call(() =>
      this.api.partRestartIce({ roomId: this.roomId, sessionId: this.sessionId }),
    );
    return { consumer: JSON.parse(answer.consumerIceParameters), producer: JSON.parse(answer.producerIceParameters) };
  }

  close(): void {
    this.part.forgetSession(this.sessionId);
    if (this.producerId) this.part.closePipeProducer(this.producerId);
    if (!this.part.closed)
      this.api.partCloseSession({ roomId: this.roomId, sessionId: this.sessionId }).catch(() => {});
  }
}

class RemoteConsumer implements ConsumerHandle {
  private isClosed = false;
  private readonly listeners: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly producerId: string,
    readonly rtpParameters: types.RtpParameters,
    private readonly remote: { resume(): Promise<void>; pause(): Promise<void>; close(): void },
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  resume(): Promise<void> {
    return this.remote.resume();
  }

  /** state.v1's deafen: paused on the far node (this node keeps the consumer's holds, MediaHolds). */
  pause(): Promise<void> {
    return this.remote.pause();
  }

  close(): void {
    if (this.isClosed) return;
    this.markClosed();
    this.remote.close();
  }

  /** Closed without telling the far node (it is gone, or closed it itself). */
  markClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of this.listeners.splice(0)) listener();
  }

  onClose(listener: () => void): void {
    if (this.isClosed) listener();
    else this.listeners.push(listener);
  }
}

/** A call's gRPC failure as the far node's MediaError (transport failures stay ServiceErrors). */
async function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    const failure = error as ServiceError;
    if (
      typeof failure.code === 'number' &&
      failure.code !== status.UNAVAILABLE &&
      failure.code !== status.DEADLINE_EXCEEDED
    ) {
      const parsed = parseMediaError(failure.details);
      if (parsed.reason !== 'internal') throw new MediaError(parsed.reason, parsed.message);
    }
    throw error;
  }
}
