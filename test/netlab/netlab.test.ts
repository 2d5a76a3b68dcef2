// The network lab harness itself: each profile translates, blocks and loses what it says, seen from probe servers
// on the host's lab address; and nothing the lab created outlives it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../../local/stack';
import { createLab, labNamespaces, labUnavailable, type Lab, type Profile } from '../support/netlab';

const PROBE = join(REPO_ROOT, 'test/support/netlab-probe.mjs');
const skip = labUnavailable();

interface ProbeResult {
  localUdpPort: number;
  udpSeenA?: string;
  udpSeenB?: string;
  echoed: number;
  sent: number;
  tcp?: string;
  tcp443?: string;
}

class ProbeServers {
  private udp: Socket[] = [];
  private tcp: Server[] = [];
  // Accepted connections: on a lossy lab a FIN or RST can be lost, and the namespace is gone before TCP gives up,
  // which would keep this process alive for minutes (seen once): destroyed on close.
  private connections = new Set<import('node:net').Socket>();
  ports = { udpA: 0, udpB: 0, tcp: 0, tcp443: 443 };

  async start(host: string): Promise<void> {
    for (const key of ['udpA', 'udpB'] as const) {
      const s = createSocket('udp4');
      s.on('message', (msg, rinfo) => {
        const text = msg.toString();
        s.send(text.startsWith('n') ? text : `${text} ${rinfo.address}:${rinfo.port}`, rinfo.port, rinfo.address);
      });
      await new Promise<void>((r) => s.bind(0, host, () => r()));
      this.ports[key] = s.address().port;
      this.udp.push(s);
    }
    for (const key of ['tcp', 'tcp443'] as const) {
      const server = createServer((c) => {
        this.connections.add(c.on('close', () => this.connections.delete(c)).on('error', () => {}));
        c.end(`${c.remoteAddress}:${c.remotePort}`);
      });
      await new Promise<void>((r, j) => server.once('error', j).listen(key === 'tcp443' ? 443 : 0, host, () => r()));
      this.ports[key] = (server.address() as { port: number }).port;
      this.tcp.push(server);
    }
  }

  async probe(lab: Lab, lossCount = 0): Promise<ProbeResult> {
    const out = await lab.execAsync([
      process.execPath,
      PROBE,
      lab.hostIp,
      String(this.ports.udpA),
      String(this.ports.udpB),
      String(this.ports.tcp),
      String(this.ports.tcp443),
      String(lossCount),
    ]);
    return JSON.parse(out) as ProbeResult;
  }

  close(): void {
    for (const s of this.udp) s.close();
    for (const s of this.tcp) s.close();
    for (const c of this.connections) c.destroy();
  }
}

async function withLab<T>(
  profile: Profile,
  body: (lab: Lab, servers: ProbeServers) => Promise<T>,
  signallingPort?: number,
): Promise<T> {
  const lab = createLab({ profile, signallingPort: signallingPort ?? 1 });
  const servers = new ProbeServers();
  try {
    await servers.start(lab.hostIp);
    return await body(lab, servers);
  } finally {
    servers.close();
    lab.close();
  }
}

const address = (seen: string | undefined) => seen?.split(':')[0];
const port = (seen: string | undefined) => Number(seen?.split(':')[1]);

