// Node lifecycle: registry heartbeat, drain, worker death, lost-session reporting, metrics,
// the main.ts process (env config, ready line, SIGTERM), and the EC2 announced address.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { SessionLost } from '../../gen/medianode/v1/media_node';
import { connectMediaNode, type MediaNodeApi } from '../../media-node/api/client';
import { configFromEnv } from '../../media-node/src/node/config';
import { NodeRegistry } from '../../routing';
import {
  SECRET,
  clientRtpCapabilities,
  joinSession,
  rejectsWith,
  startLocalDynamo,
  startTestNode,
  waitFor,
} from './helpers';

let dynamo: Awaited<ReturnType<typeof startLocalDynamo>>;
let registry: NodeRegistry;
before(async () => {
  dynamo = await startLocalDynamo();
  registry = new NodeRegistry(dynamo.client, dynamo.tableName);
});
after(() => dynamo.stop());

function watch(api: MediaNodeApi): { events: SessionLost[]; ready: Promise<void> } {
  const events: SessionLost[] = [];
  const stream = api.watchSessions();
  stream.on('data', (event: SessionLost) => events.push(event));
  stream.on('error', () => {});
  // The server subscribes when the call arrives; there is no ack, so give it a moment.
  const ready = new Promise<void>((resolve) => setTimeout(resolve, 100));
  return { events, ready };
}

describe('registry heartbeat', () => {
  test('registers on start, heartbeats load, shows draining at once, deregisters on close', async () => {
    const { node, api, stop } = await startTestNode({ registry, heartbeatMs: 100, capacity: 500 });
    try {
      const registered = await registry.getNode(node.nodeId);
      assert.ok(registered);
      assert.equal(registered.grpcAddress, node.grpcAddress);
      assert.equal(registered.publicAddress, '127.0.0.1');
      assert.equal(registered.state, 'active');
      assert.equal(registered.capacity, 500);
      assert.equal(registered.cpu.workers.length, 1);
      assert.ok(registered.expiresAt * 1000 > Date.now());

      await joinSession(api, '1:1', 'a', '1');
      await joinSession(api, '1:1', 'b', '2');
      await waitFor(
        async () => (await registry.getNode(node.nodeId))?.consumers === 2,
        3000,
        'heartbeat with 2 consumers',
      );
      const beat = (await registry.getNode(node.nodeId))!;
      assert.deepEqual([beat.rooms, beat.sessions, beat.transports, beat.producers], [1, 2, 4, 2]);
      assert.ok(beat.heartbeatAt > registered.heartbeatAt);
    } finally {
      await stop();
    }
    assert.equal(await registry.getNode(node.nodeId), undefined, 'deregistered');
  });
});

describe('drain', () => {
  test('refuses new rooms, keeps existing ones, and finishes early when they empty', async () => {
    const { node, api, stop } = await startTestNode({ registry, heartbeatMs: 60_000 });
    try {
      await joinSession(api, '2:1', 'a', '1');
      const drained = node.drain(10_000);
      await waitFor(
        async () => (await registry.getNode(node.nodeId))?.state === 'draining',
        2000,
        'registry shows draining',
      );
      await rejectsWith(api.openRoom({ roomId: '2:2' }), status.UNAVAILABLE, 'draining');
      // The existing room still works: another session can join it.
      await api.openRoom({ roomId: '2:1' });
      await api.createTransports({
        roomId: '2:1',
        sessionId: 'b',
        userId: '2',
        rtpCapabilities: clientRtpCapabilities(),
      });
      await api.leave({ roomId: '2:1', sessionId: 'a' });
      await api.leave({ roomId: '2:1', sessionId: 'b' });
      const started = Date.now();
      assert.equal(await drained, true, 'rooms emptied before the bound');
      assert.ok(Date.now() - started < 2000);
      assert.equal(node.state(), 'closed');
      assert.deepEqual(await registry.listLostSessions(), []);
      assert.equal(await registry.getNode(node.nodeId), undefined);
    } finally {
      await stop();
    }
  });

  test('past the bound, remaining sessions are closed and reported lost (stream and registry)', async () => {
    const { node, api, stop } = await startTestNode({ registry });
    try {
      const watcher = watch(api);
      await watcher.ready;
      await joinSession(api, '3:1', 'a', '11');
      await joinSession(api, '3:1', 'b', '12');
      const room = node.rooms.find('3:1')!;
      assert.equal(await node.drain(300), false);
      assert.equal(room.closed, true);
      assert.deepEqual(watcher.events.map((e) => [e.roomId, e.sessionId, e.userId, e.reason]).sort(), [
        ['3:1', 'a', '11', 'drained'],
        ['3:1', 'b', '12', 'drained'],
      ]);
      const lost = await registry.listLostSessions();
      assert.deepEqual(lost.map((l) => [l.sessionId, l.reason, l.nodeId]).sort(), [
        ['a', 'drained', node.nodeId],
        ['b', 'drained', node.nodeId],
      ]);
      for (const l of lost) await registry.deleteLostSession(l.roomId, l.sessionId, l.nodeId);
    } finally {
      await stop();
    }
  });
});

