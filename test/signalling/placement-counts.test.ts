// Placement without listing the fleet, counted through dynalite with the real adapters (DynamoStateStore, NodeRegistry through the
// NodeDirectory adapter, ChannelPlacement): one Initialize's placement costs the same DynamoDB requests and read
// units with 10 and with 5,000 registered nodes — for a new channel and for an existing one — and 5,000 nodes'
// heartbeats spread over at least the partitions DynamoDB's 1,000 WCU/s per-partition limit requires — in the
// base table (each node its own NODE#<nodeId>) and in the LISTING index they are replicated to (NODES#<shard>).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NODES_TABLE, STATE_TABLE } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { RegistryNodeDirectory } from '../../functions/adapters/node-directory';
import { ChannelPlacement } from '../../functions/voice/channel-placement';
import { silentLogger } from '../../lib/log';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo, type LocalDynamo } from '../../local/dynamo';
import { dynamoTotals, RequestCounter, type DynamoCounts } from '../../local/request-counter';
import { createDocumentClient } from '../../routing/dynamo';
import { NODE_SHARDS, NodeRegistry, nodeListing, nodePartition } from '../../routing/node-registry';
import type { MediaNodeRecord } from '../../routing/types';

const HEARTBEAT_INTERVAL_S = 5;
const PARTITION_WCU_LIMIT = 1_000;
const counter = new RequestCounter();
let dynamo: LocalDynamo;
let registry: NodeRegistry;
let directory: RegistryNodeDirectory;
let store: DynamoStateStore;

before(async () => {
  dynamo = await startLocalDynamo({ port: 0, counter });
  const db = createDocumentClient({
    endpoint: dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  registry = new NodeRegistry(db, dynamo.tables[NODES_TABLE.envVar]!);
  directory = new RegistryNodeDirectory(registry);
  store = new DynamoStateStore(db, dynamo.tables[STATE_TABLE.envVar]!);
});
after(() => dynamo?.close());

/** A node record as a real node heartbeats it (two workers' load and packet figures). */
function node(i: number, now: number): MediaNodeRecord {
  // expiresAt as a node sets it (heartbeat + 15 s).
  const load = 0.1 + ((i * 7919) % 600) / 1000;
  return {
    nodeId: `ip-10-0-${Math.floor(i / 250)}-${i % 250}.ec2.internal:50051`,
    grpcAddress: `10.0.${Math.floor(i / 250)}.${i % 250}:50051`,
    publicAddress: `198.51.${Math.floor(i / 250)}.${i % 250}`,
    capacity: 4000,
    rooms: i % 40,
    sessions: 300,
    transports: 600,
    producers: 300,
    consumers: 2700,
    cpu: { workers: [31.5, 28.25], avg: 29.875, max: 31.5 },
    packets: { workers: [11000, 9800], total: 20800, perWorkerAtFullCore: 40000 },
    load: { workers: [load, load - 0.05], avg: load - 0.025, admitLoad: 0.8 },
    state: 'active',
    heartbeatAt: now,
    expiresAt: Math.floor(now / 1000) + 15,
  };
}

async function registerUpTo(count: number, from: number, now: number): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) await registry.heartbeat(node(next++, now));
    }),
  );
}

function placement(): ChannelPlacement {
  return new ChannelPlacement({
    store,
    nodes: directory,
    clock: Date,
    log: silentLogger,
    holdMs: 60_000,
    placementLifetimeSeconds: 3600,
    nodeStaleAfterMs: 15_000,
    media: { openRoom: async () => ({ rtpCapabilities: '{}' }) },
  });
}

/** The placement reads and writes of one Initialize (new channel, then the same channel again). */
async function countInitializes(channel: string): Promise<{ fresh: DynamoCounts; existing: DynamoCounts }> {
  const before = counter.snapshot();
  await placement().open(channel);
  const fresh = counter.since(before).dynamo;
  const middle = counter.snapshot();
  await placement().open(channel);
  return { fresh, existing: counter.since(middle).dynamo };
}

