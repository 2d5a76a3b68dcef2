// The DynamoDB StateStore against a local DynamoDB API server (dynalite): conditional transitions,
// placement agreement under concurrency, exact seat handover, and expired items filtered on read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STATE_TABLE, sweepShardOf } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { ConflictError, type ConnectionRecord } from '../../functions/voice/ports';
import { createDocumentClient } from '../../routing/dynamo';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';

let dynamo: LocalDynamo;
let db: DynamoDBDocumentClient;
let store: DynamoStateStore;
let now = Date.now();

before(async () => {
  dynamo = await startLocalDynamo({ port: 0 });
  db = createDocumentClient({ endpoint: dynamo.endpoint, region: LOCAL_AWS_REGION, credentials: LOCAL_AWS_CREDENTIALS });
  store = new DynamoStateStore(db, dynamo.tables[STATE_TABLE.envVar]!, () => now);
});
after(async () => {
  db?.destroy();
  await dynamo?.close();
});

const record = (id: string, extra: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
  connectionId: id, userId: '18446744073709551615', variant: 'base64', grants: ['1:2'], state: 'connected', version: 1,
  connectedAt: now, deadline: now + 1000, expiresAt: Math.ceil(now / 1000) + 3600, ...extra,
});

test('transitions are conditional on state and version: exactly one of two concurrent claims wins', async () => {
  const conn = record('c1');
  await store.putConnection(conn);
  const results = await Promise.allSettled([
    store.transition(conn, { state: 'initializing' }),
    store.transition(conn, { state: 'initializing' }),
  ]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.ok(rejected.reason instanceof ConflictError);
  const stored = await store.getConnection('c1');
  assert.equal(stored?.state, 'initializing');
  assert.equal(stored?.version, 2);
  assert.equal(stored?.userId, '18446744073709551615', 'uint64 ids stay exact strings');
});

test('a transition to undefined removes the attribute; members are listed until removed', async () => {
  const conn = await store.transition((await store.getConnection('c1'))!, { state: 'prepared', guildId: '1', channelId: '2', nodeId: 'n1', nodeAddress: 'a' });
  await store.addMember('1:2', { connectionId: 'c1', userId: conn.userId, variant: 'base64', joinedAt: now }, conn.expiresAt);
  const joined = await store.transition(conn, { state: 'joined', deadline: undefined });
  assert.equal(joined.state, 'joined');
  const stored = await store.getConnection('c1');
  assert.equal(stored?.deadline, undefined);
  assert.equal(stored?.version, joined.version);
  assert.deepEqual((await store.listMembers('1:2')).map((m) => m.connectionId), ['c1']);
  await assert.rejects(store.transition(conn, { state: 'joined' }), ConflictError, 'a stale version cannot transition');
  await store.removeMember('1:2', 'c1');
  assert.deepEqual(await store.listMembers('1:2'), []);
});

test('concurrent placements of one channel agree on one node; a dead node\'s placement is replaced', async () => {
  const placed = await Promise.all(['n1', 'n2', 'n3', 'n4'].map((nodeId) => store.placeChannel('9:9', { nodeId, grpcAddress: `${nodeId}:1` })));
  assert.equal(new Set(placed.map((p) => p.nodeId)).size, 1, `all agree: ${placed.map((p) => p.nodeId)}`);
  const winner = placed[0]!.nodeId;
  const other = winner === 'n1' ? 'n2' : 'n1';
  // Replacing someone else's (non-dead) placement does not happen.
  assert.equal((await store.placeChannel('9:9', { nodeId: 'n5', grpcAddress: 'x' }, 'not-the-owner')).nodeId, winner);
  assert.equal((await store.placeChannel('9:9', { nodeId: other, grpcAddress: 'y' }, winner)).nodeId, other);
  assert.equal((await store.getPlacement('9:9'))?.nodeId, other);
});

test('seats: a new stream of the same user takes the seat and gets the old holder back', async () => {
  assert.equal(await store.takeSeat('5:5', '7', 'old'), undefined);
  assert.equal(await store.takeSeat('5:5', '7', 'old'), undefined, 'retaking one\'s own seat returns nothing');
  assert.equal(await store.takeSeat('5:5', '7', 'new'), 'old');
  // Deleting the old connection must not release the seat the new one holds.
  await store.deleteConnection(record('old', { userId: '7', guildId: '5', channelId: '5' }));
  assert.equal(await store.takeSeat('5:5', '7', 'newer'), 'new');
});

test('expired items are filtered on read (TTL deletion is only garbage collection)', async () => {
  await store.putConnection(record('short', { expiresAt: Math.ceil(now / 1000) + 10 }));
  assert.ok(await store.getConnection('short'));
  now += 11_000;
  assert.equal(await store.getConnection('short'), undefined);
  assert.ok((await store.listConnections()).some((c) => c.connectionId === 'short'), 'the sweep still sees it, to clean it up');
});

test('the DUE index follows each transition\'s deadline (else the expiry); BY_NODE follows the node; records never show them', async () => {
  const t0 = now;
  const shard = sweepShardOf('due-1');
  const dueIds = (at: number) => store.listDue(shard, at, 100);
  const conn = record('due-1', { deadline: t0 + 30_000, expiresAt: Math.ceil(t0 / 1000) + 7200 });
  await store.putConnection(conn);
  assert.ok(!(await dueIds(t0 + 29_000)).includes('due-1'), 'not due before its deadline');
  assert.ok((await dueIds(t0 + 30_000)).includes('due-1'), 'due at its deadline');
  const placed = await store.transition(conn, { state: 'initialized', nodeId: 'node-a', nodeAddress: 'a:1', deadline: t0 + 60_000 });
  assert.ok(!(await dueIds(t0 + 59_000)).includes('due-1'), 'the new deadline replaced the old one');
  assert.deepEqual(await store.listOnNode('node-a', 10), ['due-1']);
  const joined = await store.transition(placed, { state: 'joined', deadline: undefined });
  assert.ok(!(await dueIds(t0 + 3_600_000)).includes('due-1'), 'a joined session has no deadline…');
  assert.ok((await dueIds(t0 + 7_201_000)).includes('due-1'), '…only its expiry');
  for (const r of [placed, joined, await store.getConnection('due-1'), await store.getConnectionForSweep('due-1')]) {
    assert.deepEqual(Object.keys(r!).filter((k) => ['due', 'dueAt', 'onNode'].includes(k)), [], 'index attributes stay in the adapter');
  }
  await store.deleteConnection(joined);
  assert.ok(!(await dueIds(t0 + 7_201_000)).includes('due-1'));
  assert.deepEqual(await store.listOnNode('node-a', 10), []);
});
