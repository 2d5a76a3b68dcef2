// The local stack with two media nodes (`mediaNodes: 2`, as `MEDIA_NODES=2 npm start`): both register in the
// one registry, new channels are spread over them by load (routing/placement.ts), members on each node hear
// each other (real ICE/DTLS/SRTP through msc-node), and when one node's process is killed only that node's
// members are told (voice.media-lost, stream closed) while the other node's channel goes on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NODES_TABLE } from '../../data/tables';
import { createLogger, type Logger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { NodeRegistry } from '../../routing/node-registry';
import type { MediaNodeRecord } from '../../routing/types';
import { joinWithMedia, type MediaJoined } from '../support/media-voice-client';
import { devToken } from '../support/tokens';
import { eventually, hears, nodeOf as nodeIn } from '../support/stack-nodes';
import { alive } from './helpers';

const GUILD = 31n;
const lines: Record<string, unknown>[] = [];
const logger: Logger = createLogger({ level: 'info', write: (line: string) => void lines.push(JSON.parse(line)) });
let stack: LocalStack;
let registry: NodeRegistry;
const members: MediaJoined[] = [];

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    logger,
    reaperIntervalMs: 500,
    mediaNodes: 2,
    // Heartbeat every 500 ms so placement sees a new room's load at once; 4 consumers per worker, so a
    // channel of two (2 consumers) makes its node 50 % loaded and the next channel goes to the other.
    mediaNode: { forwardLogs: false, restart: false, env: { MEDIA_HEARTBEAT_MS: '500', MEDIA_CAPACITY: '4' } },
    // A node silent for 2.5 s is dead: the sweep ends its sessions.
    handlerEnv: { VOICE_NODE_STALE_AFTER_MS: '2500' },
  });
  registry = new NodeRegistry(
    createDocumentClient({ endpoint: stack.dynamo.endpoint }),
    stack.dynamo.tables[NODES_TABLE.envVar]!,
  );
});
after(async () => {
  for (const m of members) {
    m.client.terminate();
    for (const t of m.transports) t.close();
  }
  await stack?.close();
});

const nodeOf = (m: MediaJoined) => nodeIn(stack, m);

async function join(user: bigint, channel: bigint): Promise<MediaJoined> {
  const m = await joinWithMedia({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) }, GUILD, channel);
  members.push(m);
  return m;
}

/** Two members in `channel`, each consuming the other. */
async function pair(users: [bigint, bigint], channel: bigint): Promise<[MediaJoined, MediaJoined]> {
  const first = await join(users[0], channel);
  const second = await join(users[1], channel);
  const seen = second.joined.otherUsers.find((u) => u.userId === users[0]);
  assert.ok(seen, 'the second member is given the first one to consume');
  await second.consume(seen);
  const announced = await first.client.expect('userJoined', 10_000);
  assert.equal(announced.data?.userId, users[1]);
  await first.consume(announced.data!);
  return [first, second];
}

const record = async (nodeId: string): Promise<MediaNodeRecord | undefined> =>
  (await registry.listNodes()).find((n) => n.nodeId === nodeId);

test('two media nodes: both registered, channels spread by load, RTP on each, a killed node takes only its own members', {
  timeout: 90_000,
}, async () => {
  // Two processes, their own ports, ids and pipe port slices, one registry.
  const nodes = stack.mediaNodes;
  assert.equal(nodes.length, 2);
  assert.notEqual(nodes[0]!.pid, nodes[1]!.pid);
  assert.notEqual(nodes[0]!.grpc, nodes[1]!.grpc);
  assert.ok(nodes[0]!.nodeId && nodes[1]!.nodeId && nodes[0]!.nodeId !== nodes[1]!.nodeId, 'own node ids');
  assert.ok(
    nodes[0]!.pipePorts.max < nodes[1]!.pipePorts.min,
    `non-overlapping pipe ports: ${JSON.stringify(nodes.map((n) => n.pipePorts))}`,
  );
  const ids = nodes.map((n) => n.nodeId!);
  const registered = await eventually('both nodes in the registry', async () => {
    const live = await registry.listNodes();
    return ids.every((id) => live.some((n) => n.nodeId === id && n.state === 'active')) ? live : undefined;
  });
  assert.deepEqual(registered.map((n) => n.grpcAddress).sort(), nodes.map((n) => n.grpc).sort());

  // Channel 1 lands on one node; once that node's heartbeat shows the channel's load, channel 2 goes to the other.
  const [a1, a2] = await pair([1n, 2n], 1n);
  const x = nodeOf(a1);
  assert.equal(nodeOf(a2), x, 'one channel, one node');
  await eventually("the first channel in its node's record", async () => {
    const r = await record(ids[x]!);
    return r && r.rooms === 1 && r.consumers === 2 ? r : undefined;
  });
  const [b1, b2] = await pair([3n, 4n], 2n);
  const y = nodeOf(b1);
  assert.equal(nodeOf(b2), y);
  assert.notEqual(y, x, 'the new channel is placed on the less loaded node');
  await eventually('a room on each node', async () => {
    const rs = await Promise.all(ids.map(record));
    return rs.every((r) => r?.rooms === 1) ? rs : undefined;
  });

  // RTP both ways in both channels (counted per speaker → listener pair).
  const pairs = [
    [a1, 1n, a2],
    [a2, 2n, a1],
    [b1, 3n, b2],
    [b2, 4n, b1],
  ] as const;
  const counts = await Promise.all(pairs.map(([speaker, id, listener]) => hears(speaker, id, listener)));
  console.log(
    `RTP packets received per pair before the kill: ${pairs.map(([, id], i) => `${id}→${id % 2n ? id + 1n : id - 1n}: ${counts[i]}`).join(', ')}`,
  );
  for (const count of counts) assert.ok(count >= 10);

  // Kill node y's process: b1 and b2 are told and closed; a1 and a2 hear nothing of it and go on talking.
  const dead = stack.mediaNodes[y]!;
  const survivor = stack.mediaNodes[x]!;
  process.kill(dead.pid, 'SIGKILL');
  for (const m of [b1, b2]) {
    const error = await m.client.nextError(20_000);
    assert.equal(error.identifier, 'voice.media-lost');
    assert.match(error.humanMessage, /media server .* stopped/);
    await m.client.waitClosed(10_000);
  }
  assert.ok(
    lines.some((l) => l.msg === 'media-node.died' && l.pid === dead.pid && l.mediaNode === y + 1),
    'the death is logged for that node',
  );
  const after = await Promise.all([hears(a1, 1n, a2), hears(a2, 2n, a1)]);
  console.log(`RTP packets received on the surviving node after the kill: 1→2: ${after[0]}, 2→1: ${after[1]}`);
  for (const m of [a1, a2]) {
    assert.deepEqual(m.client.errors(), [], 'members of the other node are told nothing');
    assert.equal(m.client.closed, undefined, 'and keep their streams');
  }
  assert.equal(alive(survivor.pid), true);
  assert.equal(stack.mediaNodes[x]!.pid, survivor.pid, 'the surviving node was not restarted');
  // The sweep retires the dead node's record once its sessions are ended; the live one stays.
  await eventually('the dead node retired from the registry', async () => {
    const all = await registry.listNodes({ includeStale: true });
    return !all.some((n) => n.nodeId === ids[y]) && all.some((n) => n.nodeId === ids[x]) ? true : undefined;
  });
});

test('close() leaves no media node process behind', async () => {
  const pids = stack.mediaNodes.map((n) => n.pid);
  await stack.close();
  assert.deepEqual(pids.filter(alive), []);
});
