// One session's seat on a router of a span: where its media is (the part), the media itself (SessionMedia: its two
// transports, on this node or another), its producer, the consumers on its receive transport, the holds on them
// and its join's admission reservation. A home node's `Room` and a far node's `PartHost` both keep their sessions
// as seats, so a session's life is written once: open (placed on a part, its media made, the reservation held),
// produce (the join's media step), consume (the sender's producer reached on this part first), hold (muted,
// deafened, the client's pause), close (everything it made, its place on the span, its reservation). What is
// above a seat — membership, the history, the mesh of who consumes whom — stays with its owner.
import type { types } from 'mediasoup';
import type { Reservation } from '../load/reservation';
import { heldFromStart, hold, holdsOf, release } from './media-holds';
import type { ConsumerHandle, MediaLossReason, ProducerHandle, SessionMedia } from './session-media';

/** What a seat needs of its span (RoomSpan): to pipe a producer to its part, and to let go of its place. */
export interface SeatSpan<P> {
  reach(producerId: string, from: P, to: P): Promise<void>;
  release(sessionId: string): void;
}

export interface SeatOpening<P> {
  id: string;
  userId: string;
  /** The join's admission reservation (Reservation.none() when there is none). */
  reservation: Reservation;
  span: SeatSpan<P>;
  /** Puts the session on a part of the span (a router here, or another node's part). */
  place(): Promise<P>;
  /** Its media on that part; `onLost` reports the media's death (ICE/DTLS, policed, its node lost). */
  media(part: P, onLost: (reason: MediaLossReason) => void): Promise<SessionMedia>;
  /** The seat's media died (called for an open seat; the owner closes it). */
  onLost(seat: SessionSeat<P>, reason: MediaLossReason): void;
  /** consumers.v1: its consumers are created resumed (its client sends no ResumeConsumer). */
  consumersResumed?: boolean;
}

export interface SeatConsumer {
  readonly consumer: ConsumerHandle;
  /** The session consuming it (the seat's). */
  readonly ownerSessionId: string;
  readonly producerSessionId: string;
  /** '' where the sender's user is not known (a far node's part). */
  readonly producerUserId: string;
  /** What its receiver is handed ('' where the seat's owner hands nothing: a far node's part). */
  readonly rtpParametersJson: string;
}

/** The sender a seat consumes: its producer and where that is. */
export interface SeatSender<P> {
  readonly producerId: string;
  readonly sessionId: string;
  readonly userId?: string;
  readonly part: P;
}

export class SessionSeat<P> {
  producer?: ProducerHandle;
  private readonly consumers = new Map<string, SeatConsumer>();
  /** state.v1: the producer is held muted (also one made later, by produce()). */
  #muted = false;
  #closed = false;

  private constructor(
    readonly id: string,
    readonly userId: string,
    /** The part (router, or another node's part) its transports are on. */
    readonly part: P,
    readonly media: SessionMedia,
    readonly reservation: Reservation,
    private readonly span: SeatSpan<P>,
    readonly consumersResumed: boolean,
  ) {}

