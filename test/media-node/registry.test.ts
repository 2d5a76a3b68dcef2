// routing/: placement (pure) and the DynamoDB registry against an in-process dynalite.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { sweepShardOf } from '../../data/tables';
import { NodeRegistry, isNodeAlive, pickNode, type MediaNodeRecord } from '../../routing';
import { lostPartition, lostSessionKey, nodeListing, nodePartition } from '../../routing/node-registry';
import { startLocalDynamo } from './helpers';
import { nodeRecord } from '../support/node-record';

const NOW = 1_700_000_000_000;

function node(nodeId: string, overrides: Partial<MediaNodeRecord> = {}): MediaNodeRecord {
  return nodeRecord(
    nodeId,
    {
      grpcAddress: `10.0.0.1:${nodeId.length}`,
      publicAddress: '203.0.113.10',
      cpu: { workers: [0], avg: 0, max: 0 },
      expiresAt: Math.floor(NOW / 1000) + 15,
      ...overrides,
    },
    NOW,
  );
}

describe('placement', () => {
  test('isNodeAlive needs a fresh heartbeat and an unexpired record', () => {
    assert.equal(isNodeAlive(node('a'), NOW), true);
    assert.equal(isNodeAlive(node('a', { heartbeatAt: NOW - 16_000 }), NOW), false);
    assert.equal(isNodeAlive(node('a', { heartbeatAt: NOW - 16_000 }), NOW, 20_000), true);
    assert.equal(isNodeAlive(node('a', { expiresAt: Math.floor(NOW / 1000) }), NOW), false);
  });

  test('pickNode takes the least-loaded active, fresh node with headroom', () => {
    const nodes = [
      node('busy', { consumers: 600 }),
      node('light', { consumers: 100 }),
      node('idle-but-draining', { state: 'draining' }),
      node('idle-but-stale', { heartbeatAt: NOW - 60_000 }),
      node('hot-cpu', { consumers: 50, cpu: { workers: [90], avg: 90, max: 90 } }),
    ];
    assert.equal(pickNode(nodes, NOW)?.nodeId, 'light');
    assert.equal(pickNode([node('full', { consumers: 1000 })], NOW), undefined, 'full nodes are skipped');
    assert.equal(pickNode([], NOW), undefined);
    assert.equal(
      pickNode([node('b', { rooms: 2 }), node('a', { rooms: 2 }), node('c', { rooms: 1 })], NOW)?.nodeId,
      'c',
    );
    assert.equal(pickNode([node('b'), node('a')], NOW)?.nodeId, 'a', 'deterministic tie-break');
    assert.equal(pickNode([node('x', { heartbeatAt: NOW - 16_000 })], NOW, { staleAfterMs: 30_000 })?.nodeId, 'x');
  });
});

