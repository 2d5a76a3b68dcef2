// The events the local gateway hands to handlers have the fields AWS sends (checked against @types/aws-lambda).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import { startLocalGateway, type LocalGateway } from '../../local/gateway';
import { closed, openWs, quiet, recordingHandlers, waitUntil, type Recorded } from './helpers';

/** Field names of an interface in @types/aws-lambda, read from its .d.ts so the test follows the package. */
function typeFields(file: string, name: string): string[] {
  const path = createRequire(import.meta.url).resolve(`@types/aws-lambda/${file}`);
  const source = readFileSync(path, 'utf8');
  const start = source.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, `${name} not found in ${file}`);
  const body = source.slice(start, source.indexOf('\n}', start));
  return [...body.matchAll(/^ {4}(\w+)\??:/gm)].map((m) => m[1]!);
}

const CONTEXT_FIELDS = typeFields('trigger/api-gateway-proxy.d.ts', 'APIGatewayEventWebsocketRequestContextV2');
const IDENTITY_FIELDS = typeFields('common/api-gateway.d.ts', 'APIGatewayEventIdentity').filter(
  (f) => !['clientCert', 'vpcId', 'vpceId', 'apiKey', 'apiKeyId'].includes(f),
);

describe('local gateway events', () => {
  let gateway: LocalGateway;
  let recorded: Recorded;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const contexts: Context[] = [];

  before(async () => {
    const rec = recordingHandlers();
    recorded = rec.recorded;
    const wrap = (h: typeof rec.handlers.connect) => async (event: unknown, context: Context, cb: () => void) => {
      contexts.push(context);
      return h(event, context, cb);
    };
    gateway = await startLocalGateway({
      ...quiet,
      handlers: {
        connect: wrap(rec.handlers.connect),
        default: wrap(rec.handlers.default),
        disconnect: wrap(rec.handlers.disconnect),
      },
    });
    const ws = await openWs(`${gateway.wsUrl}?room=7&room=8&x=y`, ['hrpc1.base64', 'the-token'], {
      headers: { Authorization: 'tok', 'X-Multi': 'a' },
    });
    ws.send('aGVsbG8=');
    await waitUntil(() => recorded.default.length === 1, 5_000, '$default');
    ws.close(4000, 'bye');
    await closed(ws);
    await waitUntil(() => recorded.disconnect.length === 1, 5_000, '$disconnect');
  });
  after(() => gateway.close());

  it('the @types/aws-lambda field lists were read', () => {
    assert.ok(
      CONTEXT_FIELDS.includes('connectionId') && CONTEXT_FIELDS.includes('messageId'),
      CONTEXT_FIELDS.join(','),
    );
    assert.ok(IDENTITY_FIELDS.includes('sourceIp'));
  });

  it('$connect carries the upgrade headers, query string and a CONNECT requestContext', () => {
    const event = recorded.connect[0];
    assert.deepEqual(Object.keys(event).sort(), [
      'headers',
      'isBase64Encoded',
      'multiValueHeaders',
      'multiValueQueryStringParameters',
      'queryStringParameters',
      'requestContext',
    ]);
    assert.equal(event.isBase64Encoded, false);
    assert.equal(event.headers.Authorization, 'tok');
    assert.equal(event.headers['Sec-WebSocket-Protocol'], 'hrpc1.base64,the-token');
    assert.equal(event.headers['Sec-WebSocket-Version'], '13');
    assert.match(event.headers['Sec-WebSocket-Key'], /==$/);
    assert.equal(event.headers['X-Forwarded-For'], '127.0.0.1');
    assert.equal(event.headers['X-Forwarded-Port'], String(gateway.port));
    assert.match(event.headers['X-Amzn-Trace-Id'], /^Root=1-/);
    assert.deepEqual(event.multiValueHeaders['X-Multi'], ['a']);
    assert.deepEqual(event.queryStringParameters, { room: '8', x: 'y' });
    assert.deepEqual(event.multiValueQueryStringParameters, { room: ['7', '8'], x: ['y'] });
    const ctx = event.requestContext;
    for (const field of CONTEXT_FIELDS.filter((f) => f !== 'messageId'))
      assert.ok(field in ctx, `$connect requestContext.${field}`);
    assert.equal('messageId' in ctx, false);
    assert.equal(ctx.routeKey, '$connect');
    assert.equal(ctx.eventType, 'CONNECT');
    assert.equal(ctx.messageDirection, 'IN');
    assert.equal(ctx.stage, 'local');
    assert.equal(ctx.domainName, `127.0.0.1:${gateway.port}`);
    assert.match(ctx.connectionId, /^[A-Za-z0-9_-]{15}=$/);
    assert.match(ctx.requestTime, /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    assert.equal(typeof ctx.connectedAt, 'number');
    assert.equal(typeof ctx.requestTimeEpoch, 'number');
    for (const field of IDENTITY_FIELDS) assert.ok(field in ctx.identity, `identity.${field}`);
    assert.equal(ctx.identity.sourceIp, '127.0.0.1');
  });

  it('$default carries the text frame as body with a MESSAGE requestContext', () => {
    const event = recorded.default[0];
    const typed: APIGatewayProxyWebsocketEventV2 = event; // compile-time: assignable to the @types shape
    assert.ok(typed);
    assert.deepEqual(Object.keys(event).sort(), ['body', 'isBase64Encoded', 'requestContext']);
    assert.equal(event.body, 'aGVsbG8=');
    assert.equal(event.isBase64Encoded, false);
    const ctx = event.requestContext;
    for (const field of CONTEXT_FIELDS) assert.ok(field in ctx, `$default requestContext.${field}`);
    assert.equal(ctx.routeKey, '$default');
    assert.equal(ctx.eventType, 'MESSAGE');
    assert.match(ctx.messageId, /^[A-Za-z0-9_-]{15}=$/);
    assert.equal(ctx.connectionId, recorded.connect[0].requestContext.connectionId);
    assert.equal(ctx.connectedAt, recorded.connect[0].requestContext.connectedAt);
    assert.notEqual(ctx.requestId, recorded.connect[0].requestContext.requestId);
  });

  it('$disconnect carries the close status and AWS’s four headers', () => {
    const event = recorded.disconnect[0];
    assert.deepEqual(Object.keys(event.headers), ['Host', 'x-api-key', 'X-Forwarded-For', 'x-restapi']);
    assert.equal(event.isBase64Encoded, false);
    const ctx = event.requestContext;
    for (const field of CONTEXT_FIELDS.filter((f) => f !== 'messageId'))
      assert.ok(field in ctx, `$disconnect requestContext.${field}`);
    assert.equal(ctx.routeKey, '$disconnect');
    assert.equal(ctx.eventType, 'DISCONNECT');
    assert.equal(ctx.disconnectStatusCode, 4000);
    assert.equal(ctx.disconnectReason, 'bye');
    assert.equal(ctx.connectionId, recorded.connect[0].requestContext.connectionId);
  });

  it('each invocation gets a Lambda-like context with a deadline', () => {
    assert.equal(contexts.length, 3);
    assert.deepEqual(
      contexts.map((c) => c.functionName),
      ['connect', 'default', 'disconnect'],
    );
    assert.equal(new Set(contexts.map((c) => c.awsRequestId)).size, 3);
    const remaining = contexts[0]!.getRemainingTimeInMillis();
    assert.ok(remaining > 0 && remaining <= 29_000, String(remaining));
  });
});

describe('client close without a status', () => {
  it('reports 1005 as AWS does', async () => {
    const { handlers, recorded } = recordingHandlers();
    const gateway = await startLocalGateway({ ...quiet, handlers });
    try {
      const ws = await openWs(gateway.wsUrl, ['hrpc1']);
      ws.close();
      await closed(ws);
      await waitUntil(() => recorded.disconnect.length === 1);
      assert.equal(recorded.disconnect[0].requestContext.disconnectStatusCode, 1005);
      assert.equal(recorded.disconnect[0].requestContext.disconnectReason, 'Client-side close frame status not set');
    } finally {
      await gateway.close();
    }
  });
});
