// The DynamoDB StateStore against a local DynamoDB API server (dynalite): conditional transitions,
// placement agreement under concurrency, exact seat handover, and expired items filtered on read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STATE_TABLE, sweepShardOf } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { ConflictError, type ConnectionRecord } from '../../functions/voice/ports';
import { createDocumentClient } from '../../routing/dynamo';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';
import { RequestCounter } from '../../local/request-counter';

let dynamo: LocalDynamo;
let db: DynamoDBDocumentClient;
let store: DynamoStateStore;
let now = Date.now();

before(async () => {
  dynamo = await startLocalDynamo({ port: 0 });
  db = createDocumentClient({
    endpoint: dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  store = new DynamoStateStore(db, dynamo.tables[STATE_TABLE.envVar]!, () => now);
});
after(async () => {
  db?.destroy();
  await dynamo?.close();
});

const record = (id: string, extra: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
  connectionId: id,
  userId: '18446744073709551615',
  variant: 'base64',
  grants: ['1:2'],
  state: 'connected',
  version: 1,
  connectedAt: now,
  deadline: now + 1000,
  expiresAt: Math.ceil(now / 1000) + 3600,
  ...extra,
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

test('a transition to undefined removes the attribute; several connections are read at once', async () => {
  const conn = await store.transition((await store.getConnection('c1'))!, {
    state: 'prepared',
    guildId: '1',
    channelId: '2',
    nodeId: 'n1',
    nodeAddress: 'a',
  });
  const joined = await store.transition(conn, { state: 'joined', deadline: undefined });
  assert.equal(joined.state, 'joined');
  const stored = await store.getConnection('c1');
  assert.equal(stored?.deadline, undefined);
  assert.equal(stored?.version, joined.version);
  await assert.rejects(store.transition(conn, { state: 'joined' }), ConflictError, 'a stale version cannot transition');
  await store.putConnection(record('c2'));
  const many = await store.getConnections(['c1', 'c2', 'missing', 'c1']);
  assert.deepEqual(many.map((c) => c.connectionId).sort(), ['c1', 'c2']);
});

test("concurrent placements of one channel agree on one node; a dead node's placement is replaced", async () => {
  const expiresAt = Math.ceil(now / 1000) + 3600;
  const placed = await Promise.all(
    ['n1', 'n2', 'n3', 'n4'].map((nodeId) =>
      store.placeChannel('9:9', { nodeId, grpcAddress: `${nodeId}:1` }, expiresAt),
    ),
  );
  assert.equal(new Set(placed.map((p) => p.nodeId)).size, 1, `all agree: ${placed.map((p) => p.nodeId)}`);
  const winner = placed[0]!.nodeId;
  const other = winner === 'n1' ? 'n2' : 'n1';
  // Replacing someone else's (non-dead) placement does not happen.
  assert.equal(
    (await store.placeChannel('9:9', { nodeId: 'n5', grpcAddress: 'x' }, expiresAt, 'not-the-owner')).nodeId,
    winner,
  );
  assert.equal((await store.placeChannel('9:9', { nodeId: other, grpcAddress: 'y' }, expiresAt, winner)).nodeId, other);
  assert.equal((await store.getPlacement('9:9'))?.nodeId, other);
  assert.equal(
    (await store.getPlacement('9:9'))?.expiresAt,
    expiresAt,
    'placements expire (channels nobody uses leave nothing behind)',
  );
  await store.refreshPlacement('9:9', 'not-the-owner', expiresAt + 10);
  assert.equal((await store.getPlacement('9:9'))?.expiresAt, expiresAt, 'only the current placement is refreshed');
  await store.refreshPlacement('9:9', other, expiresAt + 10);
  assert.equal((await store.getPlacement('9:9'))?.expiresAt, expiresAt + 10);
});

// The feed's lease semantics are a contract both stores keep: the in-memory one (the simulation's) must behave as
// the DynamoDB adapter does, or the simulation proves things about a store that does not ship.
for (const [name, make] of [
  ['DynamoDB', () => store],
  ['in-memory', () => new MemoryStateStore(() => now)],
] as const) {
  test(`feed lease (${name}): one holder; a second caller marks it wanted and the holder must deliver again before letting go`, async () => {
    const store = make();
    const key = name === 'DynamoDB' ? '7:7' : '7:17';
    const exp = Math.ceil(now / 1000) + 3600;
    const first = await store.acquireFeed(key, 'a', now + 10_000, exp);
    assert.deepEqual(first, { roomInstance: '', delivered: 0 });
    assert.equal(await store.acquireFeed(key, 'b', now + 10_000, exp), undefined, 'held by a');
    assert.equal(
      await store.checkpointFeed(key, 'b', { roomInstance: 'r', delivered: 9 }, now + 10_000),
      false,
      'only the owner checkpoints',
    );
    assert.equal(await store.checkpointFeed(key, 'a', { roomInstance: 'r', delivered: 1 }, now + 10_000), true);
    assert.equal(
      await store.releaseFeed(key, 'a', { roomInstance: 'r', delivered: 2 }, now + 10_000),
      'wanted',
      'b asked meanwhile',
    );
    const node = { nodeId: 'n1', grpcAddress: 'n1:1' };
    assert.equal(
      await store.releaseFeed(key, 'a', { roomInstance: 'r', delivered: 3, node }, now + 10_000),
      'released',
    );
    assert.deepEqual(
      await store.acquireFeed(key, 'b', now + 10_000, exp),
      { roomInstance: 'r', delivered: 3, node },
      "the cursor (and its room's node) survives",
    );
    assert.equal(
      await store.releaseFeed(key, 'a', { roomInstance: 'r', delivered: 99 }, now),
      'lost',
      'a no longer holds it',
    );
    const dueFeeds = async (at: number) =>
      (await store.listDue(sweepShardOf(key), at, 100)).filter((d) => d.kind === 'feed');
    assert.equal(await store.getStalledFeed(key, now), undefined, "b's lease is still running");
    assert.deepEqual(await dueFeeds(now), [], 'so it is not due');
    now += 11_000;
    assert.deepEqual(
      await dueFeeds(now),
      [{ kind: 'feed', channelKey: key }],
      "b died holding it: due in the sweep's index",
    );
    assert.deepEqual(await store.getStalledFeed(key, now), { node }, "stalled, with its room's node");
    assert.deepEqual(
      await store.acquireFeed(key, 'c', now + 10_000, exp),
      { roomInstance: 'r', delivered: 3, node },
      'an expired lease can be taken over',
    );
    await store.dropStalledFeed(key, now);
    assert.equal(await store.getStalledFeed(key, now), undefined, "c's lease is running: not dropped");
    await store.dropStalledFeed(key, now + 60_000);
    assert.equal(await store.getStalledFeed(key, now + 60_000), undefined, 'a stalled feed of a dead room is let go');
    assert.deepEqual(await dueFeeds(now + 60_000), [], '…and leaves the index');
    assert.equal((await store.acquireFeed(key, 'd', now + 70_000, exp)) !== undefined, true);
    assert.equal(await store.releaseFeed(key, 'd', { roomInstance: 'r', delivered: 4 }, now + 70_000), 'released');
    assert.deepEqual(await dueFeeds(now + 1e9), [], 'a released feed is never due');
  });
}

test('expired items are filtered on read (TTL deletion is only garbage collection)', async () => {
  await store.putConnection(record('short', { expiresAt: Math.ceil(now / 1000) + 10 }));
  assert.ok(await store.getConnection('short'));
  now += 11_000;
  assert.equal(await store.getConnection('short'), undefined);
  assert.ok(await store.getConnectionForSweep('short'), 'the sweep still sees it, to clean it up');
});

test("the DUE index follows each transition's deadline (else the expiry); BY_NODE follows the node; records never show them", async () => {
  const t0 = now;
  const shard = sweepShardOf('due-1');
  const dueIds = async (at: number) =>
    (await store.listDue(shard, at, 100)).map((d) =>
      d.kind === 'connection' ? d.connectionId : `feed:${d.channelKey}`,
    );
  const conn = record('due-1', { deadline: t0 + 30_000, expiresAt: Math.ceil(t0 / 1000) + 7200 });
  await store.putConnection(conn);
  assert.ok(!(await dueIds(t0 + 29_000)).includes('due-1'), 'not due before its deadline');
  assert.ok((await dueIds(t0 + 30_000)).includes('due-1'), 'due at its deadline');
  const placed = await store.transition(conn, {
    state: 'initialized',
    nodeId: 'node-a',
    nodeAddress: 'a:1',
    deadline: t0 + 60_000,
  });
  assert.ok(!(await dueIds(t0 + 59_000)).includes('due-1'), 'the new deadline replaced the old one');
  assert.deepEqual(await store.listOnNode('node-a', 10), ['due-1']);
  const joined = await store.transition(placed, { state: 'joined', deadline: undefined });
  assert.ok(!(await dueIds(t0 + 3_600_000)).includes('due-1'), 'a joined session has no deadline…');
  assert.ok((await dueIds(t0 + 7_201_000)).includes('due-1'), '…only its expiry');
  for (const r of [placed, joined, await store.getConnection('due-1'), await store.getConnectionForSweep('due-1')]) {
    assert.deepEqual(
      Object.keys(r!).filter((k) => ['due', 'dueAt', 'onNode'].includes(k)),
      [],
      'index attributes stay in the adapter',
    );
  }
  await store.deleteConnection(joined);
  assert.ok(!(await dueIds(t0 + 7_201_000)).includes('due-1'));
  assert.deepEqual(await store.listOnNode('node-a', 10), []);
});

test("resume.v1: sessions waiting for a replay join the feed's set whether or not the lease was free; only the holder takes them", async () => {
  const exp = Math.ceil(now / 1000) + 3600;
  const first = await store.acquireFeed('8:8', 'a', now + 10_000, exp, 'S1');
  assert.deepEqual(first, { roomInstance: '', delivered: 0, replay: ['S1'] });
  assert.equal(
    await store.acquireFeed('8:8', 'b', now + 10_000, exp, 'S2'),
    undefined,
    'held by a: S2 is queued, the feed marked wanted',
  );
  assert.deepEqual(await store.takeReplays('8:8', 'b'), [], 'only the holder takes them');
  assert.deepEqual((await store.takeReplays('8:8', 'a')).sort(), ['S1', 'S2']);
  assert.deepEqual(await store.takeReplays('8:8', 'a'), [], 'taken once');
  assert.equal(await store.releaseFeed('8:8', 'a', { roomInstance: 'r', delivered: 1 }, now + 10_000), 'wanted');
  assert.equal(await store.releaseFeed('8:8', 'a', { roomInstance: 'r', delivered: 1 }, now + 10_000), 'released');
  assert.deepEqual(
    await store.acquireFeed('8:8', 'c', now + 10_000, exp),
    { roomInstance: 'r', delivered: 1 },
    'no replay field when none waits',
  );
});

test('resume.v1: a session record takes new fields through transitions (socket, credential hash, replay position) and drops them', async () => {
  await store.putConnection(record('sess', { state: 'joined', resume: true, credentialHash: 'h1' }));
  const s = (await store.getConnection('sess'))!;
  const taken = await store.transition(s, { state: 'resuming', socket: 'new', credentialHash: 'h2' });
  await assert.rejects(
    store.transition(s, { state: 'resuming', socket: 'other' }),
    ConflictError,
    'a second resume with the same read loses',
  );
  const joined = await store.transition(taken, { state: 'joined', replayFrom: 7 });
  assert.equal(joined.socket, 'new');
  assert.equal(joined.replayFrom, 7);
  const cleared = await store.transition(joined, { state: 'joined', replayFrom: undefined });
  assert.equal(cleared.replayFrom, undefined);
  assert.equal(cleared.credentialHash, 'h2');
});

test('a holder that lets go between a busy acquire and its "wanted" mark does not strand the entry: the acquire takes the lease', async () => {
  // On AWS the two writes of a busy acquire (take the lease; else mark it wanted) can straddle the holder's release:
  // the holder read the history before the new entry and saw no mark. Dynalite plays that interleaving here.
  const key = '7:8';
  const exp = Math.ceil(now / 1000) + 3600;
  assert.ok(await store.acquireFeed(key, 'x', now + 10_000, exp), 'x holds the feed');
  let releasedInBetween = false;
  const racing = Object.create(db) as DynamoDBDocumentClient;
  racing.send = (async (command: { input: { ExpressionAttributeValues?: Record<string, unknown> } }) => {
    try {
      return await db.send(command as never);
    } catch (err) {
      if (
        !releasedInBetween &&
        command.input.ExpressionAttributeValues?.[':o'] === 'y' &&
        (err as Error).name === 'ConditionalCheckFailedException'
      ) {
        releasedInBetween = true;
        assert.equal(
          await store.releaseFeed(key, 'x', { roomInstance: 'r', delivered: 1 }, now + 10_000),
          'released',
          'x saw no mark',
        );
      }
      throw err;
    }
  }) as never;
  const y = new DynamoStateStore(racing, dynamo.tables[STATE_TABLE.envVar]!, () => now);
  const got = await y.acquireFeed(key, 'y', now + 10_000, exp);
  assert.equal(releasedInBetween, true, "the release ran between y's two writes");
  assert.deepEqual(got, { roomInstance: 'r', delivered: 1 }, "y holds the feed and delivers from x's cursor");
});

test('the in-memory store has the same gap and the same answer (a busy acquire whose mark finds the lease released takes it)', async () => {
  const key = '7:18';
  const exp = Math.ceil(now / 1000) + 3600;
  let releasedInBetween = false;
  const memory: MemoryStateStore = new MemoryStateStore(
    () => now,
    async () => {
      releasedInBetween = true;
      assert.equal(
        await memory.releaseFeed(key, 'x', { roomInstance: 'r', delivered: 1 }, now + 10_000),
        'released',
        'x saw no mark',
      );
    },
  );
  assert.ok(await memory.acquireFeed(key, 'x', now + 10_000, exp), 'x holds the feed');
  assert.deepEqual(
    await memory.acquireFeed(key, 'y', now + 10_000, exp),
    { roomInstance: 'r', delivered: 1 },
    'y holds the feed',
  );
  assert.equal(releasedInBetween, true);
});

test('a transition that loses its condition returns the record as it is now, from the failed write itself (ALL_OLD: one request); the in-memory store the same', async () => {
  const counter = new RequestCounter();
  const counted = await startLocalDynamo({ port: 0, counter });
  const countedDb = createDocumentClient({
    endpoint: counted.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  try {
    const stores = [
      new DynamoStateStore(countedDb, counted.tables[STATE_TABLE.envVar]!, () => now),
      new MemoryStateStore(() => now),
    ];
    for (const s of stores) {
      const conn = record('ao1');
      await s.putConnection(conn);
      const winner = await s.transition(conn, { state: 'initializing', guildId: '1', channelId: '2' });
      const before = counter.snapshot();
      const lost = await s.tryTransition(conn, { state: 'initializing' });
      assert.deepEqual(
        lost,
        { ok: false, current: winner },
        `${s.constructor.name}: the loser gets the winner's record`,
      );
      if (s instanceof DynamoStateStore) {
        assert.deepEqual(
          Object.keys(counter.since(before).dynamo),
          ['state:UpdateItem'],
          'no read after the failed write',
        );
        assert.equal(counter.since(before).dynamo['state:UpdateItem']!.requests, 1);
      }
      await assert.rejects(
        s.transition(conn, { state: 'initializing' }),
        (err: unknown) => err instanceof ConflictError && err.current?.version === winner.version,
      );
      const won = await s.tryTransition(winner, { state: 'initialized' });
      assert.ok(won.ok && won.record.state === 'initialized' && won.record.version === winner.version + 1);
      await s.deleteConnection(winner);
      assert.deepEqual(
        await s.tryTransition(winner, { state: 'initialized' }),
        { ok: false, current: undefined },
        'a deleted record is gone',
      );
      const expiring = record('ao2', { expiresAt: Math.ceil(now / 1000) + 1 });
      await s.putConnection(expiring);
      now += 5_000;
      assert.deepEqual(
        await s.tryTransition({ ...expiring, version: 7 }, { state: 'initializing' }),
        { ok: false, current: undefined },
        'an expired record counts as gone',
      );
    }
  } finally {
    countedDb.destroy();
    await counted.close();
  }
});

test('a placement that loses to a concurrent one takes the winner from the failed write (no read after it)', async () => {
  const counter = new RequestCounter();
  const counted = await startLocalDynamo({ port: 0, counter });
  const countedDb = createDocumentClient({
    endpoint: counted.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  try {
    const s = new DynamoStateStore(countedDb, counted.tables[STATE_TABLE.envVar]!, () => now);
    const expiresAt = Math.ceil(now / 1000) + 3600;
    assert.deepEqual(await s.placeChannel('7:8', { nodeId: 'a', grpcAddress: 'a:1' }, expiresAt), {
      nodeId: 'a',
      grpcAddress: 'a:1',
    });
    const before = counter.snapshot();
    assert.deepEqual(await s.placeChannel('7:8', { nodeId: 'b', grpcAddress: 'b:1' }, expiresAt), {
      nodeId: 'a',
      grpcAddress: 'a:1',
    });
    assert.deepEqual(await s.placeChannel('7:8', { nodeId: 'c', grpcAddress: 'c:1' }, expiresAt, 'dead'), {
      nodeId: 'a',
      grpcAddress: 'a:1',
    });
    assert.deepEqual(counter.since(before).dynamo, { 'state:PutItem': counter.since(before).dynamo['state:PutItem']! });
    assert.equal(
      counter.since(before).dynamo['state:PutItem']!.requests,
      2,
      'one conditional PutItem per losing placement',
    );
  } finally {
    countedDb.destroy();
    await counted.close();
  }
});

test("claimFrom reads and claims in one request only a stream in the state, its own socket's, of the variant, living past the deadline; else returns it as it is", async () => {
  const t = now;
  for (const s of [store, new MemoryStateStore(() => now)]) {
    const name = s.constructor.name;
    const base = record('cf1', {
      state: 'prepared',
      variant: 'binary',
      guildId: '1',
      channelId: '2',
      expiresAt: Math.ceil(t / 1000) + 3600,
    });
    const next = { state: 'joining' as const, deadline: t + 30_000 };
    const cases: [string, ConnectionRecord, 'claimed' | 'current' | 'absent'][] = [
      ['prepared', base, 'claimed'],
      ['another state', { ...base, state: 'initialized' }, 'current'],
      ['another variant', { ...base, variant: 'base64' }, 'current'],
      ['carried by another socket (resumed elsewhere)', { ...base, socket: 'other' }, 'current'],
      ['its own socket named', { ...base, socket: 'cf1' }, 'claimed'],
      ['expiring before the deadline', { ...base, expiresAt: Math.ceil(t / 1000) + 10 }, 'current'],
      ['expired', { ...base, expiresAt: Math.floor(t / 1000) - 1 }, 'absent'],
    ];
    for (const [what, stored, outcome] of cases) {
      await s.putConnection(stored);
      const claim = await s.claimFrom('cf1', 'prepared', 'binary', next, t);
      if (outcome === 'claimed') {
        assert.ok(claim.ok, `${name}: ${what}`);
        assert.deepEqual(claim.before, stored, `${name}: ${what}: the record before`);
        assert.deepEqual(
          claim.record,
          { ...stored, ...next, version: stored.version + 1 },
          `${name}: ${what}: the record after`,
        );
        assert.deepEqual(await s.getConnection('cf1'), claim.record, `${name}: ${what}: as stored`);
      } else {
        assert.deepEqual(claim, { ok: false, current: outcome === 'absent' ? undefined : stored }, `${name}: ${what}`);
        assert.deepEqual(await s.getConnectionForSweep('cf1'), stored, `${name}: ${what}: unchanged`);
      }
      await s.deleteConnection(stored);
    }
    assert.deepEqual(
      await s.claimFrom('cf1', 'prepared', 'binary', next, t),
      { ok: false, current: undefined },
      `${name}: absent`,
    );
  }
  // DynamoDB: the claimed record is due (DUE index) at its deadline, like any transition's.
  await store.putConnection(record('cf2', { state: 'prepared', variant: 'binary' }));
  await store.claimFrom('cf2', 'prepared', 'binary', { state: 'joining', deadline: t + 30_000 }, t);
  const { Item } = await db.send(
    new GetCommand({ TableName: dynamo.tables[STATE_TABLE.envVar]!, Key: { pk: 'CONN#cf2', sk: 'CONN' } }),
  );
  assert.equal(Item?.dueAt, t + 30_000);
});
