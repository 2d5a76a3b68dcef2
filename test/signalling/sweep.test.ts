// The sweep's own rules (functions/voice/sweep.ts) over the in-memory store: what counts as due, bounded work
// per shard, one slow session never holding up the others, dead media nodes emptied and then forgotten.
import assert from 'node:assert/strict';
import { nodeRecord } from '../support/node-record';
import { test } from 'node:test';
import { SWEEP_SHARDS, sweepShardOf } from '../../data/tables';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import type { ConnectionRecord, LostSession } from '../../functions/voice/ports';
import { judge, Sweep, type SweepNodes } from '../../functions/voice/sweep';
import { silentLogger } from '../../lib/log';
import type { MediaNodeRecord } from '../../routing/types';

const NOW = 1_700_000_000_000;
const ALL = [...Array(SWEEP_SHARDS).keys()];
const clock = { now: () => NOW };

function record(connectionId: string, fields: Partial<ConnectionRecord>): ConnectionRecord {
  return {
    connectionId,
    userId: '1',
    grants: [],
    variant: 'base64',
    state: 'joined',
    version: 1,
    connectedAt: NOW - 60_000,
    expiresAt: Math.ceil(NOW / 1000) + 3600,
    ...fields,
  };
}

function node(nodeId: string, heartbeatAt: number): MediaNodeRecord {
  const expiresAt = Math.ceil(heartbeatAt / 1000) + 3600;
  return nodeRecord(nodeId, { grpcAddress: 'x:1', publicAddress: 'x', expiresAt }, heartbeatAt);
}

/** Nodes and lost sessions in memory; retired nodes are removed. */
class Nodes implements SweepNodes {
  constructor(
    public nodes: MediaNodeRecord[] = [],
    public lost: LostSession[] = [],
  ) {}
  async listNodes() {
    return this.nodes;
  }
  async listLostSessions(shard: number, limit: number) {
    return this.lost.filter((l) => sweepShardOf(l.sessionId) === shard).slice(0, limit);
  }
  async deleteLostSession(lost: LostSession) {
    this.lost = this.lost.filter((l) => l !== lost);
  }
  async retireNode(n: MediaNodeRecord) {
    this.nodes = this.nodes.filter((x) => x.nodeId !== n.nodeId);
  }
}

/** A core whose endSession deletes the record and records why (optionally never finishing for some ids). */
function fakeCore(store: MemoryStateStore, hang: Set<string> = new Set()) {
  const ended: { id: string; reason: string; identifier?: string }[] = [];
  const told: { id: string; identifier: string; fatal: boolean }[] = [];
  const release: (() => void)[] = [];
  return {
    ended,
    release,
    told,
    core: {
      async tellSession(id: string, error: { identifier: string; fatal: boolean }) {
        const conn = await store.getConnection(id);
        if (conn?.state !== 'joined') return false;
        told.push({ id, identifier: error.identifier, fatal: error.fatal });
        return true;
      },
      async finishFeed() {
        return false;
      },
      async sweepResumable() {
        return false;
      },
      async endSession(target: string | ConnectionRecord, reason: string, error?: { identifier: string }) {
        const id = typeof target === 'string' ? target : target.connectionId;
        if (hang.has(id)) await new Promise<void>((r) => release.push(r));
        ended.push({ id, reason, identifier: error?.identifier });
        const conn = await store.getConnection(id);
        if (conn) await store.deleteConnection(conn);
      },
    },
  };
}

test('judge: stalled, stuck closing and expired are due; joined, in-time and closing-in-progress are not', () => {
  assert.equal(judge(record('a', { state: 'connected', deadline: NOW - 1 }), NOW)?.reason, 'timeout');
  assert.equal(judge(record('a', { state: 'joining', deadline: NOW - 1 }), NOW)?.reason, 'timeout');
  assert.equal(judge(record('a', { state: 'closing', deadline: NOW - 1 }), NOW)?.reason, 'stuck');
  assert.equal(judge(record('a', { state: 'joined', expiresAt: Math.floor(NOW / 1000) }), NOW)?.reason, 'expired');
  assert.equal(judge(record('a', { state: 'joined' }), NOW), undefined);
  // Expired because its token's exp (+ grace) passed: said so, with its own identifier.
  const tokenBound = judge(
    record('a', { state: 'joined', expiresAt: Math.floor(NOW / 1000), tokenExpiresAt: Math.floor(NOW / 1000) - 120 }),
    NOW,
  );
  assert.deepEqual([tokenBound?.reason, tokenBound?.error?.identifier], ['expired', 'voice.token-expired']);
  assert.equal(
    judge(
      record('a', { state: 'joined', expiresAt: Math.floor(NOW / 1000), tokenExpiresAt: Math.floor(NOW / 1000) + 60 }),
      NOW,
    )?.error?.identifier,
    'voice.timeout',
  );
  assert.equal(judge(record('a', { state: 'prepared', deadline: NOW + 1 }), NOW), undefined);
  assert.equal(judge(record('a', { state: 'closing', deadline: NOW + 1 }), NOW), undefined);
});

