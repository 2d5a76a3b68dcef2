// The guarded front door through the strict local gateway (API Gateway's behaviour): a binary-only hrpc1
// offer is refused before the upgrade with an hrpc.v1.Error naming hrpc1.base64, and a connection that
// floods $default is rate limited (voice.rate-limited once per run, the rest dropped).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 77n;
let stack: LocalStack;

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    mediaNode: false,
    handlerEnv: { VOICE_RATE_BURST: '3', VOICE_RATE_PER_SECOND: '0.01' },
  });
});
after(() => stack.close());

test('strict mode: a binary-only hrpc1 offer gets 400 and an hrpc.v1.Error naming hrpc1.base64', async () => {
  const refused = await VoiceTestClient.connect({
    wsUrl: stack.wsUrl,
    token: devToken(1n, GUILD, [1n]),
    variant: 'binary',
  }).then(
    (c) => {
      c.terminate();
      return assert.fail('the binary-only offer was accepted');
    },
    (err: { statusCode: number; body: Buffer }) => err,
  );
  assert.equal(refused.statusCode, 400);
  const error = HrpcError.decode(refused.body);
  assert.equal(error.identifier, 'hrpc.http.bad-streaming-request');
  assert.match(error.humanMessage, /hrpc1\.base64/);

  const accepted = await VoiceTestClient.connect({
    wsUrl: stack.wsUrl,
    token: devToken(1n, GUILD, [1n]),
    variant: 'base64',
  });
  assert.equal(accepted.protocol, 'hrpc1.base64', 'the text variant is still accepted');
  accepted.close();
});

test('a flood of messages on one connection: burst handled, the first excess answered voice.rate-limited, the rest dropped', async () => {
  const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: devToken(2n, GUILD, [1n]) });
  for (let i = 0; i < 10; i++) client.sendRaw('not base64 at all!');
  const errors: string[] = [];
  while (errors.length < 4) errors.push((await client.nextError(10_000)).identifier);
  await stack.gateway.idle();
  const all = client.errors().map((e) => e.identifier);
  assert.equal(
    all.filter((id) => id === 'hrpc.http.bad-streaming-request').length,
    3,
    'the burst reached the voice core',
  );
  assert.equal(
    all.filter((id) => id === 'voice.rate-limited').length,
    1,
    'one answer for the whole run of dropped frames',
  );
  assert.equal(all.length, 4);
  const limited = client.frames.find((f) => f.kind === 'error' && f.error.identifier === 'voice.rate-limited');
  assert.ok(limited?.kind === 'error' && (limited.retryAfterSeconds ?? 0) >= 1, 'with RetryInfo');
  client.close();
});
