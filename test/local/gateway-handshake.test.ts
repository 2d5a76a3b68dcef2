// $connect decides the upgrade: 2xx accepts (echoing only the subprotocol it returns), anything else
// refuses it before the 101 with its status and body; bad paths get 400 with an hrpc.v1.Error body.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { startLocalGateway, type LocalGateway, type ProxyResult } from '../../local/gateway';
import {
  closed,
  nextMessage,
  openWs,
  quiet,
  recordingHandlers,
  waitUntil,
  type Recorded,
  type Rejection,
} from './helpers';

describe('local gateway handshake', () => {
  let gateway: LocalGateway;
  let recorded: Recorded;

  before(async () => {
    const rec = recordingHandlers({
      connectResult: (event): ProxyResult | undefined => {
        const auth = event.headers.Authorization;
        if (auth === 'denied') {
          return {
            statusCode: 401,
            headers: { 'Content-Type': 'application/hrpc', 'Hrpc-Version': '1' },
            body: Buffer.from([1, 2, 3]).toString('base64'),
            isBase64Encoded: true,
          };
        }
        if (auth === 'throws') throw new Error('handler blew up');
        if (auth === 'no-protocol') return { statusCode: 200 };
        if (auth === 'void') return undefined;
        return { statusCode: 200, headers: { 'sec-websocket-protocol': auth === 'base64' ? 'hrpc1.base64' : 'hrpc1' } };
      },
      onMessage: () => {},
    });
    recorded = rec.recorded;
    gateway = await startLocalGateway({ ...quiet, handlers: rec.handlers });
  });
  after(() => gateway.close());

  it('accepts on 2xx and echoes the subprotocol $connect returned', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1', 'hrpc1.base64', 'tok'], { headers: { Authorization: 'base64' } });
    assert.equal(ws.protocol, 'hrpc1.base64');
    ws.close();
    await closed(ws);
  });

  it('accepts on "/" as well', async () => {
    const ws = await openWs(gateway.url.replace('http', 'ws') + '/', ['hrpc1'], { headers: { Authorization: 'ok' } });
    assert.equal(ws.protocol, 'hrpc1');
    ws.close();
    await closed(ws);
  });

  it('echoes no subprotocol when $connect returns none (the client then fails, as with AWS)', async () => {
    await assert.rejects(
      openWs(gateway.wsUrl, ['hrpc1'], { headers: { Authorization: 'no-protocol' } }),
      /no subprotocol/i,
    );
    const ws = await openWs(gateway.wsUrl, [], { headers: { Authorization: 'no-protocol' } });
    assert.equal(ws.protocol, '');
    ws.close();
    await closed(ws);
  });

  it('refuses the upgrade with the handler’s status, headers and (base64-decoded) body; no other event runs', async () => {
    const before = { default: recorded.default.length, disconnect: recorded.disconnect.length };
    const rejection = await openWs(gateway.wsUrl, ['hrpc1'], { headers: { Authorization: 'denied' } }).then(
      () => assert.fail('upgrade should be refused'),
      (r: Rejection) => r,
    );
    assert.equal(rejection.status, 401);
    assert.equal(rejection.headers['content-type'], 'application/hrpc');
    assert.equal(rejection.headers['hrpc-version'], '1');
    assert.deepEqual([...rejection.body], [1, 2, 3]);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(recorded.default.length, before.default);
    assert.equal(recorded.disconnect.length, before.disconnect);
  });

  it('answers 502 when the $connect handler throws', async () => {
    const rejection = await openWs(gateway.wsUrl, ['hrpc1'], { headers: { Authorization: 'throws' } }).then(
      () => assert.fail('upgrade should be refused'),
      (r: Rejection) => r,
    );
    assert.equal(rejection.status, 502);
    assert.deepEqual(JSON.parse(rejection.body.toString()), { message: 'Internal server error' });
  });

  it('accepts a $connect that returns nothing (as 200, with no subprotocol)', async () => {
    const ws = await openWs(gateway.wsUrl, [], { headers: { Authorization: 'void' } });
    ws.close();
    await closed(ws);
  });

  it('answers 400 with an hrpc.v1.Error body before the upgrade on other paths, without invoking $connect', async () => {
    const connects = recorded.connect.length;
    const rejection = await openWs(`${gateway.url.replace('http', 'ws')}/protocol.voice.v1.VoiceService/Other`, [
      'hrpc1',
    ]).then(
      () => assert.fail('upgrade should be refused'),
      (r: Rejection) => r,
    );
    assert.equal(rejection.status, 400);
    assert.equal(rejection.headers['content-type'], 'application/hrpc');
    assert.equal(rejection.headers['hrpc-version'], '1');
    const error = HrpcError.decode(rejection.body);
    assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
    assert.match(error.humanMessage, /\/protocol\.voice\.v1\.VoiceService\/Other/);
    assert.equal(recorded.connect.length, connects);
  });

  it('answers an oversized handshake (a 100 KB token) with 431 and an hrpc.v1.Error body, not a reset', async () => {
    const connects = recorded.connect.length;
    const rejection = await openWs(gateway.wsUrl, ['hrpc1.base64', 'x'.repeat(100 * 1024)]).then(
      () => assert.fail('upgrade should be refused'),
      (r: Rejection) => r,
    );
    assert.equal(rejection.status, 431);
    assert.equal(rejection.headers['content-type'], 'application/hrpc');
    const error = HrpcError.decode(rejection.body);
    assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
    assert.match(error.humanMessage, /headers are too large/);
    assert.equal(recorded.connect.length, connects, '$connect never ran');
  });

  it('answers a request HTTP cannot parse with 400 and an hrpc.v1.Error body', async () => {
    const raw = await rawExchange(
      gateway.port,
      'GET /protocol.voice.v1.VoiceService/StreamMessage HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
    );
    assert.match(raw.toString('latin1'), /^HTTP\/1\.1 400 /);
    const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    assert.equal(HrpcError.decode(body).identifier, 'hrpc.http.bad-streaming-request');
  });

  it('answers a plain GET on the stream path with 400 and an hrpc.v1.Error body', async () => {
    const { status, headers, body } = await httpGet(`${gateway.url}/protocol.voice.v1.VoiceService/StreamMessage`);
    assert.equal(status, 400);
    assert.equal(headers['content-type'], 'application/hrpc');
    assert.equal(HrpcError.decode(body).identifier, 'hrpc.http.bad-streaming-request');
  });

  it('runs $default for each message as it arrives, not one after another', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const rec = recordingHandlers({ onMessage: (event) => (event.body === 'slow' ? gate : undefined) });
    const g = await startLocalGateway({ ...quiet, handlers: rec.handlers });
    try {
      const ws = await openWs(g.wsUrl, ['hrpc1.base64']);
      ws.send('slow');
      ws.send('fast');
      await waitUntil(() => rec.recorded.default.length === 2, 2_000, 'both $default invocations');
      release();
      ws.close();
      await closed(ws);
    } finally {
      release();
      await g.close();
    }
  });

  it('tells the client "Internal server error" when $default throws, as API Gateway does', async () => {
    const rec = recordingHandlers({
      onMessage: () => {
        throw new Error('boom');
      },
    });
    const g = await startLocalGateway({ ...quiet, handlers: rec.handlers });
    try {
      const ws = await openWs(g.wsUrl, ['hrpc1']);
      const message = nextMessage(ws);
      ws.send('x');
      const { data, isBinary } = await message;
      assert.equal(isBinary, false);
      const parsed = JSON.parse(data.toString());
      assert.equal(parsed.message, 'Internal server error');
      assert.equal(parsed.connectionId, rec.recorded.connect[0].requestContext.connectionId);
      ws.close();
      await closed(ws);
    } finally {
      await g.close();
    }
  });
});

function httpGet(
  url: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

/** Writes raw bytes to the gateway and returns everything it answers until it closes the socket. */
function rawExchange(port: number, text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
