// Session token verification (functions/auth): standard JWTs from jose-minted keys with kid, JWKS rotation and
// caching, aud/nbf/exp with the clock tolerance at its boundary, refused algorithms, configurable claims, and the
// environment's settings. Every refusal is h.blank-session with its precise reason.
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { calculateJwkThumbprint, SignJWT, type JSONWebKeySet } from 'jose';
import { jwksFromJson, jwksFromUrl, keyFromPem } from '../../functions/auth/keys';
import { TokenVerifier } from '../../functions/auth/token';
import { tokenVerifierFromEnv } from '../../functions/auth/token-config';
import { createLogger } from '../../lib/log';
import { VoiceError } from '../../protocol/errors';
import { signingKey, type SigningKey } from '../../local/dev-issuer';

const ISS = 'https://id.example.test';
const AUD = 'harmony-voice';
const NOW = 1_800_000_000; // a fixed "now" (epoch seconds) for the clock checks
const at = { now: new Date(NOW * 1000) };

const ed = signingKey(generateKeyPairSync('ed25519').privateKey);
const es = signingKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const rs = signingKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
const jwksOf = (...keys: SigningKey[]): JSONWebKeySet => ({ keys: keys.map((k) => k.publicJwk) });

/** A token as an identity provider would mint it with jose: kid in the header, no typ, header keys in its order. */
function mint(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ sub: '42', channels: ['1:7'], iss: ISS, aud: AUD, iat: NOW, exp: NOW + 3600, ...claims })
    .setProtectedHeader({ kid: key.kid, alg: key.alg, ...header })
    .sign(key.privateKey);
}

function verifier(
  keys = jwksFromJson(jwksOf(ed, es, rs)),
  extra: Partial<ConstructorParameters<typeof TokenVerifier>[0]> = {},
) {
  return new TokenVerifier({ keys, issuer: ISS, audience: AUD, ...extra });
}

async function refused(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof VoiceError, String(err));
    assert.equal(err.identifier, 'h.blank-session');
    assert.equal(err.fatal, true);
    assert.match(err.humanMessage, reason);
    return true;
  });
}

