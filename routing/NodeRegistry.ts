// The media node registry in DynamoDB (NODES_TABLE): nodes register and heartbeat, signalling
// reads them to place rooms, and lost sessions wait there for the signalling side's reaper.
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { isNodeAlive } from './placement';
import type { LostSessionRecord, MediaNodeRecord } from './types';

const NODE_PK = 'NODE';
const LOST_PK = 'LOST';

export function lostSessionKey(roomId: string, sessionId: string): string {
  return `${roomId}#${sessionId}`;
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
      new PutCommand({ TableName: this.tableName, Item: { pk: LOST_PK, sk: lostSessionKey(lost.roomId, lost.sessionId), ...item } }),
    );
  }

  /** Lost sessions not yet handled (oldest first by key order), expired ones left out. */
  async listLostSessions(options: { nowMs?: number } = {}): Promise<LostSessionRecord[]> {
    const nowMs = options.nowMs ?? Date.now();
    return (await this.queryPartition(LOST_PK))
      .map((item) => strip<LostSessionRecord>(item))
      .filter((lost) => lost.expiresAt * 1000 > nowMs);
  }

  async deleteLostSession(roomId: string, sessionId: string): Promise<void> {
    await this.client.send(
      new DeleteCommand({ TableName: this.tableName, Key: { pk: LOST_PK, sk: lostSessionKey(roomId, sessionId) } }),
    );
  }

  private async queryPartition(pk: string): Promise<Record<string, unknown>[]> {
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
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...rest } = item;
  return rest as T;
}
