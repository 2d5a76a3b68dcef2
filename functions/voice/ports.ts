// The ports the voice core talks to. Adapters: DynamoDB (adapters/dynamo-store.ts), API Gateway's
// @connections API (adapters/apigw-gateway.ts), the media node's gRPC API (adapters/grpc-media-client.ts),
// and in-memory ones (adapters/memory-*.ts) for the benchmark floor and unit tests.
import type { Variant } from '../../protocol/hrpc';
import type { MediaNodeRecord } from '../../routing/types';
import type { ConnectionState } from './protocol-table';
import type { UserLimitStore } from './user-limits';

/** Where a connection is in the protocol: its states and their rules are the protocol table's (protocol-table.ts). */
export type { ConnectionState };

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
  /**
   * Epoch seconds; also the DynamoDB TTL attribute. Expired records are treated as absent. At most the token's
   * `exp` plus the grace (VoiceLimits.tokenGraceSeconds): a stream does not outlive the token it was opened with.
   */
  expiresAt: number;
  /** `exp` (epoch seconds) of the token the stream carrying this record was opened with (a resume brings a newer one). */
  tokenExpiresAt?: number;
  // ---- resume.v1 (functions/voice/session-resume.ts) ----
  /** The stream selected a `+resume.v1` subprotocol: it may get extension frames. */
  resume?: boolean;
  /**
   * A session record (keyed by its media session id = the connection that prepared it): the connection that
   * carries it now, when it is not that first one (a resume moved it). See socketOf().
   */
  socket?: string;
  /** An `attached` record: the session (record key) this connection carries. */
  sessionId?: string;
  /** SHA-256 of the session's current resume credential (the credential itself is never stored or logged). */
  credentialHash?: string;
  /** A resumed session's last seen history position: the feed replays what came after it, then clears this. */
  replayFrom?: number;
  // ---- the extension negotiation (functions/voice/extension-negotiation.ts) ----
  /** The stream selected a `+ext.v1` subprotocol: its first message may be a Hello. */
  ext?: boolean;
  /** The features granted by Welcome (set once, by the Hello). */
  features?: string[];
  /** consumers.v1: this session's consumers are created resumed (the client sends no ResumeConsumer). */
  consumersResumed?: boolean;
  /** state.v1 (member-state.ts): the stream gets membership messages as Sequenced with states, and state changes. */
  voiceState?: boolean;
  /** "<guildId>:<channelId>" (or "<guildId>:*") the token lets this user moderate (TOKEN_MODERATE_CLAIM). */
  moderates?: string[];
}

/** The connection that carries a session record now (its own id unless a resume moved it). */
export function socketOf(record: ConnectionRecord): string {
  return record.socket ?? record.connectionId;
}

export interface Placement {
  nodeId: string;
  grpcAddress: string;
}

export interface StoredPlacement extends Placement {
  /** Epoch seconds after which the placement is void (refreshed by every Initialize). */
  expiresAt?: number;
}

/**
 * How far a channel's history has been delivered to its members (functions/voice/channel-feed.ts).
 * `roomInstance` names the media room whose history `delivered` counts positions of.
 */
export interface FeedCursor {
  roomInstance: string;
  delivered: number;
  /** The node holding that room (where an unfinished delivery must be resumed). */
  node?: Placement;
  /** resume.v1: sessions waiting for their replay (returned by acquireFeed only when there are some). */
  replay?: string[];
}

/**
 * A transition whose condition failed, with the record as it is now (`current`: undefined when it is gone or
 * expired), read from the failed write itself (DynamoDB's ReturnValuesOnConditionCheckFailure: ALL_OLD).
 */
