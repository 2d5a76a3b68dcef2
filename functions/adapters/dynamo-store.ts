// StateStore over DynamoDB (STATE_TABLE in data/tables.ts). Transitions are conditional writes on
// (state, version), never read-modify-write; the channel's delivery lease and cursor are one item written
// with conditions on its owner; expired items (TTL is only garbage collection) are filtered on read.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import {
  applyTransition,
  recordOrConflict,
  type Claim,
  type ConnectionRecord,
  type ConnectionState,
  type FeedCursor,
  type Placement,
  type StateStore,
  type StoredPlacement,
  type Transition,
} from '../voice/ports';
import { BY_NODE_INDEX, DUE_INDEX, sweepShardOf } from '../../data/tables';
import type { Variant } from '../../protocol/hrpc';
import type { DueItem } from '../voice/sweep';
import type { LimitedSet, RateEvent, SetAdmission, UserLimitStore } from '../voice/user-limits';

const connKey = (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: 'CONN' });
const placementKey = (channelKey: string) => ({ pk: `CHAN#${channelKey}`, sk: 'PLACEMENT' });
const feedKey = (channelKey: string) => ({ pk: `CHAN#${channelKey}`, sk: 'FEED' });
// Per-user limits: a user's open streams and prepared sessions (one item), its counted events of a minute (one
// item per minute), a channel's prepared sessions. Each partition is one user's or one channel's: no hot key.
const userLimitsKey = (userId: string) => ({ pk: `USER#${userId}`, sk: 'LIMITS' });
const userRateKey = (userId: string, window: number) => ({ pk: `USER#${userId}`, sk: `RATE#${window}` });
const channelPreparedKey = (channelKey: string) => ({ pk: `CHAN#${channelKey}`, sk: 'PREPARED' });
/** Limit items live a day after their last admission (entries are shorter-lived: their own expiry counts). */
const LIMIT_ITEM_TTL_S = 24 * 3600;

function setLocation(set: LimitedSet): { key: { pk: string; sk: string }; attribute: string; siblings: string[] } {
  switch (set.kind) {
    case 'streams':
      return { key: userLimitsKey(set.userId), attribute: 'streams', siblings: ['prepared'] };
    case 'prepared':
      return { key: userLimitsKey(set.userId), attribute: 'prepared', siblings: ['streams'] };
    case 'channel-prepared':
      return { key: channelPreparedKey(set.channelKey), attribute: 'prepared', siblings: [] };
  }
}

