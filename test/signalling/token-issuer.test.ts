// Session tokens through `$connect` of the real local stack: the handlers trust the development issuer by its JWKS
// URL (served by the local gateway) exactly as a deployment trusts an identity provider. Refusals are 401s before
// the upgrade with h.blank-session and the precise reason.
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { DevIssuer, signingKey } from '../../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { VoiceTestClient } from '../support/voice-client';

let stack: LocalStack;
let issuer: DevIssuer;

before(async () => {
  // A fresh issuer per run (its own key), so rotation here touches no other suite's key file.
  issuer = new DevIssuer([signingKey(generateKeyPairSync('ed25519').privateKey)]);
  // Refetch the JWKS for every verification (cache max age 0), so rotation and outages show without waiting;
  // the cooldown and max-age semantics themselves are unit-tested (test/auth/token.test.ts).
  stack = await startLocalStack({
    port: 0,
    strict: true,
    mediaNode: false,
    issuer,
    handlerEnv: { TOKEN_JWKS_CACHE_MAX_AGE_MS: '0' },
  });
});
after(() => stack?.close());

const now = () => Math.floor(Date.now() / 1000);
const mint = (claims: Record<string, unknown> = {}, key = issuer.current) =>
  issuer.mint({ user: '42', guild: '1', channels: ['7'], ttlSeconds: 600, claims, key });

async function accepted(token: string): Promise<void> {
  const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token });
  assert.equal(client.protocol, 'hrpc1.base64');
  client.terminate();
}

async function refused(token: string, reason: RegExp): Promise<void> {
  try {
    const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token });
    client.terminate();
  } catch (err) {
    const { statusCode, body } = err as { statusCode: number; body: Buffer };
    assert.equal(statusCode, 401);
    const error = HrpcError.decode(body);
    assert.equal(error.identifier, 'h.blank-session');
    assert.match(error.humanMessage, reason);
    return;
  }
  assert.fail(`the upgrade was accepted (expected a refusal matching ${reason})`);
}

describe("tokens at $connect, keys from the issuer's JWKS URL", () => {
  test('the issuer unreachable before its keys were ever fetched: a clear refusal', async () => {
    issuer.unavailable = true;
    try {
      await refused(await mint(), /signing keys \(JWKS\) could not be fetched/);
    } finally {
      issuer.unavailable = false;
    }
  });

  test('a jose-minted token with a kid connects (and one signed by node:crypto with the same key)', async () => {
    await accepted(await mint());
    await accepted(stack.mintToken('42', '1', '7'));
  });

  test('wrong aud, another iss, future nbf, expired: refused with the reason', async () => {
    await refused(await mint({ aud: 'another-app' }), /another audience \(aud\)/);
    await refused(await mint({ iss: 'https://evil.test' }), /issued by someone else/);
    await refused(await mint({ nbf: now() + 120 }), /not valid yet \(nbf\)/);
    await refused(await mint({ exp: now() - 60 }), /expired/);
  });

  test('clock skew inside the tolerance (nbf a few seconds ahead) is accepted', async () => {
    await accepted(await mint({ nbf: now() + 3 }));
  });

  test("alg none and HS256 keyed with the issuer's public key are refused", async () => {
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const payload = part({ sub: '42', iss: issuer.issuer, aud: issuer.audience, exp: now() + 600, channels: ['1:7'] });
    await refused(`${part({ alg: 'none', typ: 'JWT' })}.${payload}.`, /algorithm "none" is not allowed/);
    const secret = Buffer.from(issuer.current.publicJwk.x!, 'base64url');
    const input = `${part({ alg: 'HS256', kid: issuer.current.kid })}.${payload}`;
    await refused(
      `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`,
      /algorithm "HS256" is not allowed/,
    );
  });

  test('rotation: the new key works at once; once the old key is retired its tokens are refused', async () => {
    const old = issuer.current;
    const oldToken = await mint();
    const next = issuer.rotate(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    assert.equal(next.alg, 'ES256');
    await accepted(await mint()); // ES256, new kid
    await accepted(oldToken); // both published
    issuer.retire(old.kid);
    await refused(oldToken, new RegExp(`no key of the issuer matches .*${old.kid}`));
    await accepted(await mint());
  });

  test('a token signed by a key the issuer never published is refused', async () => {
    const stranger = signingKey(generateKeyPairSync('ed25519').privateKey);
    await refused(
      await new SignJWT({ sub: '42', channels: ['1:7'], iss: issuer.issuer, aud: issuer.audience, exp: now() + 60 })
        .setProtectedHeader({ alg: 'EdDSA', kid: stranger.kid })
        .sign(stranger.privateKey),
      /no key of the issuer matches/,
    );
  });

  test('the issuer goes down after its keys were fetched: cached keys keep working', async () => {
    const token = await mint();
    await accepted(token);
    issuer.unavailable = true;
    try {
      await accepted(token);
      await accepted(await mint());
    } finally {
      issuer.unavailable = false;
    }
  });
});
