// Thin adapter: gRPC calls → Rooms, with caller authentication and MediaError → status mapping.
import type { SecretRing } from '../../api/auth';
import type { handleServerStreamingCall } from '@grpc/grpc-js';
import type { MediaNodeServer, SessionLost, WatchSessionsRequest } from '../../../gen/medianode/v1/media_node';
import { MediaError } from '../../api/errors';
import type { Logger } from '../../../lib/log';
import type { Admission } from '../load/admission';
import { grpcHandlers } from './grpc-handlers';
import type { Metrics } from '../telemetry/metrics';
import type { SessionLostEvent } from '../room/room';
import type { Rooms } from '../room/rooms';
import type { FarNodes } from '../span/far-nodes';
import { sessionPlacer } from '../room/place-session';
import { historyEntryOf } from './history-wire';

export interface ServiceDeps {
  rooms: Rooms;
  /** Other nodes that can take part of a room no worker of this node admits a join into; unset = none. */
  farNodes?: FarNodes;
  /** This node's id (never chosen as a far node); known once the server is bound. */
  nodeId?: () => string;
  /** Checks every new room and every join against its worker's load. */
  admission: Admission;
  /** The secrets of the signalling→node API (undefined: MEDIA_GRPC_INSECURE=1). */
  secrets: SecretRing | undefined;
  metrics: Metrics;
  logger: Logger;
}

export interface MediaNodeService {
  implementation: MediaNodeServer;
  /** Ends every open WatchSessions stream (shutdown). */
  endStreams(): void;
}

export function createMediaNodeService({
  rooms,
  admission,
  secrets,
  metrics,
  logger,
  farNodes,
  nodeId,
}: ServiceDeps): MediaNodeService {
  const { unary, admitStream } = grpcHandlers(secrets, (method, failure, error) => {
    metrics.callFailures.inc({ method, reason: failure.reason });
    if (failure.reason === 'internal') logger.error('media-node.call-failed', { method, error });
  });

  const countRefusal = (kind: 'room' | 'join', error: MediaError) => {
    metrics.admissionRefused.inc({ kind });
    logger.warn('media-node.admission-refused', { kind, message: error.humanMessage });
  };
  const refusedAs = <T>(kind: 'room' | 'join', check: () => T): T => {
    try {
      return check();
    } catch (error) {
      if (error instanceof MediaError && error.reason === 'over-capacity') countRefusal(kind, error);
      throw error;
    }
  };
  const placer = {
    rooms,
    admission,
    farNodes,
    nodeId,
    logger,
    refused: (error: MediaError) => countRefusal('join', error),
  };

  const watchers = new Set<{ end(): void }>();

  const watchSessions: handleServerStreamingCall<WatchSessionsRequest, SessionLost> = (call) => {
    if (!admitStream('WatchSessions', call)) return;
    const forward = (event: SessionLostEvent) => call.write(event);
    const stop = () => {
      rooms.off('sessionLost', forward);
      watchers.delete(watcher);
    };
    const watcher = {
      end: () => {
        stop();
        call.end();
      },
    };
    rooms.on('sessionLost', forward);
    watchers.add(watcher);
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
  };

  const implementation: MediaNodeServer = {
    openRoom: unary('OpenRoom', async ({ roomId, holdMs }) => {
      if (roomId && !rooms.find(roomId) && !rooms.isDraining) {
        refusedAs('room', () => admission.checkNewRoom(roomId));
      }
      const room = await rooms.open(roomId, holdMs);
      return { rtpCapabilities: JSON.stringify(room.rtpCapabilities) };
    }),
    createTransports: unary(
      'CreateTransports',
      async ({ roomId, sessionId, userId, rtpCapabilities, minIceConsentTimeoutS, reserveForMs, consumersResumed }) => {
        requireSessionId(sessionId);
        const room = rooms.get(roomId);
        // A new session is admitted and placed here (room/place-session.ts); its Join commits the reservation.
        const place = sessionPlacer(placer, room, sessionId, reserveForMs || undefined);
        const { consumer, producer } = await room.createTransports(sessionId, userId, rtpCapabilities, {
          place,
          minIceConsentTimeoutS,
          consumersResumed,
        });
        return { consumerTransport: consumer, producerTransport: producer };
      },
    ),
    join: unary('Join', async (request) => {
      requireSessionId(request.sessionId);
      const stopTimer = metrics.joinDuration.startTimer();
      // Admitted (and placed) at CreateTransports; the join commits that reservation.
      const result = await rooms.get(request.roomId).join(request);
      stopTimer();
      return result;
    }),
    resumeConsumer: unary('ResumeConsumer', async ({ roomId, sessionId, consumerId }) => {
      await rooms.get(roomId).resume(sessionId, consumerId);
      return {};
    }),
    restartIce: unary('RestartIce', async ({ roomId, sessionId }) => rooms.get(roomId).restartIce(sessionId)),
    leave: unary('Leave', async ({ roomId, sessionId }) => rooms.leave(roomId, sessionId)),
    history: unary('History', async ({ roomId, after }) => {
      const room = rooms.find(roomId);
      if (!room) return { exists: false, roomInstance: '', head: 0, entries: [], truncated: false };
      const slice = room.history(after);
      return {
        exists: true,
        roomInstance: slice.instance,
        head: slice.head,
        truncated: slice.truncated,
        entries: slice.entries.map(historyEntryOf),
      };
    }),
    setMemberState: unary(
      'SetMemberState',
      async ({ roomId, sessionId, targetUserId, selfMuted, selfDeafened, serverMuted, serverDeafened, stamp }) => {
        requireSessionId(sessionId);
        const result = await rooms.get(roomId).setMemberState({
          sessionId,
          targetUserId: targetUserId || undefined,
          change: { selfMuted, selfDeafened, serverMuted, serverDeafened },
          stamp: Number(stamp),
        });
        return {
          changed: result.changed,
          seq: result.seq,
          state: { sessionId: result.sessionId, userId: result.userId, ...result.state },
        };
      },
    ),
    getRoom: unary('GetRoom', async ({ roomId }) => {
      const room = rooms.find(roomId);
      return { exists: room !== undefined, sessions: room ? room.sessionRefs() : [] };
    }),
    watchSessions,
  };

  return {
    implementation,
    endStreams: () => {
      for (const watcher of [...watchers]) watcher.end();
    },
  };
}

function requireSessionId(sessionId: string): void {
  if (!sessionId) throw new MediaError('unknown-session', 'session id is empty');
}