describe('NodeRegistry (dynalite)', () => {
  let dynamo: Awaited<ReturnType<typeof startLocalDynamo>>;
  let registry: NodeRegistry;
  before(async () => {
    dynamo = await startLocalDynamo();
    registry = new NodeRegistry(dynamo.client, dynamo.tableName);
  });
  after(() => dynamo.stop());

  test('register, heartbeat, list (fresh only), deregister', async () => {
    const now = Date.now();
    const fresh = node('n1', { heartbeatAt: now, expiresAt: Math.floor(now / 1000) + 15 });
    await registry.register(fresh);
    await registry.register(node('stale', { heartbeatAt: now - 60_000, expiresAt: Math.floor(now / 1000) + 15 }));
    await registry.register(node('expired', { heartbeatAt: now, expiresAt: Math.floor(now / 1000) - 1 }));
    assert.deepEqual(await registry.listNodes(), [fresh]);
    assert.deepEqual((await registry.listNodes({ includeStale: true })).map((n) => n.nodeId).sort(), [
      'expired',
      'n1',
      'stale',
    ]);

    await registry.heartbeat({ ...fresh, consumers: 42, state: 'draining', heartbeatAt: now + 1 });
    const [updated] = await registry.listNodes();
    assert.equal(updated?.consumers, 42);
    assert.equal(updated?.state, 'draining');
    assert.deepEqual(await registry.getNode('n1'), updated);
    assert.equal(await registry.getNode('expired'), undefined);

    // A node that stops heartbeating drops out of listNodes once it is stale.
    assert.equal((await registry.listNodes({ nowMs: now + 16_000 })).length, 0);

    for (const id of ['n1', 'stale', 'expired']) await registry.deregister(id);
    assert.deepEqual(await registry.listNodes({ includeStale: true }), []);
  });

  test('lost sessions are recorded, listed and deleted', async () => {
    await registry.recordLostSession({
      roomId: '1:2',
      sessionId: 'conn-1',
      userId: '77',
      reason: 'dtls-failed',
      nodeId: 'n1',
      at: 1000,
    });
    await registry.recordLostSession({
      roomId: '1:2',
      sessionId: 'conn-2',
      userId: '78',
      reason: 'worker-died',
      nodeId: 'n1',
    });
    const lost = await registry.listLostSessions({ nowMs: 2000 });
    assert.deepEqual(
      lost.map((l) => [l.roomId, l.sessionId, l.userId, l.reason]),
      [
        ['1:2', 'conn-1', '77', 'dtls-failed'],
        ['1:2', 'conn-2', '78', 'worker-died'],
      ],
    );
    assert.equal(lost[0]!.expiresAt, 1 + 3600);
    assert.equal((await registry.listLostSessions()).length, 1, 'the record written at t=1s has expired by now');
    await registry.deleteLostSession('1:2', 'conn-2', 'n1');
    await registry.deleteLostSession('1:2', 'conn-1', 'n1');
    assert.deepEqual(await registry.listLostSessions({ nowMs: 2000 }), []);
    // Nodes and lost sessions are listed apart.
    assert.deepEqual(await registry.listNodes({ includeStale: true }), []);
  });

  test('a notice (a policed pause) is its own item: handling it never deletes a loss of the same session', async () => {
    await registry.recordLostSession({
      roomId: '1:2',
      sessionId: 'conn-3',
      userId: '79',
      reason: 'policed',
      nodeId: 'n1',
      notice: true,
    });
    await registry.recordLostSession({
      roomId: '1:2',
      sessionId: 'conn-3',
      userId: '79',
      reason: 'policed',
      nodeId: 'n1',
    });
    const both = await registry.listLostSessions();
    assert.deepEqual(both.map((l) => [l.sessionId, l.reason, l.notice ?? false]).sort(), [
      ['conn-3', 'policed', false],
      ['conn-3', 'policed', true],
    ]);
    await registry.deleteLostSession('1:2', 'conn-3', 'n1', true);
    assert.deepEqual(
      (await registry.listLostSessions()).map((l) => [l.sessionId, l.notice ?? false]),
      [['conn-3', false]],
      'the loss stays',
    );
    await registry.deleteLostSession('1:2', 'conn-3', 'n1');
    assert.deepEqual(await registry.listLostSessions(), []);
  });

  test("an item's writer is the partition it was written to, never what it claims inside", async () => {
    // What a node with write access to its own partition only (IAM LeadingKeys on AWS) could try: claim another id.
    await dynamo.client.send(
      new PutCommand({
        TableName: registry.tableName,
        Item: {
          pk: nodePartition('evil'),
          sk: lostSessionKey('1:2', 'conn-9'),
          listing: lostPartition(sweepShardOf('conn-9')),
          roomId: '1:2',
          sessionId: 'conn-9',
          userId: '1',
          reason: 'ice-failed',
          nodeId: 'n1',
          at: Date.now(),
          expiresAt: Math.floor(Date.now() / 1000) + 60,
        },
      }),
    );
    await dynamo.client.send(
      new PutCommand({
        TableName: registry.tableName,
        Item: {
          pk: nodePartition('evil'),
          sk: 'NODE',
          listing: nodeListing('n1'),
          ...node('n1', { heartbeatAt: Date.now(), expiresAt: Math.floor(Date.now() / 1000) + 15 }),
        },
      }),
    );
    const [lost] = await registry.listLostSessions({ shard: sweepShardOf('conn-9') });
    assert.equal(lost?.nodeId, 'evil', 'the report is attributed to its writer');
    const nodes = await registry.listNodes({ includeStale: true });
    assert.deepEqual(
      nodes.map((n) => n.nodeId),
      ['evil'],
      'a record is the node of its partition',
    );
    assert.equal(await registry.getNode('n1'), undefined);
    await registry.deleteLostSession('1:2', 'conn-9', 'evil');
    await registry.deregister('evil');
  });
});
