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
}

/**
 * Signalling state. Items (pk / sk):
 *   CONN#<connectionId> / CONN                 one WebSocket connection and its protocol state (versioned)
 *   CHAN#<guildId>:<channelId> / PLACEMENT     the media node hosting the channel (conditional write; expires
 *                                              2 connection lifetimes after the last Initialize)
 *   CHAN#<guildId>:<channelId> / FEED          how far the channel's history was delivered to its members,
 *                                              and the delivery lease (functions/voice/ChannelFeed.ts)
 * Membership itself is not stored here: the media room's history is its one truth (media-node/src/RoomLedger.ts).
 */
export const STATE_TABLE: TableDefinition = {
  logicalId: 'VoiceState',
  envVar: 'VOICE_STATE_TABLE',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
};

/**
 * Media node registry. Items (pk / sk):
 *   NODE / <nodeId>                 a media node: addresses, capacity, load, state, heartbeat
 *   LOST / <roomId>#<sessionId>     a session that died on the media side, for the reaper to clean up
 * One partition per kind keeps "all nodes" a single strongly consistent Query (fleets are small).
 */
export const NODES_TABLE: TableDefinition = {
  logicalId: 'MediaNodes',
  envVar: 'MEDIA_NODES_TABLE',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
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
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: def.partitionKey, AttributeType: 'S' },
      { AttributeName: def.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: def.partitionKey, KeyType: 'HASH' },
      { AttributeName: def.sortKey, KeyType: 'RANGE' },
    ],
  };
}
