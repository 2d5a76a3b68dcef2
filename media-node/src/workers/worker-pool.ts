// One mediasoup Worker per core, each with a WebRtcServer on its own UDP+TCP port (base + index),
// so a host opens a handful of ports instead of a range. A worker that dies is reported and replaced.
import { EventEmitter } from 'node:events';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import type { Logger } from '../../../lib/log';

export interface WorkerPoolOptions {
  count: number;
  listenIp: string;
  /** Public address put in ICE candidates; undefined = the listen IP. */
  announcedAddress?: string;
  /** Worker i listens on port base+i (UDP and TCP); 0 = ephemeral ports (tests). */
  rtcPortBase: number;
  /**
   * Worker i's WebRtcServer also listens for ICE over TCP on this port + i (undefined = not): a port networks
   * that allow only TCP 443 let through (MEDIA_ICE_TCP_PORT=443: worker 0 on 443). See docs/reachability.md.
   */
  iceTcpPort?: number;
  /**
   * Worker i's WebRtcServer also listens on UDP `ip`:`portBase`+i, announced as is (a private address): the candidate
   * the TURN relays in the same network reach the node on, so a relay can be restricted to private media-node
   * addresses (never an open relay) while clients get the public one (MEDIA_RELAY_PEER_IP / _PORT_BASE; docs/reachability.md).
   */
  relayPeer?: { ip: string; portBase: number };
  logLevel?: types.WorkerLogLevel;
  logger: Logger;
}

export interface WorkerSlot {
  readonly index: number;
  worker: types.Worker;
  webRtcServer: types.WebRtcServer;
  /** Bumped on every replacement so stale references can tell. */
  generation: number;
  /** False while a died worker is being replaced. */
  ready: boolean;
}

/** A worker's CPU is measured over at least this long (samples closer together repeat the last figure). */
const MIN_CPU_WINDOW_MS = 1000;

export interface WorkerCpu {
  index: number;
  pid: number;
  /** CPU used by the worker process over the last window (at least MIN_CPU_WINDOW_MS), in percent of one core. */
  cpuPercent: number;
}

interface WorkerPoolEvents {
  died: [slot: WorkerSlot, error: Error];
  replaced: [slot: WorkerSlot];
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly slots: WorkerSlot[] = [];
  private closed = false;
  private readonly cpuSamples = new Map<number, { pid: number; cpuMs: number; atMs: number; percent: number }>();