describe('worker death', () => {
  test('a killed worker is replaced, its sessions are reported lost, and the node keeps serving', async () => {
    const { node, api, stop } = await startTestNode({ registry });
    try {
      const watcher = watch(api);
      await watcher.ready;
      await joinSession(api, '4:1', 'a', '21');
      await joinSession(api, '4:1', 'b', '22');
      const deadPid = node.pool.slots[0]!.worker.pid;
      process.kill(deadPid, 'SIGKILL');
      await waitFor(() => watcher.events.length === 2, 5000, 'two worker-died events');
      assert.deepEqual(watcher.events.map((e) => `${e.sessionId}:${e.reason}`).sort(), [
        'a:worker-died',
        'b:worker-died',
      ]);
      assert.equal((await api.getRoom({ roomId: '4:1' })).exists, false);
      await waitFor(() => node.pool.slots[0]!.ready, 5000, 'worker replaced');
      assert.notEqual(node.pool.slots[0]!.worker.pid, deadPid);
      const rejoined = await joinSession(api, '4:1', 'a2', '21');
      assert.ok(rejoined.transports.consumerTransport);
      await waitFor(async () => (await registry.listLostSessions()).length === 2, 3000, 'lost records');
      for (const l of await registry.listLostSessions())
        await registry.deleteLostSession(l.roomId, l.sessionId, l.nodeId);
    } finally {
      await stop();
    }
  });
});

describe('metrics', () => {
  test('Prometheus text with rooms, sessions, consumers, worker CPU and join durations', async () => {
    // 40 consumers (20 per worker), so 6 consumers are a visible load.
    const { node, api, stop } = await startTestNode({ workers: 2, capacity: 40 });
    try {
      await joinSession(api, '5:1', 'a', '1');
      await joinSession(api, '5:1', 'b', '2');
      await joinSession(api, '5:1', 'c', '3');
      await rejectsWith(
        api.resumeConsumer({ roomId: '5:1', sessionId: 'a', consumerId: 'x' }),
        status.NOT_FOUND,
        'unknown-consumer',
      );
      await node.heartbeatNow();
      const text = await (await fetch(`http://${node.metricsAddress}/metrics`)).text();
      const value = (line: string) =>
        Number(
          text
            .split('\n')
            .find((l) => l.startsWith(line + ' '))
            ?.split(' ')[1],
        );
      assert.equal(value('media_node_rooms'), 1);
      assert.equal(value('media_node_sessions'), 3);
      assert.equal(value('media_node_transports'), 6);
      assert.equal(value('media_node_producers'), 3);
      assert.equal(value('media_node_consumers'), 6);
      assert.equal(value('media_node_join_duration_seconds_count'), 3);
      assert.ok(value('media_node_worker_cpu_percent{worker="1"}') >= 0);
      // The room's worker holds 6 of its 20 consumers: 30 % (unless its CPU or packets say more); the mean of two workers ≥ 15 %.
      const roomWorker = String(node.rooms.find('5:1')!.slot.index);
      assert.ok(value(`media_node_worker_load_percent{worker="${roomWorker}"}`) >= 30);
      assert.ok(value('media_node_load_percent') >= 15 && value('media_node_load_percent') <= 100);
      assert.ok(value(`media_node_worker_packets_per_second{worker="${roomWorker}"}`) >= 0);
      assert.equal(value('media_node_call_failures_total{method="ResumeConsumer",reason="unknown-consumer"}'), 1);
      assert.equal((await fetch(`http://${node.metricsAddress}/other`)).status, 404);
    } finally {
      await stop();
    }
  });
});

