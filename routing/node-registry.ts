// The media node registry in DynamoDB (NODES_TABLE): nodes register and heartbeat, signalling
// reads them to place rooms, and lost sessions wait there for the signalling side's reaper.
// Every node writes only its own partition (NODE#<nodeId>, IAM-bound on AWS); its record is listed through one of
// NODE_SHARDS partitions of the LISTING index (`NODES#<shard>`, shard = FNV-1a of the node id), so no partition,
// base table or index, takes every heartbeat. Placement reads a published candidate list (routing/candidates.ts,
// `PLACE#<copy>`, written by the reaper), never the whole fleet; only the sweep (and placement's fallback) lists.
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { LISTING_INDEX, SWEEP_SHARDS, sweepShardOf } from '../data/tables';
import { CANDIDATE_COPIES, type CandidateList } from './candidates';
import { isNodeAlive } from './placement';
import type { LostSessionRecord, MediaNodeRecord } from './types';

const LISTING = LISTING_INDEX.partitionKey.name;

/**
 * Every item a node writes lives in its own partition, `NODE#<nodeId>`: on AWS the node id is its instance ARN
 * and the node role's IAM policy allows writes only where `dynamodb:LeadingKeys` is `NODE#${ec2:SourceInstanceARN}`
 * (infra/media-fleet-stack.ts), so a node can write nothing but its own record and its own loss reports, and a
 * reader can trust the partition key for who wrote an item. Readers find items across nodes through the sparse
 * LISTING index (data/tables.ts): `listing = NODES` for node records, `LOST#<shard>` for loss reports.
 */
export function nodePartition(nodeId: string): string {
  return `NODE#${nodeId}`;
}
const NODE_SK = 'NODE';
/**
 * Listing partitions of the node records. A heartbeat is one PutItem under 1 KB (1 WCU, test/signalling/
 * placement-counts) every 5 s into its node's own base partition, and replicated into the LISTING index: 5,000
 * nodes write 1,000 WCU/s — one index partition's whole limit — so node records are listed under NODE_SHARDS
 * index partitions (~65 WCU/s each at 5,000 nodes; room to grow ~15× before one passes its limit).
 */
export const NODE_SHARDS = 16;
/** The LISTING index partition a node's record is listed under (`NODES#<shard>`). */
export function nodeListing(nodeId: string): string {
  return `NODES#${sweepShardOf(nodeId, NODE_SHARDS)}`;
}
/**
 * The placement candidates (routing/candidates.ts): CANDIDATE_COPIES copies of one small item, written only by
 * the reaper (its IAM allows PutItem only where dynamodb:LeadingKeys is PLACE#*), never listed. No node can
 * write them (a node writes only NODE#<its id>).
 */
export const PLACE_PREFIX = 'PLACE#';
const candidatesKey = (copy: number) => ({ pk: `${PLACE_PREFIX}${copy}`, sk: 'CANDIDATES' });
/** Lost sessions are listed by the sweep's shards, so each reaper shard Queries its own index partition. */
export function lostPartition(shard: number): string {
  return `LOST#${shard}`;
}

export function lostSessionKey(roomId: string, sessionId: string, notice = false): string {
  // A notice has its own item: handling (deleting) it never deletes a loss of the same session written meanwhile.
  return notice ? `LOST#${roomId}#${sessionId}#notice` : `LOST#${roomId}#${sessionId}`;
}

/** The node that wrote an item (from its partition key, which IAM binds to the writer on AWS). */
function writerOf(item: Record<string, unknown>): string | undefined {
  const pk = item.pk;
  return typeof pk === 'string' && pk.startsWith('NODE#') ? pk.slice('NODE#'.length) : undefined;
}

