// Where a session's media lives: a channel spread over several workers of its node, and over other nodes.
// The room keeps its main router; when a new session should not land on the main router's worker
// (Admission.chooseSpanWorker says it has no room), the span opens a "part" for that session's transports:
// a router of the same codecs on another worker (a local part), or — when no worker of the node admits
// the join — a router on another node (a RemotePart, driven over the node-to-node gRPC API). Producers are
// piped to each part that has a listener, once per producer and part: between local routers with
// router.pipeToRouter (loopback, ids kept), to and from a remote part over the room's SRTP PipeTransport
// pair with that node, which ends on the main router (so a producer on a local part or on another remote
// part reaches a remote part through the main router). When a part's last session goes, its router is
// closed (a remote part: on the far node, with the pipe pair), which closes its pipes with it.
import type { types } from 'mediasoup';
import type { FarNode } from './far-nodes';
import type { RemotePart } from './remote-part';
import type { WorkerSlot } from '../workers/worker-pool';

/** A router of the room on a worker of this node. */
export interface LocalPart {
  readonly kind: 'local';
  readonly slot: WorkerSlot;
  /** The worker the router was made on (a slot's worker is replaced when it dies). */
  readonly worker: types.Worker;
  readonly router: types.Router;
  /** The room's main router (never closed by the span). */
  readonly main: boolean;
  readonly sessions: Set<string>;
}

export type SpanPart = LocalPart | RemotePart;

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
  /** Opens a part of the room on another node (RemotePart.open); without it the span stays on this node. */
  openRemote?: (far: FarNode) => Promise<RemotePart>;
}

export class RoomSpan {
  private readonly parts: SpanPart[];
  private readonly bySession = new Map<string, SpanPart>();
  /** `${producerId}>${part}` → the piping (so a producer is piped to a part once). */
  private readonly pipes = new Map<string, Promise<void>>();
  private readonly openingRemote = new Map<string, Promise<RemotePart>>();
  /** Remote parts being closed, by node id: a new part there waits for the old one to be gone. */
  private readonly closingRemote = new Map<string, Promise<void>>();

  constructor(private readonly options: RoomSpanOptions) {
    this.parts = [
      {
        kind: 'local',
        slot: options.mainSlot,
        worker: options.mainSlot.worker,
        router: options.mainRouter,
        main: true,
        sessions: new Set(),
      },
    ];
  }

  get mainPart(): LocalPart {
    return this.parts[0] as LocalPart;
  }

  /**
   * The part a session's transports live on, placing the session if it is new: on worker `where` or on
   * node `where` when given, else where `chooseWorker` says, else on the main router.
   */
  async place(sessionId: string, where?: WorkerSlot | FarNode): Promise<SpanPart> {
    const known = this.bySession.get(sessionId);
    if (known) return known;
    const part = where && 'nodeId' in where ? await this.remotePart(where) : await this.localPart(where);
    part.sessions.add(sessionId);
    this.bySession.set(sessionId, part);
    return part;
  }

  partOf(sessionId: string): SpanPart | undefined {
    return this.bySession.get(sessionId);
  }

  /** Every part, the main one first (diagnostics, tests, the benchmark's "where members landed"). */
  list(): readonly SpanPart[] {
    return this.parts;
  }

  /** Sessions on local parts (never the main one) whose router lives on `worker` (its death takes only them). */
  sessionsOnWorker(worker: types.Worker): string[] {
    return this.parts
      .filter((p) => p.kind === 'local' && !p.main && p.worker === worker)
      .flatMap((p) => [...p.sessions]);
  }

  /**
   * Makes producer `producerId` (of a session on `from`) consumable on `to`: nothing when they are the
   * same part; else one piping per producer and target part (pipe producers keep the producer's id, so
   * consumers on `to` use the same id either way). Remote parts are reached through the main router.
   */
  async reach(producerId: string, from: SpanPart, to: SpanPart): Promise<void> {
    if (from === to) return;
    const main = this.mainPart;
    if ((from.kind === 'remote' || to.kind === 'remote') && from !== main && to !== main) {
      await this.reach(producerId, from, main);
      return this.reach(producerId, main, to);
    }
    const key = `${producerId}>${to.kind === 'local' ? to.router.id : `node:${to.nodeId}`}`;
    let piping = this.pipes.get(key);
    if (!piping) {
      piping = this.pipe(producerId, from, to, () => {
        if (this.pipes.get(key) === piping) this.pipes.delete(key);
      });
      piping.catch(() => this.pipes.get(key) === piping && this.pipes.delete(key));
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
    if (!part.main && part.sessions.size === 0) this.closePart(part);
  }

  /** Closes every part but the main one (the room closes that). */
  close(): void {
    for (const part of this.parts.filter((p) => !p.main)) this.closePart(part);
    this.bySession.clear();
    this.pipes.clear();
  }

  private async localPart(slot: WorkerSlot | undefined): Promise<LocalPart> {
    slot ??= this.options.chooseWorker?.(this.parts) ?? this.options.mainSlot;
    const found = this.parts.find(
      (p): p is LocalPart => p.kind === 'local' && p.slot === slot && p.worker === slot.worker && !p.router.closed,
    );
    if (found) return found;
    const router = await slot.worker.createRouter({
      mediaCodecs: this.options.mediaCodecs,
      appData: { roomId: this.options.roomId, spanOf: this.options.mainRouter.id },
    });
    const part: LocalPart = { kind: 'local', slot, worker: slot.worker, router, main: false, sessions: new Set() };
    this.parts.push(part);
    return part;
  }

  private async remotePart(far: FarNode): Promise<RemotePart> {
    const found = this.parts.find((p): p is RemotePart => p.kind === 'remote' && p.nodeId === far.nodeId && !p.closed);
    if (found) return found;
    if (!this.options.openRemote) throw new Error('this room cannot span nodes (no openRemote)');
    await this.closingRemote.get(far.nodeId);
    let opening = this.openingRemote.get(far.nodeId);
    if (!opening) {
      opening = this.options.openRemote(far).finally(() => this.openingRemote.delete(far.nodeId));
      this.openingRemote.set(far.nodeId, opening);
    }
    const part = await opening;
    if (!this.parts.includes(part)) this.parts.push(part);
    return part;
  }

  private async pipe(producerId: string, from: SpanPart, to: SpanPart, onGone: () => void): Promise<void> {
    if (from.kind === 'remote') {
      // to is the main router: a pipe producer there, fed from the far node.
      const producer = await from.pipeOut(producerId);
      producer.observer.once('close', onGone);
    } else if (to.kind === 'remote') {
      // from is the main router: its producer (or pipe producer) feeds the far node.
      await to.pipeIn(producerId, onGone);
    } else {
      const { pipeProducer } = await from.router.pipeToRouter({ producerId, router: to.router });
      // The pipe producer closes with its pipe consumer, i.e. when the producer or a router closes.
      pipeProducer?.observer.once('close', onGone);
    }
  }

  private closePart(part: SpanPart): void {
    const index = this.parts.indexOf(part);
    if (index >= 0) this.parts.splice(index, 1);
    for (const [sessionId, p] of this.bySession) if (p === part) this.bySession.delete(sessionId);
    if (part.kind === 'local') {
      part.router.close();
      return;
    }
    const closing = part
      .close()
      .finally(() => this.closingRemote.get(part.nodeId) === closing && this.closingRemote.delete(part.nodeId));
    this.closingRemote.set(part.nodeId, closing);
  }
}
