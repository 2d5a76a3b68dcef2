// Counts every request the local DynamoDB (dynalite) serves, whoever sends it (handlers, reaper, media
// node process): the operation, the table and index, and the capacity units, asked of dynalite with
// ReturnConsumedCapacity on each data-plane request. The response is passed through unchanged otherwise.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { RequestCounter } from './request-counter';

const DATA_PLANE = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
]);

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Puts the counter in front of dynalite's request handler. `stem` maps a physical table name to its stem. */
export function countDynamoRequests(server: Server, counter: RequestCounter, stem: (table: string) => string): void {
  const [original] = server.listeners('request') as Listener[];
  if (!original) throw new Error('dynamo-counting: the server has no request handler');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (!DATA_PLANE.has(operation)) return original(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return replay(original, req, res, Buffer.concat(chunks));
      }
      body.ReturnConsumedCapacity ??= 'TOTAL';
      // Batch requests name their table(s) in RequestItems.
      const table = String(body.TableName ?? (Object.keys((body.RequestItems ?? {}) as object).join('+') || '?'));
      const key = `${stem(table)}:${operation}${body.IndexName ? `:${body.IndexName}` : ''}${operation === 'Query' ? `(${partitionKind(body)})` : limitItem(body) ? '(limits)' : ''}`;
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        const data = args[0];
        let units = 0;
        if (res.statusCode === 200 && (typeof data === 'string' || Buffer.isBuffer(data))) {
          try {
            const parsed = JSON.parse(data.toString()) as { ConsumedCapacity?: { CapacityUnits?: number } };
            units = parsed.ConsumedCapacity?.CapacityUnits ?? 0;
          } catch {
            /* not JSON: no units */
          }
        }
        const read = ['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems'].includes(operation);
        counter.countDynamo(key, {
          read: read ? units : 0,
          write: read ? 0 : units,
          indexWrite: read ? 0 : indexWrites(operation, body),
        });
        const pk = partitionKey(operation, body);
        if (pk) counter.countPartition(`${stem(table)}:${pk}`, { read: read ? units : 0, write: read ? 0 : units });
        return end(...args);
      }) as typeof res.end;
      replay(original, req, res, Buffer.from(JSON.stringify(body)));
    });
  });
}

/** Hands dynalite a request whose body is `body` (its handler reads the request as a stream). */
function replay(original: Listener, req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const copy = Object.assign(new PassThrough(), {
    headers: { ...req.headers, 'content-length': String(body.length) },
    method: req.method,
    url: req.url,
    socket: req.socket,
  });
  original(copy as unknown as IncomingMessage, res);
  copy.end(body);
}

/** The kind of partition a Query reads: its key value up to the first '#' (NODE, LOST, CHAN, DUE). */
function partitionKind(body: Record<string, unknown>): string {
  const values = Object.values((body.ExpressionAttributeValues ?? {}) as Record<string, { S?: string }>);
  const key = values.find((v) => typeof v?.S === 'string')?.S ?? '?';
  return key.split('#')[0]!;
}

/** A request on a per-user limit item (functions/voice/user-limits.ts: USER#<id> items, a channel's PREPARED item). */
function limitItem(body: Record<string, unknown>): boolean {
  const key = (body.Key ?? body.Item) as { pk?: { S?: string }; sk?: { S?: string } } | undefined;
  return (key?.pk?.S ?? '').startsWith('USER#') || key?.sk?.S === 'PREPARED';
}

/** The partition key value one request touches (single-item operations and Queries of the table); else undefined. */
function partitionKey(operation: string, body: Record<string, unknown>): string | undefined {
  const pk = (value: unknown) => (value as { pk?: { S?: string } } | undefined)?.pk?.S;
  if (operation === 'PutItem') return pk(body.Item);
  if (['GetItem', 'UpdateItem', 'DeleteItem'].includes(operation)) return pk(body.Key);
  if (operation === 'Query' && !body.IndexName) {
    const values = Object.values((body.ExpressionAttributeValues ?? {}) as Record<string, { S?: string }>);
    return values.find((v) => typeof v?.S === 'string')?.S;
  }
  return undefined;
}

/** Index write units of a write to a connection item (see DynamoOpCount.indexWriteUnits). */
function indexWrites(operation: string, body: Record<string, unknown>): number {
  const sk = (value: unknown) => (value as { sk?: { S?: string } } | undefined)?.sk?.S;
  if (operation === 'PutItem') {
    const item = body.Item as Record<string, unknown> | undefined;
    if (sk(item) !== 'CONN') return 0;
    return (item?.due ? 1 : 0) + (item?.onNode ? 1 : 0);
  }
  if (operation === 'UpdateItem') {
    if (sk(body.Key) !== 'CONN') return 0;
    const names = Object.values((body.ExpressionAttributeNames ?? {}) as Record<string, string>);
    return (names.includes('dueAt') ? 2 : 0) + (names.includes('onNode') ? 1 : 0);
  }
  if (operation === 'DeleteItem') return sk(body.Key) === 'CONN' ? 2 : 0;
  return 0;
}
