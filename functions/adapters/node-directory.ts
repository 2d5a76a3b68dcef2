// NodeDirectory over the media node registry table (routing/NodeRegistry.ts).
import type { NodeRegistry } from '../../routing/NodeRegistry';
import type { MediaNodeRecord } from '../../routing/types';
import type { LostSession, NodeDirectory } from '../voice/ports';

export class RegistryNodeDirectory implements NodeDirectory {
  constructor(private readonly registry: NodeRegistry) {}

  /** Stale nodes included: the core must see a dead node to re-place its channels. */
  listNodes(): Promise<MediaNodeRecord[]> {
    return this.registry.listNodes({ includeStale: true });
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