export class ConflictError extends Error {
  constructor(
    message: string,
    readonly current?: ConnectionRecord,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** What a transition did: the record it wrote, or (its condition failed) the record as it is now. */
export type Transition = { ok: true; record: ConnectionRecord } | { ok: false; current: ConnectionRecord | undefined };

/** What claimFrom did: the record before and after it, or (it did not claim) the record as it is now. */
export type Claim =
  | { ok: true; before: ConnectionRecord; record: ConnectionRecord }
  | { ok: false; current: ConnectionRecord | undefined };

/** `record` with `next` applied (undefined fields removed) and its version bumped: what a transition writes. */
export function applyTransition(record: ConnectionRecord, next: Partial<ConnectionRecord>): ConnectionRecord {
  const updated: Record<string, unknown> = { ...record, version: record.version + 1 };
  for (const [field, value] of Object.entries(next)) {
    if (field === 'version' || field === 'connectionId') continue;
    if (value === undefined) delete updated[field];
    else updated[field] = value;
  }
  return updated as unknown as ConnectionRecord;
}

/** A transition's record, or ConflictError (carrying the current record) when its condition failed. */
export function recordOrConflict(expected: ConnectionRecord, result: Transition): ConnectionRecord {
  if (result.ok) return result.record;
  throw new ConflictError(
    `connection ${expected.connectionId} is no longer ${expected.state}@${expected.version}`,
    result.current,
  );
}

/** The signalling state, per-user limits included (user-limits.ts: items per user or per channel, no hot key). */
export interface StateStore extends UserLimitStore {
  putConnection(record: ConnectionRecord): Promise<void>;
  /** Strongly consistent; undefined when absent or expired. */
  getConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  /**
   * Moves a connection from `expected.state`@`expected.version` to `next` (version + 1) in one conditional
   * write; when the stored record is not at that state and version, returns it as it is now instead (one
   * request either way: nothing to re-read after losing a race).
   */
  tryTransition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<Transition>;
  /**
   * Claims a connection without reading it first: moves it from `from` to `next` (version + 1) in one request
   * that reads and writes, if it is in `from`, carried by its own socket, of `variant`, live at `now`, and lives
   * at least until `next.deadline`. Returns the record before and after; or, when any of that does not hold,
   * the record as it is (undefined when absent or expired), for the caller to go on as if it had read it.
   */
  claimFrom(
    connectionId: string,
    from: ConnectionState,
    variant: Variant,
    next: Partial<ConnectionRecord> & { state: ConnectionState; deadline: number },
    now: number,
  ): Promise<Claim>;
  /** tryTransition, throwing ConflictError (carrying the current record) when the condition failed. */
  transition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<ConnectionRecord>;
  deleteConnection(record: ConnectionRecord): Promise<void>;
  /** Strongly consistent reads of several connections (absent and expired ones left out). */
  getConnections(connectionIds: string[]): Promise<ConnectionRecord[]>;
  /** The channel's placement; expired placements are returned too (callers decide), with expiresAt. */
  getPlacement(channelKey: string): Promise<StoredPlacement | undefined>;
  /**
   * Places the channel on `candidate` unless someone else placed it first (then returns theirs).
   * `replacing` names a dead node (or an expired placement's node) whose placement may be overwritten.
   */
  placeChannel(channelKey: string, candidate: Placement, expiresAt: number, replacing?: string): Promise<Placement>;
  /** Pushes the placement's expiry out (only if it is still on `nodeId`). */
  refreshPlacement(channelKey: string, nodeId: string, expiresAt: number): Promise<void>;
  /**
   * Takes the channel's delivery lease until `leaseUntil` (epoch ms) if nobody holds an unexpired one;
   * returns the cursor, or undefined when another invocation holds it (then it is marked wanted, so the
   * holder delivers once more before it lets go).
   */
  acquireFeed(
    channelKey: string,
    owner: string,
    leaseUntil: number,
    expiresAt: number,
    replayFor?: string,
  ): Promise<FeedCursor | undefined>;
  /**
   * resume.v1: takes (and clears) the set of sessions waiting for a replay, while holding the lease. A session
   * is added to it by acquireFeed's `replayFor`, whether or not the lease was acquired.
   */
  takeReplays(channelKey: string, owner: string): Promise<string[]>;
  /** Records progress while holding the lease; false when the lease was lost. */
  checkpointFeed(channelKey: string, owner: string, cursor: FeedCursor, leaseUntil: number): Promise<boolean>;
  /**
   * Records the cursor and lets go of the lease — unless someone marked the feed wanted meanwhile: then the
   * mark is cleared, the lease kept, and 'wanted' returned (deliver again). 'lost' when the lease was lost.
   */
  releaseFeed(
    channelKey: string,
    owner: string,
    cursor: FeedCursor,
    leaseUntil: number,
  ): Promise<'released' | 'wanted' | 'lost'>;
  /**
   * The feed, if its holder's lease ran out (an invocation died or failed while delivering): the sweep, which
   * finds such feeds by their due time like any deadline, finishes them. Strongly consistent.
   */
  getStalledFeed(channelKey: string, now: number): Promise<{ node?: Placement } | undefined>;
  /** Lets go of a stalled feed whose room is gone (its node died: nobody is left to tell). */
  dropStalledFeed(channelKey: string, now: number): Promise<void>;
}

export interface NodeDirectory {
  /** Registered media nodes (fresh or not: callers judge liveness). The sweep's read; placement's fallback. */
  listNodes(): Promise<MediaNodeRecord[]>;
  /** One node (one read whatever the fleet size); undefined when not registered (or expired). */
  getNode(nodeId: string): Promise<MediaNodeRecord | undefined>;
  /** The published placement candidates (routing/candidates.ts; one read), or undefined when none are published. */
  placementCandidates(): Promise<MediaNodeRecord[] | undefined>;
}

export interface LostSession {
  roomId: string;
  sessionId: string;
  userId: string;
  reason: string;
  /** A notice to tell the member (non-fatal, e.g. its producer was paused by the node's police), not a loss. */
  notice?: boolean;
  /** The node that reported the loss (who wrote the report: its registry partition, never a claim inside it). */
  nodeId: string;
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

/** state.v1: a member's voice state (proto/harmonyvoice/ext/v1/state.proto; member-state.ts). */
export interface VoiceFlags {
  selfMuted: boolean;
  selfDeafened: boolean;
  serverMuted: boolean;
  serverDeafened: boolean;
}

export interface MemberVoiceState extends VoiceFlags {
  sessionId: string;
  userId: string;
}

export type HistoryEntry =
  | {
      seq: number;
      kind: 'join';
      sessionId: string;
      userId: string;
      forJoiner: ConsumerDelivery[];
      forMembers: ConsumerDelivery[];
      /** state.v1: every member's state after the join (absent from nodes that predate it). */
      states?: MemberVoiceState[];
    }
  | { seq: number; kind: 'leave'; sessionId: string; userId: string; audience: string[]; reason: string }
  /** state.v1: the member's state changed (told to `audience`: every member then in the room). */
  | {
      seq: number;
      kind: 'state';
      sessionId: string;
      userId: string;
      state: VoiceFlags;
      audience: string[];
      actorUserId: string;
    };

/** A room's history after some position (media-node/src/room/room-ledger.ts). */
export interface RoomHistory {
  /** False when the room is not open on the node (closed empty, or the node restarted). */
  exists: boolean;
  roomInstance: string;
  head: number;
  entries: HistoryEntry[];
  truncated: boolean;
}

export interface MediaClient {
  /** Opens (or finds) the room; an empty room stays open at least `holdMs`. */
  openRoom(node: Placement, roomId: string, holdMs: number): Promise<{ rtpCapabilities: string }>;
  /**
   * `minIceConsentTimeoutS`: keep the session's media at least this long without ICE consent (resume.v1: the grace).
   * `reserveForMs`: the session's admission reservation lasts at most this long unless it joins (0 = the node's default).
   * `consumersResumed` (consumers.v1): the session's consumers are created resumed.
   */
  createTransports(
    node: Placement,
    req: {
      roomId: string;
      sessionId: string;
      userId: string;
      rtpCapabilities: string;
      minIceConsentTimeoutS?: number;
      reserveForMs?: number;
      consumersResumed?: boolean;
    },
  ): Promise<{ consumerTransport: TransportOptionsJson; producerTransport: TransportOptionsJson }>;
  /**
   * Joins the room (the commit point of a join: validated first, then one history entry, two when it takes
   * the seat from the same user's `replaced` session). Idempotent per session.
   */
  join(
    node: Placement,
    req: {
      roomId: string;
      sessionId: string;
      rtpParameters: string;
      producerDtlsParameters: string;
      consumerDtlsParameters: string;
      maxMembers: number;
    },
  ): Promise<{
    forJoiner: ConsumerDelivery[];
    forMembers: ConsumerDelivery[];
    seq: number;
    roomInstance: string;
    replaced: string[];
  }>;
  resumeConsumer(node: Placement, req: { roomId: string; sessionId: string; consumerId: string }): Promise<void>;
  /** Removes the session (idempotent); `announced` when this call appended its leave to the history. */
  leave(
    node: Placement,
    req: { roomId: string; sessionId: string },
  ): Promise<{ wasPresent: boolean; announced: boolean }>;
  history(node: Placement, req: { roomId: string; after: number }): Promise<RoomHistory>;
  /** resume.v1: restarts ICE on both of the session's transports; new IceParameters JSON of each. */
  restartIce(
    node: Placement,
    req: { roomId: string; sessionId: string },
  ): Promise<{ consumerIceParameters: string; producerIceParameters: string }>;
  /**
   * state.v1: sets the caller's own flags (no `targetUserId`) or, as a moderator, another member's server flags
   * (absolute values: idempotent). The node pauses/resumes the media and writes one history entry per change.
   */
  setMemberState(
    node: Placement,
    req: { roomId: string; sessionId: string; targetUserId?: string; stamp?: number } & Partial<VoiceFlags>,
  ): Promise<{ changed: boolean; seq: number; state: MemberVoiceState }>;
}

/** A media-node failure, classified by the reason the node reported (media-node/api/errors.ts). */
export class MediaError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly unavailable = false,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'MediaError';
  }
}

export type SendResult = 'sent' | 'gone';

/**
 * The gateway refuses this message to this connection for good (API Gateway's 413 PayloadTooLarge): retrying
 * cannot deliver it. The channel's feed ends that receiver alone (`voice.undeliverable`) and goes on.
 */
export class UndeliverableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndeliverableError';
  }
}

export interface Gateway {
  /** Sends one server frame (already opcode-prefixed bytes) in the connection's variant. */
  send(connectionId: string, frame: Uint8Array, variant: Variant): Promise<SendResult>;
  /** Closes the connection (its $disconnect may follow, or may not: AWS does not guarantee it). */
  close(connectionId: string): Promise<void>;
}

export interface Clock {
  now(): number;
}
