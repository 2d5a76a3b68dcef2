// NodeDirectory over the media node registry table (routing/node-registry.ts).
import { candidateRecord, rankCandidates } from '../../routing/candidates';
import type { NodeRegistry } from '../../routing/node-registry';
import type { MediaNodeRecord } from '../../routing/types';
import type { LostSession, NodeDirectory } from '../voice/ports';

export class RegistryNodeDirectory implements NodeDirectory {
  constructor(private readonly registry: NodeRegistry) {}

  /** Stale nodes included: the core must see a dead node to re-place its channels. */
  listNodes(): Promise<MediaNodeRecord[]> {
    return this.registry.listNodes({ includeStale: true });
  }

  getNode(nodeId: string): Promise<MediaNodeRecord | undefined> {
    return this.registry.getNode(nodeId);
  }

  async placementCandidates(): Promise<MediaNodeRecord[] | undefined> {
    return (await this.registry.readCandidates())?.nodes.map(candidateRecord);
  }

  /** The sweep's part of placement: ranks what it listed and publishes it for the Initializes of the next 5 s. */
  async publishCandidates(nodes: MediaNodeRecord[], nowMs: number, staleAfterMs: number): Promise<void> {
    await this.registry.publishCandidates({ at: nowMs, nodes: rankCandidates(nodes, nowMs, staleAfterMs) });
  }

  /** One shard's lost sessions (one Query), or every shard's when none is given. */
  listLostSessions(shard?: number, limit?: number): Promise<LostSession[]> {
    return this.registry.listLostSessions({ shard, limit });
  }

  deleteLostSession(lost: LostSession): Promise<void> {
    return this.registry.deleteLostSession(lost.roomId, lost.sessionId, lost.nodeId, lost.notice);
  }

  /** Removes a dead node's record once its sessions are all ended (unless it heartbeat meanwhile). */
  async retireNode(node: MediaNodeRecord): Promise<void> {
    await this.registry.retireNode(node.nodeId, node.heartbeatAt);
  }
}

/** A NodeDirectory over a fixed list (benchmark floors and unit tests): no candidate list, so placement lists it. */
export function listedNodeDirectory(list: () => Promise<MediaNodeRecord[]>): NodeDirectory {
  return {
    listNodes: list,
    getNode: async (nodeId) => (await list()).find((n) => n.nodeId === nodeId),
    placementCandidates: async () => undefined,
  };
}
