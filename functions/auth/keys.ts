// Where the keys that verify session tokens come from: an issuer's JWKS URL (fetched and cached by jose with its
// cooldown/max-age semantics, and the last good key set kept when a refresh fails), a static JWKS, or one PEM
// public key (the original configuration). Every source answers jose's "key for this protected header" question;
// the verifier (token.ts) does the rest.
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
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
  /**
   * The longest the last fetched key set keeps verifying while the issuer cannot be reached (default 1 hour,
   * TOKEN_JWKS_MAX_STALE_MS): after that, tokens are refused (`h.blank-session`, keys unavailable) until a fetch
   * succeeds, so a key the issuer removed is not honoured forever during an outage.
   */
  maxStaleMs?: number;
  /** Tests: the clock the staleness is measured on. */
  now?: () => number;
  log?: Logger;
  /** Tests: a fetch implementation. */
  fetch?: typeof fetch;
}

/** Default of RemoteJwksOptions.maxStaleMs. */
export const DEFAULT_JWKS_MAX_STALE_MS = 3_600_000;

/**
 * An issuer's JWKS URL. jose fetches it on first use, refetches after `cacheMaxAgeMs`, and on an unknown `kid`
 * (rotation) at most once per `cooldownMs`. When a refetch fails, the last key set fetched keeps verifying
 * (stale-if-error: an identity provider's outage does not lock everyone out) for at most `maxStaleMs` after it
 * was fetched, and the URL is tried again after `cooldownMs`; with no key set ever fetched, or only one older
 * than `maxStaleMs`, the verification fails with KeysUnavailableError.
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
  const maxStaleMs = options.maxStaleMs ?? DEFAULT_JWKS_MAX_STALE_MS;
  const now = options.now ?? Date.now;
  let failedAt = -Infinity;
  /**
   * The key set as of the last time the issuer's JWKS was obtained through jose (fetched then, or at most
   * `cacheMaxAgeMs` before): the fallback while the issuer is unreachable, for at most `maxStaleMs` after `at`.
   */
  let good: { text: string; local: ReturnType<typeof createLocalJWKSet>; at: number } | undefined;
  const obtained = () => {
    const jwks = remote.jwks();
    if (!jwks) return;
    const text = JSON.stringify(jwks);
    good = good?.text === text ? { ...good, at: now() } : { text, local: createLocalJWKSet(jwks), at: now() };
  };
  const fallback = () => (good && now() - good.at <= maxStaleMs ? good.local : undefined);
  const tooStale = (err?: unknown) => {
    options.log?.error('token.jwks-too-stale', {
      jwksUrl: where,
      maxStaleMs,
      obtainedAgoMs: now() - good!.at,
      ...(err ? { error: describe(err) } : {}),
    });
    return new KeysUnavailableError(
      `the JWKS at ${where} could not be fetched and the last key set is older than ${maxStaleMs} ms`,
      { cause: err },
    );
  };
  return {
    description: `jwks-url ${where}`,
    async getKey(header, token) {
      const last = fallback();
      if (now() - failedAt < retryAfterFailureMs) {
        if (last) return last(header, token);
        // Within the cooldown after a failure, with only a too-stale set: refuse without another fetch attempt.
        if (good) throw tooStale();
      }
      try {
        const key = await remote(header, token);
        failedAt = -Infinity; // the issuer answers again
        obtained();
        return key;
      } catch (err) {
        if (isKeySelectionError(err)) {
          failedAt = -Infinity; // a key set was obtained; it just has no such key
          obtained();
          throw err;
        }
        failedAt = now();
        if (last) {
          options.log?.warn('token.jwks-refresh-failed', {
            jwksUrl: where,
            error: describe(err),
            using: 'the last key set fetched',
            retryInMs: retryAfterFailureMs,
          });
          return last(header, token);
        }
        if (good) throw tooStale(err);
        options.log?.error('token.jwks-unavailable', { jwksUrl: where, error: describe(err) });
        throw new KeysUnavailableError(
          `the JWKS at ${where} could not be fetched and no keys are cached: ${describe(err)}`,
          { cause: err },
        );
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
      if (header.alg !== alg)
        throw new errors.JWKSNoMatchingKey(`the configured key is ${alg}, the token is ${header.alg}`);
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
  return (
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported ||
    err instanceof errors.JOSEAlgNotAllowed
  );
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}
