// A media node's registry record (routing/types.ts) for tests and benchmarks: an active node with nothing on it,
// heartbeating at `now`. Each caller overrides what its test is about (address, capacity, load, expiry).
import type { MediaNodeRecord } from '../../routing/types';

export function nodeRecord(
  nodeId: string,
  overrides: Partial<MediaNodeRecord> = {},
  now: number = Date.now(),
): MediaNodeRecord {
  return {
    nodeId,
    grpcAddress: `${nodeId}:50051`,
    publicAddress: '127.0.0.1',
    capacity: 1000,
    rooms: 0,
    sessions: 0,
    transports: 0,
    producers: 0,
    consumers: 0,
    cpu: { workers: [], avg: 0, max: 0 },
    state: 'active',
    heartbeatAt: now,
    expiresAt: Math.ceil(now / 1000) + 60,
    ...overrides,
  };
}
