// The SDK renews a resume.v1 session before the server's bound on its token (exp + grace → voice.token-expired)
// and before the gateway's connection cap, whichever comes first (web/src/renewal.ts; VoiceClient schedules it).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renewalDelayMs, SocketSwitch, tokenExpiry } from '../../web/src/renewal';
import { devToken } from '../support/tokens';

const HOUR = 3_600_000;

describe('renewal', () => {
  it('reads exp from a JWT (unverified) and nothing from garbage', () => {
    const token = devToken(1n, 2n, [3n], 600);
    const exp = tokenExpiry(token)!;
    assert.ok(Math.abs(exp - (Date.now() / 1000 + 600)) < 5, `exp ${exp}`);
    for (const bad of ['', 'a.b.c', 'not-a-jwt', `x.${Buffer.from('{"exp":"soon"}').toString('base64url')}.y`])
      assert.equal(tokenExpiry(bad), undefined, bad);
  });

  it('a token that expires before the connection cap: renew 60 s before its exp', () => {
    const now = 1_000_000_000_000;
    const delay = renewalDelayMs({
      now,
      socketOpenedAt: now,
      maxConnectionMs: 2 * HOUR,
      tokenExpiresAt: now / 1000 + 900,
    });
    assert.equal(delay, 900_000 - 60_000);
  });

  it('a short token still renews before it expires (half of its life at most as margin)', () => {
    const now = 1_000_000_000_000;
    assert.equal(
      renewalDelayMs({ now, socketOpenedAt: now, maxConnectionMs: 2 * HOUR, tokenExpiresAt: now / 1000 + 30 }),
      15_000,
    );
  });

  it('a long token, or none: the connection cap decides, as before', () => {
    const now = 1_000_000_000_000;
    const cap = renewalDelayMs({ now, socketOpenedAt: now, maxConnectionMs: 2 * HOUR });
    assert.equal(cap, 2 * HOUR - 60_000);
    assert.equal(
      renewalDelayMs({ now, socketOpenedAt: now, maxConnectionMs: 2 * HOUR, tokenExpiresAt: now / 1000 + 24 * 3600 }),
      cap,
    );
  });

  it('already past the point: renew now', () => {
    const now = 1_000_000_000_000;
    assert.equal(
      renewalDelayMs({ now, socketOpenedAt: now - HOUR, maxConnectionMs: 2 * HOUR, tokenExpiresAt: now / 1000 + 10 }),
      0,
    );
  });

  describe('one move between sockets at a time (CI: a resume raced a renewal, was refused bad-credential, and the client left)', () => {
    it('a stream lost while a renewal is under way waits for it; the renewal moved the session: nothing more to do', async () => {
      const gate = new SocketSwitch();
      let finish!: (moved: boolean) => void;
      const renewing = gate.renew(() => new Promise<boolean>((r) => (finish = r)));
      let answer: boolean | undefined;
      const lost = gate.movedByRenewal().then((moved) => (answer = moved));
      await new Promise((r) => setImmediate(r));
      assert.equal(answer, undefined, 'no resume starts while the renewal is under way');
      finish(true);
      await lost;
      assert.equal(answer, true);
      assert.equal(await renewing, true);
    });

    it('a renewal that failed: the resume starts; with no renewal under way it starts at once', async () => {
      const gate = new SocketSwitch();
      assert.equal(await gate.movedByRenewal(), false);
      let finish!: (moved: boolean) => void;
      void gate.renew(() => new Promise<boolean>((r) => (finish = r)));
      const lost = gate.movedByRenewal();
      finish(false);
      assert.equal(await lost, false);
      assert.equal(await gate.movedByRenewal(), false, 'a finished renewal is not waited for again');
    });
  });
});