/** A hand-made compact JWS (for headers jose refuses to produce). */
function compact(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  sign: (input: string) => string,
): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${sign(input)}`;
}
const claims = { sub: '42', channels: ['1:7'], iss: ISS, aud: AUD, exp: NOW + 3600 };

describe('tokens from a standard issuer', () => {
  test('EdDSA, ES256 and RS256 tokens with a kid verify against the JWKS; the principal comes from the claims', async () => {
    for (const key of [ed, es, rs]) {
      const principal = await verifier().verify(await mint(key), at);
      assert.deepEqual(principal, { userId: '42', grants: ['1:7'], expiresAt: NOW + 3600 }, key.alg);
    }
  });

  test("the development issuer's kid is the RFC 7638 thumbprint jose computes", async () => {
    for (const key of [ed, es, rs]) assert.equal(key.kid, await calculateJwkThumbprint(key.publicJwk), key.alg);
  });

  test('a header with typ or without, in any key order, verifies', async () => {
    await verifier().verify(await mint(ed, {}, { typ: 'JWT' }), at);
    const reordered = await new SignJWT(claims)
      .setProtectedHeader({ typ: 'at+jwt', kid: ed.kid, alg: 'EdDSA' })
      .sign(ed.privateKey);
    assert.equal((await verifier().verify(reordered, at)).userId, '42');
  });

  test('a kid the key set does not hold is refused, naming the kid', async () => {
    const stranger = signingKey(generateKeyPairSync('ed25519').privateKey);
    await refused(
      verifier().verify(await mint(stranger), at),
      new RegExp(`no key of the issuer matches .*${stranger.kid}`),
    );
  });

  test('a valid signature by another key under a published kid is refused', async () => {
    const forger = generateKeyPairSync('ed25519').privateKey;
    const token = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: ed.kid }).sign(forger);
    await refused(verifier().verify(token, at), /signature is invalid/);
  });

  test('wrong iss, wrong aud, missing exp', async () => {
    await refused(
      verifier().verify(await mint(ed, { iss: 'https://evil.test' }), at),
      /issued by someone else \(iss\)/,
    );
    await refused(verifier().verify(await mint(ed, { aud: 'another-app' }), at), /another audience \(aud\)/);
    const noExp = await new SignJWT({ sub: '42', channels: [] })
      .setProtectedHeader({ alg: 'EdDSA', kid: ed.kid })
      .setIssuer(ISS)
      .setAudience(AUD)
      .sign(ed.privateKey);
    await refused(verifier().verify(noExp, at), /no expiry \(exp\)/);
  });

  test('audience unset: aud is not checked; several audiences: any of them', async () => {
    await verifier(undefined, { audience: undefined }).verify(await mint(ed, { aud: 'whatever' }), at);
    await verifier(undefined, { audience: ['a', AUD] }).verify(await mint(ed), at);
  });

  test('clock tolerance (default 5 s) at its boundary: exp and nbf', async () => {
    await verifier().verify(await mint(ed, { exp: NOW - 4 }), at);
    await refused(verifier().verify(await mint(ed, { exp: NOW - 5 }), at), /has expired/);
    await verifier().verify(await mint(ed, { nbf: NOW + 5 }), at);
    await refused(verifier().verify(await mint(ed, { nbf: NOW + 6 }), at), /not valid yet \(nbf\)/);
    await refused(verifier().verify(await mint(ed, { nbf: NOW + 3600 }), at), /not valid yet/);
    await refused(
      verifier(undefined, { clockToleranceSeconds: 0 }).verify(await mint(ed, { exp: NOW }), at),
      /has expired/,
    );
  });

  test('alg none is refused, whatever the key source', async () => {
    const none = compact({ alg: 'none', typ: 'JWT' }, claims, () => '');
    for (const keys of [jwksFromJson(jwksOf(ed)), keyFromPem(pemOf(ed.privateKey))]) {
      await refused(verifier(keys).verify(none, at), /algorithm "none" is not allowed/);
    }
  });

  test('HS256 signed with the public key (as PEM text or raw JWK bytes) is refused', async () => {
    const pem = pemOf(ed.privateKey);
    const secrets = [Buffer.from(pem), Buffer.from(ed.publicJwk.x!, 'base64url')];
    for (const secret of secrets) {
      for (const header of [{ alg: 'HS256', kid: ed.kid }, { alg: 'HS256' }]) {
        const token = compact(header, claims, (input) =>
          createHmac('sha256', secret).update(input).digest('base64url'),
        );
        await refused(verifier().verify(token, at), /algorithm "HS256" is not allowed/);
        await refused(verifier(keyFromPem(pem)).verify(token, at), /algorithm "HS256" is not allowed/);
      }
    }
  });

  test('the allow-list can be narrowed: an RS256 token when only EdDSA is allowed', async () => {
    await refused(
      verifier(undefined, { algorithms: ['EdDSA'] }).verify(await mint(rs), at),
      /algorithm "RS256" is not allowed \(EdDSA\)/,
    );
    assert.throws(() => verifier(undefined, { algorithms: ['HS256' as 'EdDSA'] }), /config\.bad-token-algorithms/);
  });

  test('garbage, no token, a truncated signature', async () => {
    await refused(verifier().verify(undefined, at), /no session token/);
    await refused(verifier().verify('not.a.jwt', at), /not a valid compact JWS/);
    const token = await mint(ed);
    await refused(verifier().verify(token.slice(0, -4) + 'AAAA', at), /signature is invalid/);
  });

  test('a PEM key (TOKEN_PUBLIC_KEY) verifies tokens of its algorithm, kid or not; other algorithms are refused', async () => {
    const pem = keyFromPem(pemOf(ed.privateKey));
    await verifier(pem).verify(await mint(ed), at);
    await verifier(pem).verify(await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).sign(ed.privateKey), at);
    await refused(verifier(pem).verify(await mint(es), at), /no key of the issuer matches/);
  });
});

describe('claims mapping', () => {
  test('user id and grants from configured claims: nested paths, URL-named claims, space-separated grants, numeric ids', async () => {
    const nested = verifier(undefined, {
      claims: { userClaim: 'harmony.user_id', grantsClaim: 'https://harmony.example/voice' },
    });
    const token = await mint(ed, {
      sub: 'auth0|abc',
      harmony: { user_id: '9223372036854775813' },
      'https://harmony.example/voice': '1:7 1:8',
    });
    assert.deepEqual(await nested.verify(token, at), {
      userId: '9223372036854775813',
      grants: ['1:7', '1:8'],
      expiresAt: NOW + 3600,
    });
    const numeric = verifier(undefined, { claims: { userClaim: 'uid' } });
    assert.equal((await numeric.verify(await mint(ed, { uid: 1234 }), at)).userId, '1234');
  });

  test('state.v1: the channels a user may moderate come from the moderation claim (default `moderates`, or TOKEN_MODERATE_CLAIM)', async () => {
    assert.deepEqual((await verifier().verify(await mint(ed, { moderates: ['1:7', '2:*'] }), at)).moderates, [
      '1:7',
      '2:*',
    ]);
    // Absent or malformed: no moderation (the claim only ever adds a permission; the token itself stays valid).
    assert.equal((await verifier().verify(await mint(ed), at)).moderates, undefined);
    assert.equal((await verifier().verify(await mint(ed, { moderates: 7 }), at)).moderates, undefined);
    const v = await tokenVerifierFromEnv(
      {
        TOKEN_ISSUER: ISS,
        TOKEN_PUBLIC_KEY: pemOf(ed.privateKey),
        TOKEN_MODERATE_CLAIM: 'https://harmony.example/mod',
      },
      {
        readParameter: () => Promise.reject(new Error('no SSM here')),
      },
    );
    assert.deepEqual(
      (await v.verify(await mint(ed, { 'https://harmony.example/mod': '1:7 1:8', moderates: ['9:9'] }), at)).moderates,
      ['1:7', '1:8'],
    );
  });

  test('a user id that is not a decimal uint64, and missing grants, are refused with the claim named', async () => {
    await refused(verifier().verify(await mint(ed, { sub: 'auth0|abc' }), at), /claim "sub" must be a decimal uint64/);
    await refused(verifier().verify(await mint(ed, { sub: '18446744073709551616' }), at), /claim "sub"/);
    await refused(
      verifier(undefined, { claims: { userClaim: 'uid' } }).verify(await mint(ed, { uid: 2 ** 60 }), at),
      /claim "uid"/,
    );
    await refused(
      verifier().verify(await mint(ed, { channels: undefined }), at),
      /grants no channels \(claim "channels"/,
    );
  });
});

describe('a JWKS URL', () => {
  let server: Server;
  let url: string;
  let published: JSONWebKeySet = jwksOf(ed);
  let failing = false;
  let fetches = 0;
  before(async () => {
    server = createServer((_req, res) => {
      fetches++;
      if (failing) return void res.writeHead(503).end('down');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  const reset = () => {
    published = jwksOf(ed);
    failing = false;
    fetches = 0;
  };
  const now = () => ({ now: new Date() }); // the remote cache runs on the real clock; tokens are minted for it
  const live = (key: SigningKey, extra: Record<string, unknown> = {}) =>
    mint(key, { iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...extra });

  test('rotation: a new kid is fetched on first sight; the removed old key is refused once the set is refetched', async () => {
    reset();
    const v = verifier(jwksFromUrl(url, { cacheMaxAgeMs: 0, cooldownMs: 0 }));
    await v.verify(await live(ed), now());
    published = jwksOf(ed, es); // the issuer publishes its next key ...
    await v.verify(await live(es), now());
    published = jwksOf(es); // ... and later retires the old one
    await refused(v.verify(await live(ed), now()), new RegExp(`no key of the issuer matches .*${ed.kid}`));
    await v.verify(await live(es), now());
  });

  test('cooldown: within it an unknown kid does not refetch (jose semantics); a known kid uses the cache', async () => {
    reset();
    const v = verifier(jwksFromUrl(url, { cacheMaxAgeMs: 600_000, cooldownMs: 600_000 }));
    await v.verify(await live(ed), now());
    await v.verify(await live(ed), now());
    assert.equal(fetches, 1, 'cached within its max age');
    published = jwksOf(ed, es);
    await refused(v.verify(await live(es), now()), /no key of the issuer matches/);
    assert.equal(fetches, 1, 'no refetch during the cooldown');
  });

  test('a failing JWKS URL: cached keys keep verifying, and a warning is logged', async () => {
    reset();
    const lines: string[] = [];
    const v = verifier(
      jwksFromUrl(url, { cacheMaxAgeMs: 0, log: createLogger({ level: 'debug', write: (l) => lines.push(l) }) }),
    );
    await v.verify(await live(ed), now());
    failing = true;
    const fetchesBefore = fetches;
    assert.equal((await v.verify(await live(ed), now())).userId, '42');
    assert.ok(fetches > fetchesBefore, 'it did try to refetch');
    assert.ok(
      lines.some((l) => JSON.parse(l).msg === 'token.jwks-refresh-failed'),
      lines.join('\n'),
    );
  });

  test('the fallback has a maximum staleness: past maxStaleMs after the last fetch, tokens are refused until a fetch works', async () => {
    reset();
    let clock = Date.now();
    const lines: string[] = [];
    const v = verifier(
      jwksFromUrl(url, {
        cacheMaxAgeMs: 0,
        cooldownMs: 0,
        maxStaleMs: 60_000,
        now: () => clock,
        log: createLogger({ write: (l) => lines.push(l) }),
      }),
    );
    await v.verify(await live(ed), now());
    failing = true; // the issuer becomes unreachable (it may have removed this key meanwhile)
    clock += 59_000;
    assert.equal((await v.verify(await live(ed), now())).userId, '42', 'within the bound the last set still verifies');
    clock += 2_000;
    await refused(v.verify(await live(ed), now()), /signing keys \(JWKS\) could not be fetched/);
    assert.ok(
      lines.some((l) => JSON.parse(l).msg === 'token.jwks-too-stale'),
      lines.join('\n'),
    );
    failing = false; // back: a fresh fetch verifies again
    assert.equal((await v.verify(await live(ed), now())).userId, '42');
  });

  test('during an outage the failed URL is retried once per cooldown, not for every token', async () => {
    reset();
    const v = verifier(jwksFromUrl(url, { cacheMaxAgeMs: 0, cooldownMs: 600_000 }));
    await v.verify(await live(ed), now());
    failing = true;
    await v.verify(await live(ed), now());
    const afterFailure = fetches;
    for (let i = 0; i < 3; i++) await v.verify(await live(ed), now());
    assert.equal(fetches, afterFailure, 'no fetch while the failure is fresh');
    await refused(v.verify(await live(es), now()), /no key of the issuer matches/); // the last set decides meanwhile
  });

  test('a failing JWKS URL with nothing cached: a clear refusal and an error log line for the operator', async () => {
    reset();
    failing = true;
    const lines: string[] = [];
    const v = verifier(jwksFromUrl(url, { log: createLogger({ write: (l) => lines.push(l) }) }));
    await refused(v.verify(await live(ed), now()), /signing keys \(JWKS\) could not be fetched/);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'token.jwks-unavailable');
    assert.ok(line, lines.join('\n'));
    assert.match(line.error, /200 OK/);
  });

  test('an unreachable JWKS host (connection refused): the same clear refusal', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const v = verifier(jwksFromUrl(`http://127.0.0.1:${port}/jwks.json`));
    await refused(v.verify(await live(ed), now()), /could not be fetched/);
  });
});

