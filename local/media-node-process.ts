// Runs a media node as a child process and waits for its readiness line on stdout:
// {"msg":"media-node.ready", ..., "grpc":"host:port"}. Stopping sends SIGTERM, then SIGKILL after a grace
// period, and always waits for the exit so that no process is left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { awaitExitOrKill, descendantProcesses, type ProcessRef } from './process-tree';

export interface MediaNodeProcessOptions {
  /** argv: defaults to `node --import tsx media-node/main.ts`. */
  command: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  /** Receives every stdout/stderr line of the child (e.g. to forward its JSON logs). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface MediaNodeProcess {
  pid: number;
  /** host:port of the gRPC API, from the ready line. */
  grpc: string;
  /** The parsed ready line (may carry metrics and other addresses). */
  ready: Record<string, unknown>;
  /** Resolves when the process has exited (after stop() or on its own). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export const READY_MSG = 'media-node.ready';

export async function startMediaNodeProcess(options: MediaNodeProcessOptions): Promise<MediaNodeProcess> {
  const [file, ...args] = options.command;
  if (!file) throw new Error('media-node.command-empty: no command to start the media node');
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A spawn failure (no pid) may never emit 'exit'.
    child.once('error', () => {
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
  // If this process dies without stop(), the child must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));

  const recentStderr: string[] = [];
  // Its own children (mediasoup workers) as seen once it is ready, in case it exits before stop() asks.
  let knownDescendants: ProcessRef[] = [];
  const stop = () => stopChild(child, exited, knownDescendants, options.stopGraceMs ?? 5_000);

  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`media-node.not-ready: no "${READY_MSG}" line within ${options.readyTimeoutMs ?? 30_000} ms`)),
      options.readyTimeoutMs ?? 30_000,
    );
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`media-node.spawn-failed: ${err.message}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `media-node.exited-early: exit code ${code} signal ${signal}; last stderr:\n${recentStderr.join('\n')}`,
        ),
      );
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      options.onLine?.(line, 'stdout');
      const parsed = parseJsonLine(line);
      if (parsed?.msg === READY_MSG && typeof parsed.grpc === 'string') {
        clearTimeout(timer);
        resolve(parsed);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      options.onLine?.(line, 'stderr');
      recentStderr.push(line);
      if (recentStderr.length > 40) recentStderr.shift();
    });
  }).catch(async (err: Error) => {
    await stop();
    throw err;
  });

  knownDescendants = descendantProcesses(child.pid!);
  return { pid: child.pid!, grpc: ready.grpc as string, ready, exited, stop };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  knownDescendants: ProcessRef[],
  graceMs: number,
): Promise<void> {
  // The node's own children (mediasoup workers) may outlive it by a moment; they are waited for too.
  const running = child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  const current = running ? descendantProcesses(child.pid!) : [];
  const descendants = [...knownDescendants, ...current.filter((c) => !knownDescendants.some((k) => k.pid === c.pid))];
  if (running) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  await awaitExitOrKill(descendants, graceMs);
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