  private constructor(private readonly options: WorkerPoolOptions) {
    super();
  }

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      for (let index = 0; index < options.count; index++) {
        const { worker, webRtcServer } = await pool.spawn(index);
        const slot: WorkerSlot = { index, worker, webRtcServer, generation: 0, ready: true };
        pool.slots.push(slot);
        pool.watch(slot);
      }
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /** The ready slot with the lowest score (ties: lowest index). */
  leastLoaded(score: (slot: WorkerSlot) => number): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    let bestScore = Infinity;
    for (const slot of this.slots) {
      if (!slot.ready || slot.worker.closed) continue;
      const value = score(slot);
      if (value < bestScore) {
        best = slot;
        bestScore = value;
      }
    }
    return best;
  }

  /** The UDP/TCP ports each WebRtcServer actually bound (from its dump). */
  async listeningPorts(): Promise<{ index: number; udp: number[]; tcp: number[] }[]> {
    return Promise.all(
      this.slots.map(async (slot) => {
        const dump = await slot.webRtcServer.dump();
        return { index: slot.index, udp: dump.udpSockets.map((s) => s.port), tcp: dump.tcpServers.map((s) => s.port) };
      }),
    );
  }

  async cpu(): Promise<WorkerCpu[]> {
    const now = Date.now();
    const results: WorkerCpu[] = [];
    for (const slot of this.slots) {
      if (!slot.ready || slot.worker.closed) continue;
      const pid = slot.worker.pid;
      const previous = this.cpuSamples.get(slot.index);
      const same = previous !== undefined && previous.pid === pid;
      if (same && now - previous.atMs < MIN_CPU_WINDOW_MS) {
        // CPU over a few milliseconds is noise (one busy request reads as a full core): the last window stands,
        // and the worker is not asked.
        results.push({ index: slot.index, pid, cpuPercent: previous.percent });
        continue;
      }
      try {
        const usage = await slot.worker.getResourceUsage();
        const cpuMs = usage.ru_utime + usage.ru_stime;
        const raw = same ? (100 * (cpuMs - previous.cpuMs)) / (now - previous.atMs) : 0;
        const cpuPercent = Math.max(0, Math.round(raw * 10) / 10);
        this.cpuSamples.set(slot.index, { pid, cpuMs, atMs: now, percent: cpuPercent });
        results.push({ index: slot.index, pid, cpuPercent });
      } catch {
        // A worker dying mid-sample is reported through 'died'.
      }
    }
    return results;
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots) slot.worker.close();
  }

  private async spawn(index: number): Promise<{ worker: types.Worker; webRtcServer: types.WebRtcServer }> {
    const { listenIp, announcedAddress, rtcPortBase, iceTcpPort, relayPeer } = this.options;
    const worker = await withWorkerEnvironment(() =>
      mediasoup.createWorker({ logLevel: this.options.logLevel ?? 'warn' }),
    );
    try {
      const port = rtcPortBase === 0 ? 0 : rtcPortBase + index;
      const listen = { ip: listenIp, port, ...(announcedAddress ? { announcedAddress } : {}) };
      const webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ...listen },
          // The extra ICE-TCP port first: candidates are prioritised in this order, so it is the preferred TCP
          // candidate and a browser on a network that allows only TCP 443 tries it before a blocked base port.
          ...(iceTcpPort === undefined ? [] : [{ protocol: 'tcp' as const, ...listen, port: iceTcpPort + index }]),
          { protocol: 'tcp', ...listen },
          // After the public UDP one (mediasoup ranks by order within a protocol): clients try the public address first.
          ...(relayPeer
            ? [
                {
                  protocol: 'udp' as const,
                  ip: relayPeer.ip,
                  port: relayPeer.portBase === 0 ? 0 : relayPeer.portBase + index,
                },
              ]
            : []),
        ],
      });
      return { worker, webRtcServer };
    } catch (error) {
      worker.close();
      throw error;
    }
  }

  private watch(slot: WorkerSlot): void {
    const { worker } = slot;
    worker.on('died', (error) => {
      if (this.closed || slot.worker !== worker) return;
      slot.ready = false;
      this.options.logger.error('media-node.worker-died', { worker: slot.index, pid: worker.pid, error });
      this.emit('died', slot, error);
      void this.replace(slot);
    });
  }

  private async replace(slot: WorkerSlot): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const { worker, webRtcServer } = await this.spawn(slot.index);
        if (this.closed) {
          worker.close();
          return;
        }
        slot.worker = worker;
        slot.webRtcServer = webRtcServer;
        slot.generation++;
        slot.ready = true;
        this.cpuSamples.delete(slot.index);
        this.watch(slot);
        this.options.logger.info('media-node.worker-replaced', { worker: slot.index, pid: worker.pid, attempt });
        this.emit('replaced', slot);
        return;
      } catch (error) {
        this.options.logger.error('media-node.worker-replace-failed', { worker: slot.index, attempt, error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 200 * attempt)));
      }
    }
  }
}

/**
 * What a mediasoup worker may see of the node's environment: the dynamic linker's and locale settings, and
 * mediasoup's own variables. Everything else (secrets, AWS credentials, table names) stays with the node.
 */
export const WORKER_ENV_ALLOWED = /^(PATH|LD_LIBRARY_PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|MEDIASOUP_[A-Z_]+)$/;

/**
 * Runs `create` (mediasoup.createWorker) with process.env cut to WORKER_ENV_ALLOWED. mediasoup spawns the worker
 * with `{ ...process.env }` and takes no env option; it spawns synchronously inside createWorker (before its
 * first await), so the cut environment is in place exactly while the child is spawned and restored before
 * anything else runs.
 */
export function withWorkerEnvironment<T>(create: () => T): T {
  const full = process.env;
  process.env = Object.fromEntries(Object.entries(full).filter(([name]) => WORKER_ENV_ALLOWED.test(name)));
  try {
    return create();
  } finally {
    process.env = full;
  }
}
