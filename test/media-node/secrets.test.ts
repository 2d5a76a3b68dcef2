// Media-node trust: the signalling→node API and the node↔node span API take separate
// secrets, each rotatable (current + previous + pending accepted), and no secret reaches a mediasoup worker's
// environment (checked in /proc/<worker pid>/environ of a real worker of a real media-node process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { type GetSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import { connectMediaNode } from '../../media-node/api/client';
import { connectMediaNodeSpan } from '../../media-node/api/span-client';
import { configFromEnv } from '../../media-node/src/node/config';
import { secretsManagerRing } from '../../media-node/src/node/secrets';
import { startTestNode } from './helpers';

const API = 'api-current-0123456789abcdef';
const API_OLD = 'api-previous-0123456789abcdef';
const SPAN = 'span-current-0123456789abcdef';
const SPAN_OLD = 'span-previous-0123456789abcdef';

async function code(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return status.OK;
  } catch (err) {
    return (err as ServiceError).code;
  }
}

describe('two APIs, two secrets, each with a previous one', () => {
  let node: Awaited<ReturnType<typeof startTestNode>>;
  before(async () => {
    node = await startTestNode({
      secret: API,
      secretPrevious: API_OLD,
      spanSecret: SPAN,
      spanSecretPrevious: SPAN_OLD,
    });
  });
  after(() => node.stop());

  test('the signalling API takes its current and previous secret, never the span secret', async () => {
    for (const [secret, expected] of [
      [API, status.OK],
      [API_OLD, status.OK],
      [SPAN, status.UNAUTHENTICATED],
      [SPAN_OLD, status.UNAUTHENTICATED],
    ] as const) {
      const api = connectMediaNode(node.node.grpcAddress, { secret });
      try {
        assert.equal(await code(api.openRoom({ roomId: '9:1' })), expected, `OpenRoom with ${secret}`);
      } finally {
        api.close();
      }
    }
  });

  test('the span API takes its current and previous secret, never the signalling one', async () => {
    for (const [secret, refused] of [
      [SPAN, false],
      [SPAN_OLD, false],
      [API, true],
      [API_OLD, true],
    ] as const) {
      const span = connectMediaNodeSpan(node.node.grpcAddress, { secret });
      try {
        // ClosePart of an unknown part: authenticated callers get past the secret check (OK or NOT_FOUND).
        const result = await code(span.closePart({ roomId: '9:2' }));
        assert.equal(result === status.UNAUTHENTICATED, refused, `ClosePart with ${secret}: ${result}`);
      } finally {
        span.close();
      }
    }
  });
});

test('configFromEnv takes both secrets and their previous ones, and deletes them from the environment', () => {
  const env: NodeJS.ProcessEnv = {
    MEDIA_NODE_SECRET: API,
    MEDIA_NODE_SECRET_PREVIOUS: API_OLD,
    MEDIA_SPAN_SECRET: SPAN,
    MEDIA_SPAN_SECRET_PREVIOUS: SPAN_OLD,
    MEDIA_NODE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:api',
    MEDIA_SPAN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:span',
  };
  const config = configFromEnv(env);
  assert.deepEqual(
    [
      config.secret,
      config.secretPrevious,
      config.spanSecret,
      config.spanSecretPrevious,
      config.secretArn,
      config.spanSecretArn,
    ],
    [API, API_OLD, SPAN, SPAN_OLD, env.MEDIA_NODE_SECRET_ARN, env.MEDIA_SPAN_SECRET_ARN],
  );
  assert.deepEqual(
    Object.keys(env).sort(),
    ['MEDIA_NODE_SECRET_ARN', 'MEDIA_SPAN_SECRET_ARN'],
    'only the (non-secret) ARNs are left',
  );
});

