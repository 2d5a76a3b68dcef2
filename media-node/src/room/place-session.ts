// Where a new session of a room goes (CreateTransports): the worker with room for it — the room's main router
// while it has room, else another worker, where the room spans (RoomSpan) — reserved until its Join commits it.
// When no worker of this node has room, part of the room goes on another node (a remote part), if one has room:
// a node already holding part of the room first (one pipe pair per node pair), else one with headroom.
import { MediaError } from '../../api/errors';
import type { Logger } from '../../../lib/log';
import type { Admission } from '../load/admission';
import { Reservation } from '../load/reservation';
import type { FarNodes } from '../span/far-nodes';
import type { Room, SessionPlacement } from './room';
import type { Rooms } from './rooms';

export interface SessionPlacerDeps {
  rooms: Rooms;
  admission: Admission;
  /** Other nodes that can take part of a room no worker of this node admits a join into; unset = none. */
  farNodes?: FarNodes;
  /** This node's id (never chosen as a far node). */
  nodeId?: () => string;
  logger: Logger;
  /** Told of a session refused as over capacity (here and on every far node), before the refusal is thrown. */
  refused(error: MediaError): void;
}

/** The placement of `sessionId` in `room`, for Room.createTransports. */
export function sessionPlacer(
  deps: SessionPlacerDeps,
  room: Room,
  sessionId: string,
  reserveForMs?: number,
): () => Promise<SessionPlacement> {
  const { rooms, admission, farNodes, nodeId, logger } = deps;
  const refuse = (error: unknown): never => {
    if (error instanceof MediaError && error.reason === 'over-capacity') deps.refused(error);
    throw error;
  };
  return async () => {
    try {
      const { worker, reservation } = admission.chooseSpanWorker(room.id, room.slot.index, sessionId, {
        reserveForMs,
      });
      return { where: rooms.slotAt(worker), reservation };
    } catch (error) {
      if (!(error instanceof MediaError && error.reason === 'over-capacity') || !farNodes) return refuse(error);
      const spanned = room.span.list().find((p) => p.kind === 'remote' && !p.closed);
      const far =
        spanned?.kind === 'remote'
          ? { nodeId: spanned.nodeId, grpcAddress: spanned.grpcAddress }
          : await farNodes.choose(room.id, nodeId ? [nodeId()] : []);
      if (!far) return refuse(error);
      logger.info('media-node.join-spills-to-node', { roomId: room.id, sessionId, farNodeId: far.nodeId });
      return { where: far, reservation: Reservation.none() };
    }
  };
}