test('ends exactly the due sessions and the lost ones, leaving healthy ones alone', async () => {
  const store = new MemoryStateStore(clock.now);
  await store.putConnection(record('healthy', {}));
  await store.putConnection(record('stalled', { state: 'initialized', deadline: NOW - 5 }));
  await store.putConnection(record('lost', { nodeId: 'n1', guildId: '1', channelId: '2' }));
  const nodes = new Nodes([], [{ roomId: '1:2', sessionId: 'lost', userId: '1', reason: 'ice-failed', nodeId: 'n1' }]);
  const { core, ended } = fakeCore(store);
  const result = await new Sweep({ core, store, nodes, clock, log: silentLogger }).run(ALL);
  assert.deepEqual(ended.map((e) => [e.id, e.reason, e.identifier]).sort(), [
    ['lost', 'media-lost', 'voice.media-lost'],
    ['stalled', 'timeout', 'voice.timeout'],
  ]);
  assert.deepEqual(result.ended, { 'media-lost': 1, 'node-dead': 0, timeout: 1, stuck: 0, expired: 0 });
  assert.equal(nodes.lost.length, 0, 'the loss report is consumed');
  assert.ok(await store.getConnection('healthy'));
});

test('media-node notices are told once, non-fatal, and consumed; a policed loss ends with voice.producer-policed', async () => {
  const store = new MemoryStateStore(clock.now);
  await store.putConnection(record('paused', { nodeId: 'n1', guildId: '1', channelId: '2' }));
  await store.putConnection(record('flooder', { nodeId: 'n1', guildId: '1', channelId: '2' }));
  const nodes = new Nodes(
    [],
    [
      { roomId: '1:2', sessionId: 'paused', userId: '1', reason: 'policed', notice: true, nodeId: 'n1' },
      { roomId: '1:2', sessionId: 'gone', userId: '1', reason: 'policed', notice: true, nodeId: 'n1' },
      { roomId: '1:2', sessionId: 'flooder', userId: '2', reason: 'policed', nodeId: 'n1' },
    ],
  );
  const { core, ended, told } = fakeCore(store);
  const result = await new Sweep({ core, store, nodes, clock, log: silentLogger }).run(ALL);
  assert.deepEqual(told, [{ id: 'paused', identifier: 'voice.producer-policed', fatal: false }]);
  assert.deepEqual(
    ended.map((e) => [e.id, e.reason, e.identifier]),
    [['flooder', 'media-lost', 'voice.producer-policed']],
  );
  assert.equal(result.told, 1);
  assert.equal(nodes.lost.length, 0, 'notices (told or not) and the loss are consumed');
  assert.ok(await store.getConnection('paused'), 'a notice does not end the session');
});

test('a loss report counts only from the node hosting the session: a forged one (another node, another room) ends nothing', async () => {
  const store = new MemoryStateStore(clock.now);
  await store.putConnection(record('victim', { nodeId: 'n1', guildId: '1', channelId: '2' }));
  await store.putConnection(record('victim2', { nodeId: 'n1', guildId: '1', channelId: '2' }));
  const nodes = new Nodes(
    [],
    [
      { roomId: '1:2', sessionId: 'victim', userId: '1', reason: 'ice-failed', nodeId: 'n2' }, // written by another node
      { roomId: '9:9', sessionId: 'victim2', userId: '1', reason: 'ice-failed', nodeId: 'n1' }, // its node, another room
      { roomId: '1:2', sessionId: 'victim', userId: '1', reason: 'policed', notice: true, nodeId: 'n2' }, // a forged notice
    ],
  );
  const { core, ended, told } = fakeCore(store);
  const result = await new Sweep({ core, store, nodes, clock, log: silentLogger }).run(ALL);
  assert.deepEqual(ended, [], 'no session ended');
  assert.deepEqual(told, [], 'nobody told anything');
  assert.equal(result.ended['media-lost'], 0);
  assert.equal(result.skipped, 3);
  assert.equal(nodes.lost.length, 0, 'the reports are dropped');
  assert.ok(await store.getConnection('victim'));
  assert.ok(await store.getConnection('victim2'));
});

