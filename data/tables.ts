// The one definition of the service's DynamoDB tables. The CDK stack (infra/) and the local
// dynalite server (local/) both build their tables from here, so the two cannot drift.
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface TableDefinition {
  /** Logical name: CDK construct id and the stem of the physical name. */
  readonly logicalId: string;
  /** Environment variable that tells functions and media nodes the physical table name. */
  readonly envVar: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  /** Epoch-seconds attribute DynamoDB TTL deletes by. Garbage collection only: readers filter expired items. */
  readonly ttlAttribute: string;
  /** Global secondary indexes (sparse: only items carrying the index's partition key attribute are in them). */
  readonly indexes?: readonly IndexDefinition[];
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: { readonly name: string; readonly type: 'S' | 'N' };
  readonly sortKey?: { readonly name: string; readonly type: 'S' | 'N' };
  /**
   * KEYS_ONLY: the table's pk/sk and the index keys (readers fetch the item itself when they act on it);
   * ALL: the whole item (small items read in bulk: the registry's listing).
   */
  readonly projection: 'KEYS_ONLY' | 'ALL';
}

/**
 * The cleanup work is split into this many shards: a connection's shard is a hash of its id
 * (`sweepShardOf`). Deadlines (DUE index) and media-side loss reports (LOST#<shard> in the registry) are
 * both partitioned by it, so one reaper invocation per group of shards reads only its own partitions.
 * Changing it strands items under shards no longer swept until their TTL: change it only with a drain.
 */
export const SWEEP_SHARDS = 16;

/** The shard of a connection (FNV-1a of its id, mod SWEEP_SHARDS): the same on every side. */
export function sweepShardOf(connectionId: string, shards = SWEEP_SHARDS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/**
 * DUE index of the state table: every connection item carries `due` = `DUE#<shard>` and `dueAt` = the
 * epoch ms at which the sweep must look at it (the state's deadline, else the 2-hour expiry). A sweep of a
 * shard is one Query `due = DUE#<shard> AND dueAt <= now`: it reads only what is due, never the healthy rest.
 */
export const DUE_INDEX: IndexDefinition = {
  indexName: 'Due',
  partitionKey: { name: 'due', type: 'S' },
  sortKey: { name: 'dueAt', type: 'N' },
  projection: 'KEYS_ONLY',
};

/**
 * BY_NODE index of the state table: connection items on a media node carry `onNode` = its node id, so the
 * sessions of a node that died (stale heartbeat, nobody left to report them lost) are one Query away.
 */
export const BY_NODE_INDEX: IndexDefinition = {
  indexName: 'ByNode',
  partitionKey: { name: 'onNode', type: 'S' },
  projection: 'KEYS_ONLY',
};

/**
 * Signalling state. Items (pk / sk):
 *   CONN#<connectionId> / CONN                 one WebSocket connection and its protocol state (versioned)
 *   CHAN#<guildId>:<channelId> / PLACEMENT     the media node hosting the channel (conditional write; expires
 *                                              2 connection lifetimes after the last Initialize)
 *   CHAN#<guildId>:<channelId> / FEED          how far the channel's history was delivered to its members,
 *                                              and the delivery lease (functions/voice/channel-feed.ts)
 *   CHAN#<guildId>:<channelId> / PREPARED      sessions prepared in the channel and not yet joined (id → expiry)
 *   USER#<userId> / LIMITS                     the user's open streams and sessions waiting to join (id → expiry)
 *   USER#<userId> / RATE#<epoch minute>        the user's connects, joins and replacements of that minute
 *                                              (per-user limits, functions/voice/user-limits.ts: one partition
 *                                              per user, conditional writes, none per message)
 * Membership itself is not stored here: the media room's history is its one truth (media-node/src/room/room-ledger.ts).
 * Connection items are also in two sparse indexes: DUE_INDEX (what the sweep must look at, by shard and
 * time) and BY_NODE_INDEX (the sessions of one media node).
 */
export const STATE_TABLE: TableDefinition = {
  logicalId: 'VoiceState',
  envVar: 'VOICE_STATE_TABLE',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  indexes: [DUE_INDEX, BY_NODE_INDEX],
};

/**
 * LISTING index of the registry: node records carry `listing` = `NODES#<shard>` (16 shards by the node id, so no
 * index partition takes every heartbeat), loss reports `LOST#<shard>` (<shard> = sweepShardOf(sessionId)), so
 * "every node" is 16 Queries and "one shard's lost sessions" one, while every item stays in its writer's own
 * partition. ALL projection: readers use the items as listed.
 */
export const LISTING_INDEX: IndexDefinition = {
  indexName: 'Listing',
  partitionKey: { name: 'listing', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  projection: 'ALL',
};

/**
 * Media node registry. Every item is in the partition of the node that wrote it, `NODE#<nodeId>` (on AWS the
 * node id is the instance ARN, and IAM lets a node write only under `NODE#${ec2:SourceInstanceARN}`):
 *   NODE#<nodeId> / NODE                          a media node: addresses, capacity, load, state, heartbeat
 *   NODE#<nodeId> / LOST#<roomId>#<sessionId>     a session that died on that node's media side, for the reaper
 * Readers list them through LISTING_INDEX (`NODES#<shard>`, `LOST#<shard>`); the writer of an item is its partition key.
 *   PLACE#<copy> / CANDIDATES                     the placement candidates (routing/candidates.ts), written by the
 *                                                 reaper only (IAM: LeadingKeys PLACE#*), read with one GetItem
 */
export const NODES_TABLE: TableDefinition = {
  logicalId: 'MediaNodes',
  envVar: 'MEDIA_NODES_TABLE',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  indexes: [LISTING_INDEX],
};

export const TABLES = [STATE_TABLE, NODES_TABLE] as const;

/** Physical name of a table from the environment (set by CDK on AWS, by local/ on loopback). */
export function tableName(def: TableDefinition, env: NodeJS.ProcessEnv = process.env): string {
  const name = env[def.envVar];
  if (!name) throw new Error(`config.missing-table: environment variable ${def.envVar} is not set`);
  return name;
}

/** CreateTable input for the local server (on-demand billing, as in the CDK stack). */
export function createTableInput(def: TableDefinition, name: string): CreateTableCommandInput {
  const indexes = def.indexes ?? [];
  const attributes = new Map<string, 'S' | 'N'>([
    [def.partitionKey, 'S'],
    [def.sortKey, 'S'],
  ]);
  for (const index of indexes) {
    attributes.set(index.partitionKey.name, index.partitionKey.type);
    if (index.sortKey) attributes.set(index.sortKey.name, index.sortKey.type);
  }
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
    KeySchema: [
      { AttributeName: def.partitionKey, KeyType: 'HASH' },
      { AttributeName: def.sortKey, KeyType: 'RANGE' },
    ],
    ...(indexes.length > 0 && {
      GlobalSecondaryIndexes: indexes.map((index) => ({
        IndexName: index.indexName,
        KeySchema: [
          { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
          ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
        ],
        Projection: { ProjectionType: index.projection },
      })),
    }),
  };
}
