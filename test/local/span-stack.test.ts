// A channel spanning two media nodes through the real local stack (`mediaNodes: 2`): the signalling side
// places the channel on one node (its home) and talks to it only; a join that would overload the room's worker
// lands on the home node's other worker (pipeToRouter inside the node), and one no worker of the home node admits
// is sent by the home node to the other node (found in the registry, driven over the internal gRPC API with
// the shared secret, media over an SRTP PipeTransport pair on the nodes' pipe ports). RTP is counted per
// speaker → listener pair across the nodes. Killing the far node's process ends only its member's session
// (voice.media-lost, stream closed); the home node's members are told that member left, nothing else, and
// keep hearing each other.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLogger, type Logger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinWithMedia, type MediaJoined } from '../support/media-voice-client';
import { hears, nodeOf, placeOf } from '../support/stack-nodes';
import { devToken } from '../support/tokens';
import { alive } from './helpers';

const GUILD = 32n;
const CHANNEL = 1n;
const lines: Record<string, unknown>[] = [];
const logger: Logger = createLogger({ level: 'info', write: (line: string) => void lines.push(JSON.parse(line)) });
let stack: LocalStack;
const members: MediaJoined[] = [];

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    logger,
    reaperIntervalMs: 500,
    mediaNodes: 2,
    // Small admission limits on both nodes (two workers of 3 consumers each, admitting up to 80 %, so the main
    // worker spills past 60 %), so whichever node the channel is placed on keeps the first member on the room's
    // worker, puts the second on its other worker (2 of 3 consumers on the main one would pass 60 %), and has no
    // worker for the third, which goes to the other node.
    // ICE consent off: msc-node never refreshes it; the only loss here is the killed node.
    mediaNode: {
      forwardLogs: false,
      restart: false,
      env: {
        MEDIA_WORKERS: '2',
        MEDIA_CAPACITY: '6',
        MEDIA_ADMIT_LOAD_PERCENT: '80',
        MEDIA_HEARTBEAT_MS: '500',
        MEDIA_ICE_CONSENT_TIMEOUT_S: '0',
      },
    },
    handlerEnv: { VOICE_NODE_STALE_AFTER_MS: '2500' },
  });
});
after(async () => {
  for (const m of members) {
    m.client.terminate();
    for (const t of m.transports) t.close();
  }
  await stack?.close();
});

/** Joins `user` to the channel; every member consumes everyone else (JoinedChannel / UserJoined). */
async function join(user: bigint): Promise<MediaJoined> {
  const joiner = await joinWithMedia({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [CHANNEL]) }, GUILD, CHANNEL);
  for (const other of joiner.joined.otherUsers) await joiner.consume(other);
  for (const member of members) {
    const announced = await member.client.expect('userJoined', 10_000);
    assert.equal(announced.data?.userId, user);
    await member.consume(announced.data!);
  }
  members.push(joiner);
  return joiner;
}

test('a channel spanning two nodes: RTP across them per pair; the far node killed ends only its member', {
  timeout: 90_000,
}, async () => {
  const a = await join(1n);
  const c = await join(3n);
  const [placeA, placeC] = [placeOf(stack, a), placeOf(stack, c)];
  const home = placeA.node;
  assert.equal(placeC.node, home, 'the second member is on the home node');
  assert.notEqual(placeC.worker, placeA.worker, 'on its other worker (the room spans both)');
  const b = await join(2n);
  const far = nodeOf(stack, b);
  assert.notEqual(far, home, "the third member's media is on the other node");

  // Every pair, across the nodes and within the home node.
  const pairs = [
    [a, 1n, b],
    [b, 2n, a],
    [c, 3n, b],
    [b, 2n, c],
    [a, 1n, c],
    [c, 3n, a],
  ] as const;
  const ids = new Map<MediaJoined, bigint>([
    [a, 1n],
    [b, 2n],
    [c, 3n],
  ]);
  const counts: number[] = [];
  for (const [speaker, id, listener] of pairs) counts.push(await hears(speaker, id, listener));
  console.log(
    `RTP packets per pair (home node ${home + 1}: user 1 on worker ${placeA.worker}, user 3 on worker ${placeC.worker}; node ${far + 1}: user 2): ${pairs.map(([, id, l], i) => `${id}→${ids.get(l)}: ${counts[i]}`).join(', ')}`,
  );

  // Kill the far node: only b is told (its media is gone); a and c see b leave and go on.
  const dead = stack.mediaNodes[far]!;
  process.kill(dead.pid, 'SIGKILL');
  const error = await b.client.nextError(20_000);
  assert.equal(error.identifier, 'voice.media-lost');
  assert.match(error.humanMessage, /node-lost/);
  await b.client.waitClosed(10_000);
  for (const m of [a, c]) assert.equal((await m.client.expect('userLeft', 10_000)).userId, 2n);
  const after = [await hears(a, 1n, c), await hears(c, 3n, a)];
  console.log(`after node ${far + 1} died: 1→3: ${after[0]}, 3→1: ${after[1]}`);
  for (const m of [a, c]) {
    assert.deepEqual(m.client.errors(), [], "the home node's members get no error");
    assert.equal(m.client.closed, undefined);
  }
  assert.ok(
    lines.some((l) => l.msg === 'media-node.died' && l.pid === dead.pid),
    'the death is logged',
  );
  assert.equal(alive(stack.mediaNodes[home]!.pid), true, 'the home node runs on');
});
