// The @connections adapter (functions/adapters/apigw-gateway.ts) against a plain HTTP endpoint: posts made
// together are all in flight together (none waits for another's answer) and reach the endpoint in the order they
// were made; API Gateway's answers map to the Gateway port's results as before.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { ApiGatewayConnections } from '../../functions/adapters/apigw-gateway';
import { UndeliverableError } from '../../functions/voice/ports';

const ENV = { AWS_REGION: 'local', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };
const saved = Object.fromEntries(Object.keys(ENV).map((k) => [k, process.env[k]]));
let server: Server;
let endpoint: string;
let onRequest: (id: string, req: IncomingMessage, res: ServerResponse) => void;

before(async () => {
  Object.assign(process.env, ENV);
  server = createServer((req, res) => {
    const id = decodeURIComponent(/@connections\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? '');
    req.resume();
    req.on('end', () => onRequest(id, req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  endpoint = `http://127.0.0.1:${address.port}/local`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function answer(res: ServerResponse, status: number, errorType?: string): void {
  const body = status === 200 ? '' : JSON.stringify({ message: errorType });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(body);
}

test('posts made together are all in flight at once and reach the endpoint in the order they were made', async () => {
  const gateway = new ApiGatewayConnections(endpoint);
  const count = 20;
  const arrived: string[] = [];
  const held: ServerResponse[] = [];
  const releaseAll = () => held.splice(0).forEach((res) => answer(res, 200));
  // Nothing is answered until every post has arrived: a post waiting for another's answer would not arrive
  // until the guard gives up holding them.
  let gaveUp: number | undefined;
  const guard = setTimeout(() => {
    gaveUp = arrived.length;
    releaseAll();
  }, 5_000);
  onRequest = (id, _req, res) => {
    arrived.push(id);
    if (gaveUp !== undefined) return answer(res, 200);
    held.push(res);
    if (arrived.length === count) releaseAll();
  };
  const ids = Array.from({ length: count }, (_, i) => `conn-${i}=`);
  const results = await Promise.all(ids.map((id) => gateway.send(id, new Uint8Array([0, 1, 2]), 'base64')));
  clearTimeout(guard);
  assert.equal(gaveUp, undefined, `only ${gaveUp} of ${count} posts were in flight together`);
  assert.deepEqual(arrived, ids, 'every post arrived before any was answered, in the order made');
  assert.deepEqual(new Set(results), new Set(['sent']));
});

test('an endpoint in the same process reads the first post of a 100-post burst before the burst has been started', async () => {
  const gateway = new ApiGatewayConnections(endpoint);
  // The SDK calls started so far (each post's serialisation and signing is its own).
  const client = (gateway as unknown as { client: { send: (...args: unknown[]) => Promise<unknown> } }).client;
  const send = client.send.bind(client);
  let started = 0;
  client.send = (...args) => {
    started++;
    return send(...args);
  };
  const count = 100;
  let startedWhenFirstRead: number | undefined;
  onRequest = (id, _req, res) => {
    if (id === 'burst-0=') startedWhenFirstRead = started;
    answer(res, 200);
  };
  const ids = Array.from({ length: count }, (_, i) => `burst-${i}=`);
  const results = await Promise.all(ids.map((id) => gateway.send(id, new Uint8Array(64), 'base64')));
  assert.deepEqual(new Set(results), new Set(['sent']));
  assert.ok(startedWhenFirstRead !== undefined, 'the first post was read');
  // Before the turns (every call handed on at once), the first post was read after all 100 had started.
  assert.ok(
    startedWhenFirstRead < count / 2,
    `the first post was read after ${startedWhenFirstRead} of ${count} posts had started`,
  );
});

test("a 410 is 'gone', a 413 is UndeliverableError, and the posts after a failed one still go out", async () => {
  const gateway = new ApiGatewayConnections(endpoint);
  onRequest = (id, _req, res) => {
    if (id === 'gone=') return answer(res, 410, 'GoneException');
    if (id === 'big=') return answer(res, 413, 'PayloadTooLargeException');
    answer(res, 200);
  };
  const [gone, big, fine] = await Promise.allSettled([
    gateway.send('gone=', new Uint8Array([1]), 'base64'),
    gateway.send('big=', new Uint8Array([1]), 'binary'),
    gateway.send('fine=', new Uint8Array([1]), 'base64'),
  ]);
  assert.deepEqual(gone, { status: 'fulfilled', value: 'gone' });
  assert.equal(big.status, 'rejected');
  assert.ok((big as PromiseRejectedResult).reason instanceof UndeliverableError);
  assert.match(String((big as PromiseRejectedResult).reason.message), /1-byte message as too large/);
  assert.deepEqual(fine, { status: 'fulfilled', value: 'sent' });
  // DeleteConnection goes through the same turns: a gone connection is no error.
  await gateway.close('gone=');
});