  /**
   * Places the session and makes its media. On failure nothing is left: its place on the span and its reservation
   * are released.
   */
  static async open<P>(opening: SeatOpening<P>): Promise<SessionSeat<P>> {
    let part: P;
    try {
      part = await opening.place();
    } catch (error) {
      opening.reservation.release();
      throw error;
    }
    let seat: SessionSeat<P> | undefined;
    try {
      const media = await opening.media(part, (reason) => {
        if (seat && !seat.closed) opening.onLost(seat, reason);
      });
      seat = new SessionSeat(
        opening.id,
        opening.userId,
        part,
        media,
        opening.reservation,
        opening.span,
        opening.consumersResumed ?? false,
      );
      return seat;
    } catch (error) {
      opening.span.release(opening.id);
      opening.reservation.release();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get muted(): boolean {
    return this.#muted;
  }

  /** The join's media step (SessionMedia.start); a retried one returns the producer made before. */
  async produce(
    rtpParameters: types.RtpParameters,
    producerDtls: types.DtlsParameters,
    consumerDtls: types.DtlsParameters,
  ): Promise<ProducerHandle> {
    if (this.producer) return this.producer;
    const producer = await this.media.start(rtpParameters, producerDtls, consumerDtls, {
      sessionId: this.id,
      userId: this.userId,
    });
    this.producer = producer;
    if (this.#muted && producer.local) await hold(producer.local, 'muted');
    return producer;
  }

  /** Undoes produce() (a join that failed after it). */
  dropProducer(): void {
    this.producer?.close();
    this.producer = undefined;
  }

  /**
   * state.v1 for a producer on this node: held muted beside the police (MediaHolds: the end of a police cool-down
   * does not unmute it, and unmuting resumes only what nothing else holds). A seat muted before it produces gets its
   * producer held when it does.
   */
  async setMuted(muted: boolean): Promise<void> {
    this.#muted = muted;
    const producer = this.producer?.local;
    if (!producer) return;
    if (muted) await hold(producer, 'muted');
    else if (holdsOf(producer).includes('muted')) await release(producer, 'muted');
  }

  /**
   * A consumer of `sender`'s producer on this seat's receive transport: the producer is piped to this part first (once
   * per producer and part). `parameters` builds what the receiver is handed (a throw closes the consumer); a consumers.v1
   * seat's consumer is resumed before anyone is told of it. It starts held by the client (created paused) and, for a
   * deafened receiver, by 'deafened'. A consumer closed by the worker (producer or transport gone) is forgotten.
   */
  async consume(
    sender: SeatSender<P>,
    rtpCapabilities: types.RtpCapabilities,
    options: { parameters?: (consumer: ConsumerHandle) => string; deafened?: () => boolean } = {},
  ): Promise<SeatConsumer> {
    await this.span.reach(sender.producerId, sender.part, this.part);
    const consumer = await this.media.consume(sender.producerId, rtpCapabilities, {
      sessionId: this.id,
      producerSessionId: sender.sessionId,
    });
    let rtpParametersJson = '';
    try {
      if (options.parameters) rtpParametersJson = options.parameters(consumer);
      if (this.consumersResumed) await consumer.resume();
    } catch (error) {
      consumer.close();
      throw error;
    }
    const record: SeatConsumer = {
      consumer,
      ownerSessionId: this.id,
      producerSessionId: sender.sessionId,
      producerUserId: sender.userId ?? '',
      rtpParametersJson,
    };
    this.consumers.set(consumer.id, record);
    if (consumer.local?.paused ?? true) heldFromStart(consumer, 'client');
    if (options.deafened?.()) heldFromStart(consumer, 'deafened');
    consumer.onClose(() => {
      if (this.consumers.get(consumer.id) === record) this.consumers.delete(consumer.id);
    });
    return record;
  }

  /** One of its consumers (undefined when unknown or closed). */
  consumer(consumerId: string): SeatConsumer | undefined {
    const record = this.consumers.get(consumerId);
    return record && !record.consumer.closed ? record : undefined;
  }

  /** How many consumers it has (load, metrics). */
  get consumerCount(): number {
    return this.consumers.size;
  }

  /** Its consumers, without a copy (not to be changed while iterating: Array.from it for that). */
  consumerRecords(): Iterable<SeatConsumer> {
    return this.consumers.values();
  }

  /** Closes one of its consumers now (rather than when the worker reports it), so the bookkeeping is exact. */
  dropConsumer(consumerId: string): void {
    const record = this.consumers.get(consumerId);
    if (!record) return;
    this.consumers.delete(consumerId);
    record.consumer.close();
  }

  /** Closes its consumers of `producerSessionId`'s producer (that session is going). */
  dropConsumersOf(producerSessionId: string): void {
    for (const record of [...this.consumers.values()])
      if (record.producerSessionId === producerSessionId) this.dropConsumer(record.consumer.id);
  }

  restartIce(): Promise<{ consumer: types.IceParameters; producer: types.IceParameters }> {
    return this.media.restartIce();
  }

  /**
   * Closes everything it made (consumers, producer, transports), leaves its place on the span (its part's router
   * closes with its last session) and releases its reservation if it never joined. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.consumers.keys()]) this.dropConsumer(id);
    this.producer?.close();
    this.media.close();
    this.span.release(this.id);
    this.reservation.release();
  }
}
