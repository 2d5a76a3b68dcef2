// The per-user limits' store contract (functions/voice/user-limits.ts UserLimitStore), kept by the DynamoDB adapter
// (against dynalite) and by the in-memory one alike, and the limits holding across containers: two DynamoDB
// adapters with their own clients (two Lambda containers) admitting concurrently against one table admit
// exactly the limit between them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STATE_TABLE } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import {
  RefusedMinutes,
  UserLimits,
  DEFAULT_USER_LIMITS,
  type UserLimitStore,
} from '../../functions/voice/user-limits';
import { silentLogger } from '../../lib/log';
import { createDocumentClient } from '../../routing/dynamo';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';

let dynamo: LocalDynamo;
const clients: DynamoDBDocumentClient[] = [];
let now = Date.now();
const W = Math.floor(now / 60_000);

function dynamoStore(): DynamoStateStore {
  const db = createDocumentClient({
    endpoint: dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  clients.push(db);
  return new DynamoStateStore(db, dynamo.tables[STATE_TABLE.envVar]!, () => now);
}

before(async () => {
  dynamo = await startLocalDynamo({ port: 0 });
});
after(async () => {
  for (const db of clients) db.destroy();
  await dynamo?.close();
});

for (const [name, make] of [
  ['DynamoDB', dynamoStore],
  ['in-memory', () => new MemoryStateStore(() => now)],
] as const) {
  test(`rate counters (${name}): counted up to the limit per user and minute; a guard's event blocks; nothing counted on refusal`, async () => {
    const store: UserLimitStore = make();
    const u = `${name}-rate`;
    for (let i = 0; i < 3; i++) assert.equal(await store.countUserEvent(u, W, 'connects', 3), true, `connect ${i + 1}`);
    assert.equal(await store.countUserEvent(u, W, 'connects', 3), false, 'the fourth in the minute');
    assert.equal(await store.countUserEvent(u, W, 'connects', 4), true, 'the refusal counted nothing: 3 were counted');
    assert.equal(await store.countUserEvent(u, W + 1, 'connects', 3), true, 'the next minute starts afresh');
    assert.equal(await store.countUserEvent(`${u}-other`, W, 'connects', 3), true, 'another user has its own counts');

    const guard = [{ event: 'replacements' as const, limit: 2 }];
    assert.equal(await store.countUserEvent(u, W, 'joins', 10, guard), true);
    assert.equal(await store.countUserEvent(u, W, 'replacements', undefined), true);
    assert.equal(await store.countUserEvent(u, W, 'replacements', undefined), true);
    assert.equal(await store.countUserEvent(u, W, 'replacements', undefined), true, 'no limit: always counted');
    assert.equal(
      await store.countUserEvent(u, W, 'joins', 10, guard),
      false,
      'three replacements this minute: joins wait',
    );
    assert.equal(await store.countUserEvent(u, W + 1, 'joins', 10, guard), true);
  });

  test(`limited sets (${name}): at most max live ids, idempotent, expired entries dropped, released ids free their place`, async () => {
    const store: UserLimitStore = make();
    const streams = { kind: 'streams', userId: `${name}-sets` } as const;
    const prepared = { kind: 'prepared', userId: `${name}-sets` } as const;
    const channel = { kind: 'channel-prepared', channelKey: `${name}:1` } as const;
    assert.deepEqual(await store.admitToSet(streams, 'a', now + 10_000, 2, now), { admitted: true });
    assert.deepEqual(await store.admitToSet(streams, 'b', now + 5_000, 2, now), { admitted: true });
    assert.deepEqual(
      await store.admitToSet(streams, 'a', now + 10_000, 2, now),
      { admitted: true },
      'already held: admitted again',
    );
    assert.deepEqual(await store.admitToSet(streams, 'c', now + 10_000, 2, now), {
      admitted: false,
      freeAt: now + 5_000,
    });
    // The user's other set and a channel's are separate.
    assert.deepEqual(await store.admitToSet(prepared, 'a', now + 1_000, 1, now), { admitted: true });
    assert.deepEqual(await store.admitToSet(prepared, 'b', now + 1_000, 1, now), {
      admitted: false,
      freeAt: now + 1_000,
    });
    assert.deepEqual(await store.admitToSet(channel, 'a', now + 1_000, 1, now), { admitted: true });

    await store.releaseFromSets([
      { set: streams, id: 'b' },
      { set: prepared, id: 'a' },
      { set: channel, id: 'a' },
      { set: channel, id: 'never-held' },
    ]);
    assert.deepEqual(await store.admitToSet(streams, 'c', now + 10_000, 2, now), { admitted: true }, 'b let go');
    assert.deepEqual(await store.admitToSet(prepared, 'b', now + 1_000, 1, now), { admitted: true });
    assert.deepEqual(await store.admitToSet(channel, 'b', now + 1_000, 1, now), { admitted: true });

    // A holder that never let go (a crashed invocation) holds nothing past its own expiry.
    assert.deepEqual(await store.admitToSet(prepared, 'c', now + 1_000, 1, now + 999), {
      admitted: false,
      freeAt: now + 1_000,
    });
    assert.deepEqual(await store.admitToSet(prepared, 'c', now + 9_000, 1, now + 1_000), { admitted: true });
    // Releasing from sets that were never made changes nothing and does not fail.
    await store.releaseFromSets([
      { set: { kind: 'streams', userId: `${name}-nobody` }, id: 'x' },
      { set: { kind: 'channel-prepared', channelKey: `${name}:none` }, id: 'x' },
    ]);
    assert.deepEqual(await store.admitToSet({ kind: 'prepared', userId: `${name}-nobody` }, 'x', now + 1_000, 1, now), {
      admitted: true,
    });
  });
}

test('DynamoDB: the limit items are keyed per user (USER#<id>) and per channel, and expire', async () => {
  const store = dynamoStore();
  await store.countUserEvent('42', W, 'connects', 5);
  await store.admitToSet({ kind: 'streams', userId: '42' }, 'conn-1', now + 60_000, 5, now);
  await store.admitToSet({ kind: 'channel-prepared', channelKey: '7:8' }, 'conn-1', now + 60_000, 5, now);
  const get = async (pk: string, sk: string) =>
    (await clients[0]!.send(new GetCommand({ TableName: dynamo.tables[STATE_TABLE.envVar]!, Key: { pk, sk } }))).Item;
  const rate = await get('USER#42', `RATE#${W}`);
  assert.equal(rate?.connects, 1);
  assert.equal(rate?.expiresAt, (W + 2) * 60, "a minute's counters expire after the next minute");
  const limits = await get('USER#42', 'LIMITS');
  assert.deepEqual(limits?.streams, { 'conn-1': now + 60_000 });
  assert.deepEqual(limits?.prepared, {}, "the user's other set exists (empty) from the start");
  assert.ok((limits?.expiresAt as number) > now / 1000);
  assert.deepEqual((await get('CHAN#7:8', 'PREPARED'))?.prepared, { 'conn-1': now + 60_000 });
});

test('across containers: two adapters with their own clients, admitting concurrently, admit exactly the limit', async () => {
  const containers = [dynamoStore(), dynamoStore()];
  const attempts = 24;
  const streams = await Promise.all(
    Array.from({ length: attempts }, (_, i) =>
      containers[i % 2]!.admitToSet({ kind: 'streams', userId: 'flood' }, `c${i}`, now + 60_000, 5, now),
    ),
  );
  assert.equal(streams.filter((r) => r.admitted).length, 5, 'open streams: exactly the limit');
  const counted = await Promise.all(
    Array.from({ length: attempts }, (_, i) => containers[i % 2]!.countUserEvent('flood', W, 'connects', 7)),
  );
  assert.equal(counted.filter(Boolean).length, 7, 'connects a minute: exactly the limit');
  const channel = await Promise.all(
    Array.from({ length: attempts }, (_, i) =>
      containers[i % 2]!.admitToSet({ kind: 'channel-prepared', channelKey: 'flood:1' }, `c${i}`, now + 60_000, 3, now),
    ),
  );
  assert.equal(channel.filter((r) => r.admitted).length, 3, 'prepared in a channel: exactly the limit');
});

test('a container remembers a refused minute: the flood past the limit costs it no further request; another container asks the store', async () => {
  const store = new MemoryStateStore(() => now);
  let requests = 0;
  const counted = new Proxy(store, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (...args: unknown[]) => (requests++, value.apply(target, args)) : value;
    },
  });
  const limitsIn = (refusedMinutes: RefusedMinutes) =>
    new UserLimits({
      store: counted,
      clock: { now: () => now },
      log: silentLogger,
      preparedForMs: 120_000,
      refusedMinutes,
      settings: { ...DEFAULT_USER_LIMITS, connectsPerUserPerMinute: 2 },
    });
  const [a, b] = [limitsIn(new RefusedMinutes()), limitsIn(new RefusedMinutes())];
  const connect = (limits: UserLimits, i: number) =>
    limits.admitConnection('memo', `m${i}`, now + 60_000).then(
      () => 'ok',
      (e: Error) => e.message,
    );
  assert.equal(await connect(a, 1), 'ok');
  assert.equal(await connect(a, 2), 'ok');
  const beforeRefusals = requests;
  assert.match(await connect(a, 3), /voice.rate-limited/);
  assert.equal(requests - beforeRefusals, 1, 'the first refusal asks the store');
  for (let i = 4; i < 14; i++) assert.match(await connect(a, i), /voice.rate-limited/);
  assert.equal(requests - beforeRefusals, 1, 'the next ten in this container cost nothing');
  assert.match(await connect(b, 14), /voice.rate-limited/, 'another container is refused by the store');
  assert.equal(requests - beforeRefusals, 2);
  now += 60_000;
  assert.equal(await connect(a, 15), 'ok', 'the next minute asks the store again');
});
