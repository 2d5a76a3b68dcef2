// Where the keys that verify session tokens come from: an issuer's JWKS URL (fetched and cached by jose with its
// cooldown/max-age semantics, and the last good key set kept when a refresh fails), a static JWKS, or one PEM
// public key (the original configuration). Every source answers jose's "key for this protected header" question;
// the verifier (token.ts) does the rest.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../../lib/log';

export type TokenAlgorithm = 'EdDSA' | 'ES256' | 'RS256';
export const TOKEN_ALGORITHMS: readonly TokenAlgorithm[] = ['EdDSA', 'ES256', 'RS256'];

export interface TokenKeys {
  /** For log lines and errors: "jwks-url https://…", "static-jwks (2 keys)", "pem (EdDSA)". Never key material. */
  readonly description: string;
  readonly getKey: JWTVerifyGetKey;
}

/** The issuer's keys could not be obtained at all (JWKS unreachable and nothing cached). */
export class KeysUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeysUnavailableError';
  }
}

export interface RemoteJwksOptions {
  /** jose's cacheMaxAge: a key set older than this is refetched before use (default 10 min). */
  cacheMaxAgeMs?: number;
  /**
   * jose's cooldownDuration: an unknown `kid` triggers a refetch at most this often (default 30 s). Also how long a
   * failed refetch is not retried (the last key set serves meanwhile), so an issuer outage costs one fetch timeout
   * per cooldown, not one per token.
   */
  cooldownMs?: number;
  /** Per fetch (default 5 s). */
  timeoutMs?: number;
  log?: Logger;
  /** Tests: a fetch implementation. */
  fetch?: typeof fetch;
}

/**
 * An issuer's JWKS URL. jose fetches it on first use, refetches after `cacheMaxAgeMs`, and on an unknown `kid`
 * (rotation) at most once per `cooldownMs`. When a refetch fails, the last key set fetched keeps verifying
 * (stale-if-error: an identity provider's outage does not lock everyone out) and the URL is tried again after
 * `cooldownMs`; with no key set ever fetched the verification fails with KeysUnavailableError.
 */
export function jwksFromUrl(url: string, options: RemoteJwksOptions = {}): TokenKeys {
  const parsed = new URL(url);
  const remote = createRemoteJWKSet(parsed, {
    cacheMaxAge: options.cacheMaxAgeMs,
    cooldownDuration: options.cooldownMs,
    timeoutDuration: options.timeoutMs,
    ...(options.fetch ? { [customFetch]: options.fetch } : {}),
  });
  const where = `${parsed.origin}${parsed.pathname}`;
  const retryAfterFailureMs = options.cooldownMs ?? 30_000;
  let failedAt = -Infinity;
  let stale: { jwks: JSONWebKeySet; local: ReturnType<typeof createLocalJWKSet> } | undefined;
  const lastKnown = () => {
    const jwks = remote.jwks();
    if (!jwks) return undefined;
    if (stale?.jwks !== jwks) stale = { jwks, local: createLocalJWKSet(jwks) };
    return stale.local;
  };
  return {
    description: `jwks-url ${where}`,
    async getKey(header, token) {
      const last = lastKnown();
      if (last && Date.now() - failedAt < retryAfterFailureMs) return last(header, token);
      try {
        const key = await remote(header, token);
        failedAt = -Infinity; // the issuer answers again
        return key;
      } catch (err) {
        if (isKeySelectionError(err)) {
          failedAt = -Infinity; // a key set was obtained; it just has no such key
          throw err;
        }
        failedAt = Date.now();
        if (last) {
          options.log?.warn('token.jwks-refresh-failed', {
            jwksUrl: where, error: describe(err), using: 'the last key set fetched', retryInMs: retryAfterFailureMs,
          });
          return last(header, token);
        }
        options.log?.error('token.jwks-unavailable', { jwksUrl: where, error: describe(err) });
        throw new KeysUnavailableError(`the JWKS at ${where} could not be fetched and no keys are cached: ${describe(err)}`, { cause: err });
      }
    },
  };
}

/** A JWKS given inline (JSON text or object): offline deployments, tests. */
export function jwksFromJson(jwks: string | JSONWebKeySet): TokenKeys {
  let set: JSONWebKeySet;
  try {
    set = typeof jwks === 'string' ? (JSON.parse(jwks) as JSONWebKeySet) : jwks;
  } catch {
    throw new Error('config.bad-token-keys: the JWKS is not JSON');
  }
  if (!set || !Array.isArray(set.keys)) throw new Error('config.bad-token-keys: the JWKS has no "keys" array');
  if (set.keys.some((k) => typeof k.d === 'string' || k.kty === 'oct')) {
    throw new Error('config.bad-token-keys: the JWKS holds private or symmetric keys; configure public keys only');
  }
  const local = createLocalJWKSet(set);
  return { description: `static-jwks (${set.keys.length} keys)`, getKey: (header, token) => local(header, token) };
}

/**
 * One PEM public key (Ed25519, P-256 or RSA; `TOKEN_PUBLIC_KEY`). Its algorithm follows from the key type and the
 * token's `kid`, if any, is not consulted: there is only one key.
 */
export function keyFromPem(pem: string): TokenKeys {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error('config.bad-token-keys: the token public key is not a PEM public key');
  }
  const alg = algorithmOf(key);
  return {
    description: `pem (${alg})`,
    getKey(header) {
      if (header.alg !== alg) throw new errors.JWKSNoMatchingKey(`the configured key is ${alg}, the token is ${header.alg}`);
      return key;
    },
  };
}

/** A configuration value that holds either a PEM public key or a JWKS (e.g. the SSM parameter). */
export function keysFromText(text: string): TokenKeys {
  return text.trimStart().startsWith('{') ? jwksFromJson(text) : keyFromPem(text);
}

export function algorithmOf(key: KeyObject): TokenAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'rsa') return 'RS256';
  throw new Error(`config.bad-token-keys: ${type} keys are not supported (Ed25519, P-256 or RSA)`);
}

/** Errors of choosing a key from a key set that was obtained (as opposed to failing to obtain it). */
function isKeySelectionError(err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported || err instanceof errors.JOSEAlgNotAllowed;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}
