// DynamoDB answers a failed condition with the item as it was, when asked (`ReturnValuesOnConditionCheckFailure:
// 'ALL_OLD'` on PutItem, UpdateItem and DeleteItem): the state store reads the current record from the failure
// instead of a second request. dynalite 4.0.0 (the newest) ignores the parameter, so the local DynamoDB adds it:
// after a ConditionalCheckFailedException it reads the item (strongly consistent, inside dynalite, not counted as
// a request) and puts it in the error as `Item`, as DynamoDB does. Unlike DynamoDB's, that read follows the check
// rather than being atomic with it: it may show a newer record, which callers handle like any current record.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { crc32 } from 'node:zlib';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);
const CONDITION_FAILED = 'ConditionalCheckFailedException';

/** Puts the emulation in front of dynalite's request handler. Every table's key is (pk, sk) (data/tables.ts). */
export function emulateAllOldOnConditionFailure(server: Server): void {
  const [original] = server.listeners('request') as Listener[];
  if (!original) throw new Error('dynamo-all-old: the server has no request handler');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const [api, operation = ''] = String(req.headers['x-amz-target'] ?? '').split('.');
    if (!WRITES.has(operation)) return original(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: {
        TableName?: string;
        Key?: Record<string, unknown>;
        Item?: Record<string, unknown>;
        ReturnValuesOnConditionCheckFailure?: string;
      };
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return replay(original, req, res, raw);
      }
      if (body.ReturnValuesOnConditionCheckFailure === 'ALL_OLD') {
        const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
        res.end = ((...args: unknown[]) => {
          const data = args[0];
          const text = typeof data === 'string' || Buffer.isBuffer(data) ? data.toString() : '';
          if (res.statusCode !== 400 || !text.includes(CONDITION_FAILED)) return end(...args);
          const key = body.Key ?? (body.Item && { pk: body.Item.pk, sk: body.Item.sk });
          void readItem(original, req.headers, api!, body.TableName ?? '', key ?? {}).then(
            (item) => {
              const error = JSON.parse(text) as Record<string, unknown>;
              const answer = JSON.stringify(item ? { ...error, Item: item } : error);
              res.setHeader('x-amz-crc32', crc32(answer));
              res.setHeader('Content-Length', Buffer.byteLength(answer));
              end(answer);
            },
            () => end(...args),
          );
          return res;
        }) as typeof res.end;
      }
      replay(original, req, res, raw);
    });
  });
}

/** GetItem (strongly consistent) served by dynalite's own handler, as the wire item (undefined when absent). */
function readItem(
  original: Listener,
  headers: IncomingMessage['headers'],
  api: string,
  table: string,
  key: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify({ TableName: table, Key: key, ConsistentRead: true }));
    const res = {
      statusCode: 200,
      setHeader() {
        return res;
      },
      end(data: unknown) {
        try {
          if (res.statusCode !== 200) throw new Error(`GetItem answered ${res.statusCode}`);
          resolve((JSON.parse(String(data)) as { Item?: Record<string, unknown> }).Item);
        } catch (err) {
          reject(err);
        }
        return res;
      },
    };
    const copy = Object.assign(new PassThrough(), {
      headers: { ...headers, 'x-amz-target': `${api}.GetItem`, 'content-length': String(body.length) },
      method: 'POST',
      url: '/',
    });
    original(copy as unknown as IncomingMessage, res as unknown as ServerResponse);
    copy.end(body);
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
