// The media node registry in DynamoDB (NODES_TABLE): nodes register and heartbeat, signalling
// reads them to place rooms, and lost sessions wait there for the signalling side's reaper.
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SWEEP_SHARDS, sweepShardOf } from '../data/tables';
import { isNodeAlive } from './placement';
import type { LostSessionRecord, MediaNodeRecord } from './types';

const NODE_PK = 'NODE';
/** Lost sessions are partitioned like the sweep's shards, so each reaper shard Queries its own partition. */
export function lostPartition(shard: number): string {
  return `LOST#${shard}`;
}
const lostPk = (sessionId: string) => lostPartition(sweepShardOf(sessionId));

export function lostSessionKey(roomId: string, sessionId: string, notice = false): string {
  // A notice has its own item: handling (deleting) it never deletes a loss of the same session written meanwhile.
  return notice ? `${roomId}#${sessionId}#notice` : `${roomId}#${sessionId}`;
}

export class NodeRegistry {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Writes the whole record (register and heartbeat are the same idempotent put). */
  async heartbeat(node: MediaNodeRecord): Promise<void> {
    await this.client.send(new PutCommand({ TableName: this.tableName, Item: { pk: NODE_PK, sk: node.nodeId, ...node } }));
  }

  register(node: MediaNodeRecord): Promise<void> {
    return this.heartbeat(node);
  }

  async deregister(nodeId: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: NODE_PK, sk: nodeId } }));
  }

  /** One node (strongly consistent), or undefined when absent or expired. */
  async getNode(nodeId: string, nowMs = Date.now()): Promise<MediaNodeRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: NODE_PK, sk: nodeId }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const node = strip<MediaNodeRecord>(Item);
    return node.expiresAt * 1000 > nowMs ? node : undefined;
  }

  /**
   * Every registered node (strongly consistent Query of the NODE partition). Expired and stale
   * records are left out unless `includeStale` is set.
   */
  async listNodes(options: { nowMs?: number; staleAfterMs?: number; includeStale?: boolean } = {}): Promise<MediaNodeRecord[]> {
    const nowMs = options.nowMs ?? Date.now();
    const nodes = (await this.queryPartition(NODE_PK)).map((item) => strip<MediaNodeRecord>(item));
    return options.includeStale ? nodes : nodes.filter((node) => isNodeAlive(node, nowMs, options.staleAfterMs));
  }

  async recordLostSession(
    lost: Omit<LostSessionRecord, 'at' | 'expiresAt'> & { at?: number },
    options: { ttlSeconds?: number } = {},
  ): Promise<void> {
    const at = lost.at ?? Date.now();
    const item: LostSessionRecord = { ...lost, at, expiresAt: Math.floor(at / 1000) + (options.ttlSeconds ?? 3600) };
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: lostPk(lost.sessionId), sk: lostSessionKey(lost.roomId, lost.sessionId, lost.notice), ...item } }),
    );
  }

  /**
   * Lost sessions not yet handled, expired ones left out: of one shard (one Query, at most `limit`), or of
   * every shard when none is given.
   */
  async listLostSessions(options: { nowMs?: number; shard?: number; limit?: number } = {}): Promise<LostSessionRecord[]> {
    const nowMs = options.nowMs ?? Date.now();
    const shards = options.shard === undefined ? [...Array(SWEEP_SHARDS).keys()] : [options.shard];
    const items = (await Promise.all(shards.map((shard) => this.queryPartition(lostPartition(shard), options.limit)))).flat();
    return items.map((item) => strip<LostSessionRecord>(item)).filter((lost) => lost.expiresAt * 1000 > nowMs);
  }

  async deleteLostSession(roomId: string, sessionId: string, notice = false): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: lostPk(sessionId), sk: lostSessionKey(roomId, sessionId, notice) } }),
    );
  }

  /**
   * Deletes a dead node's record once nothing is left on it, unless it heartbeat again since it was read
   * (then it is alive after all). True when deleted (or already gone).
   */
  async retireNode(nodeId: string, heartbeatAt: number): Promise<boolean> {
    try {
      await this.client.send(new DeleteCommand({
        TableName: this.tableName, Key: { pk: NODE_PK, sk: nodeId },
        ConditionExpression: 'attribute_not_exists(pk) OR heartbeatAt = :seen', ExpressionAttributeValues: { ':seen': heartbeatAt },
      }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** Every item of the partition, or its first `limit` items. */
  private async queryPartition(pk: string, limit?: number): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
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

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}
