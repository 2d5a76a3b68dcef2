// A session's media, wherever it lives: its two WebRTC transports, its producer and the consumers on its
// receive transport. `LocalSessionMedia` holds them on a router of this node (the room's main router, a
// part on another worker, or — on a far node — a part hosted for another node's room: PartHost);
// `RemotePart` gives the room the same shape for a session whose transports are on a far node.
import type { Pausable } from './media-holds';
import { MAX_ICE_CONSENT_TIMEOUT_S } from '../../api/limits';
import type { types } from 'mediasoup';
import type { TransportOptions } from '../../../gen/medianode/v1/media_node';
import { MediaError } from '../../api/errors';
import type { ProducerPolice } from './producer-police';

/** Why a session's media died on the node (each also a leave reason of the room's history: room/room-ledger.ts). */
export type MediaLossReason =
  | 'ice-failed'
  | 'dtls-failed'
  | 'dtls-closed'
  | 'worker-died'
  | 'drained'
  | 'node-lost'
  | 'policed'
  | 'media-unreachable';

/**
 * A transport the client must connect (the producer transport from Join, the consumer transport from its first
 * consumer) that has not reached DTLS 'connected' (ICE connected first) this long after that is a session whose
 * media never connects: lost as 'media-unreachable' (MEDIA_ICE_CONNECT_TIMEOUT_MS; docs/reachability.md).
 * 15 s: Chromium's ladder (UDP, then ICE over TCP, then a TURN/TLS relay) connects within a few seconds on every
 * working profile of the network lab, and a user hears "could not connect" before they give up.
 */
export const DEFAULT_ICE_CONNECT_TIMEOUT_MS = 15_000;

export interface ConsumerHandle {
  readonly id: string;
  readonly producerId: string;
  readonly rtpParameters: types.RtpParameters;
  readonly closed: boolean;
  resume(): Promise<void>;
  /** state.v1 (deafen): pauses it again (MediaHolds decides when it runs). */
  pause(): Promise<void>;
  close(): void;
  /** Called once when the consumer closes, whoever closed it. */
  onClose(listener: () => void): void;
  /** The mediasoup consumer when it is on this node (tests and diagnostics). */
  readonly local?: types.Consumer;
}

export interface ProducerHandle {
  readonly id: string;
  readonly kind: types.MediaKind;
  close(): void;
  /** The mediasoup producer when it is on this node (policed there: ProducerPolice). */
  readonly local?: types.Producer;
}

export interface SessionMedia {
  readonly consumerOptions: TransportOptions;
  readonly producerOptions: TransportOptions;
  /**
   * The join's media step: produces, then connects both transports (once each: a retried join skips what
   * is done); a failed connect closes the producer again.
   */
  start(
    rtpParameters: types.RtpParameters,
    producerDtls: types.DtlsParameters,
    consumerDtls: types.DtlsParameters,
    appData: { sessionId: string; userId: string },
  ): Promise<ProducerHandle>;
  /** A paused consumer of `producerId` (consumable on this session's router); 'cannot-consume' if the capabilities do not allow it. */
  consume(
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
    appData: { sessionId: string; producerSessionId: string },
  ): Promise<ConsumerHandle>;
  restartIce(): Promise<{ consumer: types.IceParameters; producer: types.IceParameters }>;
  close(): void;
  /** The mediasoup transports when they are on this node (tests and diagnostics). */
  readonly local?: { consumer: types.WebRtcTransport; producer: types.WebRtcTransport };
  /**
   * state.v1's mute of this session's producer when the producer is on another node (a remote part): pause = muted
   * there, resume = not muted (that node holds it beside its own police). Absent for media on this node.
   */
  readonly remoteMute?: Pausable;
}

export interface LocalSessionOptions {
  router: types.Router;
  webRtcServer: types.WebRtcServer;
  sessionId: string;
  iceConsentTimeoutS: number;
  /** How long ICE may stay 'disconnected' before the session counts as lost. */
  iceDisconnectedGraceMs: number;
  /** How long a started transport may take to connect before the session is lost as 'media-unreachable' (default DEFAULT_ICE_CONNECT_TIMEOUT_MS; 0 = unbounded). */
  iceConnectTimeoutMs?: number;
  /** Media-side death: DTLS failed/closed, or ICE disconnected past the grace. */
  onLost(reason: MediaLossReason): void;
}

/**
 * How a session's media is made on this node: WebRTC transports on the router's WebRtcServer
 * (LocalSessionMedia.create); benchmarks swap in lighter members (bench/span.ts: PlainTransports).
 */
export type LocalMediaFactory = (options: LocalSessionOptions) => Promise<SessionMedia>;