describe('main.ts process', () => {
  test('configured from env: prints the ready line, registers, drains on SIGTERM reporting lost sessions, exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'media-node/main.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: {
        ...process.env,
        MEDIA_NODE_ID: 'proc-test-node',
        MEDIA_GRPC_PORT: '0',
        MEDIA_METRICS_PORT: '0',
        MEDIA_RTC_PORT_BASE: '0',
        MEDIA_WORKERS: '1',
        MEDIA_NODE_SECRET: SECRET,
        MEDIA_DRAIN_TIMEOUT_MS: '300',
        MEDIA_NODES_TABLE: dynamo.tableName,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, unknown>[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 20_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          const entry = JSON.parse(line) as Record<string, unknown>;
          lines.push(entry);
          if (entry.msg === 'media-node.ready') {
            clearTimeout(timer);
            resolve(entry);
          }
        });
        child.on('exit', () => reject(new Error(`exited before ready; stderr: ${stderr}`)));
      });
      assert.match(String(ready.grpc), /^127\.0\.0\.1:\d+$/);
      assert.match(String(ready.metrics), /^127\.0\.0\.1:\d+$/);
      assert.equal(ready.nodeId, 'proc-test-node');
      assert.ok(!JSON.stringify(lines).includes(SECRET), 'the secret is never logged');
      const registered = await registry.getNode('proc-test-node');
      assert.equal(registered?.grpcAddress, ready.grpc);

      const api = connectMediaNode(String(ready.grpc), { secret: SECRET });
      try {
        await joinSession(api, '6:1', 'p1', '31');
      } finally {
        api.close();
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(lines.some((l) => l.msg === 'media-node.drain-timeout'));
      assert.equal(await registry.getNode('proc-test-node'), undefined, 'deregistered');
      const lost = await registry.listLostSessions();
      assert.deepEqual(
        lost.map((l) => [l.roomId, l.sessionId, l.userId, l.reason, l.nodeId]),
        [['6:1', 'p1', '31', 'drained', 'proc-test-node']],
      );
      await registry.deleteLostSession('6:1', 'p1', 'proc-test-node');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });

  test('configFromEnv rejects malformed numbers and reads flags', () => {
    assert.throws(() => configFromEnv({ MEDIA_GRPC_PORT: 'abc' }), /MEDIA_GRPC_PORT/);
    assert.throws(() => configFromEnv({ MEDIA_WORKERS: '0' }), /MEDIA_WORKERS/);
    const config = configFromEnv({ MEDIA_GRPC_INSECURE: '1', MEDIA_RTC_PORT_BASE: '41000', MEDIA_NODES_TABLE: 't' });
    assert.equal(config.insecure, true);
    assert.equal(config.rtcPortBase, 41000);
    assert.equal(config.registryTable, 't');
    assert.equal(config.secret, undefined);
  });
});

describe('announced address from EC2 metadata (IMDSv2)', () => {
  test('the public IPv4 from IMDS goes into ICE candidates and the registry', async () => {
    const imds = createServer((request, response) => {
      if (
        request.method === 'PUT' &&
        request.url === '/latest/api/token' &&
        request.headers['x-aws-ec2-metadata-token-ttl-seconds']
      ) {
        response.end('token-123');
      } else if (
        request.url === '/latest/meta-data/public-ipv4' &&
        request.headers['x-aws-ec2-metadata-token'] === 'token-123'
      ) {
        response.end('198.51.100.7');
      } else {
        response.writeHead(401).end();
      }
    });
    await new Promise<void>((resolve) => imds.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(imds.address() as AddressInfo).port}`;
    const { node, api, stop } = await startTestNode({ useEc2Metadata: true, imdsEndpoint: endpoint, registry });
    try {
      assert.equal(node.publicAddress, '198.51.100.7');
      await api.openRoom({ roomId: '7:1' });
      const { consumerTransport } = await api.createTransports({
        roomId: '7:1',
        sessionId: 's',
        userId: '1',
        rtpCapabilities: clientRtpCapabilities(),
      });
      assert.ok(consumerTransport!.iceCandidates.every((c) => JSON.parse(c).address === '198.51.100.7'));
      assert.equal((await registry.getNode(node.nodeId))?.publicAddress, '198.51.100.7');
    } finally {
      await stop();
      imds.close();
    }
    // No metadata service reachable: refuse to start rather than announce a useless address.
    await assert.rejects(startTestNode({ useEc2Metadata: true, imdsEndpoint: 'http://127.0.0.1:9' }));
  });
});
