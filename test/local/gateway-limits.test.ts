// API Gateway's connection rules: 32 KB frames and 128 KB messages (close 1009), binary frames refused in
// strict mode (1003) and accepted otherwise (base64 body), idle timeout and maximum duration (1001).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLocalGateway, type LocalGateway } from '../../local/gateway';
import { closed, openWs, quiet, recordingHandlers, waitUntil, type Recorded } from './helpers';

const KB = 1024;

describe('size limits and binary frames', () => {
  let strict: LocalGateway;
  let lenient: LocalGateway;
  let strictRec: Recorded;
  let lenientRec: Recorded;

  before(async () => {
    const s = recordingHandlers();
    const l = recordingHandlers();
    strictRec = s.recorded;
    lenientRec = l.recorded;
    strict = await startLocalGateway({ ...quiet, handlers: s.handlers, strict: true });
    lenient = await startLocalGateway({ ...quiet, handlers: l.handlers });
  });
  after(() => Promise.all([strict.close(), lenient.close()]));

  it('strict mode closes the connection with 1003 on a binary frame, without invoking $default', async () => {
    const ws = await openWs(strict.wsUrl, ['hrpc1']);
    const id = strictRec.connect.at(-1).requestContext.connectionId;
    ws.send(Buffer.from([0x0a, 0x04, 0x08, 0x01, 0x10, 0x02]));
    const { code } = await closed(ws);
    assert.equal(code, 1003);
    await waitUntil(() => strictRec.disconnect.some((e) => e.requestContext.connectionId === id), 2_000, '$disconnect');
    const event = strictRec.disconnect.find((e) => e.requestContext.connectionId === id);
    assert.equal(event.requestContext.disconnectStatusCode, 1003);
    assert.equal(strictRec.default.filter((e) => e.requestContext.connectionId === id).length, 0);
  });

  it('strict mode still accepts text frames', async () => {
    const ws = await openWs(strict.wsUrl, ['hrpc1.base64']);
    ws.send('CgQIARAC');
    await waitUntil(() => strictRec.default.some((e) => e.body === 'CgQIARAC'), 2_000, '$default');
    ws.close();
    await closed(ws);
  });

  it('default mode passes a binary frame to $default as base64 with isBase64Encoded', async () => {
    const ws = await openWs(lenient.wsUrl, ['hrpc1']);
    ws.send(Buffer.from([0x0a, 0x04, 0x08, 0x01, 0x10, 0x02]));
    await waitUntil(() => lenientRec.default.length > 0, 2_000, '$default');
    const event = lenientRec.default.at(-1);
    assert.equal(event.isBase64Encoded, true);
    assert.deepEqual([...Buffer.from(event.body, 'base64')], [0x0a, 0x04, 0x08, 0x01, 0x10, 0x02]);
    ws.close();
    await closed(ws);
  });

  it('accepts a frame of exactly 32 KB and closes with 1009 on a 32 KB + 1 frame', async () => {
    const ws = await openWs(lenient.wsUrl, ['hrpc1.base64']);
    const atLimit = 'a'.repeat(32 * KB);
    ws.send(atLimit);
    await waitUntil(() => lenientRec.default.some((e) => e.body === atLimit), 2_000, '32 KB message');
    ws.send('b'.repeat(32 * KB + 1));
    const { code } = await closed(ws);
    assert.equal(code, 1009);
    assert.equal(
      lenientRec.default.some((e) => e.body.startsWith('b')),
      false,
    );
  });

  it('accepts a 120 KB message in 30 KB fragments and closes with 1009 past 128 KB', async () => {
    const ws = await openWs(lenient.wsUrl, ['hrpc1.base64']);
    const fragment = 'c'.repeat(30 * KB);
    for (let i = 0; i < 3; i++) ws.send(fragment, { fin: false });
    ws.send(fragment, { fin: true });
    await waitUntil(() => lenientRec.default.some((e) => e.body.length === 120 * KB), 2_000, '120 KB message');
    for (let i = 0; i < 4; i++) ws.send('d'.repeat(30 * KB), { fin: false });
    ws.send('d'.repeat(30 * KB), { fin: true });
    const { code } = await closed(ws);
    assert.equal(code, 1009);
    assert.equal(
      lenientRec.default.some((e) => e.body.startsWith('d')),
      false,
    );
  });
});

describe('idle timeout and maximum connection duration', () => {
  it('closes an idle connection with 1001 after the idle timeout', async () => {
    const { handlers, recorded } = recordingHandlers();
    const gateway = await startLocalGateway({ ...quiet, handlers, idleTimeoutMs: 300 });
    try {
      const ws = await openWs(gateway.wsUrl, ['hrpc1']);
      const started = Date.now();
      const { code } = await closed(ws);
      const elapsed = Date.now() - started;
      assert.equal(code, 1001);
      assert.ok(elapsed >= 250 && elapsed < 2_000, `closed after ${elapsed} ms`);
      await waitUntil(() => recorded.disconnect.length === 1, 2_000, '$disconnect');
      assert.equal(recorded.disconnect[0].requestContext.disconnectStatusCode, 1001);
    } finally {
      await gateway.close();
    }
  });

  it('client messages keep a connection alive past the idle timeout', async () => {
    const { handlers } = recordingHandlers();
    const gateway = await startLocalGateway({ ...quiet, handlers, idleTimeoutMs: 300 });
    try {
      const ws = await openWs(gateway.wsUrl, ['hrpc1.base64']);
      for (let i = 0; i < 8; i++) {
        ws.send('AA==');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(ws.readyState, ws.OPEN);
      const { code } = await closed(ws);
      assert.equal(code, 1001);
    } finally {
      await gateway.close();
    }
  });

  it('closes with 1001 at the maximum duration even when active', async () => {
    const { handlers, recorded } = recordingHandlers();
    const gateway = await startLocalGateway({ ...quiet, handlers, idleTimeoutMs: 10_000, maxConnectionMs: 400 });
    try {
      const ws = await openWs(gateway.wsUrl, ['hrpc1.base64']);
      const started = Date.now();
      const ticker = setInterval(() => ws.readyState === ws.OPEN && ws.send('AA=='), 50);
      const { code } = await closed(ws);
      clearInterval(ticker);
      const elapsed = Date.now() - started;
      assert.equal(code, 1001);
      assert.ok(elapsed >= 350 && elapsed < 2_000, `closed after ${elapsed} ms`);
      await waitUntil(() => recorded.disconnect.length === 1, 2_000, '$disconnect');
      assert.ok(recorded.default.length >= 3);
    } finally {
      await gateway.close();
    }
  });
});
