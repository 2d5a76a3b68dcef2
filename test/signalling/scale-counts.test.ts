// The scale benchmark's counting (bench/scale.ts) in a short form, through the real local stack: 10,000
// idle joined sessions cost the reaper's sweep exactly what 1,000 do (a fixed number of Queries per shard,
// no read of any healthy session, no @connections call), and the work of a sweep grows with the sessions
// due, not with the sessions held. Counts, not times.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STATE_TABLE, SWEEP_SHARDS } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { silentLogger } from '../../lib/log';
import { dynamoTotals, RequestCounter } from '../../local/request-counter';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { countIdleSweeps, seedJoined, type Window } from '../../bench/scale-counting';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';
import { NODE_SHARDS } from '../../routing/node-registry';

const SWEEPS = 3;
const node = { nodeId: 'scale-test-node', grpcAddress: '127.0.0.1:1' };
const counter = new RequestCounter();
let stack: LocalStack;

before(async () => {
  // No media node (nothing here calls one); the schedule never fires: the test runs the reaper itself.
  stack = await startLocalStack({
    port: 0,
    strict: true,
    mediaNode: false,
    reaperIntervalMs: 3_600_000,
    counter,
    logger: silentLogger,
  });
});
after(async () => {
  await stack?.close();
});

const perSweep = (w: Window) => Object.fromEntries(Object.entries(w.dynamo).map(([k, c]) => [k, c.requests / SWEEPS]));

test('idle sweeps cost the same at 1,000 and 10,000 joined sessions, and read none of them', async () => {
  await seedJoined(stack, { prefix: 'a', count: 1_000, ...node, members: false });
  const at1k = await countIdleSweeps(stack, counter, SWEEPS);
  await seedJoined(stack, { prefix: 'b', count: 9_000, ...node, members: false });
  const at10k = await countIdleSweeps(stack, counter, SWEEPS);
  console.log(`per sweep at 1,000: ${JSON.stringify(perSweep(at1k))}; at 10,000: ${JSON.stringify(perSweep(at10k))}`);

  assert.deepEqual(perSweep(at10k), perSweep(at1k), 'the same requests per sweep, whatever the number of sessions');
  // Per shard: one Query of its DUE partition and one of its LOST partition; plus the node registry once (one
  // Query per NODES# listing shard). (The placement candidates the sweep publishes, CANDIDATE_COPIES PutItems per sweep,
  // are counted with the registry's puts, left out of this window like the heartbeats: bench/scale.ts adds them.)
  assert.deepEqual(perSweep(at10k), {
    'nodes:Query:Listing(NODES)': NODE_SHARDS,
    'nodes:Query:Listing(LOST)': SWEEP_SHARDS,
    'state:Query:Due(DUE)': SWEEP_SHARDS,
  });
  assert.equal(dynamoTotals(at10k.dynamo).writeUnits, 0, 'no session is written at rest');
  for (const w of [at1k, at10k]) {
    assert.deepEqual([w.gateway.post, w.gateway.get, w.gateway.delete], [0, 0, 0], 'no @connections call at rest');
  }
  assert.equal(at10k.gateway.reaper, SWEEPS);
});

test('a sweep among 10,000 sessions does work for the sessions due and no others', async () => {
  const store = new DynamoStateStore(
    createDocumentClient({ endpoint: stack.dynamo.endpoint }),
    stack.dynamo.tables[STATE_TABLE.envVar]!,
  );
  const now = Date.now();
  const due = ['due-1', 'due-2', 'due-3', 'due-4', 'due-5'];
  for (const connectionId of due) {
    await store.putConnection({
      connectionId,
      userId: '5',
      grants: [],
      variant: 'base64',
      state: 'connected',
      version: 1,
      connectedAt: now - 60_000,
      deadline: now - 1_000,
      expiresAt: Math.ceil(now / 1000) + 3600,
    });
  }
  const w = await countIdleSweeps(stack, counter, 1);
  const requests = (key: string) => w.dynamo[key]?.requests ?? 0;
  // One strong read to judge each due session, one claim (`closing`), one delete: none for the 10,000 others.
  assert.equal(requests('state:GetItem'), due.length);
  assert.equal(requests('state:UpdateItem'), due.length);
  assert.equal(requests('state:DeleteItem'), due.length);
  for (const id of due) assert.equal(await store.getConnectionForSweep(id), undefined, `${id} was ended`);
  // Their sockets were already gone: the error post and the close each met a 410.
  assert.equal(w.gateway.gone, 2 * due.length);
});

test("per-user limits: a connect and its close cost 3 conditional writes on the user's own items, and no message costs one", async () => {
  const options = { wsUrl: stack.wsUrl, token: devToken(4321n, 1n, [1n]) };
  const connectAndClose = async (messages: number) => {
    const client = await VoiceTestClient.connect(options);
    await stack.gateway.idle();
    const beforeMessages = counter.snapshot();
    for (let i = 0; i < messages; i++) client.sendRaw('not base64 at all!');
    for (let i = 0; i < messages; i++) await client.nextError(10_000);
    await stack.gateway.idle();
    const duringMessages = counter.since(beforeMessages);
    client.close();
    await client.waitClosed(10_000);
    await stack.gateway.idle();
    return duringMessages;
  };
  await connectAndClose(0); // the user's first connect also makes its limits item (a failed write, a read, a write)
  const before = counter.snapshot();
  const messages = await connectAndClose(20);
  const w = counter.since(before);
  const limits = Object.fromEntries(
    Object.entries(w.dynamo)
      .filter(([k]) => k.includes('(limits)'))
      .map(([k, c]) => [k, c.requests]),
  );
  console.log(
    `connect + 20 messages + close: ${JSON.stringify(Object.fromEntries(Object.entries(w.dynamo).map(([k, c]) => [k, c.requests])))}`,
  );
  // The connect counts its minute and takes a stream slot; the close frees the slot.
  assert.deepEqual(limits, { 'state:UpdateItem(limits)': 3 });
  assert.equal(messages.gateway.default, 20, 'the messages were handled');
  assert.deepEqual(
    Object.keys(messages.dynamo).filter((k) => k.includes('(limits)')),
    [],
    'no per-user write for a message',
  );
  assert.ok(
    Object.values(messages.dynamo).every((c) => c.writeUnits === 0),
    'no write at all for a message',
  );
});
