// How the local stack configures several media nodes (local/stack.ts): MEDIA_NODES, per-node options over the
// shared ones, and each node's own ports — fixed bases offset per node for `npm start`, ephemeral in tests —
// with non-overlapping slices of the pipe port range. Pure; multi-node.test.ts runs the real thing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mediaNodeCount, mediaNodeList, mediaNodePortEnv } from '../../local/stack';
import { splitPortRange } from '../../media-node/src/span/pipe-ports';

describe('local stack media nodes', () => {
  test('MEDIA_NODES: default 1, an integer from 1 to 16, else a clear error', () => {
    assert.equal(mediaNodeCount(undefined), 1);
    assert.equal(mediaNodeCount(''), 1);
    assert.equal(mediaNodeCount('2'), 2);
    for (const bad of ['0', '-1', '1.5', 'two', '17']) {
      assert.throws(() => mediaNodeCount(bad), /config\.bad-value: MEDIA_NODES must be an integer from 1 to 16/, bad);
    }
  });

  test('mediaNodes: a count shares the options; a list merges each over them (env too)', () => {
    const shared = { workers: 1, env: { MEDIA_HEARTBEAT_MS: '500' } };
    assert.deepEqual(mediaNodeList(undefined, shared), [shared]);
    assert.deepEqual(mediaNodeList(2, shared), [shared, shared]);
    assert.deepEqual(mediaNodeList([{}, { workers: 2, env: { MEDIA_CAPACITY: '4' } }], shared), [
      { workers: 1, env: { MEDIA_HEARTBEAT_MS: '500' } },
      { workers: 2, env: { MEDIA_HEARTBEAT_MS: '500', MEDIA_CAPACITY: '4' } },
    ]);
    for (const bad of [0, 1.5, 17, []])
      assert.throws(() => mediaNodeList(bad as number, shared), /local-stack\.bad-media-nodes/);
  });

  test('npm start: node i gets metrics 9464+i, RTC 40000 + i × workers, its own pipe slice; gRPC stays ephemeral', () => {
    const slices = splitPortRange({ min: 45000, max: 45999 }, 2);
    const env = (index: number, options = {}, processEnv: NodeJS.ProcessEnv = {}) =>
      mediaNodePortEnv(options, { index, count: 2, pipePorts: slices[index]! }, false, processEnv);
    assert.deepEqual(env(0), {
      MEDIA_GRPC_PORT: '0',
      MEDIA_METRICS_PORT: '9464',
      MEDIA_RTC_PORT_BASE: '40000',
      MEDIA_WORKERS: '1',
      MEDIA_PIPE_PORTS: '45000-45499',
    });
    assert.deepEqual(env(1), {
      MEDIA_GRPC_PORT: '0',
      MEDIA_METRICS_PORT: '9465',
      MEDIA_RTC_PORT_BASE: '40001',
      MEDIA_WORKERS: '1',
      MEDIA_PIPE_PORTS: '45500-45999',
    });
    // Fixed bases from the environment move along too (RTC by the worker count); an explicit option is taken as given.
    assert.deepEqual(
      env(
        1,
        {},
        { MEDIA_GRPC_PORT: '50051', MEDIA_RTC_PORT_BASE: '41000', MEDIA_WORKERS: '2', MEDIA_METRICS_PORT: '-1' },
      ),
      {
        MEDIA_GRPC_PORT: '50052',
        MEDIA_METRICS_PORT: '-1',
        MEDIA_RTC_PORT_BASE: '41002',
        MEDIA_WORKERS: '2',
        MEDIA_PIPE_PORTS: '45500-45999',
      },
    );
    assert.equal(env(1, { metricsPort: 9999 }).MEDIA_METRICS_PORT, '9999');
  });

  test('tests (gateway port 0): every node ephemeral', () => {
    const ports = mediaNodePortEnv({}, { index: 1, count: 2, pipePorts: { min: 45500, max: 45999 } }, true, {});
    assert.deepEqual(ports, {
      MEDIA_GRPC_PORT: '0',
      MEDIA_METRICS_PORT: '0',
      MEDIA_RTC_PORT_BASE: '0',
      MEDIA_WORKERS: '1',
      MEDIA_PIPE_PORTS: '45500-45999',
    });
  });
});
