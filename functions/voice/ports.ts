// The ports the voice core talks to. Adapters: DynamoDB (adapters/dynamo-store.ts), API Gateway's
// @connections API (adapters/apigw-gateway.ts), the media node's gRPC API (adapters/grpc-media-client.ts),
// and in-memory ones (adapters/memory-*.ts) for the benchmark floor and unit tests.
import type { Variant } from '../../protocol/hrpc';
import type { MediaNodeRecord } from '../../routing/types';

/** Where a connection is in the protocol (VOICE-PROTOCOL.md §3). `*ing` states are claimed while work is in flight. */
export type ConnectionState =
  | 'connected' | 'initializing' | 'initialized' | 'preparing' | 'prepared' | 'joining' | 'joined' | 'closing';

export interface ConnectionRecord {
  connectionId: string;
  /** Decimal uint64 from the verified token: the only user this stream acts as. */
  userId: string;
  variant: Variant;
  /** Channels the token grants ("<guild>:<channel>"), kept for the policy check at Initialize. */
  grants: string[];
  state: ConnectionState;
  /** Incremented by every transition; transitions are conditional on it. */
  version: number;
  guildId?: string;
  channelId?: string;
  nodeId?: string;
  /** The media node's gRPC address, kept so each step needs no registry read. */
  nodeAddress?: string;
  connectedAt: number;
  /** Epoch ms by which the client must have moved on from the current state (stall timeout). */
  deadline?: number;
  /** Epoch seconds; also the DynamoDB TTL attribute. Expired records are treated as absent. */
  expiresAt: number;
}

export interface MemberRecord {
  connectionId: string;
  userId: string;
  variant: Variant;
  joinedAt: number;
}

export interface Placement {
  nodeId: string;
  grpcAddress: string;
}

export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface StateStore {
  putConnection(record: ConnectionRecord): Promise<void>;
  /** Strongly consistent; undefined when absent or expired. */
  getConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  /**
   * Moves a connection from `expected.state`@`expected.version` to `next` (version + 1), or throws
   * ConflictError when the stored record is not at that state and version.
   */
  transition(expected: ConnectionRecord, next: Partial<ConnectionRecord> & { state: ConnectionState }): Promise<ConnectionRecord>;
  /**
   * Lists the connection among the channel's members (written while the join is claimed, before the media
   * join: a crash leaves a stuck `joining` connection, whose ending removes the item).
   */
  addMember(channelKey: string, member: MemberRecord, expiresAt: number): Promise<void>;
  removeMember(channelKey: string, connectionId: string): Promise<void>;
  /** Removes connection, member item and (if still held by this connection) the user's seat. */
  deleteConnection(record: ConnectionRecord): Promise<void>;
  /** Strongly consistent list of the channel's joined members. */
  listMembers(channelKey: string): Promise<MemberRecord[]>;
  /** Gives the user's seat in the channel to this connection; returns the previous holder, if another. */
  takeSeat(channelKey: string, userId: string, connectionId: string): Promise<string | undefined>;
  getPlacement(channelKey: string): Promise<Placement | undefined>;
  /**
   * Places the channel on `candidate` unless someone else placed it first (then returns theirs).
   * `replacing` names a dead node whose placement may be overwritten.
   */
  placeChannel(channelKey: string, candidate: Placement, replacing?: string): Promise<Placement>;
  /** Every live connection record (the reaper's sweep). */
  listConnections(): Promise<ConnectionRecord[]>;
}

export interface NodeDirectory {
  /** Registered media nodes (fresh or not: callers judge liveness). */
  listNodes(): Promise<MediaNodeRecord[]>;
  listLostSessions(): Promise<LostSession[]>;
  deleteLostSession(lost: LostSession): Promise<void>;
}

export interface LostSession {
  roomId: string;
  sessionId: string;
  userId: string;
  reason: string;
}

export interface TransportOptionsJson {
  id: string;
  iceParameters: string;
  iceCandidates: string[];
  dtlsParameters: string;
}

export interface ConsumerDelivery {
  receiverSessionId: string;
  producerUserId: string;
  producerSessionId: string;
  producerId: string;
  consumerId: string;
  rtpParameters: string;
}

export interface MediaClient {
  openRoom(node: Placement, roomId: string): Promise<{ rtpCapabilities: string }>;
  createTransports(node: Placement, req: { roomId: string; sessionId: string; userId: string; rtpCapabilities: string }):
    Promise<{ consumerTransport: TransportOptionsJson; producerTransport: TransportOptionsJson }>;
  join(node: Placement, req: {
    roomId: string; sessionId: string; rtpParameters: string; producerDtlsParameters: string; consumerDtlsParameters: string;
  }): Promise<{ forJoiner: ConsumerDelivery[]; forMembers: ConsumerDelivery[] }>;
  resumeConsumer(node: Placement, req: { roomId: string; sessionId: string; consumerId: string }): Promise<void>;
  leave(node: Placement, req: { roomId: string; sessionId: string }):
    Promise<{ wasPresent: boolean; remaining: { sessionId: string; userId: string }[] }>;
}

/** A media-node failure, classified by the reason the node reported (media-node/api/errors.ts). */
export class MediaError extends Error {
  constructor(readonly reason: string, message: string, readonly unavailable = false) {
    super(`${reason}: ${message}`);
    this.name = 'MediaError';
  }
}

export type SendResult = 'sent' | 'gone';

export interface Gateway {
  /** Sends one server frame (already opcode-prefixed bytes) in the connection's variant. */
  send(connectionId: string, frame: Uint8Array, variant: Variant): Promise<SendResult>;
  /** Closes the connection (its $disconnect may follow, or may not: AWS does not guarantee it). */
  close(connectionId: string): Promise<void>;
  /** False when the gateway no longer knows the connection (GetConnection → 410). */
  isConnected(connectionId: string): Promise<boolean>;
}

export interface Clock {
  now(): number;
}
