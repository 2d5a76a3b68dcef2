// The network lab: a client namespace behind a router namespace, joined to the root namespace (where the
// stack runs) by veth pairs, with the profile's NAT, filtering and loss in the router's iptables.
//
//   client ns  (cli0 10.213.K.2/24) ── veth ── (rin0 10.213.K.1/24)  router ns  (rout0 198.18.K.2/24) ── veth ── (root: rlhXXXX 198.18.K.1/24)
//
// The stack (gateway, media node, coturn) listens on the root side's address (`lab.hostIp`); the client reaches it
// through the router, which forwards (ip_forward is per namespace) and applies the profile. Every rule lives inside
// the lab's own namespaces, so removing the two namespaces removes all of it: both veth pairs (deleting one end of
// a veth deletes its peer, and the root end's route goes with its device). Nothing is added to the root
// namespace's iptables. Only the lab's own addresses and loopback are used: the client side in 10.213.K.0/24 (private,
// as behind a home router), the host side in 198.18.K.0/24 (RFC 2544's benchmarking range, never routed on the
// internet). The host side must not be a private address: with it on 10.x, Chromium never sent a SYN to the media
// node's ICE-TCP candidate on 443 while it did use one on a high port (WebRTC's guard against port scans of private
// networks through ICE-TCP), so the "only TCP 443" rung could not be shown there.
//
// Cleanup: `close()` (call it in finally/after), a process 'exit' hook that removes whatever is still open,
// and `sweepStaleLabs()` that removes namespaces left by a lab process that no longer runs (names carry the pid).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Profile =
  /** (a) routed, nothing translated or blocked. */
  | 'open'
  /** (b) behind a NAT (MASQUERADE: endpoint-independent mapping, ports kept where possible). */
  | 'nat'
  /** (c) symmetric NAT: MASQUERADE --random-fully, a fresh random source port per destination. */
  | 'symmetric-nat'
  /** (d) NAT and no UDP at all, either way. */
  | 'udp-blocked'
  /** (e) NAT and only TCP to port 443 and the signalling port. */
  | 'tcp443-only'
  /** (f) NAT and 10 % random loss each way. */
  | 'loss10'
  /** (g) (e) and (f) together. */
  | 'tcp443-loss10'
  /** Only the signalling port: media can never connect (no rung works). */
  | 'signalling-only'
  /**
   * A firewall that lets STUN through but no media: UDP only when its first byte is 0–3 (STUN; DTLS is 20–63, RTP/RTCP
   * 128–191), TCP only to the signalling port and to port 443 of `relayIp`. ICE connects directly, DTLS never does;
   * only the relay (TURN over TLS, which carries DTLS inside TLS) gets media through: the ladder's last rung.
   */
  | 'stun-only';

export const PROFILES: readonly Profile[] = [
  'open',
  'nat',
  'symmetric-nat',
  'udp-blocked',
  'tcp443-only',
  'loss10',
  'tcp443-loss10',
];

export interface LabOptions {
  profile: Profile;
  /** TCP port of the signalling (gateway) — allowed by the restrictive profiles. */
  signallingPort?: number;
  /** Loss each way in percent for the loss profiles (default 10). */
  lossPercent?: number;
  /** The relay's address: the only TCP 443 destination of the `stun-only` profile. */
  relayIp?: string;
}

export interface Lab {
  readonly profile: Profile;
  /** Namespace the client (Chromium, a test client) runs in. */
  readonly clientNs: string;
  readonly routerNs: string;
  /** The root namespace's lab address: bind the stack here. */
  readonly hostIp: string;
  /** The client's own address (before NAT). */
  readonly clientIp: string;
  /** The router's outer address: what the host sees for a NATed client. */
  readonly routerOuterIp: string;
  /** argv prefix that runs a command in the client namespace. */
  readonly execPrefix: string[];
  /** Runs a command in the client namespace, returning stdout (blocks: not for talking to servers in this process). */
  exec(argv: string[], timeoutMs?: number): string;
  /** Runs a command in the client namespace without blocking this process, resolving with its stdout. */
  execAsync(argv: string[], timeoutMs?: number): Promise<string>;
  /** A shell script that execs `binary` with its arguments in the client namespace (for playwright's executablePath). */
  wrapper(binary: string): string;
  /** Adds another root-side address in the lab's host subnet (198.18.K.n, n ≥ 3; gone with the lab) and returns it. */
  addHostAddress(): string;
  /** The router's FORWARD counters (packets dropped by the profile, for diagnostics). */
  counters(): string;
  close(): void;
}

const execFileAsync = promisify(execFile);
const PREFIX = 'reachlab';
const open = new Set<Lab>();
let exitHookInstalled = false;

