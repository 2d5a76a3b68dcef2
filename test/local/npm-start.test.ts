// `npm start` (local/start.ts) end to end: builds the web bundle, starts the real stack (real handlers,
// real media node), prints where everything listens, serves the demo, and on SIGTERM exits 0 leaving
// no process behind.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../local/stack';
import { alive, closed, openWs, type Rejection } from './helpers';

const READY = /harmony-voice is running on loopback/;
const parts = [
  'media-node/main.ts',
  'functions/handlers/connect.ts',
  'functions/handlers/default.ts',
  'functions/handlers/disconnect.ts',
  'functions/handlers/reaper.ts',
];
const missing = parts.filter((p) => !existsSync(join(REPO_ROOT, p)));

/** The process and all its descendants, from ps. */
function descendants(root: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const found = [root];
  for (let i = 0; i < found.length; i++)
    for (const [pid, ppid] of rows) if (ppid === found[i] && !found.includes(pid!)) found.push(pid!);
  return found;
}

function command(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

async function until(check: () => boolean, what: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start', { skip: missing.length ? `not written yet: ${missing.join(', ')}` : false }, () => {
  it('starts everything, prints the addresses, and SIGTERM stops it all with exit 0', {
    timeout: 120_000,
  }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', LOCAL_METRICS_SUMMARY_MS: '500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner within 90 s:\n${output}`)), 90_000);
        const check = () =>
          READY.test(output) && /Ctrl-C stops everything/.test(output) && (clearTimeout(timer), resolve());
        child.stdout.on('data', check);
        void exited.then((code) => reject(new Error(`npm start exited with ${code} before its banner:\n${output}`)));
      });
      const url = /demo page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1];
      assert.ok(url, output);
      assert.match(
        output,
        /WebSocket \(hRPC\)\s+ws:\/\/127\.0\.0\.1:\d+\/protocol\.voice\.v1\.VoiceService\/StreamMessage/,
      );
      assert.match(output, /@connections API\s+http:\/\/127\.0\.0\.1:\d+\/local\/@connections\/\{connectionId\}/);
      assert.match(output, /dynalite\s+http:\/\/127\.0\.0\.1:\d+/);
      assert.match(output, /media node gRPC\s+\S+:\d+/);
      assert.match(output, /npm run -s token -- --user 42 --guild 1 --channel 7/);

      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const bundle = await fetch(`${url}/dist/demo.js`);
      assert.equal(bundle.status, 200);
      assert.match(bundle.headers.get('content-type') ?? '', /^text\/javascript/);

      const { token } = (await (await fetch(`${url}/dev/token?user=42&guild=1&channel=7`)).json()) as { token: string };
      const ws = await openWs(`${url.replace('http', 'ws')}/protocol.voice.v1.VoiceService/StreamMessage`, [
        'hrpc1.base64',
        token,
      ]);
      assert.equal(ws.protocol, 'hrpc1.base64');
      ws.close();
      await closed(ws);
      const refused = await openWs(`${url.replace('http', 'ws')}/protocol.voice.v1.VoiceService/StreamMessage`, [
        'hrpc1.base64',
      ]).then(
        () => assert.fail('expected 401'),
        (r: Rejection) => r,
      );
      assert.equal(refused.status, 401);

      // A quiet terminal: the handlers' metrics as one summary line, never their raw EMF lines.
      await until(
        () => /^metrics: .*Connects 1\b/m.test(output),
        'a metrics summary line',
        () => output,
      );
      assert.doesNotMatch(output, /"_aws"/, 'no raw EMF line without --emf');
      assert.match(output, /raw EMF lines: npm start -- --emf/);

      const tree = descendants(child.pid!);
      const commands = new Map(tree.map((pid) => [pid, command(pid)]));
      assert.ok(tree.length >= 3, `expected start, media node and a mediasoup worker, got ${tree.join(',')}`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      const left = tree.filter(alive);
      assert.deepEqual(
        left,
        [],
        `processes left behind: ${left.map((pid) => `${pid} ${commands.get(pid)}`).join('; ')}`,
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it("prints the handlers' raw EMF lines with --emf", { timeout: 120_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', '--emf'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until(
        () => READY.test(output),
        'banner',
        () => output,
        90_000,
      );
      assert.match(output, /raw EMF lines on/);
      const url = /demo page\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(output)?.[1];
      const { token } = (await (await fetch(`${url}/dev/token?user=42&guild=1&channel=7`)).json()) as { token: string };
      const ws = await openWs(`${url!.replace('http', 'ws')}/protocol.voice.v1.VoiceService/StreamMessage`, [
        'hrpc1.base64',
        token,
      ]);
      ws.close();
      await closed(ws);
      await until(
        () => /^\{"_aws":.*"Connects":1/m.test(output),
        'an EMF line of the $connect',
        () => output,
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
