export { NodeRegistry, lostSessionKey } from './NodeRegistry';
export { DEFAULT_STALE_AFTER_MS, isNodeAlive, nodeLoad, pickNode } from './placement';
export { createDocumentClient } from './dynamo';
export type { LostSessionRecord, MediaNodeRecord, MediaNodeState } from './types';
