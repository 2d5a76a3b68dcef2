// MediaClient over the media node's gRPC API. Channels are reused across invocations (a warm Lambda keeps
// them) but recreated after idle, because a grpc-js channel can go stale while a Lambda is frozen.
// Every call has a deadline; UNAVAILABLE (not draining) is retried with backoff: all calls are idempotent.
// A failure becomes a MediaError carrying the node's reason and its text without the node id; the node id,
// address, gRPC code and raw details go to the log (`media.call-failed`, with room and session ids as
// correlation ids), never into anything a client is sent (functions/voice/media-errors.ts).
import { status, type ServiceError } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../lib/log';
import { connectMediaNode, type MediaNodeApi } from '../../media-node/api/client';
import { parseMediaError } from '../../media-node/api/errors';
import { HistoryEntry_Kind, type MemberStateInfo } from '../../gen/medianode/v1/media_node';
import { MediaError, type HistoryEntry, type MediaClient, type Placement, type RoomHistory } from '../voice/ports';

export interface GrpcMediaClientOptions {
  secret?: string | (() => string);
  timeoutMs?: number;
  idleMs?: number;
  retries?: number;
  /** Where failed calls are logged with their internal details (default: nowhere). */
  log?: Logger;
}

export class GrpcMediaClient implements MediaClient {
  private readonly channels = new Map<string, { api: MediaNodeApi; lastUsed: number }>();
  private readonly timeoutMs: number;
  private readonly idleMs: number;
  private readonly retries: number;

  constructor(private readonly options: GrpcMediaClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.idleMs = options.idleMs ?? 60_000;
    this.retries = options.retries ?? 2;
  }

  async openRoom(node: Placement, roomId: string, holdMs: number) {
    return this.call(node, 'openRoom', { roomId }, (api) => api.openRoom({ roomId, holdMs }));
  }

  async createTransports(node: Placement, req: Parameters<MediaClient['createTransports']>[1]) {
    const res = await this.call(node, 'createTransports', req, (api) => api.createTransports(req));
    if (!res.consumerTransport || !res.producerTransport)
      throw new MediaError('internal', 'media node returned no transports');
    return { consumerTransport: res.consumerTransport, producerTransport: res.producerTransport };
  }

  async join(node: Placement, req: Parameters<MediaClient['join']>[1]) {
    return this.call(node, 'join', req, (api) => api.join(req));
  }

  async resumeConsumer(node: Placement, req: { roomId: string; sessionId: string; consumerId: string }) {
    await this.call(node, 'resumeConsumer', req, (api) => api.resumeConsumer(req));
  }

  async restartIce(node: Placement, req: { roomId: string; sessionId: string }) {
    const res = await this.call(node, 'restartIce', req, (api) => api.restartIce(req));
    return { consumerIceParameters: res.consumerIceParameters, producerIceParameters: res.producerIceParameters };
  }

  async leave(node: Placement, req: { roomId: string; sessionId: string }) {
    return this.call(node, 'leave', req, (api) => api.leave(req));
  }

  async history(node: Placement, req: { roomId: string; after: number }): Promise<RoomHistory> {
    const res = await this.call(node, 'history', req, (api) => api.history(req));
    return {
      exists: res.exists,
      roomInstance: res.roomInstance,
      head: res.head,
      truncated: res.truncated,
      entries: res.entries.map((e): HistoryEntry => {
        if (e.kind === HistoryEntry_Kind.KIND_JOIN) {
          return {
            seq: e.seq,
            kind: 'join',
            sessionId: e.sessionId,
            userId: e.userId,
            forJoiner: e.forJoiner,
            forMembers: e.forMembers,
            states: e.states.map(flagsOf),
          };
        }
        if (e.kind === HistoryEntry_Kind.KIND_STATE && e.state) {
          return {
            seq: e.seq,
            kind: 'state',
            sessionId: e.sessionId,
            userId: e.userId,
            state: flagsOf(e.state),
            audience: e.stateAudience,
            actorUserId: e.actorUserId,
          };
        }
        return {
          seq: e.seq,
          kind: 'leave',
          sessionId: e.sessionId,
          userId: e.userId,
          audience: e.audience,
          reason: e.reason,
        };
      }),
    };
  }

  async setMemberState(node: Placement, req: Parameters<MediaClient['setMemberState']>[1]) {
    const { stamp, ...rest } = req;
    const res = await this.call(node, 'setMemberState', req, (api) =>
      api.setMemberState({ ...rest, stamp: BigInt(stamp ?? 0) }),
    );
    if (!res.state) throw new MediaError('internal', 'media node returned no member state');
    return {
      changed: res.changed,
      seq: res.seq,
      state: { ...flagsOf(res.state), sessionId: res.state.sessionId, userId: res.state.userId },
    };
  }

  close(): void {
    for (const { api } of this.channels.values()) api.close();
    this.channels.clear();
  }

  private api(address: string): MediaNodeApi {
    const now = Date.now();
    const entry = this.channels.get(address);
    if (entry && now - entry.lastUsed <= this.idleMs) {
      entry.lastUsed = now;
      return entry.api;
    }
    entry?.api.close();
    const api = connectMediaNode(address, { secret: this.options.secret, timeoutMs: this.timeoutMs });
    this.channels.set(address, { api, lastUsed: now });
    return api;
  }

  private async call<T>(
    node: Placement,
    method: string,
    ids: { roomId: string; sessionId?: string },
    fn: (api: MediaNodeApi) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(this.api(node.grpcAddress));
      } catch (err) {
        const error = err as ServiceError;
        const { reason, message } = parseMediaError(error.details);
        const unavailable = error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED;
        if (error.code === status.UNAVAILABLE && reason !== 'draining' && attempt < this.retries) {
          this.channels.get(node.grpcAddress)?.api.close();
          this.channels.delete(node.grpcAddress);
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
          continue;
        }
        const level = unavailable ? 'warn' : reason === 'internal' || reason === 'unauthenticated' ? 'error' : 'info';
        (this.options.log ?? silentLogger)[level]('media.call-failed', {
          method,
          roomId: ids.roomId,
          connectionId: ids.sessionId,
          nodeId: node.nodeId,
          grpcAddress: node.grpcAddress,
          code: error.code,
          reason,
          details: error.details ?? error.message,
          attempts: attempt + 1,
        });
        // Still refused after the retries (nothing listening): the node is gone or restarting, and its rooms with it.
        const unreachable = error.code === status.UNAVAILABLE && reason === 'internal';
        throw new MediaError(unreachable ? 'unreachable' : reason, message || 'media node call failed', unavailable);
      }
    }
  }
}

function flagsOf(s: MemberStateInfo) {
  return {
    sessionId: s.sessionId,
    userId: s.userId,
    selfMuted: s.selfMuted,
    selfDeafened: s.selfDeafened,
    serverMuted: s.serverMuted,
    serverDeafened: s.serverDeafened,
  };
}
