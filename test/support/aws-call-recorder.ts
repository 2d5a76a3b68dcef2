// Records the AWS calls each Lambda handler makes in the local stack, as IAM sees them: (function, action,
// resource). Handlers run inside `invocation.run(name, ...)` (wrapper modules made by handlerWrappers), and every
// HTTP request leaving this process is seen through Node's `http.client.request.start` diagnostics channel, with
// its body: DynamoDB's JSON protocol (X-Amz-Target, TableName/IndexName, transactions split into the actions IAM
// checks for them) and the @connections API (method and path). Used by test/infra/iam-behaviour.test.ts.
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const invocation = new AsyncLocalStorage<string>();

export interface AwsCall {
  readonly fn: string;
  readonly action: string;
  /** table:<stem>[/index/<name>] | connections:<METHOD> */
  readonly resource: string;
}

const TRANSACT_ACTIONS: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

/** Starts recording into `calls`; `stem` maps a physical table name to its stem (state, nodes). Returns the stop function. */
export function recordAwsCalls(calls: AwsCall[], stem: (table: string) => string): () => void {
  const onStart = (message: unknown) => {
    const request = (message as { request: ClientRequest }).request;
    const fn = invocation.getStore();
    if (!fn) return;
    const target = String(request.getHeader('x-amz-target') ?? '');
    const chunks: Buffer[] = [];
    const write = request.write.bind(request);
    const end = request.end.bind(request);
    request.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk) chunks.push(Buffer.from(chunk as string));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof request.write;
    request.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as string));
      for (const call of classify(fn, request, target, Buffer.concat(chunks).toString('utf8'), stem)) calls.push(call);
      return (end as (...a: unknown[]) => ClientRequest)(chunk, ...rest);
    }) as typeof request.end;
  };
  subscribe('http.client.request.created', onStart);
  return () => unsubscribe('http.client.request.created', onStart);
}

function classify(
  fn: string,
  request: ClientRequest,
  target: string,
  body: string,
  stem: (table: string) => string,
): AwsCall[] {
  if (target.startsWith('DynamoDB_')) {
    const op = target.split('.')[1]!;
    const parsed = (body ? JSON.parse(body) : {}) as Record<string, any>;
    const on = (table: string, index?: string) => `table:${stem(table)}${index ? `/index/${index}` : ''}`;
    if (op === 'TransactWriteItems' || op === 'TransactGetItems') {
      return (parsed.TransactItems as Record<string, { TableName: string }>[]).map((item) => {
        const [kind, spec] = Object.entries(item)[0]!;
        return { fn, action: `dynamodb:${TRANSACT_ACTIONS[kind]}`, resource: on(spec.TableName) };
      });
    }
    if (op === 'BatchGetItem' || op === 'BatchWriteItem') {
      return Object.keys(parsed.RequestItems ?? {}).map((table) => ({
        fn,
        action: `dynamodb:${op}`,
        resource: on(table),
      }));
    }
    return [{ fn, action: `dynamodb:${op}`, resource: on(parsed.TableName, parsed.IndexName) }];
  }
  if (request.path.includes('/@connections/'))
    return [{ fn, action: 'execute-api:ManageConnections', resource: `connections:${request.method}` }];
  return [{ fn, action: `unknown:${request.method} ${request.host}${request.path}`, resource: '?' }];
}

/** Handler modules (for startLocalStack's handlersDir) running the real ones inside `invocation.run(name)`. */
export function handlerWrappers(dir: string, realDir: string, names: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  const recorder = pathToFileURL(new URL(import.meta.url).pathname).href;
  for (const name of names) {
    // .mjs: ESM wherever the directory is (a .ts outside the repository would load as CommonJS, with its own
    // copy of this module and so another AsyncLocalStorage).
    writeFileSync(
      join(dir, `${name}.mjs`),
      [
        `import { invocation } from '${recorder}';`,
        `import { handler as real } from '${pathToFileURL(join(realDir, `${name}.ts`)).href}';`,
        `export const handler = (event, context, callback) => invocation.run('${name}', () => real(event, context, callback));`,
      ].join('\n'),
    );
  }
}
