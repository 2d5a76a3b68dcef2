// Reading connection records: the channel, media node and log ids a record names, and which record a frame or
// event of a connection acts on (its own, or the session a resume attached it to).
import { socketOf, type ConnectionRecord, type Placement, type StateStore } from './ports';
import { mediaErrorToVoiceError } from './media-errors';
import { stateRule } from './protocol-table';

/** The channel a record is in ("<guild>:<channel>": its media room id and its feed's key). */
export function roomOf(conn: ConnectionRecord): string {
  return `${conn.guildId}:${conn.channelId}`;
}

/** The media node a record is on, if it has one. */
export function placementOf(conn: ConnectionRecord): Placement | undefined {
  return conn.nodeId && conn.nodeAddress ? { nodeId: conn.nodeId, grpcAddress: conn.nodeAddress } : undefined;
}

/** The ids every log line about a record carries. */
export function logIds(conn: ConnectionRecord) {
  return {
    connectionId: conn.connectionId,
    userId: conn.userId,
    guildId: conn.guildId,
    channelId: conn.channelId,
    nodeId: conn.nodeId,
  };
}

/** The record a frame or event of a connection acts on (see resolveRecord). */
export interface Resolved {
  conn?: ConnectionRecord;
  /** resume.v1: the connection's own `attached` record, when it carries another record's session. */
  alias?: ConnectionRecord;
  /** The connection no longer carries that session (an old socket). */
  stale: boolean;
}

/**
 * The record a frame or event of `connectionId` acts on: its own, or (resume.v1) the session it was attached to
 * by a resume. `stale` when the connection no longer carries that session (an old socket). `read`: its own
 * record, when already read.
 */
export async function resolveRecord(
  store: Pick<StateStore, 'getConnection'>,
  connectionId: string,
  read?: { own: ConnectionRecord | undefined },
): Promise<Resolved> {
  const own = read ? read.own : await store.getConnection(connectionId);
  if (own === undefined || stateRule(own.state).record !== 'alias')
    return { conn: own, stale: own !== undefined && socketOf(own) !== connectionId };
  const session = own.sessionId ? await store.getConnection(own.sessionId) : undefined;
  return { conn: session, alias: own, stale: !session || socketOf(session) !== connectionId };
}

/** Calls the record's media node, mapping its failures to voice errors (media-errors.ts). */
export async function onNode<T>(conn: ConnectionRecord, call: (node: Placement) => Promise<T>): Promise<T> {
  const node = placementOf(conn);
  if (!node) throw new Error(`connection ${conn.connectionId} has no media node`);
  try {
    return await call(node);
  } catch (err) {
    throw mediaErrorToVoiceError(err);
  }
}
