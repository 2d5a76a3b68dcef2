// The composition: dynalite + a media node child process + handler modules configured through the
// environment + the gateway + the reaper schedule, and a close() that leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { silentLogger } from '../../local/gateway';
import { startMediaNodeProcess } from '../../local/media-node-process';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/stack';
import { seen } from './fixtures/handlers/state';
import { alive, closed, nextMessage, openWs, waitUntil, type Rejection } from './helpers';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const FAKE_MEDIA_NODE = [process.execPath, '--import', 'tsx', join(FIXTURES, 'fake-media-node.ts')];

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('local stack with fixture handlers and a fake media node', () => {
  let stack: LocalStack;
  const envBefore = process.env.CONNECTIONS_ENDPOINT;

  before(async () => {
    stack = await startLocalStack({
      port: 0,
      handlersDir: join(FIXTURES, 'handlers'),
      mediaNode: { command: FAKE_MEDIA_NODE, forwardLogs: false },
      reaperIntervalMs: 100,
      logger: silentLogger,
    });
  });
  after(() => stack.close());

  it('starts the media node with the agreed environment and reads its ready line', () => {
    assert.match(stack.mediaNode!.grpc, /^127\.0\.0\.1:\d+$/);
    const given = stack.mediaNode!.ready.given as Record<string, unknown>;
    assert.deepEqual(given, {
      MEDIA_GRPC_PORT: '0',
      MEDIA_METRICS_PORT: '0',
      MEDIA_RTC_PORT_BASE: '0',
      MEDIA_WORKERS: '1',
      MEDIA_NODES_TABLE: 'harmony-voice-local-nodes',
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamo.endpoint,
      AWS_REGION: 'local',
      AWS_ACCESS_KEY_ID: 'local',
      secretLength: stack.env.MEDIA_NODE_SECRET!.length,
    });
    assert.ok(stack.env.MEDIA_NODE_SECRET!.length >= 40);
  });

  it('sets the handlers’ environment', () => {
    assert.equal(process.env.VOICE_STATE_TABLE, 'harmony-voice-local-state');
    assert.equal(process.env.MEDIA_NODES_TABLE, 'harmony-voice-local-nodes');
    assert.equal(process.env.AWS_ENDPOINT_URL_DYNAMODB, stack.dynamo.endpoint);
    assert.equal(process.env.CONNECTIONS_ENDPOINT, `${stack.url}/local`);
    assert.equal(process.env.TOKEN_ISSUER, 'harmony-voice-local');
    assert.equal(process.env.TOKEN_JWKS_URL, `${stack.url}/.well-known/jwks.json`);
    assert.equal(process.env.TOKEN_AUDIENCE, 'harmony-voice');
    assert.equal(process.env.TOKEN_PUBLIC_KEY, '', 'only the JWKS URL is a key source');
    assert.equal(process.env.MEDIA_NODE_SECRET, stack.env.MEDIA_NODE_SECRET);
  });

  it('a minted token connects; no token is refused with 401', async () => {
    const ws = await openWs(stack.wsUrl, ['hrpc1.base64', stack.mintToken('42', '1', '7')]);
    assert.equal(ws.protocol, 'hrpc1.base64');
    ws.close();
    await closed(ws);
    const rejection = await openWs(stack.wsUrl, ['hrpc1.base64']).then(
      () => assert.fail('expected 401'),
      (r: Rejection) => r,
    );
    assert.equal(rejection.status, 401);
  });

  it('handlers reach dynalite and @connections through the environment alone', async () => {
    const ws = await openWs(stack.wsUrl, ['hrpc1.base64', stack.mintToken('42', '1', '7')]);
    const reply = nextMessage(ws);
    ws.send('CgQIARAC');
    assert.equal((await reply).data.toString(), 'echo:CgQIARAC');
    const id = stack.gateway.connectionIds()[0]!;
    const client = new DynamoDBClient({
      endpoint: stack.dynamo.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const { Item } = await client.send(
        new GetItemCommand({
          TableName: stack.dynamo.tables.VOICE_STATE_TABLE,
          Key: { pk: { S: `CONN#${id}` }, sk: { S: 'ECHO' } },
          ConsistentRead: true,
        }),
      );
      assert.equal(Item?.body?.S, 'CgQIARAC');
    } finally {
      client.destroy();
    }
    ws.close();
    await closed(ws);
    await waitUntil(() => seen.disconnects.includes(id), 2_000, '$disconnect');
  });

  it('runs the reaper on its schedule with a scheduled event', async () => {
    const before = seen.reaperEvents.length;
    await waitUntil(() => seen.reaperEvents.length >= before + 2, 3_000, 'two scheduled reaper runs');
    assert.equal(seen.reaperEvents.at(-1)!.source, 'aws.events');
    assert.equal(seen.reaperEvents.at(-1)!['detail-type'], 'Scheduled Event');
  });

  it('close() stops the media node, dynalite and the gateway and restores the environment', async () => {
    const { pid } = stack.mediaNode!;
    const dynamoPort = Number(new URL(stack.dynamo.endpoint).port);
    const gatewayPort = stack.gateway.port;
    await stack.close();
    assert.equal(alive(pid), false, `media node ${pid} still running`);
    assert.equal(await portOpen(dynamoPort), false);
    assert.equal(await portOpen(gatewayPort), false);
    assert.equal(process.env.CONNECTIONS_ENDPOINT, envBefore);
    const runs = seen.reaperEvents.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seen.reaperEvents.length, runs, 'the reaper ran after close()');
  });
});

describe('local stack failures', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-stack-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('missing handler modules: a clear error, and the media node it started is stopped', async () => {
    const pidFile = join(dir, 'pid');
    process.env.FAKE_PID_FILE = pidFile;
    try {
      await assert.rejects(
        startLocalStack({
          port: 0,
          handlersDir: join(dir, 'nowhere'),
          mediaNode: { command: FAKE_MEDIA_NODE, forwardLogs: false },
          logger: silentLogger,
        }),
        /local-stack\.missing-handlers: connect\.ts, default\.ts, disconnect\.ts, reaper\.ts not found/,
      );
    } finally {
      delete process.env.FAKE_PID_FILE;
    }
    assert.ok(existsSync(pidFile));
    assert.equal(alive(Number(readFileSync(pidFile, 'utf8'))), false);
    assert.equal(process.env.CONNECTIONS_ENDPOINT, undefined);
  });

  it('a media node that dies before its ready line: the error carries its stderr', async () => {
    await assert.rejects(
      startMediaNodeProcess({
        command: FAKE_MEDIA_NODE,
        cwd: REPO_ROOT,
        env: { ...process.env, FAKE_EXIT_EARLY: '1' },
      }),
      /media-node\.exited-early: exit code 3[\s\S]*refusing to start/,
    );
  });

  it('a media node that ignores SIGTERM is killed after the grace period', async () => {
    const node = await startMediaNodeProcess({
      command: FAKE_MEDIA_NODE,
      cwd: REPO_ROOT,
      env: { ...process.env, FAKE_IGNORE_SIGTERM: '1' },
      stopGraceMs: 300,
    });
    const started = Date.now();
    await node.stop();
    const { signal } = await node.exited;
    assert.equal(signal, 'SIGKILL');
    assert.ok(Date.now() - started >= 250);
    assert.equal(alive(node.pid), false);
  });
});
