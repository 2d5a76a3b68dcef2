// StateStore over DynamoDB (STATE_TABLE in data/tables.ts). Transitions are conditional writes on
// (state, version), never read-modify-write; "who is in the channel" is a strongly consistent Query of
// the channel's partition; expired items (TTL is only garbage collection) are filtered on read.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import {
  ConflictError, type ConnectionRecord, type ConnectionState, type MemberRecord, type Placement, type StateStore,
} from '../voice/ports';
import { BY_NODE_INDEX, DUE_INDEX, sweepShardOf } from '../../data/tables';

const connKey = (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: 'CONN' });
const memberKey = (channelKey: string, connectionId: string) => ({ pk: `CHAN#${channelKey}`, sk: `MEMBER#${connectionId}` });
const seatKey = (channelKey: string, userId: string) => ({ pk: `CHAN#${channelKey}`, sk: `USER#${userId}` });
const placementKey = (channelKey: string) => ({ pk: `CHAN#${channelKey}`, sk: 'PLACEMENT' });

export class DynamoStateStore implements StateStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  async putConnection(record: ConnectionRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...connKey(record.connectionId), ...record, ...indexAttributes(record) } }));
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: connKey(connectionId), ConsistentRead: true }));
    return Item && this.live(Item) ? strip<ConnectionRecord>(Item) : undefined;
  }

  async transition(expected: ConnectionRecord, next: Partial<ConnectionRecord> & { state: ConnectionState }): Promise<ConnectionRecord> {
    const update = updateExpression(expected, { ...next, ...indexUpdates(expected, next) } as Partial<ConnectionRecord>);
    try {
      const { Attributes } = await this.db.send(new UpdateCommand({
        TableName: this.table, Key: connKey(expected.connectionId), ...update, ReturnValues: 'ALL_NEW',
      }));
      return strip<ConnectionRecord>(Attributes!);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`connection ${expected.connectionId} is no longer ${expected.state}@${expected.version}`);
      }
      throw err;
    }
  }

  async addMember(channelKey: string, member: MemberRecord, expiresAt: number): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...memberKey(channelKey, member.connectionId), ...member, expiresAt } }));
  }

  async removeMember(channelKey: string, connectionId: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: memberKey(channelKey, connectionId) }));
  }

  async deleteConnection(record: ConnectionRecord): Promise<void> {
    const deletes: Promise<unknown>[] = [this.db.send(new DeleteCommand({ TableName: this.table, Key: connKey(record.connectionId) }))];
    if (record.guildId && record.channelId) {
      const channelKey = `${record.guildId}:${record.channelId}`;
      deletes.push(this.db.send(new DeleteCommand({ TableName: this.table, Key: memberKey(channelKey, record.connectionId) })));
      // The seat may already belong to a newer stream of the same user: only release our own.
      deletes.push(this.db.send(new DeleteCommand({
        TableName: this.table, Key: seatKey(channelKey, record.userId),
        ConditionExpression: 'connectionId = :c', ExpressionAttributeValues: { ':c': record.connectionId },
      })).catch((err) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }));
    }
    await Promise.all(deletes);
  }

  async listMembers(channelKey: string): Promise<MemberRecord[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new QueryCommand({
        TableName: this.table, ConsistentRead: true, ExclusiveStartKey: startKey,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
        ExpressionAttributeValues: { ':pk': `CHAN#${channelKey}`, ':m': 'MEMBER#' },
      }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items.filter((i) => this.live(i)).map((i) => strip<MemberRecord>(i));
  }

  async takeSeat(channelKey: string, userId: string, connectionId: string): Promise<string | undefined> {
    const { Attributes } = await this.db.send(new PutCommand({
      TableName: this.table, ReturnValues: 'ALL_OLD',
      Item: { ...seatKey(channelKey, userId), connectionId, expiresAt: Math.ceil(this.nowMs() / 1000) + 3 * 3600 },
    }));
    const previous = Attributes?.connectionId as string | undefined;
    return previous && previous !== connectionId ? previous : undefined;
  }

  async getPlacement(channelKey: string): Promise<Placement | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: placementKey(channelKey), ConsistentRead: true }));
    return Item ? { nodeId: Item.nodeId as string, grpcAddress: Item.grpcAddress as string } : undefined;
  }

  async placeChannel(channelKey: string, candidate: Placement, replacing?: string): Promise<Placement> {
    try {
      await this.db.send(new PutCommand({
        TableName: this.table,
        Item: { ...placementKey(channelKey), ...candidate, placedAt: this.nowMs() },
        ...(replacing
          ? { ConditionExpression: 'nodeId = :old', ExpressionAttributeValues: { ':old': replacing } }
          : { ConditionExpression: 'attribute_not_exists(pk)' }),
      }));
      return candidate;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const winner = await this.getPlacement(channelKey);
      if (!winner) return this.placeChannel(channelKey, candidate);
      return winner;
    }
  }

  async listConnections(): Promise<ConnectionRecord[]> {
    const records: ConnectionRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new ScanCommand({
        TableName: this.table, ExclusiveStartKey: startKey, ConsistentRead: true,
        FilterExpression: 'sk = :conn', ExpressionAttributeValues: { ':conn': 'CONN' },
      }));
      records.push(...(page.Items ?? []).map((i) => strip<ConnectionRecord>(i)));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return records;
  }

  // ---- issue 11: the sweep's reads (functions/voice/Sweep.ts); index attributes are derived below ----

  /** Ids of the shard's connections due by `nowMs` (DUE index: eventually consistent), most overdue first. */
  async listDue(shard: number, nowMs: number, limit: number): Promise<string[]> {
    const { Items } = await this.db.send(new QueryCommand({
      TableName: this.table, IndexName: DUE_INDEX.indexName, Limit: limit,
      KeyConditionExpression: '#due = :due AND #dueAt <= :now',
      ExpressionAttributeNames: { '#due': DUE_INDEX.partitionKey.name, '#dueAt': DUE_INDEX.sortKey!.name },
      ExpressionAttributeValues: { ':due': duePartition(shard), ':now': nowMs },
    }));
    return (Items ?? []).map((i) => connectionIdOf(i.pk as string));
  }

  /** Ids of connections on a media node (BY_NODE index: eventually consistent), at most `limit`. */
  async listOnNode(nodeId: string, limit: number): Promise<string[]> {
    const { Items } = await this.db.send(new QueryCommand({
      TableName: this.table, IndexName: BY_NODE_INDEX.indexName, Limit: limit,
      KeyConditionExpression: '#node = :node',
      ExpressionAttributeNames: { '#node': BY_NODE_INDEX.partitionKey.name },
      ExpressionAttributeValues: { ':node': nodeId },
    }));
    return (Items ?? []).map((i) => connectionIdOf(i.pk as string));
  }

  /** Strongly consistent, expired records included: the sweep must end those too (getConnection hides them). */
  async getConnectionForSweep(connectionId: string): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: connKey(connectionId), ConsistentRead: true }));
    return Item ? strip<ConnectionRecord>(Item) : undefined;
  }

  // ---- end of issue 11 block ----

  private live(item: Record<string, unknown>): boolean {
    const expiresAt = item.expiresAt as number | undefined;
    return expiresAt === undefined || expiresAt * 1000 > this.nowMs();
  }
}