test('a Secrets Manager ring accepts AWSCURRENT, AWSPREVIOUS and AWSPENDING, sends AWSCURRENT, and follows a rotation', async () => {
  let versions: Record<string, string> = { AWSCURRENT: 'one' };
  const client = {
    send: async (command: GetSecretValueCommand) => {
      const stage = command.input.VersionStage!;
      if (!versions[stage]) throw new ResourceNotFoundException({ message: `no ${stage}`, $metadata: {} });
      return { SecretString: versions[stage] };
    },
  };
  const ring = await secretsManagerRing('arn:secret', { client: client as never, name: 'span', refreshMs: 3_600_000 });
  try {
    assert.deepEqual([ring.current(), ring.accepted()], ['one', ['one']]);
    versions = { AWSCURRENT: 'one', AWSPENDING: 'two' }; // rotation step 1: every node accepts the new secret first
    await ring.refresh();
    assert.deepEqual([ring.current(), ring.accepted()], ['one', ['one', 'two']]);
    versions = { AWSCURRENT: 'two', AWSPREVIOUS: 'one' }; // step 2: promoted; callers switch, the old one still works
    await ring.refresh();
    assert.deepEqual([ring.current(), ring.accepted()], ['two', ['two', 'one']]);
  } finally {
    ring.stop();
  }
});

test("no secret in a real mediasoup worker's environment (/proc/<worker pid>/environ)", async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'media-node/main.ts'], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: {
      ...process.env,
      MEDIA_NODE_ID: 'environ-test-node',
      MEDIA_GRPC_PORT: '0',
      MEDIA_METRICS_PORT: '0',
      MEDIA_RTC_PORT_BASE: '0',
      MEDIA_WORKERS: '2',
      MEDIA_NODE_SECRET: API,
      MEDIA_NODE_SECRET_PREVIOUS: API_OLD,
      MEDIA_SPAN_SECRET: SPAN,
      MEDIA_SPAN_SECRET_PREVIOUS: SPAN_OLD,
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-access-key-example',
      AWS_SESSION_TOKEN: 'aws-session-token-example',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 30_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('"media-node.ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`exited before ready; stderr: ${stderr}`)));
    });
    const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const workers = children.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mediasoup-worker'));
    assert.equal(workers.length, 2, `two worker processes among the node's children ${children.join(', ')}`);
    // The node itself no longer holds them in its environment block's live copy either (read from /proc: the
    // initial block is fixed at exec, so only the workers are checked there).
    for (const pid of workers) {
      const vars = environ(pid);
      assert.ok(
        vars.some((v) => v.startsWith('MEDIASOUP_VERSION=')),
        'this is a worker environment',
      );
      for (const secret of [
        API,
        API_OLD,
        SPAN,
        SPAN_OLD,
        'aws-secret-access-key-example',
        'aws-session-token-example',
      ]) {
        assert.ok(!vars.some((v) => v.includes(secret)), `worker ${pid} does not see ${secret.slice(0, 12)}…`);
      }
      assert.deepEqual(
        vars.filter((v) => /SECRET|TOKEN|AWS_/.test(v)),
        [],
        `worker ${pid}: no secret-looking variables`,
      );
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
});

test('the signalling handlers re-read the API secret from Secrets Manager once their copy is older than the bound', async () => {
  const { mediaSecret, SECRET_MAX_AGE_MS } = await import('../../functions/handlers/grpc-runtime');
  let stored = 'first';
  let reads = 0;
  let clock = 0;
  const client = {
    send: async () => {
      reads++;
      return { SecretString: stored };
    },
  };
  const secret = await mediaSecret({ MEDIA_NODE_SECRET_ARN: 'arn:api' }, { client: client as never, now: () => clock });
  assert.equal(typeof secret, 'function');
  const current = secret as () => string;
  assert.equal(current(), 'first');
  stored = 'second'; // rotated (promoted to AWSCURRENT)
  clock = SECRET_MAX_AGE_MS - 1;
  assert.equal(current(), 'first');
  assert.equal(reads, 1, 'no read within the bound');
  clock = SECRET_MAX_AGE_MS + 1;
  current(); // starts the read in the background
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(current(), 'second');
  assert.equal(reads, 2);
});
