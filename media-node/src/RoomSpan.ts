// Where a session's media lives: a channel spread over several workers of one node. The room keeps its
// main router; when a new session should not land on the main router's worker (Admission.chooseSpanWorker
// says it has no room), the span opens a "part": a router of the same codecs on another worker, for that
// session's transports. Producers are piped (router.pipeToRouter, a PipeTransport pair on loopback inside
// the node, ids kept) to each part that has a listener, once per producer and part. When a part's last
// session goes, its router is closed, which closes its pipe transports and every pipe producer/consumer
// with them. Room places every session here (README "Channels that span workers"). Spanning nodes is not done.
import type { types } from 'mediasoup';
import type { WorkerSlot } from './WorkerPool';

export interface SpanPart {
  readonly slot: WorkerSlot;
  /** The worker the router was made on (a slot's worker is replaced when it dies). */
  readonly worker: types.Worker;
  readonly router: types.Router;
  /** The room's main router (never closed by the span). */
  readonly main: boolean;
  readonly sessions: Set<string>;
}

export interface RoomSpanOptions {
  roomId: string;
  mainRouter: types.Router;
  mainSlot: WorkerSlot;
  mediaCodecs: types.RouterRtpCodecCapability[];
  /**
   * Which worker a new session's transports go on when `place` is not told (e.g. the main router's worker
   * while Admission admits the join there, else the least-loaded worker that does); undefined = the main router's.
   */
  chooseWorker?: (parts: readonly SpanPart[]) => WorkerSlot | undefined;
}

export class RoomSpan {
  private readonly parts: SpanPart[];
  private readonly bySession = new Map<string, SpanPart>();
  /** `${producerId}>${routerId}` → the piping (so a producer is piped to a part once). */
  private readonly pipes = new Map<string, Promise<void>>();

  constructor(private readonly options: RoomSpanOptions) {
    this.parts = [{ slot: options.mainSlot, worker: options.mainSlot.worker, router: options.mainRouter, main: true, sessions: new Set() }];
  }

  /**
   * The part a session's transports live on, placing the session if it is new: on `slot` when given,
   * else where `chooseWorker` says, else on the main router.
   */
  async place(sessionId: string, slot?: WorkerSlot): Promise<SpanPart> {
    const known = this.bySession.get(sessionId);
    if (known) return known;
    slot ??= this.options.chooseWorker?.(this.parts) ?? this.options.mainSlot;
    let part = this.parts.find((p) => p.slot === slot && !p.router.closed);
    if (!part) {
      const router = await slot.worker.createRouter({
        mediaCodecs: this.options.mediaCodecs,
        appData: { roomId: this.options.roomId, spanOf: this.options.mainRouter.id },
      });
      part = { slot, worker: slot.worker, router, main: false, sessions: new Set() };
      this.parts.push(part);
    }
    part.sessions.add(sessionId);
    this.bySession.set(sessionId, part);
    return part;
  }

  partOf(sessionId: string): SpanPart | undefined {
    return this.bySession.get(sessionId);
  }

  /** Sessions on parts (never the main one) whose router lives on `worker` (its death takes only them). */
  sessionsOnWorker(worker: types.Worker): string[] {
    return this.parts.filter((p) => !p.main && p.worker === worker).flatMap((p) => [...p.sessions]);
  }

  /** Every part, the main one first (diagnostics, tests, the benchmark's "where members landed"). */
  list(): readonly SpanPart[] {
    return this.parts;
  }

  /**
   * Makes `producer` (living on `from`) consumable on `to`: nothing when they are the same router,
   * else one pipeToRouter per producer and target part (the pipe producer keeps the producer's id,
   * so consumers on `to` use `producer.id` either way).
   */
  async reach(producer: types.Producer, from: types.Router, to: types.Router): Promise<void> {
    if (from === to) return;
    const key = `${producer.id}>${to.id}`;
    let piping = this.pipes.get(key);
    if (!piping) {
      piping = from.pipeToRouter({ producerId: producer.id, router: to }).then(({ pipeProducer }) => {
        // The pipe producer closes with its pipe consumer, i.e. when the producer or a router closes.
        pipeProducer?.observer.once('close', () => this.pipes.delete(key));
      });
      piping.catch(() => this.pipes.delete(key));
      this.pipes.set(key, piping);
    }
    await piping;
  }

  /** A session is gone: its part's router closes once no session is left on it (never the main one). */
  release(sessionId: string): void {
    const part = this.bySession.get(sessionId);
    if (!part) return;
    this.bySession.delete(sessionId);
    part.sessions.delete(sessionId);
    if (!part.main && part.sessions.size === 0) {
      part.router.close();
      this.parts.splice(this.parts.indexOf(part), 1);
    }
  }

  /** Closes every part but the main one (the room closes that). */
  close(): void {
    for (const part of this.parts.filter((p) => !p.main)) part.router.close();
    this.parts.splice(1);
    this.bySession.clear();
    this.pipes.clear();
  }
}