/** SET the given fields (REMOVE those given as undefined) and bump the version, if state and version match. */
function updateExpression(expected: ConnectionRecord, next: Partial<ConnectionRecord>) {
  const names: Record<string, string> = { '#state': 'state', '#version': 'version' };
  const values: Record<string, unknown> = { ':expectedState': expected.state, ':expectedVersion': expected.version, ':one': 1 };
  const sets = ['#version = #version + :one'];
  const removes: string[] = [];
  for (const [field, value] of Object.entries(next)) {
    if (field === 'version' || field === 'connectionId') continue;
    names[`#${field}`] = field;
    if (value === undefined) removes.push(`#${field}`);
    else {
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
  }
  return {
    UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ConditionExpression: '#state = :expectedState AND #version = :expectedVersion',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, due: _due, dueAt: _dueAt, onNode: _onNode, ...rest } = item;
  return rest as T;
}

// ---- issue 11: index attributes of connection items (data/tables.ts DUE_INDEX, BY_NODE_INDEX) ----
// Derived here from the record's deadline, expiry and node, so the voice core never deals with them.

const duePartition = (shard: number) => `DUE#${shard}`;
const connectionIdOf = (pk: string) => pk.slice('CONN#'.length);

/** When the sweep must look at a connection: its state's deadline, else (joined) its expiry. */
function dueAtOf(deadline: number | undefined, expiresAt: number): number {
  return Math.min(deadline ?? Number.POSITIVE_INFINITY, expiresAt * 1000);
}

/** The item putConnection writes (the scale benchmark seeds sessions in batches of these). */
export function connectionItem(record: ConnectionRecord): Record<string, unknown> {
  return { ...connKey(record.connectionId), ...record, ...indexAttributes(record) };
}

function indexAttributes(record: ConnectionRecord): Record<string, unknown> {
  return {
    due: duePartition(sweepShardOf(record.connectionId)),
    dueAt: dueAtOf(record.deadline, record.expiresAt),
    ...(record.nodeId && { onNode: record.nodeId }),
  };
}

/** The index attributes a transition changes (undefined = REMOVE). */
function indexUpdates(expected: ConnectionRecord, next: Partial<ConnectionRecord>): Record<string, unknown> {
  const updates: Record<string, unknown> = {};
  if ('deadline' in next || 'expiresAt' in next) {
    updates.dueAt = dueAtOf('deadline' in next ? next.deadline : expected.deadline, next.expiresAt ?? expected.expiresAt);
  }
  if ('nodeId' in next) updates.onNode = next.nodeId;
  return updates;
}
// ---- end of issue 11 block ----
