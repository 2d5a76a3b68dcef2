// The SDK's side of relay.v1 (web/src/hrpc-socket.ts): with features it offers `+ext.v1` first, sends Hello as its
// first frame, and opens only after Welcome (and, when relay.v1 is granted, the RelayServers that follow it); a
// server that answers another value gets no Hello; a resume.v1 grant makes the socket resumable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HrpcSocket } from '../../web/src/hrpc-socket';
import { decodeClientFrame, encodeExtFrame, fromWire, toWire } from '../../protocol/hrpc';
import { FakeWebSocket } from './fake-websocket';

function open(features?: string[], resume?: boolean) {
  let ws!: FakeWebSocket;
  const opening = HrpcSocket.open({
    url: 'ws://voice.test/x',
    token: 'tok',
    variant: 'base64',
    timeoutMs: 1000,
    extensions: features,
    resume,
    createWebSocket: (url, protocols) => (ws = new FakeWebSocket(url, protocols)) as unknown as WebSocket,
  });
  return { opening, ws: () => ws };
}

const serverSends = (ws: FakeWebSocket, message: Parameters<typeof encodeExtFrame>[0]) =>
  ws.onmessage?.({ data: toWire(encodeExtFrame(message), 'base64') });

test('features: +ext.v1 offered first; Hello first; open after Welcome and RelayServers; relays and grants kept', async () => {
  const { opening, ws } = open(['resume.v1', 'relay.v1'], true);
  assert.deepEqual(ws().protocols, ['hrpc1.base64+ext.v1', 'hrpc1.base64+resume.v1', 'hrpc1.base64', 'tok']);
  ws().accept('hrpc1.base64+ext.v1');
  const hello = decodeClientFrame(fromWire(ws().sent[0] as string, 'base64'), true);
  assert.ok(hello.kind === 'ext' && hello.message.message?.$case === 'hello');
  assert.deepEqual(hello.message.message.value.features, ['resume.v1', 'relay.v1']);
  let opened = false;
  void opening.then(() => {
    opened = true;
  });
  serverSends(ws(), { message: { $case: 'welcome', value: { features: ['resume.v1', 'relay.v1'] } } });
  await new Promise((r) => setImmediate(r));
  assert.equal(opened, false, 'relay.v1 granted: waits for its RelayServers');
  serverSends(ws(), {
    message: {
      $case: 'relays',
      value: {
        servers: [{ urls: ['turns:r:443?transport=tcp'], username: '9:1', credential: 'c' }],
        expiresInS: 600,
        refreshInS: 480,
      },
    },
  });
  const socket = await opening;
  assert.deepEqual(socket.features, ['resume.v1', 'relay.v1']);
  assert.equal(socket.relays?.servers[0]?.username, '9:1');
  assert.equal(socket.resumable, true, 'resume.v1 granted through the negotiation');
});

test('relay.v1 not granted: open after Welcome, no relays, not resumable without resume.v1', async () => {
  const { opening, ws } = open(['relay.v1']);
  ws().accept('hrpc1.base64+ext.v1');
  serverSends(ws(), { message: { $case: 'welcome', value: { features: [] } } });
  const socket = await opening;
  assert.equal(socket.relays, undefined);
  assert.equal(socket.resumable, false);
});

test('a server without the negotiation selects the plain value: no Hello sent, nothing granted', async () => {
  const { opening, ws } = open(['relay.v1']);
  ws().accept('hrpc1.base64');
  const socket = await opening;
  assert.deepEqual(ws().sent, []);
  assert.deepEqual(socket.features, []);
});

test('no features: the offer is what it always was (stock, or +resume.v1)', async () => {
  for (const [resume, offer] of [
    [undefined, ['hrpc1.base64', 'tok']],
    [true, ['hrpc1.base64+resume.v1', 'hrpc1.base64', 'tok']],
  ] as const) {
    const { opening, ws } = open(undefined, resume);
    assert.deepEqual(ws().protocols, offer);
    ws().accept(offer[0]);
    await opening;
    assert.deepEqual(ws().sent, [], 'no Hello');
  }
});