function run(argv: string[], timeoutMs = 10_000): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function tryRun(argv: string[]): void {
  try {
    run(argv);
  } catch {
    // already gone
  }
}

/** Whether this machine can run the lab (root, ip netns, iptables with the statistic match). Returns why not. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the network lab needs root (ip netns, iptables)';
  for (const bin of ['/usr/sbin/ip', '/usr/sbin/iptables']) {
    if (!existsSync(bin)) return `the network lab needs ${bin} (apt-get install -y iproute2 iptables)`;
  }
  return undefined;
}

function existingNamespaces(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces a lab left behind in a process that is gone (a crash, SIGKILL). Returns their names. */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  for (const name of existingNamespaces()) {
    const m = /^reachlab-(\d+)-/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    tryRun(['ip', 'netns', 'del', name]);
    removed.push(name);
  }
  return removed;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of [...open]) lab.close();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const lab of [...open]) lab.close();
      process.kill(process.pid, signal);
    });
  }
}

/** Block K of 10.213.K.0/24 and 198.18.K.0/24 not used by another lab on this machine. */
function freeBlock(): number {
  const routes = run(['ip', '-4', 'route', 'show']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const k = randomInt(1, 255);
    if (!routes.includes(`198.18.${k}.`) && !routes.includes(`10.213.${k}.`)) return k;
  }
  throw new Error('netlab: no free 198.18.K.0/24 block');
}

