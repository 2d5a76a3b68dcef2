// Which other node takes part of a room that outgrew its node (RoomSpan's remote parts): a port, backed in
// production by the node registry (routing/NodeRegistry: records carry each node's load) and in tests by a
// given list.
import type { NodeRegistry } from '../../../routing/node-registry';
import { pickNode } from '../../../routing/placement';

export interface FarNode {
  nodeId: string;
  grpcAddress: string;
}

export interface FarNodes {
  /** A node with headroom for part of `roomId`, other than `excludeNodeIds`; undefined when there is none. */
  choose(roomId: string, excludeNodeIds: readonly string[]): Promise<FarNode | undefined>;
}

/** The first node of a fixed list that is not excluded (tests, in-process benchmarks). */
export function listedFarNodes(nodes: readonly FarNode[]): FarNodes {
  return { choose: async (_roomId, exclude) => nodes.find((n) => !exclude.includes(n.nodeId)) };
}

/** The registry's active, fresh node with a worker below its threshold, lowest mean load first (routing/placement.ts). */
export function registryFarNodes(registry: NodeRegistry, nowMs: () => number = Date.now): FarNodes {
  return {
    choose: async (_roomId, exclude) => {
      const nodes = (await registry.listNodes()).filter((n) => !exclude.includes(n.nodeId));
      const picked = pickNode(nodes, nowMs());
      return picked && { nodeId: picked.nodeId, grpcAddress: picked.grpcAddress };
    },
  };
}
