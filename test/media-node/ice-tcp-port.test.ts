// MEDIA_ICE_TCP_PORT: the WebRtcServer also takes ICE over TCP on a port restrictive networks
// allow (443 on a real host), and the transports' candidates name it, so a stock client behind "only TCP 443" can connect.
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { configFromEnv } from '../../media-node/src/node/config';
import { clientRtpCapabilities, startTestNode } from './helpers';

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('ICE over TCP on an extra port', () => {
  let stop: () => Promise<void>;
  let api: Awaited<ReturnType<typeof startTestNode>>['api'];
  let port: number;

  before(async () => {
    port = await freeTcpPort();
    ({ api, stop } = await startTestNode({ iceTcpPort: port }));
  });
  after(() => stop());

  test('every transport offers a TCP candidate on MEDIA_ICE_TCP_PORT besides its UDP and TCP base ports, and it accepts connections', async () => {
    await api.openRoom({ roomId: 'r-tcp' });
    const created = await api.createTransports({
      roomId: 'r-tcp',
      sessionId: 's1',
      userId: '1',
      rtpCapabilities: clientRtpCapabilities(),
    });
    for (const transport of [created.consumerTransport!, created.producerTransport!]) {
      const candidates = transport.iceCandidates.map(
        (c) => JSON.parse(c) as { protocol: string; port: number; tcpType?: string },
      );
      assert.deepEqual(candidates.map((c) => c.protocol).sort(), ['tcp', 'tcp', 'udp']);
      assert.ok(
        candidates.some((c) => c.protocol === 'tcp' && c.port === port && c.tcpType === 'passive'),
        JSON.stringify(candidates),
      );
      // It is the preferred TCP candidate (the browser tries it first, not after a blocked base port).
      const tcp = candidates
        .filter((c) => c.protocol === 'tcp')
        .sort((x, y) => (y as { priority?: number }).priority! - (x as { priority?: number }).priority!);
      assert.equal(tcp[0]!.port, port, JSON.stringify(candidates));
    }
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve();
      }).on('error', reject);
    });
  });

  test('MEDIA_ICE_TCP_PORT is read from the environment; unset means no extra port', () => {
    assert.equal(configFromEnv({ MEDIA_ICE_TCP_PORT: '443' }).iceTcpPort, 443);
    assert.equal(configFromEnv({}).iceTcpPort, undefined);
    assert.throws(() => configFromEnv({ MEDIA_ICE_TCP_PORT: 'https' }), /config\.bad-value: MEDIA_ICE_TCP_PORT/);
  });
});

describe('a private UDP candidate for the relays (MEDIA_RELAY_PEER_IP / MEDIA_RELAY_PEER_PORT_BASE)', () => {
  let stop: () => Promise<void>;
  let api: Awaited<ReturnType<typeof startTestNode>>['api'];

  before(async () => {
    ({ api, stop } = await startTestNode({ relayPeer: { ip: '127.0.0.2', portBase: 0 } }));
  });
  after(() => stop());

  test('every transport also offers a UDP candidate on the relay-peer address, below the public UDP one', async () => {
    await api.openRoom({ roomId: 'r-relay-peer' });
    const created = await api.createTransports({
      roomId: 'r-relay-peer',
      sessionId: 's1',
      userId: '1',
      rtpCapabilities: clientRtpCapabilities(),
    });
    for (const transport of [created.consumerTransport!, created.producerTransport!]) {
      const candidates = transport.iceCandidates.map(
        (c) => JSON.parse(c) as { protocol: string; address: string; priority: number },
      );
      const peer = candidates.filter((c) => c.address === '127.0.0.2');
      assert.equal(peer.length, 1, JSON.stringify(candidates));
      assert.equal(peer[0]!.protocol, 'udp');
      const publicUdp = candidates.filter((c) => c.protocol === 'udp' && c !== peer[0]);
      assert.ok(
        publicUdp.length === 1 && publicUdp[0]!.priority > peer[0]!.priority,
        `clients try the public UDP candidate first: ${JSON.stringify(candidates)}`,
      );
    }
  });

  test('both variables or neither; an IPv4 address', () => {
    assert.deepEqual(
      configFromEnv({ MEDIA_RELAY_PEER_IP: '10.0.1.5', MEDIA_RELAY_PEER_PORT_BASE: '41000' }).relayPeer,
      { ip: '10.0.1.5', portBase: 41000 },
    );
    assert.equal(configFromEnv({}).relayPeer, undefined);
    assert.throws(() => configFromEnv({ MEDIA_RELAY_PEER_IP: '10.0.1.5' }), /config\.bad-value/);
    assert.throws(
      () => configFromEnv({ MEDIA_RELAY_PEER_IP: 'media', MEDIA_RELAY_PEER_PORT_BASE: '41000' }),
      /config\.bad-value: MEDIA_RELAY_PEER_IP/,
    );
  });
});