export function createLab(options: LabOptions): Lab {
  const why = labUnavailable();
  if (why) throw new Error(`netlab.unavailable: ${why}`);
  installExitHook();
  sweepStaleLabs();

  const k = freeBlock();
  const tag = `${process.pid.toString(36)}${k.toString(36)}`.slice(-8);
  const clientNs = `${PREFIX}-${process.pid}-${k}-c`;
  const routerNs = `${PREFIX}-${process.pid}-${k}-r`;
  const hostIf = `rlh${tag}`;
  const clientIp = `10.213.${k}.2`;
  const routerInnerIp = `10.213.${k}.1`;
  const routerOuterIp = `198.18.${k}.2`;
  const hostIp = `198.18.${k}.1`;
  const inC = ['ip', 'netns', 'exec', clientNs];
  const inR = ['ip', 'netns', 'exec', routerNs];
  const ipt = (...args: string[]) => run([...inR, 'iptables', '-w', ...args]);

  let closed = false;
  let nextHost = 3;
  let wrapperDir: string | undefined;
  const lab: Lab = {
    profile: options.profile,
    clientNs,
    routerNs,
    hostIp,
    clientIp,
    routerOuterIp,
    execPrefix: inC,
    exec: (argv, timeoutMs) => run([...inC, ...argv], timeoutMs),
    execAsync: async (argv, timeoutMs = 30_000) =>
      (await execFileAsync('ip', ['netns', 'exec', clientNs, ...argv], { encoding: 'utf8', timeout: timeoutMs }))
        .stdout,
    wrapper(binary) {
      wrapperDir ??= mkdtempSync(join(tmpdir(), 'reachlab-'));
      const file = join(wrapperDir, 'exec-in-lab.sh');
      writeFileSync(file, `#!/bin/sh\nexec /usr/sbin/ip netns exec '${clientNs}' '${binary}' "$@"\n`);
      chmodSync(file, 0o755);
      return file;
    },
    addHostAddress() {
      const ip = `198.18.${k}.${nextHost++}`;
      run(['ip', 'addr', 'add', `${ip}/24`, 'dev', hostIf]);
      return ip;
    },
    counters: () => ipt('-L', 'FORWARD', '-v', '-n', '-x') + ipt('-t', 'nat', '-L', 'POSTROUTING', '-v', '-n', '-x'),
    close() {
      if (closed) return;
      closed = true;
      open.delete(lab);
      tryRun(['ip', 'netns', 'del', clientNs]);
      tryRun(['ip', 'netns', 'del', routerNs]);
      tryRun(['ip', 'link', 'del', hostIf]); // normally gone with the router namespace
      if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
    },
  };
  open.add(lab);

  try {
    run(['ip', 'netns', 'add', clientNs]);
    run(['ip', 'netns', 'add', routerNs]);
    // IPv4 only. An interface that comes up gets an IPv6 link-local address that turns from tentative to permanent
    // ~1–2 s later (duplicate address detection); Chromium sees that as a network change and aborts what it is loading
    // with net::ERR_NETWORK_CHANGED (CI: a lab page's first navigation). The lab's interfaces never get one.
    for (const ns of [inC, inR]) {
      for (const scope of ['all', 'default'])
        run([...ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`]);
    }
    // client ↔ router
    run(['ip', 'link', 'add', 'cli0', 'netns', clientNs, 'type', 'veth', 'peer', 'name', 'rin0', 'netns', routerNs]);
    // router ↔ root
    run(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'rout0', 'netns', routerNs]);

    run([...inC, 'ip', 'addr', 'add', `${clientIp}/24`, 'dev', 'cli0']);
    run([...inC, 'ip', 'link', 'set', 'cli0', 'up']);
    run([...inC, 'ip', 'link', 'set', 'lo', 'up']);
    run([...inC, 'ip', 'route', 'add', 'default', 'via', routerInnerIp]);

    run([...inR, 'ip', 'addr', 'add', `${routerInnerIp}/24`, 'dev', 'rin0']);
    run([...inR, 'ip', 'addr', 'add', `${routerOuterIp}/24`, 'dev', 'rout0']);
    for (const dev of ['rin0', 'rout0', 'lo']) run([...inR, 'ip', 'link', 'set', dev, 'up']);
    run([...inR, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // Everything else goes to the root namespace (another lab's host address, where a shared stack may listen).
    run([...inR, 'ip', 'route', 'add', 'default', 'via', hostIp]);

    run(['sysctl', '-q', '-w', `net.ipv6.conf.${hostIf}.disable_ipv6=1`]); // the root namespace's browser too (above)
    run(['ip', 'addr', 'add', `${hostIp}/24`, 'dev', hostIf]);
    run(['ip', 'link', 'set', hostIf, 'up']);

    applyProfile(options, { ipt, inR, hostIf, clientIp, routerOuterIp, k });
    return lab;
  } catch (err) {
    lab.close();
    throw err;
  }
}

function applyProfile(
  options: LabOptions,
  ctx: {
    ipt: (...args: string[]) => string;
    inR: string[];
    hostIf: string;
    clientIp: string;
    routerOuterIp: string;
    k: number;
  },
): void {
  const { ipt } = ctx;
  const profile = options.profile;
  const nat = profile !== 'open';
  if (nat) {
    ipt(
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-o',
      'rout0',
      '-j',
      'MASQUERADE',
      ...(profile === 'symmetric-nat' ? ['--random-fully'] : []),
    );
  } else {
    // Routed: the root namespace reaches the client's subnet through the router (the route goes with hostIf).
    run(['ip', 'route', 'add', `10.213.${ctx.k}.0/24`, 'via', ctx.routerOuterIp, 'dev', ctx.hostIf]);
  }
  const lossy = profile === 'loss10' || profile === 'tcp443-loss10';
  if (lossy) {
    const p = String((options.lossPercent ?? 10) / 100);
    // Both directions cross FORWARD; one rule per direction so each loses its share.
    ipt('-A', 'FORWARD', '-i', 'rin0', '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP');
    ipt('-A', 'FORWARD', '-i', 'rout0', '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP');
  }
  if (profile === 'udp-blocked') {
    ipt('-A', 'FORWARD', '-p', 'udp', '-j', 'DROP');
  }
  if (profile === 'stun-only') {
    if (options.signallingPort === undefined || options.relayIp === undefined)
      throw new Error('netlab: profile stun-only needs signallingPort and relayIp');
    // Every UDP packet is looked at (before conntrack's ESTABLISHED, which would pass a flow's DTLS once STUN was answered).
    ipt('-A', 'FORWARD', '-p', 'udp', '-m', 'u32', '--u32', '0>>22&0x3C@8>>24=0:3', '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-p', 'udp', '-j', 'DROP');
    ipt('-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-i', 'rin0', '-p', 'tcp', '--dport', String(options.signallingPort), '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-i', 'rin0', '-p', 'tcp', '-d', options.relayIp, '--dport', '443', '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-j', 'DROP');
  }
  if (profile === 'tcp443-only' || profile === 'tcp443-loss10' || profile === 'signalling-only') {
    if (options.signallingPort === undefined) throw new Error(`netlab: profile ${profile} needs signallingPort`);
    const ports = profile === 'signalling-only' ? String(options.signallingPort) : `443,${options.signallingPort}`;
    ipt('-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-i', 'rin0', '-p', 'tcp', '-m', 'multiport', '--dports', ports, '-j', 'ACCEPT');
    ipt('-A', 'FORWARD', '-j', 'DROP');
  }
}

/** Lab namespaces that exist now (for tests that check the harness cleaned up). */
export function labNamespaces(): string[] {
  return existingNamespaces().filter((n) => n.startsWith(`${PREFIX}-`));
}