describe('settings from the environment', () => {
  const noSsm = { readParameter: () => Promise.reject(new Error('no SSM here')) };
  test('TOKEN_PUBLIC_KEY (PEM) keeps working, with claim defaults when the claim variables are unset', async () => {
    const v = await tokenVerifierFromEnv(
      {
        TOKEN_ISSUER: ISS,
        TOKEN_PUBLIC_KEY: pemOf(ed.privateKey),
        TOKEN_USER_CLAIM: '',
        TOKEN_GRANTS_CLAIM: undefined,
      },
      noSsm,
    );
    assert.deepEqual(await v.verify(await mint(ed), at), { userId: '42', grants: ['1:7'], expiresAt: NOW + 3600 });
  });

  test('TOKEN_JWKS, TOKEN_AUDIENCE, TOKEN_USER_CLAIM, TOKEN_ALGORITHMS, TOKEN_CLOCK_TOLERANCE_SECONDS', async () => {
    const v = await tokenVerifierFromEnv(
      {
        TOKEN_ISSUER: `other,${ISS}`,
        TOKEN_AUDIENCE: AUD,
        TOKEN_JWKS: JSON.stringify(jwksOf(ed, es)),
        TOKEN_USER_CLAIM: 'uid',
        TOKEN_ALGORITHMS: 'ES256',
        TOKEN_CLOCK_TOLERANCE_SECONDS: '0',
      },
      noSsm,
    );
    assert.equal((await v.verify(await mint(es, { uid: '7' }), at)).userId, '7');
    await refused(v.verify(await mint(ed, { uid: '7' }), at), /"EdDSA" is not allowed \(ES256\)/);
    await refused(v.verify(await mint(es, { uid: '7', exp: NOW }), at), /expired/);
  });

  test('TOKEN_PUBLIC_KEY_PARAMETER holding a JWKS is read through the loader', async () => {
    const v = await tokenVerifierFromEnv(
      { TOKEN_ISSUER: ISS, TOKEN_PUBLIC_KEY_PARAMETER: '/p' },
      {
        readParameter: async (name) => (name === '/p' ? JSON.stringify(jwksOf(rs)) : ''),
      },
    );
    await v.verify(await mint(rs), at);
  });

  test('on AWS (a Lambda environment) the audience is required unless explicitly waived', async () => {
    const aws = {
      AWS_LAMBDA_FUNCTION_NAME: 'HarmonyVoice-ConnectHandler',
      TOKEN_ISSUER: ISS,
      TOKEN_PUBLIC_KEY: pemOf(ed.privateKey),
    };
    await assert.rejects(tokenVerifierFromEnv(aws, noSsm), /config\.missing-token-audience/);
    await tokenVerifierFromEnv({ ...aws, TOKEN_AUDIENCE: 'harmony-voice' }, noSsm);
    await tokenVerifierFromEnv({ ...aws, TOKEN_AUDIENCE_WAIVED: '1' }, noSsm);
    await tokenVerifierFromEnv({ TOKEN_ISSUER: ISS, TOKEN_PUBLIC_KEY: pemOf(ed.privateKey) }, noSsm); // locally: optional
  });

  test('configuration mistakes fail loudly', async () => {
    await assert.rejects(tokenVerifierFromEnv({ TOKEN_PUBLIC_KEY: pemOf(ed.privateKey) }, noSsm), /TOKEN_ISSUER/);
    await assert.rejects(tokenVerifierFromEnv({ TOKEN_ISSUER: ISS }, noSsm), /exactly one of .*none is set/);
    await assert.rejects(
      tokenVerifierFromEnv({ TOKEN_ISSUER: ISS, TOKEN_JWKS_URL: 'https://x.test/j', TOKEN_PUBLIC_KEY: 'x' }, noSsm),
      /TOKEN_JWKS_URL and TOKEN_PUBLIC_KEY are set/,
    );
    await assert.rejects(
      tokenVerifierFromEnv({ TOKEN_ISSUER: ISS, TOKEN_JWKS_URL: 'http://id.example.test/jwks' }, noSsm),
      /must be https/,
    );
    await assert.rejects(
      tokenVerifierFromEnv(
        { TOKEN_ISSUER: ISS, TOKEN_JWKS: JSON.stringify({ keys: [ed.privateKey.export({ format: 'jwk' })] }) },
        noSsm,
      ),
      /private or symmetric/,
    );
    await assert.rejects(
      tokenVerifierFromEnv({ TOKEN_ISSUER: ISS, TOKEN_JWKS: '{}', TOKEN_ALGORITHMS: 'HS256' }, noSsm),
      /bad-token-algorithms/,
    );
    await assert.rejects(
      tokenVerifierFromEnv(
        { TOKEN_ISSUER: ISS, TOKEN_PUBLIC_KEY: pemOf(ed.privateKey), TOKEN_CLOCK_TOLERANCE_SECONDS: '3600' },
        noSsm,
      ),
      /TOKEN_CLOCK_TOLERANCE_SECONDS/,
    );
  });
});

function pemOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
}
