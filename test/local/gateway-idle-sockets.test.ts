// The local gateway is the embedded default's public front door: TCP connections that never send a byte, and
// handshakes that never finish, are closed within ~30 s (the default handshakeTimeoutMs is 20 s), as a public
// front door does — they used to stay open forever (20 of 20 after 150 s) and ~64 s (Node's headersTimeout).
// A WebSocket that completed its upgrade is not touched by this (its idle timeout is API Gateway's 10 minutes).
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startLocalGateway, type LocalGateway } from '../../local/gateway';
import { closed, openWs, quiet, recordingHandlers, waitUntil } from './helpers';

const BOUND_MS = 30_000;
let gateway: LocalGateway;

before(async () => {
  gateway = await startLocalGateway({ ...quiet, handlers: recordingHandlers().handlers });
});
after(() => gateway.close());

function openTcp(): Promise<{ socket: Socket; openedAt: number; closedAt?: number }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(gateway.port, '127.0.0.1');
    const entry: { socket: Socket; openedAt: number; closedAt?: number } = { socket, openedAt: 0 };
    socket.once('connect', () => {
      entry.openedAt = Date.now();
      resolve(entry);
    });
    socket.once('error', reject);
    socket.on('error', () => {});
    socket.once('close', () => (entry.closedAt = Date.now()));
  });
}

test('silent TCP connections and partial handshakes are closed within ~30 s; an upgraded WebSocket stays', {
  timeout: 90_000,
}, async () => {
  const silent = await Promise.all(Array.from({ length: 20 }, openTcp));
  const partial = await Promise.all(Array.from({ length: 3 }, openTcp));
  for (const p of partial)
    p.socket.write('GET /protocol.voice.v1.VoiceService/StreamMessage HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n');
  const ws = await openWs(gateway.wsUrl, ['hrpc1']);
  const all = [...silent, ...partial];
  await waitUntil(
    () => all.every((s) => s.closedAt !== undefined),
    BOUND_MS + 10_000,
    'every silent or partial connection to be closed',
  );
  for (const s of all)
    assert.ok(
      s.closedAt! - s.openedAt <= BOUND_MS,
      `closed after ${s.closedAt! - s.openedAt} ms (bound ${BOUND_MS} ms)`,
    );
  assert.equal(ws.readyState, ws.OPEN, 'the upgraded WebSocket is still open');
  ws.close();
  await closed(ws);
});