describe('network lab (ip netns + iptables)', { skip, timeout: 120_000 }, () => {
  let before0: string[];
  before(() => {
    before0 = labNamespaces();
  });
  after(() => {
    assert.deepEqual(labNamespaces(), before0, 'every lab namespace is removed');
  });

  it('(a) open: routed, the host sees the client address itself; UDP and TCP pass', async () => {
    await withLab('open', async (lab, servers) => {
      const r = await servers.probe(lab);
      assert.equal(address(r.udpSeenA), lab.clientIp);
      assert.equal(address(r.tcp), lab.clientIp);
      assert.equal(address(r.tcp443), lab.clientIp);
    });
  });

  it('(b) NAT: the host sees the router address, the same mapped port for two destinations', async () => {
    await withLab('nat', async (lab, servers) => {
      const r = await servers.probe(lab);
      assert.equal(address(r.udpSeenA), lab.routerOuterIp);
      assert.equal(port(r.udpSeenA), port(r.udpSeenB), 'endpoint-independent mapping');
      assert.equal(address(r.tcp), lab.routerOuterIp);
    });
  });

  it('(c) symmetric NAT: one local socket gets a different mapped port per destination', async () => {
    await withLab('symmetric-nat', async (lab, servers) => {
      const r = await servers.probe(lab);
      assert.equal(address(r.udpSeenA), lab.routerOuterIp);
      assert.equal(address(r.udpSeenB), lab.routerOuterIp);
      assert.notEqual(port(r.udpSeenA), port(r.udpSeenB), `address-dependent mapping: ${r.udpSeenA} vs ${r.udpSeenB}`);
    });
  });

  it('(d) UDP blocked: no UDP, TCP passes', async () => {
    await withLab('udp-blocked', async (lab, servers) => {
      const r = await servers.probe(lab);
      assert.equal(r.udpSeenA, undefined);
      assert.equal(address(r.tcp), lab.routerOuterIp);
    });
  });

  it('(e) only TCP 443 and the signalling port: UDP and other TCP ports blocked', async () => {
    await withLab('tcp443-only', async (lab, servers) => {
      const r = await servers.probe(lab);
      assert.equal(r.udpSeenA, undefined);
      assert.equal(r.tcp, undefined, 'an arbitrary TCP port is blocked');
      assert.equal(address(r.tcp443), lab.routerOuterIp);
    });
  });

  it('(e) the signalling port is allowed too', async () => {
    const signallingPort = 20_000 + (process.pid % 10_000);
    const lab = createLab({ profile: 'tcp443-only', signallingPort });
    const server = createServer((c) => c.end('ok'));
    try {
      await new Promise<void>((r) => server.listen(signallingPort, lab.hostIp, () => r()));
      const out = await lab.execAsync([
        process.execPath,
        '-e',
        `require('net').connect(${signallingPort}, '${lab.hostIp}').on('data', (d) => console.log(String(d))).on('error', () => console.log('blocked'))`,
      ]);
      assert.equal(out.trim(), 'ok');
    } finally {
      server.close();
      lab.close();
    }
  });

  it('(f) 10 % loss each way: about 81 % of UDP round trips come back', async () => {
    await withLab('loss10', async (lab, servers) => {
      // The first two asks may be lost too: retry until the path is known to work.
      let r: ProbeResult | undefined;
      for (let i = 0; i < 5 && !r?.udpSeenA; i++) r = await servers.probe(lab, 1000);
      assert.ok(r?.udpSeenA, 'UDP passes at all');
      const ratio = r.echoed / r.sent;
      console.log(`[netlab] loss10: ${r.echoed}/${r.sent} round trips (${(ratio * 100).toFixed(1)} %, expected 81 %)`);
      // 1000 round trips at p = 0.81: standard deviation 1.2 %; ±10 points is far outside chance.
      assert.ok(ratio > 0.71 && ratio < 0.91, `round-trip ratio ${ratio}`);
    });
  });

  it('no network change after the lab is up: no interface of the lab gets an IPv6 address (CI: Chromium aborted a load with ERR_NETWORK_CHANGED)', async () => {
    const lab = createLab({ profile: 'nat', signallingPort: 1 });
    try {
      // Duplicate address detection turns a link-local address from tentative to permanent in ~1–2 s: wait past it.
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(lab.exec(['ip', '-6', '-o', 'addr', 'show']).trim(), '', 'the client namespace has no IPv6 address');
      // The root-namespace end of the lab: the interface holding the lab's host address.
      const hostIf = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'to', lab.hostIp], { encoding: 'utf8' })
        .split(/\s+/)[1]!
        .split('@')[0]!;
      assert.match(hostIf, /^rlh/);
      assert.equal(
        execFileSync('ip', ['-6', '-o', 'addr', 'show', 'dev', hostIf], { encoding: 'utf8' }).trim(),
        '',
        `${hostIf} (root namespace) has no IPv6 address`,
      );
    } finally {
      lab.close();
    }
  });

  it('a lab is removed even when the body throws, and twice-closing is harmless', async () => {
    let name = '';
    await assert.rejects(
      withLab('nat', async (lab) => {
        name = lab.clientNs;
        assert.ok(labNamespaces().includes(name));
        throw new Error('test body failed');
      }),
      /test body failed/,
    );
    assert.ok(!labNamespaces().includes(name));
  });
});
