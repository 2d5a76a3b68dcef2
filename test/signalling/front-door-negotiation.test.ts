// The strict (API Gateway-like) front door negotiates honestly: frames are text-only there, so only text
// variants are ever selected — an offer of `hrpc1+resume.v1` + `hrpc1.base64` gets `hrpc1.base64` (it used to get
// the binary value and a 1003 close at its first frame) — and binary-only offers of any extension are refused
// before the upgrade with 400 and an hrpc.v1.Error naming hrpc1.base64. Through the real $connect handler.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { decodeServerFrame, fromWire } from '../../protocol/hrpc';
import { devToken } from '../support/tokens';

const GUILD = 78n;
let stack: LocalStack;

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true, mediaNode: false });
});
after(() => stack.close());

function offer(protocols: string[]): Promise<{ ws: WebSocket } | { status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(stack.wsUrl, [...protocols, devToken(5n, GUILD, [1n])]);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    ws.once('error', reject);
  });
}

test('hrpc1+resume.v1 with hrpc1.base64 selects hrpc1.base64, and the stream works in text frames', async () => {
  const answer = await offer(['hrpc1+resume.v1', 'hrpc1.base64']);
  assert.ok('ws' in answer, 'accepted');
  assert.equal(answer.ws.protocol, 'hrpc1.base64');
  const reply = new Promise<Buffer>((resolve) => answer.ws.once('message', (data: Buffer) => resolve(data)));
  answer.ws.send('AA=='); // base64 of one zero byte: a bad StreamMessageRequest, answered in the variant
  const frame = decodeServerFrame(fromWire((await reply).toString('utf8'), 'base64'));
  assert.ok(frame.kind === 'error' && frame.error.identifier === 'hrpc.http.bad-streaming-request');
  assert.equal(answer.ws.readyState, WebSocket.OPEN, 'not closed 1003');
  answer.ws.close();
});

test('the negotiating value: the text one is selected, the binary one never', async () => {
  const answer = await offer(['hrpc1+ext.v1', 'hrpc1.base64+ext.v1', 'hrpc1']);
  assert.ok('ws' in answer);
  assert.equal(answer.ws.protocol, 'hrpc1.base64+ext.v1');
  answer.ws.close();
});

test('binary-only offers of any extension get 400 with an hrpc.v1.Error naming hrpc1.base64', async () => {
  for (const protocols of [
    ['hrpc1+resume.v1'],
    ['hrpc1+resume.v1', 'hrpc1'],
    ['hrpc1+ext.v1'],
    ['hrpc1+ext.v1', 'hrpc1+resume.v1', 'hrpc1'],
  ]) {
    const answer = await offer(protocols);
    assert.ok('status' in answer, `${protocols} must be refused`);
    assert.equal(answer.status, 400);
    const error = HrpcError.decode(answer.body);
    assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
    assert.match(error.humanMessage, /hrpc1\.base64/);
  }
});
