// In-memory StateStore with the same conditional semantics as the DynamoDB one: the floor of the
// signalling benchmark and a fast store for unit tests. Not for production (one process only).
import {
  ConflictError, type ConnectionRecord, type ConnectionState, type MemberRecord, type Placement, type StateStore,
} from '../voice/ports';
import { sweepShardOf } from '../../data/tables';

export class MemoryStateStore implements StateStore {
  private readonly connections = new Map<string, ConnectionRecord>();
  private readonly members = new Map<string, Map<string, MemberRecord>>();
  private readonly seats = new Map<string, string>();
  private readonly placements = new Map<string, Placement>();

  async putConnection(record: ConnectionRecord): Promise<void> {
    this.connections.set(record.connectionId, { ...record });
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const record = this.connections.get(connectionId);
    return record ? { ...record } : undefined;
  }

  async transition(expected: ConnectionRecord, next: Partial<ConnectionRecord> & { state: ConnectionState }): Promise<ConnectionRecord> {
    const current = this.connections.get(expected.connectionId);
    if (!current || current.state !== expected.state || current.version !== expected.version) {
      throw new ConflictError(`connection ${expected.connectionId} is no longer ${expected.state}@${expected.version}`);
    }
    const updated: ConnectionRecord = { ...current, version: current.version + 1 };
    for (const [k, v] of Object.entries(next)) {
      if (k === 'version' || k === 'connectionId') continue;
      if (v === undefined) delete (updated as unknown as Record<string, unknown>)[k];
      else (updated as unknown as Record<string, unknown>)[k] = v;
    }
    this.connections.set(updated.connectionId, updated);
    return { ...updated };
  }

  async addMember(channelKey: string, member: MemberRecord): Promise<void> {
    if (!this.members.has(channelKey)) this.members.set(channelKey, new Map());
    this.members.get(channelKey)!.set(member.connectionId, { ...member });
  }

  async removeMember(channelKey: string, connectionId: string): Promise<void> {
    this.members.get(channelKey)?.delete(connectionId);
  }

  async deleteConnection(record: ConnectionRecord): Promise<void> {
    this.connections.delete(record.connectionId);
    const key = `${record.guildId}:${record.channelId}`;
    this.members.get(key)?.delete(record.connectionId);
    if (this.seats.get(`${key}/${record.userId}`) === record.connectionId) this.seats.delete(`${key}/${record.userId}`);
  }

  async listMembers(channelKey: string): Promise<MemberRecord[]> {
    return [...(this.members.get(channelKey)?.values() ?? [])].map((m) => ({ ...m }));
  }

  async takeSeat(channelKey: string, userId: string, connectionId: string): Promise<string | undefined> {
    const previous = this.seats.get(`${channelKey}/${userId}`);
    this.seats.set(`${channelKey}/${userId}`, connectionId);
    return previous && previous !== connectionId ? previous : undefined;
  }

  async getPlacement(channelKey: string): Promise<Placement | undefined> {
    return this.placements.get(channelKey);
  }

  async placeChannel(channelKey: string, candidate: Placement, replacing?: string): Promise<Placement> {
    const current = this.placements.get(channelKey);
    if (current && current.nodeId !== replacing) return current;
    this.placements.set(channelKey, candidate);
    return candidate;
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    return [...this.connections.values()].map((c) => ({ ...c }));
  }

  // ---- issue 11: the sweep's reads (functions/voice/Sweep.ts), same meaning as in dynamo-store.ts ----

  async listDue(shard: number, nowMs: number, limit: number): Promise<string[]> {
    const dueAt = (c: ConnectionRecord) => Math.min(c.deadline ?? Number.POSITIVE_INFINITY, c.expiresAt * 1000);
    return [...this.connections.values()]
      .filter((c) => sweepShardOf(c.connectionId) === shard && dueAt(c) <= nowMs)
      .sort((a, b) => dueAt(a) - dueAt(b))
      .slice(0, limit)
      .map((c) => c.connectionId);
  }

  async listOnNode(nodeId: string, limit: number): Promise<string[]> {
    return [...this.connections.values()].filter((c) => c.nodeId === nodeId).slice(0, limit).map((c) => c.connectionId);
  }

  async getConnectionForSweep(connectionId: string): Promise<ConnectionRecord | undefined> {
    return this.getConnection(connectionId);
  }

  // ---- end of issue 11 block ----
}
