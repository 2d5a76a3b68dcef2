// The postinstall's decision logic, with every effect faked, plus the real
// entry point against the worker this checkout installed.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  installWorker,
  prebuiltWorkerUrl,
  type InstallEffects,
  type PrebuiltProbe,
} from '../../tools/mediasoup-worker/worker-installer.mjs';

const TARGET = '/pkg/mediasoup/worker/out/Release/mediasoup-worker';
const CACHED = '/project/.mediasoup-worker/9.9.9/mediasoup-worker';
const URL_ = 'https://example.invalid/9.9.9/mediasoup-worker-9.9.9-linux-x64-kernel6.tgz';

interface Scenario {
  working?: string[]; // binaries that run (exit 41) from the start
  probe?: Partial<PrebuiltProbe>;
  mediasoupInstall?: 'works' | 'fails' | 'exits-ok-but-broken';
  offline?: 'works' | 'fails' | 'broken-binary';
}

function fakeEffects(s: Scenario) {
  const working = new Set(s.working ?? []);
  const calls: string[] = [];
  const logs: { level: string; msg: string }[] = [];
  const fx: InstallEffects = {
    log: (level, msg) => void logs.push({ level, msg }),
    workerRuns: (bin) => working.has(bin),
    probePrebuiltHost: async () => {
      calls.push('probe');
      return { reachable: false, url: URL_, detail: 'ENOTFOUND', ...s.probe };
    },
    runMediasoupInstall: () => {
      calls.push('mediasoup-install');
      if (s.mediasoupInstall === 'works') working.add(TARGET);
      return s.mediasoupInstall !== 'fails';
    },
    buildOffline: () => {
      calls.push('offline-build');
      if (s.offline === 'fails') throw new Error('build.sh exit 1');
      if (s.offline !== 'broken-binary') working.add(CACHED);
      return CACHED;
    },
    copyIntoPlace: (from, to) => {
      calls.push(`copy ${from} -> ${to}`);
      if (working.has(from)) working.add(to);
    },
  };
  return { fx, calls, logs };
}

const ctx = (env: Record<string, string | undefined> = {}) => ({ env, version: '9.9.9', workerBin: TARGET });

describe('installWorker decision', () => {
  it('does nothing when the user points MEDIASOUP_WORKER_BIN at a binary', async () => {
    const { fx, calls } = fakeEffects({});
    const result = await installWorker(ctx({ MEDIASOUP_WORKER_BIN: '/opt/w' }), fx);
    assert.deepEqual(result, { choice: 'user-binary', workerBin: '/opt/w' });
    assert.deepEqual(calls, []);
  });

  it('keeps a working binary already in place without probing the network', async () => {
    const { fx, calls } = fakeEffects({ working: [TARGET] });
    assert.equal((await installWorker(ctx(), fx)).choice, 'present');
    assert.deepEqual(calls, []);
  });

  it("runs mediasoup's own install when its prebuilt host answers", async () => {
    const { fx, calls, logs } = fakeEffects({
      probe: { reachable: true, detail: 'HTTP 302' },
      mediasoupInstall: 'works',
    });
    assert.equal((await installWorker(ctx(), fx)).choice, 'mediasoup-install');
    assert.deepEqual(calls, ['probe', 'mediasoup-install']);
    assert.ok(logs.some((l) => /prebuilt download host answers/.test(l.msg)));
  });

  it("falls back to the offline build when mediasoup's install fails", async () => {
    const { fx, calls, logs } = fakeEffects({
      probe: { reachable: true },
      mediasoupInstall: 'fails',
      offline: 'works',
    });
    assert.equal((await installWorker(ctx(), fx)).choice, 'offline-build');
    assert.deepEqual(calls, ['probe', 'mediasoup-install', 'offline-build', `copy ${CACHED} -> ${TARGET}`]);
    assert.ok(logs.some((l) => l.level === 'warn'));
  });

  it("falls back when mediasoup's install exits 0 but leaves a binary that does not run", async () => {
    const { fx, calls } = fakeEffects({
      probe: { reachable: true },
      mediasoupInstall: 'exits-ok-but-broken',
      offline: 'works',
    });
    assert.equal((await installWorker(ctx(), fx)).choice, 'offline-build');
    assert.ok(calls.includes('offline-build'));
  });

  it('builds offline, without trying mediasoup’s install, when the host is unreachable', async () => {
    const { fx, calls, logs } = fakeEffects({ offline: 'works' });
    const result = await installWorker(ctx(), fx);
    assert.deepEqual(result, { choice: 'offline-build', workerBin: TARGET });
    assert.deepEqual(calls, ['probe', 'offline-build', `copy ${CACHED} -> ${TARGET}`]);
    assert.ok(logs.some((l) => /unreachable/.test(l.msg)));
  });

  it('fails when the offline build fails', async () => {
    const { fx } = fakeEffects({ offline: 'fails' });
    await assert.rejects(installWorker(ctx(), fx), /build\.sh exit 1/);
  });

  it('fails when the copied offline binary does not run', async () => {
    const { fx } = fakeEffects({ offline: 'broken-binary' });
    await assert.rejects(installWorker(ctx(), fx), /does not run/);
  });
});

const projectDir = path.resolve(import.meta.dirname, '../..');
const mediasoupDir = path.join(projectDir, 'node_modules/mediasoup');

describe('prebuiltWorkerUrl', () => {
  it("names the tarball exactly as the installed mediasoup's npm-scripts.mjs does", async () => {
    const out = execFileSync(process.execPath, ['npm-scripts.mjs', 'worker:prebuild-name'], {
      cwd: mediasoupDir,
      encoding: 'utf8',
    });
    const theirs = /workerPrebuildTarName:([^\]]+)\]/.exec(out)?.[1];
    assert.ok(theirs, `no tarball name in: ${out}`);
    const { default: os } = await import('node:os');
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)(path.join(mediasoupDir, 'package.json')) as {
      version: string;
      repository: { url: string };
    };
    const ours = prebuiltWorkerUrl({
      version: pkg.version,
      repositoryUrl: pkg.repository.url,
      platform: os.platform(),
      arch: os.arch(),
      kernelRelease: os.release(),
      env: {},
    });
    assert.equal(ours, `https://github.com/versatica/mediasoup/releases/download/${pkg.version}/${theirs}`);
  });

  it('honours MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL like mediasoup does', () => {
    const url = prebuiltWorkerUrl({
      version: '3.27.1',
      repositoryUrl: 'git+https://github.com/versatica/mediasoup.git',
      platform: 'darwin',
      arch: 'arm64',
      kernelRelease: '23.1.0',
      env: { MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL: 'https://mirror.test/ms' },
    });
    assert.equal(url, 'https://mirror.test/ms/3.27.1/mediasoup-worker-3.27.1-darwin-arm64.tgz');
  });
});

describe('install.mjs (the real postinstall)', () => {
  it('finds the worker this checkout installed and leaves it alone', () => {
    const run = spawnSync(process.execPath, ['tools/mediasoup-worker/install.mjs'], {
      cwd: projectDir,
      encoding: 'utf8',
      env: { ...process.env, MEDIASOUP_WORKER_BIN: '' },
      timeout: 30_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const events = run.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    assert.deepEqual(
      events.map((e) => e.msg),
      ['a working mediasoup-worker is already in place'],
    );
  });
});
