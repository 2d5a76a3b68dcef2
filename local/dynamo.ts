// dynalite (the DynamoDB API on LevelDB, in memory) on loopback, with the service's tables created from
// the one shared definition in data/tables.ts.
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Server } from 'node:http';
import { listen } from '../lib/listen';
import { createRequire } from 'node:module';
import { createTableInput, TABLES, type TableDefinition } from '../data/tables';
import { emulateAllOldOnConditionFailure } from './dynamo-all-old';
import { countDynamoRequests } from './dynamo-counting';
import type { RequestCounter } from './request-counter';

type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** Credentials dynalite ignores but the SDK insists on. */
export const LOCAL_AWS_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_AWS_REGION = 'local';

export interface LocalDynamo {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  /** Physical table name per table env var, e.g. { VOICE_STATE_TABLE: 'harmony-voice-local-state' }. */
  tables: Record<string, string>;
  close(): Promise<void>;
}

/** harmony-voice-<prefix>-<stem>: VoiceState → state, MediaNodes → nodes. */
export function localTableName(def: TableDefinition, prefix = 'local'): string {
  const stem =
    def.logicalId === 'VoiceState' ? 'state' : def.logicalId === 'MediaNodes' ? 'nodes' : def.logicalId.toLowerCase();
  return `harmony-voice-${prefix}-${stem}`;
}

export async function startLocalDynamo(
  options: { port?: number; host?: string; tablePrefix?: string; counter?: RequestCounter } = {},
): Promise<LocalDynamo> {
  const host = options.host ?? '127.0.0.1';
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const stems = new Map(
    TABLES.map((def) => [
      localTableName(def, options.tablePrefix),
      localTableName(def, '').replace(/^harmony-voice--/, ''),
    ]),
  );
  emulateAllOldOnConditionFailure(server);
  if (options.counter) countDynamoRequests(server, options.counter, (table) => stems.get(table) ?? table);
  const { port } = await listen(server, options.port ?? 0, host);
  const endpoint = `http://${host}:${port}`;
  const close = async () => {
    // Let requests already being served finish: dynalite closes its database when the server closes, and a
    // request cut off mid-way would then throw "Database is closed" out of dynalite (an uncaught exception).
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 2_000);
    await closed;
    clearTimeout(force);
  };

  const client = new DynamoDBClient({ endpoint, region: LOCAL_AWS_REGION, credentials: LOCAL_AWS_CREDENTIALS });
  const tables: Record<string, string> = {};
  try {
    for (const def of TABLES) {
      const name = localTableName(def, options.tablePrefix);
      await client.send(new CreateTableCommand(createTableInput(def, name)));
      tables[def.envVar] = name;
    }
  } catch (err) {
    await close();
    throw new Error(`local-dynamo.create-tables: ${(err as Error).message}`);
  } finally {
    client.destroy();
  }
  return { endpoint, port, tables, close };
}
