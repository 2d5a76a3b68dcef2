// The SDK's resume.v1 socket pieces without a browser (the session flow is proven in Chromium, test/e2e).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64ToBytes } from '../../protocol/hrpc';
import { HrpcSocket } from '../../web/src/hrpc-socket';

class FakeWebSocket {
  readyState = 0;
  protocol = '';
  binaryType = 'blob';
  sent: Array<string | Uint8Array> = [];
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  constructor(readonly url: string, readonly protocols: string[]) {}
  send(data: string | Uint8Array) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 3;
  }
  accept(protocol: string) {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.();
  }
}

function open(resume: boolean, variant: 'base64' | 'binary' = 'base64') {
  let ws!: FakeWebSocket;
  const opening = HrpcSocket.open({
    url: 'ws://voice.test/x', token: 'tok.en-1', variant, timeoutMs: 1000, resume,
    createWebSocket: (url, protocols) => (ws = new FakeWebSocket(url, protocols)) as unknown as WebSocket,
  });
  return { opening, ws: () => ws };
}

const resume = { message: { $case: 'resume' as const, value: { sessionId: 'S1', credential: 'c', lastSeq: 3n, restartIce: false } } };

describe('HrpcSocket with resume.v1', () => {
  it('offers the combined subprotocol before the plain one and the token; sends 0x02 frames when selected', async () => {
    const { opening, ws } = open(true);
    assert.deepEqual(ws().protocols, ['hrpc1.base64+resume.v1', 'hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64+resume.v1');
    const socket = await opening;
    assert.equal(socket.resumable, true);
    socket.sendExt(resume);
    assert.equal(Buffer.from(base64ToBytes(ws().sent[0] as string)).toString('hex'), '020a090a025331120163' + '1803');
  });

  it('a server without the extension answers the plain value: not resumable, and no extension frame is ever sent', async () => {
    const { opening, ws } = open(true, 'binary');
    assert.deepEqual(ws().protocols, ['hrpc1+resume.v1', 'hrpc1', 'tok.en-1']);
    ws().accept('hrpc1');
    const socket = await opening;
    assert.equal(socket.resumable, false);
    socket.sendExt(resume);
    assert.deepEqual(ws().sent, []);
  });

  it('without resume the offer is exactly voice.v1\'s', async () => {
    const { opening, ws } = open(false);
    assert.deepEqual(ws().protocols, ['hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64');
    assert.equal((await opening).resumable, false);
  });
});
