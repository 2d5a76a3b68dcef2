// MediaClient over the media node's gRPC API. Channels are reused across invocations (a warm Lambda keeps
// them) but recreated after idle, because a grpc-js channel can go stale while a Lambda is frozen.
// Every call has a deadline; UNAVAILABLE (not draining) is retried with backoff: all calls are idempotent.
import { status, type ServiceError } from '@grpc/grpc-js';
import { connectMediaNode, type MediaNodeApi } from '../../media-node/api/client';
import { parseMediaError } from '../../media-node/api/errors';
import { HistoryEntry_Kind } from '../../gen/medianode/v1/media_node';
import { MediaError, type HistoryEntry, type MediaClient, type Placement, type RoomHistory } from '../voice/ports';

export interface GrpcMediaClientOptions {
  secret?: string;
  timeoutMs?: number;
  idleMs?: number;
  retries?: number;
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
    return this.call(node, (api) => api.openRoom({ roomId, holdMs }));
  }

  async createTransports(node: Placement, req: { roomId: string; sessionId: string; userId: string; rtpCapabilities: string }) {
    const res = await this.call(node, (api) => api.createTransports(req));
    if (!res.consumerTransport || !res.producerTransport) throw new MediaError('internal', 'media node returned no transports');
    return { consumerTransport: res.consumerTransport, producerTransport: res.producerTransport };
  }

  async join(node: Placement, req: Parameters<MediaClient['join']>[1]) {
    return this.call(node, (api) => api.join(req));
  }

  async resumeConsumer(node: Placement, req: { roomId: string; sessionId: string; consumerId: string }) {
    await this.call(node, (api) => api.resumeConsumer(req));
  }

  async restartIce(node: Placement, req: { roomId: string; sessionId: string }) {
    const res = await this.call(node, (api) => api.restartIce(req));
    return { consumerIceParameters: res.consumerIceParameters, producerIceParameters: res.producerIceParameters };
  }

  async leave(node: Placement, req: { roomId: string; sessionId: string }) {
    return this.call(node, (api) => api.leave(req));
  }

  async history(node: Placement, req: { roomId: string; after: number }): Promise<RoomHistory> {
    const res = await this.call(node, (api) => api.history(req));
    return {
      exists: res.exists,
      roomInstance: res.roomInstance,
      head: res.head,
      truncated: res.truncated,
      entries: res.entries.map((e): HistoryEntry => e.kind === HistoryEntry_Kind.KIND_JOIN
        ? { seq: e.seq, kind: 'join', sessionId: e.sessionId, userId: e.userId, forJoiner: e.forJoiner, forMembers: e.forMembers }
        : { seq: e.seq, kind: 'leave', sessionId: e.sessionId, userId: e.userId, audience: e.audience, reason: e.reason }),
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

  private async call<T>(node: Placement, fn: (api: MediaNodeApi) => Promise<T>): Promise<T> {
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
        throw new MediaError(reason, `${node.nodeId}: ${message || error.message}`, unavailable);
      }
    }
  }
}