test('bounded: one sweep takes at most maxItemsPerShard from a shard; the next takes the rest', async () => {
  const store = new MemoryStateStore(clock.now);
  const shard = 3;
  const ids = [...Array(200).keys()]
    .map((i) => `c${i}`)
    .filter((id) => sweepShardOf(id) === shard)
    .slice(0, 5);
  for (const id of ids) await store.putConnection(record(id, { state: 'connected', deadline: NOW - 1 }));
  const { core, ended } = fakeCore(store);
  const sweep = new Sweep({
    core,
    store,
    nodes: new Nodes(),
    clock,
    log: silentLogger,
    limits: { maxItemsPerShard: 3 },
  });
  const first = await sweep.run([shard]);
  assert.equal(ended.length, 3);
  assert.deepEqual(first.saturated, [shard]);
  const second = await sweep.run([shard]);
  assert.equal(ended.length, 5);
  assert.deepEqual(second.saturated, []);
});

test('a slow session does not hold up the others: the sweep moves on and settled() waits for it', async () => {
  const store = new MemoryStateStore(clock.now);
  for (const id of ['slow', 'a', 'b', 'c'])
    await store.putConnection(record(id, { state: 'connected', deadline: NOW - 1 }));
  const { core, ended, release } = fakeCore(store, new Set(['slow']));
  const sweep = new Sweep({
    core,
    store,
    nodes: new Nodes(),
    clock,
    log: silentLogger,
    limits: { concurrency: 1, itemTimeoutMs: 20 },
  });
  // With one worker, the slow item would block every other one if the sweep waited for it.
  const result = await sweep.run(ALL);
  assert.deepEqual(ended.map((e) => e.id).sort(), ['a', 'b', 'c']);
  assert.equal(result.failed, 1);
  let settled = false;
  const waiting = sweep.settled().then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'settled() waits for the slow one');
  release.forEach((r) => r());
  await waiting;
  assert.deepEqual(ended.map((e) => e.id).sort(), ['a', 'b', 'c', 'slow']);
});

test('a dead media node: its sessions end with voice.media-lost, then the node is retired', async () => {
  const store = new MemoryStateStore(clock.now);
  await store.putConnection(record('on-dead-1', { nodeId: 'dead' }));
  await store.putConnection(record('on-dead-2', { nodeId: 'dead' }));
  await store.putConnection(record('on-live', { nodeId: 'live' }));
  const nodes = new Nodes([node('dead', NOW - 60_000), node('live', NOW - 1_000)]);
  const { core, ended } = fakeCore(store);
  const sweep = new Sweep({ core, store, nodes, clock, log: silentLogger });
  const first = await sweep.run(ALL);
  assert.deepEqual(ended.map((e) => e.id).sort(), ['on-dead-1', 'on-dead-2']);
  assert.ok(ended.every((e) => e.identifier === 'voice.media-lost'));
  assert.equal(first.ended['node-dead'], 2);
  assert.deepEqual(
    nodes.nodes.map((n) => n.nodeId).sort(),
    ['dead', 'live'],
    'retired only once nothing is left on it',
  );
  await sweep.run(ALL);
  assert.deepEqual(
    nodes.nodes.map((n) => n.nodeId),
    ['live'],
  );
  assert.ok(await store.getConnection('on-live'));
});

test("shards split the dead node's sessions: each invocation ends only those of its own shards", async () => {
  const store = new MemoryStateStore(clock.now);
  const ids = [...Array(40).keys()].map((i) => `s${i}`);
  for (const id of ids) await store.putConnection(record(id, { nodeId: 'dead' }));
  const nodes = new Nodes([node('dead', NOW - 60_000)]);
  const { core, ended } = fakeCore(store);
  const mine = [0, 1, 2, 3];
  await new Sweep({ core, store, nodes, clock, log: silentLogger }).run(mine);
  assert.deepEqual(ended.map((e) => e.id).sort(), ids.filter((id) => mine.includes(sweepShardOf(id))).sort());
});
