// Media node failures through the real local stack: a node that dies takes its channel's sessions with it
// (they are told why and closed), the channel is re-placed on a live node when someone rejoins, and a node
// that drains reports its sessions lost through the registry for the reaper to end.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startMediaNode, type MediaNodeHandle } from '../../media-node/src/node/media-node';
import { silentLogger } from '../../lib/log';
import { NODES_TABLE } from '../../data/tables';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';

const GUILD = 5n;
let stack: LocalStack;
let second: MediaNodeHandle | undefined;
const open: VoiceTestClient[] = [];

before(async () => {
  process.env.VOICE_NODE_STALE_AFTER_MS = '3000';
  stack = await startLocalStack({
    port: 0,
    strict: true,
    reaperIntervalMs: 1_000,
    mediaNode: { forwardLogs: false, restart: false },
  });
});
after(async () => {
  for (const c of open) c.terminate();
  await second?.close();
  await stack?.close();
});

const join = async (user: bigint, channel: bigint) => {
  const result = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) }, GUILD, channel);
  open.push(result.client);
  return result;
};

test('a dead media node: its members are told and closed, and the channel is re-placed on a live node', async () => {
  const a = await join(1n, 1n);
  const b = await join(2n, 1n);
  second = await startMediaNode({
    grpcPort: 0,
    rtcPortBase: 0,
    metricsPort: -1,
    workers: 1,
    heartbeatMs: 500,
    logger: silentLogger,
    secret: stack.env.MEDIA_NODE_SECRET,
    registryTable: stack.dynamo.tables[NODES_TABLE.envVar],
  });
  const started = Date.now();
  process.kill(stack.mediaNode!.pid, 'SIGKILL');
  for (const client of [a.client, b.client]) {
    assert.equal((await client.nextError(30_000)).identifier, 'voice.media-lost');
    await client.waitClosed(10_000);
  }
  console.log(
    `sessions on the dead node ended ${((Date.now() - started) / 1000).toFixed(1)} s after it died (stale after 3 s, sweep every 1 s)`,
  );
  const again = await join(1n, 1n);
  assert.deepEqual(again.joined.otherUsers, []);
  assert.equal(second.load().rooms, 1, 'the channel now lives on the surviving node');
});

test('a draining node reports its sessions lost; the reaper ends them with voice.media-lost', async () => {
  const c = await join(3n, 2n); // placed on the only live node: `second`
  assert.equal(second!.load().rooms, 2);
  const drained = second!.drain(200);
  const error = await c.client.nextError(20_000);
  assert.equal(error.identifier, 'voice.media-lost');
  assert.match(error.humanMessage, /drained/);
  await c.client.waitClosed(10_000);
  await drained;
  second = undefined;
});
