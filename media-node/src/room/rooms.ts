// The node's rooms: opens each channel's router on the least-loaded worker, closes empty rooms
// after a grace, refuses new rooms while draining, and turns worker deaths into lost sessions.
import { EventEmitter } from 'node:events';
import { MediaError } from '../../api/errors';
import { ROOM_MEDIA_CODECS } from '../workers/codecs';
import type { Logger } from '../../../lib/log';
import { Room, type LossReason, type RoomHooks, type RoomLoad, type SessionLostEvent } from './room';
import type { WorkerPool, WorkerSlot } from '../workers/worker-pool';

/** A room just opened waits at least this long for its first session (OpenRoom → CreateTransports). */
const MIN_OPEN_GRACE_MS = 5_000;

export interface RoomsOptions {
  /** How long an empty room keeps its router (a quick rejoin reuses it). */
  roomGraceMs: number;
  iceDisconnectedGraceMs: number;
  /** MEDIA_ICE_CONNECT_TIMEOUT_MS (SessionMedia DEFAULT_ICE_CONNECT_TIMEOUT_MS when unset). */
  iceConnectTimeoutMs?: number;
  iceConsentTimeoutS: number;
  logger: Logger;
  /** Load of a worker for placing a new room (Admission.score); default: consumers, rooms break ties. */
  workerScore?: (slot: WorkerSlot) => number;
  /** Opens a part of a room on another node (RoomSpan); unset = rooms stay on this node. */
  openRemote?: RoomHooks['openRemote'];
  /** How a session's media is made (RoomHooks.localMedia). */
  localMedia?: RoomHooks['localMedia'];
  /** Polices every producer (RoomHooks.police). */
  police?: RoomHooks['police'];
}

export interface NodeLoad extends RoomLoad {
  rooms: number;
}

interface RoomsEvents {
  sessionLost: [event: SessionLostEvent];
  roomClosed: [roomId: string];
}

export class Rooms extends EventEmitter<RoomsEvents> {
  private readonly rooms = new Map<string, Room>();
  private readonly opening = new Map<string, Promise<Room>>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private draining = false;

