// What the media node registry holds (table NODES_TABLE in data/tables.ts).
import type { NodeLoadSummary } from './load';

export type MediaNodeState = 'active' | 'draining';

/** Item pk='NODE#<nodeId>', sk='NODE' (data/tables.ts NODES_TABLE; listed under `NODES#<shard>`). */
export interface MediaNodeRecord {
  nodeId: string;
  /** Private host:port of the node's gRPC API. */
  grpcAddress: string;
  /** Address clients reach the node's WebRtcServers at (the ICE candidates' address). */
  publicAddress: string;
  /** Audio consumers the node may hold (all workers; a bound on memory and control work, not on talking). */
  capacity: number;
  rooms: number;
  sessions: number;
  transports: number;
  producers: number;
  consumers: number;
  /** Worker CPU in percent of one core, from getResourceUsage over the last heartbeat interval. */
  cpu: { workers: number[]; avg: number; max: number };
  /**
   * Forwarded RTP packets/s per worker and in all, over the last heartbeat interval (media-node
   * PacketMeter). Absent in records of nodes older than this field.
   */
  packets?: { workers: number[]; total: number; perWorkerAtFullCore: number };
  /** Per-worker load (routing/load.ts workerLoad), its mean, and the node's admission threshold. */
  load?: NodeLoadSummary;
  state: MediaNodeState;
  /** Milliseconds since the epoch of the last heartbeat. */
  heartbeatAt: number;
  /** Epoch seconds; DynamoDB TTL deletes it eventually, readers filter it at once. */
  expiresAt: number;
}

/**
 * Item pk='NODE#<nodeId>', sk='LOST#<roomId>#<sessionId>': a session that died on node <nodeId>'s media side; or,
 * with `notice`, sk='LOST#<roomId>#<sessionId>#notice': something the member must be told while its session goes on.
 */
export interface LostSessionRecord {
  roomId: string;
  sessionId: string;
  userId: string;
  /**
   * A loss: "ice-failed", "dtls-failed", "dtls-closed", "worker-died", "drained", "node-lost" (its media was on another
   * node, which was lost), "policed" (its producer kept exceeding the node's limits: ProducerPolice). A notice:
   * "policed" (its producer is paused for a cool-down).
   */
  reason: string;
  /** A notice (non-fatal, the session goes on), not a loss. */
  notice?: boolean;
  /** The node that reported it: as read, the partition the item was written to (IAM binds it to the writer on AWS). */
  nodeId: string;
  /** Milliseconds since the epoch. */
  at: number;
  expiresAt: number;
}