const summary = (c: DynamoCounts) => ({
  ...Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.requests])),
  rcu: dynamoTotals(c).readUnits,
});

test('one Initialize reads O(1) items: the same requests and RCU with 10 and with 5,000 registered nodes', {
  timeout: 300_000,
}, async () => {
  // Heartbeat times a little ahead, so every record still counts as fresh after the ~1 min 5,000 puts take here.
  const beat = Date.now() + 10 * 60_000;
  await registerUpTo(10, 0, beat);
  await directory.publishCandidates(await directory.listNodes(), Date.now(), 15_000); // the sweep's publish
  const at10 = await countInitializes('7:10');
  await registerUpTo(5_000, 10, beat);
  await directory.publishCandidates(await directory.listNodes(), Date.now(), 15_000);
  const at5000 = await countInitializes('7:5000');
  console.log(
    `# Initialize at 10 nodes: new ${JSON.stringify(summary(at10.fresh))}, existing ${JSON.stringify(summary(at10.existing))}; ` +
      `at 5,000: new ${JSON.stringify(summary(at5000.fresh))}, existing ${JSON.stringify(summary(at5000.existing))}`,
  );
  assert.deepEqual(summary(at5000.fresh), summary(at10.fresh));
  assert.deepEqual(summary(at5000.existing), summary(at10.existing));
  assert.deepEqual(summary(at10.fresh), {
    'state:GetItem': 1,
    'nodes:GetItem': 1,
    'state:PutItem': 1,
    rcu: summary(at10.fresh).rcu,
  });
  assert.ok(summary(at10.fresh).rcu <= 3, `a few RCU per Initialize (${summary(at10.fresh).rcu})`);
  assert.equal(at5000.fresh['nodes:Query:Listing(NODES)'], undefined, 'the fleet is never listed');
  assert.equal(at5000.existing['nodes:Query:Listing(NODES)'], undefined);
});

test('heartbeats of 5,000 nodes spread over at least the partitions the 1,000 WCU/s limit requires', async () => {
  const before = counter.snapshot();
  await registerUpTo(100, 0, Date.now());
  const puts = counter.since(before).dynamo['nodes:PutItem']!;
  const wcuPerHeartbeat = puts.writeUnits / puts.requests;
  const totalWcuPerSecond = (5_000 * wcuPerHeartbeat) / HEARTBEAT_INTERVAL_S;
  const required = Math.ceil(totalWcuPerSecond / PARTITION_WCU_LIMIT);
  // Each heartbeat lands in its node's base partition and, replicated, in its LISTING index partition.
  for (const [where, keyOf, expected] of [
    ['base table', nodePartition, 5_000],
    ['Listing index', nodeListing, NODE_SHARDS],
  ] as const) {
    const perPartition = new Map<string, number>();
    for (let i = 0; i < 5_000; i++) {
      const key = keyOf(node(i, 0).nodeId);
      perPartition.set(key, (perPartition.get(key) ?? 0) + 1);
    }
    const hottest = (Math.max(...perPartition.values()) * wcuPerHeartbeat) / HEARTBEAT_INTERVAL_S;
    console.log(
      `# heartbeats (${where}): ${wcuPerHeartbeat} WCU each, ${totalWcuPerSecond} WCU/s at 5,000 nodes; ` +
        `${perPartition.size} partitions (${required} required), hottest ${hottest} WCU/s`,
    );
    assert.equal(perPartition.size, expected);
    assert.ok(perPartition.size >= required, `${where}: ${perPartition.size} partitions ≥ ${required} required`);
    assert.ok(hottest < PARTITION_WCU_LIMIT, `${where}: the hottest partition takes ${hottest} WCU/s`);
  }
  // The keys as written: a registered node's record is in its own partition and listed under its shard.
  const written = (await registry.listNodes({ includeStale: true })).find((n) => n.nodeId === node(0, 0).nodeId);
  assert.ok(written, 'a registered node is listed through the sharded index');
});