  constructor(
    private readonly pool: WorkerPool,
    private readonly options: RoomsOptions,
  ) {
    super();
    pool.on('died', (slot) => this.onWorkerDied(slot));
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * The room, opening it if needed. New rooms are refused while draining. An empty room stays open at
   * least `holdMs` (the caller's window for its next step) and at least the node's own grace.
   */
  async open(roomId: string, holdMs = 0): Promise<Room> {
    if (!roomId) throw new MediaError('unknown-room', 'room id is empty');
    const existing = this.rooms.get(roomId);
    if (existing) {
      if (existing.isEmpty) this.scheduleGraceClose(existing, Math.max(this.openGraceMs, holdMs));
      return existing;
    }
    const pending = this.opening.get(roomId);
    if (pending) {
      const room = await pending;
      if (room.isEmpty) this.scheduleGraceClose(room, Math.max(this.openGraceMs, holdMs));
      return room;
    }
    if (this.draining) throw new MediaError('draining', `node is draining; room ${roomId} must be placed elsewhere`);
    const opening = this.create(roomId, holdMs).finally(() => this.opening.delete(roomId));
    this.opening.set(roomId, opening);
    return opening;
  }

  get(roomId: string): Room {
    const room = this.rooms.get(roomId);
    if (!room) throw new MediaError('unknown-room', `room ${roomId} is not open on this node`);
    return room;
  }

  /** The worker slot with this index (Admission names workers by index). */
  slotAt(index: number): WorkerSlot {
    const slot = this.pool.slots[index];
    if (!slot) throw new MediaError('internal', `no worker ${index}`);
    return slot;
  }

  find(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  all(): Room[] {
    return [...this.rooms.values()];
  }

  load(): NodeLoad {
    const total: NodeLoad = { rooms: this.rooms.size, sessions: 0, transports: 0, producers: 0, consumers: 0 };
    for (const room of this.rooms.values()) {
      const load = room.load();
      total.sessions += load.sessions;
      total.transports += load.transports;
      total.producers += load.producers;
      total.consumers += load.consumers;
    }
    return total;
  }

  /** Leaves and reports whether the room is gone afterwards (closed now, or was never here). */
  async leave(roomId: string, sessionId: string) {
    const room = this.rooms.get(roomId);
    if (!room)
      return { wasPresent: false, remaining: [], roomClosed: true, announced: false, seq: 0, roomInstance: '' };
    const result = await room.leave(sessionId);
    let roomClosed = room.closed;
    if (!roomClosed && room.isEmpty && (this.options.roomGraceMs === 0 || this.draining)) {
      roomClosed = await this.closeIfEmpty(room);
    }
    return { ...result, roomClosed };
  }

  startDraining(): void {
    this.draining = true;
    for (const room of this.rooms.values()) if (room.isEmpty) void this.closeIfEmpty(room);
  }

  /** Resolves true once no room is left, false if `timeoutMs` passed first. */
  async waitUntilEmpty(timeoutMs: number, pollMs = 100): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.rooms.size > 0 || this.opening.size > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, deadline - Date.now()))));
    }
    return true;
  }

  /** Closes every room; with a reason, the sessions in them are reported lost. */
  closeAll(reason?: LossReason): void {
    for (const room of [...this.rooms.values()]) this.remove(room, reason);
  }

  private async create(roomId: string, holdMs: number): Promise<Room> {
    const slot = this.pool.leastLoaded((s) => this.options.workerScore?.(s) ?? this.slotScore(s));
    if (!slot) throw new MediaError('internal', 'no mediasoup worker is available');
    const router = await slot.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS, appData: { roomId } });
    const room: Room = new Room(roomId, router, slot, {
      logger: this.options.logger,
      iceDisconnectedGraceMs: this.options.iceDisconnectedGraceMs,
      iceConnectTimeoutMs: this.options.iceConnectTimeoutMs,
      iceConsentTimeoutS: this.options.iceConsentTimeoutS,
      onSessionLost: (event) => this.emit('sessionLost', event),
      onEmpty: (r) => (this.draining ? void this.closeIfEmpty(r) : this.scheduleGraceClose(r)),
      openRemote: this.options.openRemote,
      localMedia: this.options.localMedia,
      police: this.options.police,
    });
    this.rooms.set(roomId, room);
    this.options.logger.info('media-node.room-opened', { roomId, worker: slot.index, routerId: router.id });
    this.scheduleGraceClose(room, Math.max(this.openGraceMs, holdMs));
    return room;
  }

  /** Consumers dominate a worker's packet work; rooms break ties so new channels spread out. */
  private slotScore(slot: WorkerSlot): number {
    let consumers = 0;
    let rooms = 0;
    for (const room of this.rooms.values()) {
      if (room.worker === slot.worker) rooms++;
      consumers += room.consumersOnWorker(slot.worker);
    }
    return consumers + rooms * 0.5;
  }

  private get openGraceMs(): number {
    return Math.max(this.options.roomGraceMs, MIN_OPEN_GRACE_MS);
  }

  private scheduleGraceClose(room: Room, graceMs = this.options.roomGraceMs): void {
    this.clearGrace(room.id);
    const timer = setTimeout(() => void this.closeIfEmpty(room), graceMs);
    timer.unref();
    this.graceTimers.set(room.id, timer);
  }

  private clearGrace(roomId: string): void {
    const timer = this.graceTimers.get(roomId);
    if (timer) clearTimeout(timer);
    this.graceTimers.delete(roomId);
  }

  private async closeIfEmpty(room: Room): Promise<boolean> {
    const closed = await room.closeIfEmpty();
    if (closed && this.rooms.get(room.id) === room) this.forget(room);
    return closed;
  }

  private remove(room: Room, reason?: LossReason): void {
    room.close(reason);
    this.forget(room);
  }

  private forget(room: Room): void {
    this.clearGrace(room.id);
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
    this.emit('roomClosed', room.id);
  }

  /** A room whose main router was on the dead worker closes; a room with only a part there loses that part's sessions. */
  private onWorkerDied(slot: WorkerSlot): void {
    for (const room of [...this.rooms.values()]) {
      if (room.slot === slot && room.worker === slot.worker) this.remove(room, 'worker-died');
      else room.partWorkerDied(slot.worker);
    }
  }
}
