// The SDK's side of the one extension negotiation without a browser: `+ext.v1` offered first (with `+resume.v1`
// after it for older servers when resume is asked), Hello as the first frame, the socket open only once Welcome
// named the granted features; a server without the negotiation answers a plain value and nothing extra is sent.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { base64ToBytes, bytesToBase64, decodeClientFrame, encodeExtFrame } from '../../protocol/hrpc';
import { askedFeatures } from '../../web/src/extensions';
import { openHrpcSocket } from './fake-websocket';

const welcome = (features: string[]) =>
  bytesToBase64(encodeExtFrame({ message: { $case: 'welcome', value: { features } } }));

describe('HrpcSocket negotiating extensions', () => {
  it('offers +ext.v1 first, sends Hello, and opens with what Welcome granted', async () => {
    const { opening, ws } = openHrpcSocket({
      variant: 'base64',
      extensions: ['resume.v1', 'consumers.v1'],
      resume: true,
    });
    assert.deepEqual(ws().protocols, ['hrpc1.base64+ext.v1', 'hrpc1.base64+resume.v1', 'hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64+ext.v1');
    assert.equal(ws().sent.length, 1, 'Hello, and nothing else before Welcome');
    const hello = decodeClientFrame(base64ToBytes(ws().sent[0] as string), true);
    assert.ok(hello.kind === 'ext' && hello.message.message?.$case === 'hello');
    assert.deepEqual(hello.message.message.value.features, ['resume.v1', 'consumers.v1']);
    let opened = false;
    void opening.then(() => (opened = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(opened, false, 'not open before Welcome');
    ws().onmessage?.({ data: welcome(['consumers.v1']) });
    const socket = await opening;
    assert.deepEqual(socket.features, ['consumers.v1']);
    assert.equal(socket.resumable, false, 'resume.v1 was not granted');
  });

  it("the socket's age counts from its creation, not from Welcome (a renewal timed from Welcome met the gateway's cap)", async () => {
    mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
    try {
      const { opening, ws } = openHrpcSocket({ variant: 'base64', extensions: ['resume.v1'], resume: true });
      mock.timers.tick(300);
      ws().accept('hrpc1.base64+ext.v1');
      mock.timers.tick(700); // a loaded server answers Hello late
      ws().onmessage?.({ data: welcome(['resume.v1']) });
      const socket = await opening;
      assert.equal(socket.createdAt, 1_000_000);
    } finally {
      mock.timers.reset();
    }
  });

  it('an older server selecting +resume.v1 or the plain value: no Hello, features from the value', async () => {
    const a = openHrpcSocket({ variant: 'binary', extensions: ['resume.v1', 'consumers.v1'], resume: true });
    a.ws().accept('hrpc1+resume.v1');
    const resumable = await a.opening;
    assert.deepEqual(resumable.features, ['resume.v1']);
    assert.deepEqual(a.ws().sent, []);
    const b = openHrpcSocket({ variant: 'base64', extensions: ['consumers.v1'] });
    assert.deepEqual(b.ws().protocols, ['hrpc1.base64+ext.v1', 'hrpc1.base64', 'tok.en-1']);
    b.ws().accept('hrpc1.base64');
    assert.deepEqual((await b.opening).features, []);
    assert.deepEqual(b.ws().sent, []);
  });

  it("the SDK asks for consumers.v1 by default and resume.v1 when opted in; nothing asked keeps voice.v1's offer", async () => {
    assert.deepEqual(askedFeatures({ resume: false, consumersResumed: true }), ['consumers.v1']);
    assert.deepEqual(askedFeatures({ resume: true, consumersResumed: true }), ['resume.v1', 'consumers.v1']);
    assert.deepEqual(askedFeatures({ resume: false, consumersResumed: false }), []);
    const { opening, ws } = openHrpcSocket({ variant: 'base64', extensions: [] });
    assert.deepEqual(ws().protocols, ['hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64');
    assert.deepEqual((await opening).features, []);
  });
});
