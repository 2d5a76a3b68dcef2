// Behind the front door, $connect requires the origin header CloudFront adds (VOICE_FRONT_DOOR_SECRET): an upgrade
// straight to the API (no header, or a wrong one) is refused with 403 before any token work; through the front door
// (the header) it is accepted. Through the real local gateway and handlers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { FRONT_DOOR_HEADER } from '../../functions/handlers/front-door-check';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { devToken } from '../support/tokens';

const SECRET = 'front-door-origin-secret-0123456789';
let stack: LocalStack;

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    mediaNode: false,
    handlerEnv: { VOICE_FRONT_DOOR_SECRET: SECRET },
  });
});
after(() => stack.close());

function upgrade(headers: Record<string, string>): Promise<{ status: number; body?: Buffer; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(stack.wsUrl, ['hrpc1.base64', devToken(1n, 7n, [1n])], { headers });
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    ws.on('error', () => undefined);
  });
}

test("an upgrade without the front door's origin header is refused (403); with it, accepted", async () => {
  for (const headers of [{}, { [FRONT_DOOR_HEADER]: 'guess' }] as Record<string, string>[]) {
    const direct = await upgrade(headers);
    assert.equal(direct.status, 403, JSON.stringify(headers));
    const error = HrpcError.decode(direct.body!);
    assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
    assert.match(error.humanMessage, /front door/);
  }
  const through = await upgrade({ [FRONT_DOOR_HEADER]: SECRET });
  assert.equal(through.status, 101);
  through.ws!.close();
});
