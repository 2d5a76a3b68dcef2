// The local stack's media node, kept alive: when the child dies on its own (crash, OOM, SIGKILL) the
// supervisor logs `media-node.died` and starts a new one (`media-node.restarted`), retrying with backoff
// while it fails to come up — the fleet's "replace the unhealthy node" in miniature. The new node
// registers under its own id; signalling re-places channels off the dead one as on AWS.
// Pure of process details: `start` is injected (local/stack.ts passes startMediaNodeProcess).
import type { Logger } from '../lib/log';

export interface SupervisedNode {
  pid: number;
  grpc: string;
  ready: Record<string, unknown>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  log: Logger;
  /** false: only log a death (tests of multi-node failover that need the dead node to stay dead). */
  restart?: boolean;
  /** Delay before restart attempt n (1-based); default 250 ms doubling to 8 s. */
  backoffMs?: (attempt: number) => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface MediaNodeSupervisor<N extends SupervisedNode> {
  /** The node running now (the last one started). */
  readonly current: N;
  readonly restarts: number;
  /** Resolves with the next node started after a death. */
  nextStart(): Promise<N>;
  /** Stops supervising and stops the current node. */
  stop(): Promise<void>;
}

const defaultBackoff = (attempt: number) => Math.min(8_000, 250 * 2 ** (attempt - 1));

export async function superviseMediaNode<N extends SupervisedNode>(
  start: () => Promise<N>,
  options: SupervisorOptions,
): Promise<MediaNodeSupervisor<N>> {
  const { log } = options;
  const backoff = options.backoffMs ?? defaultBackoff;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let current = await start();
  let restarts = 0;
  let stopping = false;
  let waiters: ((node: N) => void)[] = [];

  const watch = (node: N) => {
    void node.exited.then(async ({ code, signal }) => {
      if (stopping || node !== current) return;
      const restart = options.restart ?? true;
      log.error('media-node.died', {
        pid: node.pid,
        grpc: node.grpc,
        code,
        signal,
        note: restart ? 'starting a new media node' : 'restart is off',
      });
      await node.stop().catch(() => undefined); // reaps its orphaned workers, if any are left
      if (!restart) return;
      for (let attempt = 1; !stopping; attempt++) {
        await sleep(backoff(attempt));
        if (stopping) return;
        try {
          const next = await start();
          if (stopping) return void (await next.stop());
          current = next;
          restarts++;
          log.info('media-node.restarted', { pid: next.pid, grpc: next.grpc, attempt, restarts, replaced: node.pid });
          watch(next);
          for (const resolve of waiters.splice(0)) resolve(next);
          return;
        } catch (err) {
          log.error('media-node.restart-failed', { attempt, error: (err as Error).message });
        }
      }
    });
  };
  watch(current);

  return {
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    nextStart: () => new Promise<N>((resolve) => waiters.push(resolve)),
    async stop() {
      stopping = true;
      waiters = [];
      await current.stop();
    },
  };
}
