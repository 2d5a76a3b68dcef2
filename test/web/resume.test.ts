// The SDK's resume.v1 socket pieces without a browser (the session flow is proven in Chromium, test/e2e).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64ToBytes } from '../../protocol/hrpc';
import { openHrpcSocket } from './fake-websocket';

function open(resume: boolean, variant: 'base64' | 'binary' = 'base64') {
  return openHrpcSocket({ variant, resume, url: 'ws://voice.test/x' });
}

const resume = {
  message: { $case: 'resume' as const, value: { sessionId: 'S1', credential: 'c', lastSeq: 3n, restartIce: false } },
};

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

  it("without resume the offer is exactly voice.v1's", async () => {
    const { opening, ws } = open(false);
    assert.deepEqual(ws().protocols, ['hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64');
    assert.equal((await opening).resumable, false);
  });
});