/** The node's settings for a session's transports (Room's hooks and PartHost's options both carry them). */
export interface LocalMediaSettings {
  /** The node's ICE consent timeout (0 = off). */
  iceConsentTimeoutS: number;
  iceDisconnectedGraceMs: number;
  /** DEFAULT_ICE_CONNECT_TIMEOUT_MS when unset (MEDIA_ICE_CONNECT_TIMEOUT_MS). */
  iceConnectTimeoutMs?: number;
  /** Default LocalSessionMedia.create (WebRTC). */
  localMedia?: LocalMediaFactory;
  /** Polices every producer made here (packet rate, bitrate); unset = none (tests of other things). */
  police?: ProducerPolice;
}

/** A session's media on a router of this node, with the node's settings and the consent the caller asked for. */
export async function createLocalMedia(
  part: { router: types.Router; slot: { webRtcServer: types.WebRtcServer } },
  settings: LocalMediaSettings,
  sessionId: string,
  minIceConsentTimeoutS: number,
  onLost: (reason: MediaLossReason) => void,
): Promise<SessionMedia> {
  const media = await (settings.localMedia ?? LocalSessionMedia.create)({
    router: part.router,
    webRtcServer: part.slot.webRtcServer,
    sessionId,
    iceConsentTimeoutS: iceConsentTimeoutFor(settings.iceConsentTimeoutS, minIceConsentTimeoutS),
    iceDisconnectedGraceMs: settings.iceDisconnectedGraceMs,
    iceConnectTimeoutMs: settings.iceConnectTimeoutMs,
    onLost,
  });
  const { police } = settings;
  if (!police) return media;
  const roomId = (part.router.appData as { roomId?: unknown }).roomId;
  return policed(media, (producer, userId) =>
    police.watch(producer, { roomId: typeof roomId === 'string' ? roomId : part.router.id, sessionId, userId }, () =>
      onLost('policed'),
    ),
  );
}

/** The session's media with its producer handed to the police once made (a retried start: the new one). */
function policed(media: SessionMedia, watch: (producer: types.Producer, userId: string) => void): SessionMedia {
  return {
    get consumerOptions() {
      return media.consumerOptions;
    },
    get producerOptions() {
      return media.producerOptions;
    },
    get local() {
      return media.local;
    },
    start: async (rtpParameters, producerDtls, consumerDtls, appData) => {
      const producer = await media.start(rtpParameters, producerDtls, consumerDtls, appData);
      if (producer.local) watch(producer.local, appData.userId);
      return producer;
    },
    consume: (producerId, rtpCapabilities, appData) => media.consume(producerId, rtpCapabilities, appData),
    restartIce: () => media.restartIce(),
    close: () => media.close(),
  };
}

/** A producer of this node as a ProducerHandle. */
export function localProducer(producer: types.Producer): ProducerHandle {
  return { id: producer.id, kind: producer.kind, close: () => producer.close(), local: producer };
}

export class LocalSessionMedia implements SessionMedia {
  private consumerConnected = false;
  private producerConnected = false;
  private readonly iceTimers = new Map<string, NodeJS.Timeout>();
  /** Per transport id: the bound on its first connection, armed when the client is due to connect it. */
  private readonly connectTimers = new Map<string, NodeJS.Timeout>();

  private constructor(
    private readonly options: LocalSessionOptions,
    private readonly consumerTransport: types.WebRtcTransport,
    private readonly producerTransport: types.WebRtcTransport,
  ) {
    this.watch(consumerTransport);
    this.watch(producerTransport);
  }

  static async create(options: LocalSessionOptions): Promise<LocalSessionMedia> {
    const transportOptions: types.WebRtcTransportOptions = {
      webRtcServer: options.webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      iceConsentTimeout: options.iceConsentTimeoutS,
    };
    const id = options.sessionId;
    const consumer = await options.router.createWebRtcTransport({
      ...transportOptions,
      appData: { sessionId: id, role: 'consumer', iceConsentTimeoutS: options.iceConsentTimeoutS },
    });
    try {
      const producer = await options.router.createWebRtcTransport({
        ...transportOptions,
        appData: { sessionId: id, role: 'producer', iceConsentTimeoutS: options.iceConsentTimeoutS },
      });
      return new LocalSessionMedia(options, consumer, producer);
    } catch (error) {
      consumer.close();
      throw error;
    }
  }

  get local() {
    return { consumer: this.consumerTransport, producer: this.producerTransport };
  }

  get consumerOptions(): TransportOptions {
    return transportOptions(this.consumerTransport);
  }

  get producerOptions(): TransportOptions {
    return transportOptions(this.producerTransport);
  }

  async start(
    rtpParameters: types.RtpParameters,
    producerDtls: types.DtlsParameters,
    consumerDtls: types.DtlsParameters,
    appData: { sessionId: string; userId: string },
  ): Promise<ProducerHandle> {
    const producer = await this.produce(rtpParameters, appData);
    try {
      await this.connect(producerDtls, consumerDtls);
    } catch (error) {
      producer.close();
      throw error;
    }
    // A client starts ICE on its send transport as it produces (before JoinChannel): from now on it is due.
    this.expectConnected(this.producerTransport);
    return localProducer(producer);
  }

