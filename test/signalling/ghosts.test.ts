// Sessions that end without a $disconnect (AWS only does its best), and clients that stall mid-flow,
// are found by the scheduled reaper and cleaned up, through the real local stack.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { initialize, joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 77n;
let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  process.env.VOICE_INITIALIZE_WITHIN_MS = '1500';
  process.env.VOICE_PREPARE_WITHIN_MS = '1500';
  // The reaper runs every 2 s here (on AWS: a sweep every 15 s inside a once-a-minute invocation).
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 2_000 });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

const options = (user: bigint, channel: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) });

test('a client that vanishes without $disconnect is removed and announced', async () => {
  const a = await joinedClient(options(1n, 1n), GUILD, 1n);
  const b = await joinedClient(options(2n, 1n), GUILD, 1n);
  open.push(a.client, b.client);
  await a.client.expect('userJoined');
  stack.gateway.dropDisconnectEvents = true;
  const started = Date.now();
  b.client.terminate();
  assert.equal((await a.client.expect('userLeft', 60_000)).userId, 2n);
  const seconds = (Date.now() - started) / 1000;
  console.log(`ghost removed and UserLeft delivered after ${seconds.toFixed(1)} s (reaper every 2 s)`);
  assert.ok(seconds <= 60, 'within the 60 s goal');
  stack.gateway.dropDisconnectEvents = false;
});

test('a client that never sends Initialize is told why and closed', async () => {
  const client = await VoiceTestClient.connect(options(3n, 2n));
  open.push(client);
  const error = await client.expectError(15_000);
  assert.equal(error.identifier, 'voice.timeout');
  await client.waitClosed();
});

test('a client that stalls after Initialize is closed and its channel slot freed', async () => {
  const client = await VoiceTestClient.connect(options(4n, 3n));
  open.push(client);
  await initialize(client, GUILD, 3n);
  assert.equal((await client.expectError(15_000)).identifier, 'voice.timeout');
  await client.waitClosed();
  // The channel still works for the next user.
  const next = await joinedClient(options(5n, 3n), GUILD, 3n);
  open.push(next.client);
  assert.deepEqual(next.joined.otherUsers, []);
});
