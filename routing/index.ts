export { NodeRegistry, lostSessionKey } from './node-registry';
export { DEFAULT_STALE_AFTER_MS, hasHeadroom, isNodeAlive, nodeLoad, pickNode } from './placement';
export {
  DEFAULT_WORKER_LIMITS,
  admits,
  joinCost,
  summarizeLoad,
  workerLoad,
  type JoinCost,
  type NodeLoadSummary,
  type WorkerLimits,
  type WorkerUse,
} from './load';
export { createDocumentClient } from './dynamo';
export type { LostSessionRecord, MediaNodeRecord, MediaNodeState } from './types';