export class DynamoStateStore implements StateStore, UserLimitStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly nowMs: () => number = Date.now,
  ) {}

  async putConnection(record: ConnectionRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...connKey(record.connectionId), ...record, ...indexAttributes(record) },
      }),
    );
  }

  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: connKey(connectionId), ConsistentRead: true }),
    );
    return Item && this.live(Item) ? strip<ConnectionRecord>(Item) : undefined;
  }

  async tryTransition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<Transition> {
    const update = updateExpression(expected, {
      ...next,
      ...indexUpdates(expected, next),
    } as Partial<ConnectionRecord>);
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: connKey(expected.connectionId),
          ...update,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { ok: true, record: strip<ConnectionRecord>(Attributes!) };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // The item as the failed condition saw it (the DocumentClient leaves it marshalled); absent when it was
      // deleted — or when the endpoint ignores ALL_OLD: then it is read, as before DynamoDB could return it.
      if (!err.Item) return { ok: false, current: await this.getConnection(expected.connectionId) };
      const item = unmarshall(err.Item);
      return { ok: false, current: this.live(item) ? strip<ConnectionRecord>(item) : undefined };
    }
  }

  async claimFrom(
    connectionId: string,
    from: ConnectionState,
    variant: Variant,
    next: Partial<ConnectionRecord> & { state: ConnectionState; deadline: number },
    now: number,
  ): Promise<Claim> {
    // The record is not read first, so its expiry is not known: the claim holds only if the record lives past the
    // deadline, which is then its due time (DUE index) as dueAtOf would compute it.
    const update = updateExpression(undefined, {
      ...next,
      dueAt: next.deadline,
      ...('nodeId' in next ? { onNode: next.nodeId } : {}),
    } as Partial<ConnectionRecord>);
    update.ConditionExpression =
      '#state = :from AND #variant = :variant AND (attribute_not_exists(#socket) OR #socket = :id) AND expiresAt > :nowS AND expiresAt >= :deadlineS';
    Object.assign(update.ExpressionAttributeNames, { '#state': 'state', '#variant': 'variant', '#socket': 'socket' });
    Object.assign(update.ExpressionAttributeValues, {
      ':from': from,
      ':variant': variant,
      ':id': connectionId,
      ':nowS': now / 1000,
      ':deadlineS': next.deadline / 1000,
    });
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: connKey(connectionId),
          ...update,
          ReturnValues: 'ALL_OLD',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const before = strip<ConnectionRecord>(Attributes!);
      return { ok: true, before, record: applyTransition(before, next) };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // As tryTransition: the record as the failed condition saw it (read when the endpoint ignores ALL_OLD).
      if (!err.Item) return { ok: false, current: await this.getConnection(connectionId) };
      const item = unmarshall(err.Item);
      return { ok: false, current: this.live(item) ? strip<ConnectionRecord>(item) : undefined };
    }
  }

  async transition(
    expected: ConnectionRecord,
    next: Partial<ConnectionRecord> & { state: ConnectionState },
  ): Promise<ConnectionRecord> {
    return recordOrConflict(expected, await this.tryTransition(expected, next));
  }

  async deleteConnection(record: ConnectionRecord): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: connKey(record.connectionId) }));
  }

  async getConnections(connectionIds: string[]): Promise<ConnectionRecord[]> {
    const unique = [...new Set(connectionIds)];
    const found: ConnectionRecord[] = [];
    for (let i = 0; i < unique.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = unique.slice(i, i + 100).map(connKey);
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        const res: {
          Responses?: Record<string, Record<string, unknown>[]>;
          UnprocessedKeys?: Record<string, { Keys?: Record<string, unknown>[] }>;
        } = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const item of res.Responses?.[this.table] ?? [])
          if (this.live(item)) found.push(strip<ConnectionRecord>(item));
        keys = res.UnprocessedKeys?.[this.table]?.Keys;
        if (keys?.length && attempt >= 5) throw new Error(`BatchGet left ${keys.length} keys unprocessed`);
        if (keys?.length) await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
      }
    }
    return found;
  }

  async getPlacement(channelKey: string): Promise<StoredPlacement | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: placementKey(channelKey), ConsistentRead: true }),
    );
    return Item
      ? {
          nodeId: Item.nodeId as string,
          grpcAddress: Item.grpcAddress as string,
          expiresAt: Item.expiresAt as number | undefined,
        }
      : undefined;
  }

  async placeChannel(
    channelKey: string,
    candidate: Placement,
    expiresAt: number,
    replacing?: string,
  ): Promise<Placement> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...placementKey(channelKey), ...candidate, placedAt: this.nowMs(), expiresAt },
          ...(replacing
            ? { ConditionExpression: 'nodeId = :old', ExpressionAttributeValues: { ':old': replacing } }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return candidate;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      // The winner's placement, from the failed write itself (read when the endpoint ignores ALL_OLD); none
      // when the placement being replaced was deleted meanwhile: place it afresh.
      const winner = err.Item ? (unmarshall(err.Item) as StoredPlacement) : await this.getPlacement(channelKey);
      if (!winner) return this.placeChannel(channelKey, candidate, expiresAt);
      return { nodeId: winner.nodeId, grpcAddress: winner.grpcAddress };
    }
  }

  async refreshPlacement(channelKey: string, nodeId: string, expiresAt: number): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: placementKey(channelKey),
          UpdateExpression: 'SET expiresAt = :e',
          ConditionExpression: 'nodeId = :n',
          ExpressionAttributeValues: { ':e': expiresAt, ':n': nodeId },
        }),
      )
      .catch((err) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }

  // ---- the channel feed's lease and cursor (one item per channel) ----

  async acquireFeed(
    channelKey: string,
    owner: string,
    leaseUntil: number,
    expiresAt: number,
    replayFor?: string,
    attempt = 0,
  ): Promise<FeedCursor | undefined> {
    // resume.v1: a session waiting for its replay joins the feed's `replay` string set in the same write.
    const addReplay = replayFor === undefined ? '' : ' ADD replay :r';
    const replayValue = replayFor === undefined ? {} : { ':r': new Set([replayFor]) };
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          ReturnValues: 'ALL_NEW',
          // While held, the feed is due (DUE index) when its lease runs out: a holder that dies is found by the sweep.
          UpdateExpression: `SET #owner = :o, leaseUntil = :u, wanted = :f, expiresAt = :e, #due = :due, dueAt = :u${addReplay}`,
          ConditionExpression: 'attribute_not_exists(#owner) OR leaseUntil < :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#due': 'due' },
          ExpressionAttributeValues: {
            ':o': owner,
            ':u': leaseUntil,
            ':f': false,
            ':e': expiresAt,
            ':now': this.nowMs(),
            ':due': duePartition(sweepShardOf(channelKey)),
            ...replayValue,
          },
        }),
      );
      const node = Attributes?.node as Placement | null | undefined;
      const replay = [...((Attributes?.replay as Set<string> | undefined) ?? [])];
      return {
        roomInstance: (Attributes?.roomInstance as string) ?? '',
        delivered: (Attributes?.delivered as number) ?? 0,
        ...(node ? { node } : {}),
        ...(replay.length ? { replay } : {}),
      };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
    // Held by someone else: mark it wanted, so the holder delivers again before letting go.
    const marked = await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression: `SET wanted = :t${addReplay}`,
          ConditionExpression: 'attribute_exists(#owner)',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':t': true, ...replayValue },
        }),
      )
      .then(
        () => true,
        (err) => {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
          return false;
        },
      );
    // Released between the two writes: the holder may have read the history before our entry was added and
    // let go without seeing a mark, so nobody would deliver it (a lost wake-up). The lease is free: take it.
    // (If someone else takes it first, they acquired after our entry was added and read the history after
    // that, so the retry's mark — or their delivery — covers it.)
    if (!marked && attempt < 3)
      return this.acquireFeed(channelKey, owner, leaseUntil, expiresAt, replayFor, attempt + 1);
    return undefined;
  }

  async takeReplays(channelKey: string, owner: string): Promise<string[]> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression: 'REMOVE replay',
          ReturnValues: 'UPDATED_OLD',
          ConditionExpression: '#owner = :o',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':o': owner },
        }),
      );
      return [...((Attributes?.replay as Set<string> | undefined) ?? [])];
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return [];
      throw err;
    }
  }

  async checkpointFeed(channelKey: string, owner: string, cursor: FeedCursor, leaseUntil: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression: 'SET roomInstance = :i, delivered = :d, leaseUntil = :u, dueAt = :u, #node = :n',
          ConditionExpression: '#owner = :o',
          ExpressionAttributeNames: { '#owner': 'owner', '#node': 'node' },
          ExpressionAttributeValues: {
            ':i': cursor.roomInstance,
            ':d': cursor.delivered,
            ':u': leaseUntil,
            ':o': owner,
            ':n': cursor.node ?? null,
          },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async releaseFeed(
    channelKey: string,
    owner: string,
    cursor: FeedCursor,
    leaseUntil: number,
  ): Promise<'released' | 'wanted' | 'lost'> {
    const values = {
      ':i': cursor.roomInstance,
      ':d': cursor.delivered,
      ':o': owner,
      ':f': false,
      ':n': cursor.node ?? null,
    };
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression: 'SET roomInstance = :i, delivered = :d, #node = :n REMOVE #owner, leaseUntil, #due, dueAt',
          ConditionExpression: '#owner = :o AND (attribute_not_exists(wanted) OR wanted = :f)',
          ExpressionAttributeNames: { '#owner': 'owner', '#node': 'node', '#due': 'due' },
          ExpressionAttributeValues: values,
        }),
      );
      return 'released';
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
    try {
      // Still ours but wanted: clear the mark (before the holder reads the history again) and keep going.
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression:
            'SET roomInstance = :i, delivered = :d, wanted = :f, leaseUntil = :u, dueAt = :u, #node = :n',
          ConditionExpression: '#owner = :o',
          ExpressionAttributeNames: { '#owner': 'owner', '#node': 'node' },
          ExpressionAttributeValues: {
            ':i': cursor.roomInstance,
            ':d': cursor.delivered,
            ':o': owner,
            ':f': false,
            ':u': leaseUntil,
            ':n': cursor.node ?? null,
          },
        }),
      );
      return 'wanted';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return 'lost';
      throw err;
    }
  }

  async dropStalledFeed(channelKey: string, now: number): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: feedKey(channelKey),
          UpdateExpression: 'REMOVE #owner, leaseUntil, #due, dueAt',
          ConditionExpression: 'attribute_exists(#owner) AND leaseUntil < :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#due': 'due' },
          ExpressionAttributeValues: { ':now': now },
        }),
      )
      .catch((err) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }

  async getStalledFeed(channelKey: string, now: number): Promise<{ node?: Placement } | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: feedKey(channelKey), ConsistentRead: true }),
    );
    if (!Item?.owner || (Item.leaseUntil as number) >= now) return undefined;
    return Item.node ? { node: Item.node as Placement } : {};
  }

  // ---- per-user limits (functions/voice/user-limits.ts): items per user or per channel, conditional writes ----

  async countUserEvent(
    userId: string,
    window: number,
    event: RateEvent,
    limit: number | undefined,
    guards: readonly { event: RateEvent; limit: number }[] = [],
  ): Promise<boolean> {
    const names: Record<string, string> = { '#e': event };
    const values: Record<string, unknown> = { ':one': 1, ':ttl': (window + 2) * 60 };
    const conditions: string[] = [];
    if (limit !== undefined) {
      conditions.push('(attribute_not_exists(#e) OR #e < :limit)');
      values[':limit'] = limit;
    }
    guards.forEach((guard, i) => {
      names[`#g${i}`] = guard.event;
      values[`:g${i}`] = guard.limit;
      conditions.push(`(attribute_not_exists(#g${i}) OR #g${i} < :g${i})`);
    });
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: userRateKey(userId, window),
          UpdateExpression: 'ADD #e :one SET expiresAt = :ttl',
          ...(conditions.length ? { ConditionExpression: conditions.join(' AND ') } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async admitToSet(set: LimitedSet, id: string, until: number, max: number, now: number): Promise<SetAdmission> {
    const { key, attribute, siblings } = setLocation(set);
    if (until > now + LIMIT_ITEM_TTL_S * 1000)
      throw new Error(`user-limits: an entry may live at most ${LIMIT_ITEM_TTL_S} s`);
    const ttl = Math.ceil(now / 1000) + LIMIT_ITEM_TTL_S;
    for (let attempt = 0; attempt < 4; attempt++) {
      // The usual case, one write: room in an existing set (or the id already in it).
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: 'SET #m.#id = :until, expiresAt = :ttl',
            ConditionExpression: 'attribute_exists(#m) AND (attribute_exists(#m.#id) OR size(#m) < :max)',
            ExpressionAttributeNames: { '#m': attribute, '#id': id },
            ExpressionAttributeValues: { ':until': until, ':ttl': ttl, ':max': max },
          }),
        );
        return { admitted: true };
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
      const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      const entries = Item?.[attribute] as Record<string, number> | undefined;
      if (!entries) {
        // First use: create the set holding `id` (and the item's other set, empty, if it has none yet).
        const siblingSets = siblings.map((_s, i) => `, #s${i} = if_not_exists(#s${i}, :empty)`).join('');
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.table,
              Key: key,
              UpdateExpression: `SET #m = :one, expiresAt = :ttl${siblingSets}`,
              ConditionExpression: 'attribute_not_exists(#m)',
              ExpressionAttributeNames: {
                '#m': attribute,
                ...Object.fromEntries(siblings.map((s, i) => [`#s${i}`, s])),
              },
              ExpressionAttributeValues: {
                ':one': { [id]: until },
                ':ttl': ttl,
                ...(siblings.length ? { ':empty': {} } : {}),
              },
            }),
          );
          return { admitted: true };
        } catch (err) {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
          continue;
        }
      }
      const expired = Object.entries(entries).filter(([, u]) => u <= now);
      if (expired.length === 0) {
        if (Object.keys(entries).length >= max) return { admitted: false, freeAt: Math.min(...Object.values(entries)) };
        continue; // an entry was released meanwhile
      }
      // Entries whose holder never let go (a crashed invocation): past their expiry, they hold nothing.
      await this.db
        .send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: `REMOVE ${expired.map((_, i) => `#m.#x${i}`).join(', ')}`,
            ConditionExpression: expired.map((_, i) => `#m.#x${i} = :x${i}`).join(' AND '),
            ExpressionAttributeNames: {
              '#m': attribute,
              ...Object.fromEntries(expired.map(([x], i) => [`#x${i}`, x])),
            },
            ExpressionAttributeValues: Object.fromEntries(expired.map(([, u], i) => [`:x${i}`, u])),
          }),
        )
        .catch((err) => {
          if (!(err instanceof ConditionalCheckFailedException)) throw err;
        });
    }
    // Lost every race on this one user's (or channel's) item: only that user's own flood contends here.
    return { admitted: false, freeAt: now + 1000 };
  }

  async releaseFromSets(entries: readonly { set: LimitedSet; id: string }[]): Promise<void> {
    // One request per item (a user's streams and prepared sets share one).
    const byItem = new Map<string, { key: Record<string, string>; paths: { attribute: string; id: string }[] }>();
    for (const { set, id } of entries) {
      const { key, attribute } = setLocation(set);
      const name = `${key.pk}\n${key.sk}`;
      if (!byItem.has(name)) byItem.set(name, { key, paths: [] });
      byItem.get(name)!.paths.push({ attribute, id });
    }
    await Promise.all(
      [...byItem.values()].map(async ({ key, paths }) => {
        const attributes = [...new Set(paths.map((p) => p.attribute))];
        const names: Record<string, string> = Object.fromEntries(attributes.map((a, i) => [`#m${i}`, a]));
        paths.forEach((p, i) => {
          names[`#i${i}`] = p.id;
        });
        await this.db
          .send(
            new UpdateCommand({
              TableName: this.table,
              Key: key,
              UpdateExpression: `REMOVE ${paths.map((p, i) => `#m${attributes.indexOf(p.attribute)}.#i${i}`).join(', ')}`,
              // Never creates the item; a set that does not exist has nothing to release.
              ConditionExpression: attributes.map((_, i) => `attribute_exists(#m${i})`).join(' AND '),
              ExpressionAttributeNames: names,
            }),
          )
          .catch((err) => {
            if (!(err instanceof ConditionalCheckFailedException)) throw err;
          });
      }),
    );
  }

  // ---- the sweep's reads (functions/voice/sweep.ts); index attributes are derived below ----

  /** The shard's connections and held feeds due by `nowMs` (DUE index: eventually consistent), most overdue first. */
  async listDue(shard: number, nowMs: number, limit: number): Promise<DueItem[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: DUE_INDEX.indexName,
        Limit: limit,
        KeyConditionExpression: '#due = :due AND #dueAt <= :now',
        ExpressionAttributeNames: { '#due': DUE_INDEX.partitionKey.name, '#dueAt': DUE_INDEX.sortKey!.name },
        ExpressionAttributeValues: { ':due': duePartition(shard), ':now': nowMs },
      }),
    );
    return (Items ?? []).map(
      (i): DueItem =>
        (i.pk as string).startsWith('CHAN#')
          ? { kind: 'feed', channelKey: (i.pk as string).slice('CHAN#'.length) }
          : { kind: 'connection', connectionId: connectionIdOf(i.pk as string) },
    );
  }

  /** Ids of connections on a media node (BY_NODE index: eventually consistent), at most `limit`. */
  async listOnNode(nodeId: string, limit: number): Promise<string[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: BY_NODE_INDEX.indexName,
        Limit: limit,
        KeyConditionExpression: '#node = :node',
        ExpressionAttributeNames: { '#node': BY_NODE_INDEX.partitionKey.name },
        ExpressionAttributeValues: { ':node': nodeId },
      }),
    );
    return (Items ?? []).map((i) => connectionIdOf(i.pk as string));
  }

  /** Strongly consistent, expired records included: the sweep must end those too (getConnection hides them). */
  async getConnectionForSweep(connectionId: string): Promise<ConnectionRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: connKey(connectionId), ConsistentRead: true }),
    );
    return Item ? strip<ConnectionRecord>(Item) : undefined;
  }

  // ---- end of the sweep's block ----

  private live(item: Record<string, unknown>): boolean {
    const expiresAt = item.expiresAt as number | undefined;
    return expiresAt === undefined || expiresAt * 1000 > this.nowMs();
  }
}

/**
 * SET the given fields (REMOVE those given as undefined) and bump the version, if state and version match
 * `expected` (no condition without it: the caller sets its own).
 */
function updateExpression(expected: ConnectionRecord | undefined, next: Partial<ConnectionRecord>) {
  const names: Record<string, string> = { '#version': 'version', ...(expected && { '#state': 'state' }) };
  const values: Record<string, unknown> = {
    ':one': 1,
    ...(expected && { ':expectedState': expected.state, ':expectedVersion': expected.version }),
  };
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
    ConditionExpression: expected ? '#state = :expectedState AND #version = :expectedVersion' : '',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function strip<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, due: _due, dueAt: _dueAt, onNode: _onNode, ...rest } = item;
  return rest as T;
}

// ---- index attributes of connection items (data/tables.ts DUE_INDEX, BY_NODE_INDEX) ----
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
    updates.dueAt = dueAtOf(
      'deadline' in next ? next.deadline : expected.deadline,
      next.expiresAt ?? expected.expiresAt,
    );
  }
  if ('nodeId' in next) updates.onNode = next.nodeId;
  return updates;
}
// ---- end of the index attributes ----