export class NodeRegistry {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Writes the whole record (register and heartbeat are the same idempotent put). */
  async heartbeat(node: MediaNodeRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: nodePartition(node.nodeId), sk: NODE_SK, [LISTING]: nodeListing(node.nodeId), ...node },
      }),
    );
  }

  register(node: MediaNodeRecord): Promise<void> {
    return this.heartbeat(node);
  }

  async deregister(nodeId: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: nodePartition(nodeId), sk: NODE_SK } }),
    );
  }

  /** One node (strongly consistent), or undefined when absent or expired. */
  async getNode(nodeId: string, nowMs = Date.now()): Promise<MediaNodeRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: nodePartition(nodeId), sk: NODE_SK },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const node = nodeRecord(Item);
    return node && node.expiresAt * 1000 > nowMs ? node : undefined;
  }

  /**
   * Every registered node (NODE_SHARDS Queries of the LISTING index, in parallel: eventually consistent, typically
   * within a second of a heartbeat): the sweep's read and placement's fallback, never an ordinary Initialize's.
   * Expired and stale records are left out unless `includeStale` is set.
   */
  async listNodes(
    options: { nowMs?: number; staleAfterMs?: number; includeStale?: boolean } = {},
  ): Promise<MediaNodeRecord[]> {
    const nowMs = options.nowMs ?? Date.now();
    const shards = await Promise.all(
      Array.from({ length: NODE_SHARDS }, (_, shard) => this.queryListing(`NODES#${shard}`)),
    );
    const nodes = shards
      .flat()
      .map(nodeRecord)
      .filter((node): node is MediaNodeRecord => node !== undefined);
    return options.includeStale ? nodes : nodes.filter((node) => isNodeAlive(node, nowMs, options.staleAfterMs));
  }

  async recordLostSession(
    lost: Omit<LostSessionRecord, 'at' | 'expiresAt'> & { at?: number },
    options: { ttlSeconds?: number } = {},
  ): Promise<void> {
    const at = lost.at ?? Date.now();
    const item: LostSessionRecord = { ...lost, at, expiresAt: Math.floor(at / 1000) + (options.ttlSeconds ?? 3600) };
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: nodePartition(lost.nodeId),
          sk: lostSessionKey(lost.roomId, lost.sessionId, lost.notice),
          [LISTING]: lostPartition(sweepShardOf(lost.sessionId)),
          ...item,
        },
      }),
    );
  }

  /**
   * Lost sessions not yet handled, expired ones left out: of one shard (one Query of the LISTING index, at most
   * `limit`), or of every shard when none is given. `nodeId` is the node that wrote the report, taken from the
   * item's partition key (which IAM binds to its writer), never from its attributes.
   */
  async listLostSessions(
    options: { nowMs?: number; shard?: number; limit?: number } = {},
  ): Promise<LostSessionRecord[]> {
    const nowMs = options.nowMs ?? Date.now();
    const shards = options.shard === undefined ? [...Array(SWEEP_SHARDS).keys()] : [options.shard];
    const items = (
      await Promise.all(shards.map((shard) => this.queryListing(lostPartition(shard), options.limit)))
    ).flat();
    const lost: LostSessionRecord[] = [];
    for (const item of items) {
      const writer = writerOf(item);
      if (!writer) continue;
      const record = strip<LostSessionRecord>(item);
      if (record.expiresAt * 1000 > nowMs) lost.push({ ...record, nodeId: writer });
    }
    return lost;
  }

  /** Deletes the report (or, `notice`, the notice) `nodeId` wrote about a session. */
  async deleteLostSession(roomId: string, sessionId: string, nodeId: string, notice = false): Promise<void> {
    await this.client.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: { pk: nodePartition(nodeId), sk: lostSessionKey(roomId, sessionId, notice) },
      }),
    );
  }

  /**
   * Deletes a dead node's record once nothing is left on it, unless it heartbeat again since it was read
   * (then it is alive after all). True when deleted (or already gone).
   */
  async retireNode(nodeId: string, heartbeatAt: number): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: nodePartition(nodeId), sk: NODE_SK },
          ConditionExpression: 'attribute_not_exists(pk) OR heartbeatAt = :seen',
          ExpressionAttributeValues: { ':seen': heartbeatAt },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** Publishes the placement candidates (routing/candidates.ts) to every copy: CANDIDATE_COPIES PutItems. */
  async publishCandidates(list: CandidateList): Promise<void> {
    await Promise.all(
      Array.from({ length: CANDIDATE_COPIES }, (_, copy) =>
        this.client.send(new PutCommand({ TableName: this.tableName, Item: { ...candidatesKey(copy), ...list } })),
      ),
    );
  }

  /** One copy of the candidate list, chosen at random (one eventually consistent GetItem); undefined when none yet. */
  async readCandidates(copy = Math.floor(Math.random() * CANDIDATE_COPIES)): Promise<CandidateList | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: candidatesKey(copy) }));
    return Item ? strip<CandidateList>(Item) : undefined;
  }

  /** Every item of one LISTING index partition, or its first `limit` items (an index: eventually consistent). */
  private async queryListing(listing: string, limit?: number): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: LISTING_INDEX.indexName,
          KeyConditionExpression: '#listing = :listing',
          ExpressionAttributeNames: { '#listing': LISTING },
          ExpressionAttributeValues: { ':listing': listing },
          ExclusiveStartKey: startKey,
          Limit: limit === undefined ? undefined : limit - items.length,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey && (limit === undefined || items.length < limit));
    return items;
  }
}

/** A node record as readers may trust it: its id is the one of the partition it was written to. */
function nodeRecord(item: Record<string, unknown>): MediaNodeRecord | undefined {
  const writer = writerOf(item);
  if (!writer || item.sk !== NODE_SK) return undefined;
  return { ...strip<MediaNodeRecord>(item), nodeId: writer };
}

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, [LISTING]: _listing, ...rest } = item;
  return rest as T;
}
