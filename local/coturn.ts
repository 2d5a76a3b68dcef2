// The embedded TURN relay: Debian's coturn (`turnserver`), run as a child process with short-lived
// credentials only (TURN REST API: `use-auth-secret` + `static-auth-secret`; functions/voice/relay-credentials.ts
// issues them) and never an open relay: every peer address is denied except the media nodes' (allowed-peer-ip
// takes precedence over denied-peer-ip), no TCP relay, no multicast, per-user and total allocation quotas.
// TLS (`turns:`) on `tlsPort` with a self-signed certificate made here for local use (a browser's TURN/TLS does
// not check the certificate's name against a URL it trusts like HTTPS does; on a real host use the operator's).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TURNSERVER_PATH = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

export interface CoturnOptions {
  /** The address it listens and relays on. */
  listenIp: string;
  /** The only peers it relays to: the media nodes' addresses. */
  mediaNodeIps: string[];
  /** Shared with the signalling side's credential issuing (random when unset). */
  secret?: string;
  /** TURN over TLS (default 443; below 1024 needs root). */
  tlsPort?: number;
  /** Plain TURN over UDP and TCP (default 3478). */
  port?: number;
  realm?: string;
  /** Concurrent allocations per user (default 4: a session's two transports, twice over for an ICE restart). */
  userQuota?: number;
  totalQuota?: number;
  /** Relayed UDP ports (default 49160-49959). */
  relayPorts?: { min: number; max: number };
  onLine?: (line: string) => void;
}

export interface Coturn {
  secret: string;
  listenIp: string;
  port: number;
  tlsPort: number;
  /** RTCIceServer urls: TURN/UDP, TURN/TCP, TURN/TLS. */
  urls: string[];
  pid: number;
  /** The config file's lines (tests check the never-open-relay settings). */
  config: string[];
  close(): Promise<void>;
}

export function coturnAvailable(): boolean {
  return existsSync(TURNSERVER_PATH);
}

export function coturnConfig(
  o: Required<Pick<CoturnOptions, 'listenIp' | 'mediaNodeIps'>> & {
    secret: string;
    port: number;
    tlsPort: number;
    realm: string;
    userQuota: number;
    totalQuota: number;
    relayPorts: { min: number; max: number };
    cert: string;
    pkey: string;
    pidFile: string;
  },
): string[] {
  const loopback = o.listenIp.startsWith('127.') || o.mediaNodeIps.some((ip) => ip.startsWith('127.'));
  return [
    `listening-ip=${o.listenIp}`,
    `relay-ip=${o.listenIp}`,
    `listening-port=${o.port}`,
    `tls-listening-port=${o.tlsPort}`,
    `cert=${o.cert}`,
    `pkey=${o.pkey}`,
    'no-dtls',
    'no-tlsv1',
    'no-tlsv1_1',
    'use-auth-secret',
    `static-auth-secret=${o.secret}`,
    `realm=${o.realm}`,
    'fingerprint',
    // Never an open relay: nothing but the media nodes.
    'denied-peer-ip=0.0.0.0-255.255.255.255',
    'denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ...o.mediaNodeIps.map((ip) => `allowed-peer-ip=${ip}`),
    ...(loopback ? ['allow-loopback-peers'] : []),
    'no-multicast-peers',
    'no-tcp-relay',
    `user-quota=${o.userQuota}`,
    `total-quota=${o.totalQuota}`,
    `min-port=${o.relayPorts.min}`,
    `max-port=${o.relayPorts.max}`,
    'stale-nonce=600',
    'max-allocate-lifetime=3600',
    'no-cli',
    'no-software-attribute',
    `pidfile=${o.pidFile}`,
    'simple-log',
    'log-file=stdout',
  ];
}

export async function startCoturn(options: CoturnOptions): Promise<Coturn> {
  if (!coturnAvailable())
    throw new Error(
      `coturn.missing: no ${TURNSERVER_PATH}; install it with \`apt-get install -y --no-install-recommends coturn\``,
    );
  const dir = mkdtempSync(join(tmpdir(), 'harmony-coturn-'));
  const secret = options.secret ?? randomBytes(32).toString('base64url');
  const port = options.port ?? 3478;
  const tlsPort = options.tlsPort ?? 443;
  const cert = join(dir, 'cert.pem');
  const pkey = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=harmony-voice-local-relay',
      '-keyout',
      pkey,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const config = coturnConfig({
    listenIp: options.listenIp,
    mediaNodeIps: options.mediaNodeIps,
    secret,
    port,
    tlsPort,
    realm: options.realm ?? 'harmony-voice.local',
    userQuota: options.userQuota ?? 4,
    totalQuota: options.totalQuota ?? 1000,
    relayPorts: options.relayPorts ?? { min: 49160, max: 49959 },
    cert,
    pkey,
    pidFile: join(dir, 'turnserver.pid'),
  });
  const file = join(dir, 'turnserver.conf');
  writeFileSync(file, config.join('\n') + '\n', { mode: 0o600 });
  const child: ChildProcess = spawn(TURNSERVER_PATH, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      options.onLine?.(line);
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForTcp(options.listenIp, tlsPort, 10_000, () => child.exitCode !== null);
  } catch (err) {
    await close();
    throw new Error(`coturn.not-ready: ${(err as Error).message}\n${lines.slice(-20).join('\n')}`);
  }
  const host = options.listenIp.includes(':') ? `[${options.listenIp}]` : options.listenIp;
  return {
    secret,
    listenIp: options.listenIp,
    port,
    tlsPort,
    pid: child.pid!,
    config,
    urls: [
      `turn:${host}:${port}?transport=udp`,
      `turn:${host}:${port}?transport=tcp`,
      `turns:${host}:${tlsPort}?transport=tcp`,
    ],
    close,
  };
}

async function waitForTcp(host: string, port: number, timeoutMs: number, gone: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone()) throw new Error('turnserver exited');
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host, () => {
        s.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
