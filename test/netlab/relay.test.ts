// The embedded TURN relay (local/coturn.ts, Debian's coturn) is never an open relay and takes only short-lived
// credentials (functions/voice/relay-credentials.ts): a TURN client allocates with fresh ones, and is refused with
// forged or expired ones; a permission for a media node's address is granted, for any other address refused.
// It listens on a network-lab host address (test/support/netlab.ts), so nothing but lab addresses is used.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueRelayCredentials, turnRestCredential } from '../../functions/voice/relay-credentials';
import { coturnAvailable, startCoturn, type Coturn } from '../../local/coturn';
import { createLab, labUnavailable, type Lab } from '../support/netlab';
import { TurnProbe } from '../support/turn-probe';

const skip =
  labUnavailable() ?? (coturnAvailable() ? undefined : 'coturn is not installed (apt-get install -y coturn)');

describe('TURN relay: short-lived credentials, media nodes only', { skip, timeout: 60_000 }, () => {
  let lab: Lab;
  let relay: Coturn;
  let mediaNodeIp: string;

  before(async () => {
    lab = createLab({ profile: 'open' });
    // The media node's address: the lab router's outer address stands in for it (any lab address works: coturn
    // checks the peer address, not that something listens there).
    mediaNodeIp = lab.routerOuterIp;
    relay = await startCoturn({ listenIp: lab.hostIp, mediaNodeIps: [mediaNodeIp] });
  });

  after(async () => {
    await relay?.close();
    lab?.close();
  });

  const probe = (username: string, credential: string) =>
    new TurnProbe({ host: relay.listenIp, port: relay.port }, username, credential);

  it('fresh credentials allocate; a permission for the media node is granted, for another address refused with 403', async () => {
    const creds = issueRelayCredentials(
      { secret: relay.secret, urls: relay.urls },
      9007199254740993n,
      Date.now() / 1000,
    );
    const turn = probe(creds.username, creds.credential);
    try {
      const allocation = await turn.allocate();
      assert.ok(allocation.ok, `allocated (error ${allocation.code})`);
      assert.equal(allocation.relayed?.[0], relay.listenIp);
      assert.ok((await turn.createPermission([mediaNodeIp, 40000])).ok, 'the media node is a permitted peer');
      for (const other of [lab.clientIp, '127.0.0.1', '1.1.1.1', lab.hostIp, '169.254.169.254']) {
        assert.equal((await turn.createPermission([other, 40000])).code, 403, `no relay to ${other}`);
      }
    } finally {
      turn.close();
    }
  });

  it('forged credentials (wrong secret) are refused with 401', async () => {
    const username = `${Math.floor(Date.now() / 1000) + 600}:9007199254740993`;
    const turn = probe(username, turnRestCredential('not-the-secret-'.repeat(3), username));
    try {
      const answer = await turn.allocate();
      assert.equal(answer.ok, false);
      assert.equal(answer.code, 401);
    } finally {
      turn.close();
    }
  });

  it('expired credentials (right secret, expiry passed) are refused with 401', async () => {
    const creds = issueRelayCredentials(
      { secret: relay.secret, urls: relay.urls, ttlSeconds: 60 },
      9007199254740993n,
      Date.now() / 1000 - 3600,
    );
    assert.ok(creds.expiresAtSeconds < Date.now() / 1000);
    const turn = probe(creds.username, creds.credential);
    try {
      const answer = await turn.allocate();
      assert.equal(answer.ok, false);
      assert.equal(answer.code, 401);
    } finally {
      turn.close();
    }
  });

  it('the configuration denies every peer but the media nodes, relays no TCP, and has quotas', () => {
    assert.ok(relay.config.includes('denied-peer-ip=0.0.0.0-255.255.255.255'));
    assert.ok(relay.config.includes(`allowed-peer-ip=${mediaNodeIp}`));
    assert.ok(relay.config.includes('no-tcp-relay') && relay.config.includes('use-auth-secret'));
    assert.ok(relay.config.some((l) => /^user-quota=\d+$/.test(l)));
    assert.ok(
      !relay.config.some((l) => /^(user=|lt-cred-mech|no-auth)/.test(l)),
      'no static users, no unauthenticated mode',
    );
  });
});
