// The local development token issuer: what an identity provider is to a deployment. It signs session tokens with
// a private key generated on first use into .local/ (git-ignored; no key is ever a built-in default) or the PEM
// named by DEV_TOKEN_KEY_FILE, and publishes its public keys as a JWKS (the local gateway serves it at
// /.well-known/jwks.json, and the local handlers verify against that URL like against any issuer). Keys carry a
// `kid` (the RFC 7638 thumbprint); rotate()/retire() exercise key rotation, `unavailable` an issuer outage.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { algorithmOf, type TokenAlgorithm } from '../functions/auth/keys';

export const DEV_TOKEN_ISSUER = 'harmony-voice-local';
export const DEV_TOKEN_AUDIENCE = 'harmony-voice';
export const JWKS_PATH = '/.well-known/jwks.json';
const KEY_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../.local/dev-token-key.pem');

export interface SigningKey {
  kid: string;
  alg: TokenAlgorithm;
  privateKey: KeyObject;
  publicJwk: JWK;
}

export interface DevTokenRequest {
  user: string;
  guild: string;
  channels: string[];
  /** Default 24 h. */
  ttlSeconds?: number;
  /** Extra or overriding claims (aud, nbf, iss, …): tests. */
  claims?: Record<string, unknown>;
  /** Sign with this key instead of the current one (it need not be published: tests). */
  key?: SigningKey;
  nowSeconds?: number;
}

export class DevIssuer {
  /** While true, the JWKS endpoint answers 503 (an issuer outage, for tests). */
  unavailable = false;
  private readonly published: SigningKey[];

  constructor(
    keys: SigningKey[],
    readonly issuer = DEV_TOKEN_ISSUER,
    readonly audience = DEV_TOKEN_AUDIENCE,
  ) {
    if (keys.length === 0) throw new Error('dev-issuer: at least one key');
    this.published = [...keys];
  }

  /** The issuer with the development key of `file` (created on first use). */
  static load(file = process.env.DEV_TOKEN_KEY_FILE ?? KEY_FILE): DevIssuer {
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ed25519');
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    }
    return new DevIssuer([signingKey(createPrivateKey(readFileSync(file, 'utf8')))]);
  }

  /** The key new tokens are signed with (the newest published one). */
  get current(): SigningKey {
    return this.published.at(-1)!;
  }

  /** The public JWKS, as GET /.well-known/jwks.json serves it. */
  jwks(): JSONWebKeySet {
    return { keys: this.published.map((k) => k.publicJwk) };
  }

  /** Publishes a new key (generated unless given) and signs with it from now on; the old ones stay published. */
  rotate(privateKey: KeyObject = generateKeyPairSync('ed25519').privateKey): SigningKey {
    const key = signingKey(privateKey);
    this.published.push(key);
    return key;
  }

  /** Stops publishing a key: verifiers refuse its tokens once they refetch the JWKS. */
  retire(kid: string): void {
    const i = this.published.findIndex((k) => k.kid === kid);
    if (i < 0) throw new Error(`dev-issuer: no published key ${kid}`);
    if (this.published.length === 1) throw new Error('dev-issuer: cannot retire the only key');
    this.published.splice(i, 1);
  }

  /** A session token signed with jose (the tool and /dev/token use this). */
  async mint(request: DevTokenRequest): Promise<string> {
    const key = request.key ?? this.current;
    return new SignJWT(this.claimsOf(request))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  /**
   * The same token, signed synchronously with node:crypto (EdDSA keys only), for callers that cannot await
   * (the local stack's mintToken, test helpers). Standard compact JWS: jose verifies it like any other.
   */
  mintSync(request: DevTokenRequest): string {
    const key = request.key ?? this.current;
    if (key.alg !== 'EdDSA') throw new Error('dev-issuer: mintSync signs with Ed25519 keys only; use mint()');
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${part({ alg: key.alg, kid: key.kid, typ: 'JWT' })}.${part(this.claimsOf(request))}`;
    return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
  }

  private claimsOf({
    user,
    guild,
    channels,
    ttlSeconds = 24 * 3600,
    claims,
    nowSeconds,
  }: DevTokenRequest): Record<string, unknown> {
    const now = nowSeconds ?? Math.floor(Date.now() / 1000);
    return {
      sub: user,
      iss: this.issuer,
      aud: this.audience,
      iat: now,
      exp: now + ttlSeconds,
      channels: channels.map((c) => `${guild}:${c}`),
      ...claims,
    };
  }
}

/** A signing key from a private key: algorithm from its type, kid = RFC 7638 JWK thumbprint of the public key. */
export function signingKey(privateKey: KeyObject): SigningKey {
  const alg = algorithmOf(privateKey);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = jwkThumbprint(jwk);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

function jwkThumbprint(jwk: JWK): string {
  const members: Record<string, string[]> = {
    OKP: ['crv', 'kty', 'x'],
    EC: ['crv', 'kty', 'x', 'y'],
    RSA: ['e', 'kty', 'n'],
  };
  const required = members[jwk.kty!];
  if (!required) throw new Error(`dev-issuer: no thumbprint for kty ${jwk.kty}`);
  const canonical = JSON.stringify(Object.fromEntries(required.map((m) => [m, (jwk as Record<string, unknown>)[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}
