// npm postinstall of this project: makes `require('mediasoup').createWorker()`
// work with no environment variable, by putting a working binary at
// node_modules/mediasoup/worker/out/Release/mediasoup-worker (where mediasoup
// looks by default). mediasoup's own install script is denied in package.json
// (allowScripts) on purpose: this script decides (see worker-installer.mjs).
// Plain JavaScript with no dependencies: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installWorker, prebuiltWorkerUrl } from './worker-installer.mjs';

const PROBE_TIMEOUT_MS = 3000;
const here = path.dirname(fileURLToPath(import.meta.url));
const projectDir = path.resolve(here, '../..');

function log(level, msg, fields = {}) {
  process.stderr.write(`${JSON.stringify({ level, msg, component: 'mediasoup-worker-install', ...fields })}\n`);
}

// Resolved the way mediasoup's getDefaultWorkerBin() does.
const mediasoupDir = path.resolve(
  path.dirname(createRequire(path.join(projectDir, 'package.json')).resolve('mediasoup')),
  '../..',
);
const mediasoupPkg = JSON.parse(fs.readFileSync(path.join(mediasoupDir, 'package.json'), 'utf8'));
const version = mediasoupPkg.version;
const workerBin = path.join(mediasoupDir, 'worker', 'out', 'Release', 'mediasoup-worker');
const cacheRoot = process.env.MEDIASOUP_WORKER_CACHE_DIR || path.join(projectDir, '.mediasoup-worker');

const effects = {
  log,

  workerRuns(bin) {
    const run = spawnSync(bin, [], { env: {}, stdio: 'ignore', timeout: 10_000 });
    return run.status === 41;
  },

  async probePrebuiltHost() {
    const url = prebuiltWorkerUrl({
      version,
      repositoryUrl: mediasoupPkg.repository.url,
      platform: os.platform(),
      arch: os.arch(),
      kernelRelease: os.release(),
      env: process.env,
    });
    try {
      // Any HTTP answer (GitHub redirects release assets) means the host is reachable.
      const res = await fetch(url, {
        method: 'HEAD',
        redirect: 'manual',
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
      return { reachable: true, url, detail: `HTTP ${res.status}` };
    } catch (error) {
      return { reachable: false, url, detail: String(error?.cause?.code ?? error?.name ?? error) };
    }
  },

  runMediasoupInstall() {
    const run = spawnSync(process.execPath, ['npm-scripts.mjs', 'postinstall'], {
      cwd: mediasoupDir,
      stdio: 'inherit',
    });
    return run.status === 0;
  },

  buildOffline() {
    const run = spawnSync('bash', [path.join(here, 'build.sh')], { stdio: 'inherit' });
    if (run.status !== 0) {
      throw new Error(`mediasoup-worker ${version}: offline build failed (build.sh exit ${run.status ?? run.signal})`);
    }
    return path.join(cacheRoot, version, 'mediasoup-worker');
  },

  copyIntoPlace(from, to) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, `${to}.tmp`);
    fs.chmodSync(`${to}.tmp`, 0o755);
    fs.renameSync(`${to}.tmp`, to);
  },
};

try {
  await installWorker({ env: process.env, version, workerBin }, effects);
} catch (error) {
  log('error', 'no working mediasoup-worker could be installed', {
    version,
    error: error instanceof Error ? error.message : String(error),
  });
  process.exit(1);
}