  private async connect(producerDtls: types.DtlsParameters, consumerDtls: types.DtlsParameters): Promise<void> {
    try {
      if (!this.producerConnected) {
        await this.producerTransport.connect({ dtlsParameters: producerDtls });
        this.producerConnected = true;
      }
      if (!this.consumerConnected) {
        await this.consumerTransport.connect({ dtlsParameters: consumerDtls });
        this.consumerConnected = true;
      }
    } catch (error) {
      if (this.producerTransport.closed || this.consumerTransport.closed) throw error;
      throw new MediaError('bad-dtls-parameters', `transport rejected dtls parameters: ${(error as Error).message}`);
    }
  }

  private async produce(
    rtpParameters: types.RtpParameters,
    appData: { sessionId: string; userId: string },
  ): Promise<types.Producer> {
    try {
      return await this.producerTransport.produce({ kind: 'audio', rtpParameters, appData });
    } catch (error) {
      if (this.producerTransport.closed) throw error;
      throw new MediaError('bad-rtp-parameters', `producer rejected: ${(error as Error).message}`);
    }
  }

  async consume(
    producerId: string,
    rtpCapabilities: types.RtpCapabilities,
    appData: { sessionId: string; producerSessionId: string },
  ): Promise<ConsumerHandle> {
    if (!this.options.router.canConsume({ producerId, rtpCapabilities })) {
      throw new MediaError(
        'cannot-consume',
        `session ${appData.sessionId} cannot consume the audio of session ${appData.producerSessionId}`,
      );
    }
    const consumer = await this.consumerTransport.consume({ producerId, rtpCapabilities, paused: true, appData });
    // A client starts ICE on its receive transport with its first consumer: from now on it is due.
    this.expectConnected(this.consumerTransport);
    return localConsumer(consumer);
  }

  async restartIce(): Promise<{ consumer: types.IceParameters; producer: types.IceParameters }> {
    const [consumer, producer] = await Promise.all([
      this.consumerTransport.restartIce(),
      this.producerTransport.restartIce(),
    ]);
    return { consumer, producer };
  }

  close(): void {
    for (const timer of [...this.iceTimers.values(), ...this.connectTimers.values()]) clearTimeout(timer);
    this.iceTimers.clear();
    this.connectTimers.clear();
    this.producerTransport.close();
    this.consumerTransport.close();
  }

  /** Arms the first-connection bound of `transport` once (nothing when it is connected already or the bound is off). */
  private expectConnected(transport: types.WebRtcTransport): void {
    const bound = this.options.iceConnectTimeoutMs ?? DEFAULT_ICE_CONNECT_TIMEOUT_MS;
    if (bound <= 0 || transport.closed || transport.dtlsState === 'connected' || this.connectTimers.has(transport.id))
      return;
    const timer = setTimeout(() => {
      if (!transport.closed && transport.dtlsState !== 'connected') this.options.onLost('media-unreachable');
    }, bound);
    timer.unref();
    this.connectTimers.set(transport.id, timer);
  }

  private watch(transport: types.WebRtcTransport): void {
    const { onLost } = this.options;
    transport.on('icestatechange', (state) => {
      const timer = this.iceTimers.get(transport.id);
      if (state === 'connected' || state === 'completed') {
        if (timer) clearTimeout(timer);
        this.iceTimers.delete(transport.id);
      } else if (state === 'disconnected' && !timer) {
        const graceTimer = setTimeout(() => onLost('ice-failed'), this.options.iceDisconnectedGraceMs);
        graceTimer.unref();
        this.iceTimers.set(transport.id, graceTimer);
      } else if (state === 'closed') {
        onLost('ice-failed');
      }
    });
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') {
        const timer = this.connectTimers.get(transport.id);
        if (timer) clearTimeout(timer);
      }
      if (state === 'failed') onLost('dtls-failed');
      else if (state === 'closed') onLost('dtls-closed');
    });
  }
}

export function localConsumer(consumer: types.Consumer): ConsumerHandle {
  return {
    local: consumer,
    id: consumer.id,
    producerId: consumer.producerId,
    rtpParameters: consumer.rtpParameters,
    get closed() {
      return consumer.closed;
    },
    resume: () => consumer.resume(),
    pause: () => consumer.pause(),
    close: () => consumer.close(),
    onClose: (listener) => void consumer.observer.once('close', listener),
  };
}

export function transportOptions(transport: types.WebRtcTransport): TransportOptions {
  return {
    id: transport.id,
    iceParameters: JSON.stringify(transport.iceParameters),
    iceCandidates: transport.iceCandidates.map((candidate) => JSON.stringify(candidate)),
    dtlsParameters: JSON.stringify(transport.dtlsParameters),
  };
}

/** The node's ICE consent timeout (0 = off, i.e. unbounded), lengthened to what the caller asks, within a cap. */
export function iceConsentTimeoutFor(nodeS: number, askedS: number): number {
  if (nodeS === 0) return 0;
  return Math.max(nodeS, Math.min(askedS, MAX_ICE_CONSENT_TIMEOUT_S));
}
