// Token verification settings from the environment (Lambda or the local stack). Pure: reading an SSM parameter is
// left to the caller (functions/handlers/runtime.ts), which passes a loader.
//   TOKEN_ISSUER                         accepted `iss` (comma-separated for several)                 required
//   TOKEN_AUDIENCE                       accepted `aud` (comma-separated); unset = not checked
//   one key source:
//     TOKEN_JWKS_URL                     the issuer's JWKS (https://…/.well-known/jwks.json)
//     TOKEN_JWKS                         a JWKS as JSON (offline)
//     TOKEN_PUBLIC_KEY                   one PEM public key (Ed25519, P-256, RSA), or a JWKS as JSON
//     TOKEN_PUBLIC_KEY_PARAMETER         SSM parameter holding either
//   TOKEN_ALGORITHMS                     allow-list, subset of EdDSA,ES256,RS256 (default all three)
//   TOKEN_CLOCK_TOLERANCE_SECONDS        accepted clock skew for exp/nbf (default 5, at most 300)
//   TOKEN_USER_CLAIM / TOKEN_GRANTS_CLAIM  claim names (default sub / channels; dotted paths reach nested claims)
//   TOKEN_MODERATE_CLAIM                 state.v1: claim listing the "<guild>:<channel>" (or "<guild>:*") the user
//                                        may moderate (default moderates)
//   TOKEN_JWKS_CACHE_MAX_AGE_MS          refetch the JWKS when older (default 600000)
//   TOKEN_JWKS_COOLDOWN_MS               an unknown kid refetches at most this often (default 30000)
//   TOKEN_JWKS_MAX_STALE_MS              how long the last fetched JWKS keeps verifying while the issuer is
//                                        unreachable (default 3600000; then tokens are refused until a fetch works)
//   TOKEN_AUDIENCE_WAIVED=1              on AWS (AWS_LAMBDA_FUNCTION_NAME set) TOKEN_AUDIENCE is required unless this
//                                        is set (the CDK app sets it only with `-c tokenAudienceWaived=true`)
import type { Logger } from '../../lib/log';
import { jwksFromJson, jwksFromUrl, keysFromText, TOKEN_ALGORITHMS, type TokenAlgorithm, type TokenKeys } from './keys';
import { TokenVerifier } from './token';

export const TOKEN_ENV_VARS = [
  'TOKEN_ISSUER',
  'TOKEN_AUDIENCE',
  'TOKEN_JWKS_URL',
  'TOKEN_JWKS',
  'TOKEN_PUBLIC_KEY',
  'TOKEN_PUBLIC_KEY_PARAMETER',
  'TOKEN_ALGORITHMS',
  'TOKEN_CLOCK_TOLERANCE_SECONDS',
  'TOKEN_USER_CLAIM',
  'TOKEN_GRANTS_CLAIM',
  'TOKEN_MODERATE_CLAIM',
  'TOKEN_JWKS_CACHE_MAX_AGE_MS',
  'TOKEN_JWKS_COOLDOWN_MS',
  'TOKEN_JWKS_MAX_STALE_MS',
  'TOKEN_AUDIENCE_WAIVED',
] as const;

const KEY_SOURCES = ['TOKEN_JWKS_URL', 'TOKEN_JWKS', 'TOKEN_PUBLIC_KEY', 'TOKEN_PUBLIC_KEY_PARAMETER'] as const;

export async function tokenVerifierFromEnv(
  env: NodeJS.ProcessEnv,
  deps: { readParameter(name: string): Promise<string>; log?: Logger },
): Promise<TokenVerifier> {
  const issuer = list(env.TOKEN_ISSUER);
  if (issuer.length === 0) throw new Error('config.missing: environment variable TOKEN_ISSUER is not set');
  const audience = list(env.TOKEN_AUDIENCE);
  if (audience.length === 0 && env.AWS_LAMBDA_FUNCTION_NAME && env.TOKEN_AUDIENCE_WAIVED !== '1') {
    throw new Error(
      'config.missing-token-audience: on AWS set TOKEN_AUDIENCE (CDK context tokenAudience), or waive it explicitly (tokenAudienceWaived)',
    );
  }
  const algorithms = list(env.TOKEN_ALGORITHMS);
  const bad = algorithms.filter((a) => !(TOKEN_ALGORITHMS as readonly string[]).includes(a));
  if (bad.length > 0)
    throw new Error(`config.bad-token-algorithms: ${bad.join(', ')} (choose from ${TOKEN_ALGORITHMS.join(', ')})`);
  return new TokenVerifier({
    keys: await keysFromEnv(env, deps),
    issuer: issuer.length === 1 ? issuer[0]! : issuer,
    audience: audience.length === 0 ? undefined : audience.length === 1 ? audience[0] : audience,
    algorithms: algorithms.length > 0 ? (algorithms as TokenAlgorithm[]) : undefined,
    clockToleranceSeconds: int(env, 'TOKEN_CLOCK_TOLERANCE_SECONDS', 0, 300),
    claims: {
      userClaim: env.TOKEN_USER_CLAIM || undefined,
      grantsClaim: env.TOKEN_GRANTS_CLAIM || undefined,
      moderateClaim: env.TOKEN_MODERATE_CLAIM || undefined,
    },
  });
}

async function keysFromEnv(
  env: NodeJS.ProcessEnv,
  deps: { readParameter(name: string): Promise<string>; log?: Logger },
): Promise<TokenKeys> {
  const set = KEY_SOURCES.filter((name) => env[name]);
  if (set.length !== 1) {
    throw new Error(
      `config.token-keys: set exactly one of ${KEY_SOURCES.join(', ')} (${set.length === 0 ? 'none is set' : `${set.join(' and ')} are set`})`,
    );
  }
  switch (set[0]!) {
    case 'TOKEN_JWKS_URL': {
      const url = env.TOKEN_JWKS_URL!;
      if (!/^https:\/\//.test(url) && !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(url)) {
        throw new Error('config.bad-jwks-url: TOKEN_JWKS_URL must be https:// (plain http only on loopback)');
      }
      return jwksFromUrl(url, {
        cacheMaxAgeMs: int(env, 'TOKEN_JWKS_CACHE_MAX_AGE_MS', 0, 24 * 3600_000),
        cooldownMs: int(env, 'TOKEN_JWKS_COOLDOWN_MS', 0, 3600_000),
        maxStaleMs: int(env, 'TOKEN_JWKS_MAX_STALE_MS', 60_000, 7 * 24 * 3600_000),
        log: deps.log,
      });
    }
    case 'TOKEN_JWKS':
      return jwksFromJson(env.TOKEN_JWKS!);
    case 'TOKEN_PUBLIC_KEY':
      return keysFromText(env.TOKEN_PUBLIC_KEY!);
    default: {
      const name = env.TOKEN_PUBLIC_KEY_PARAMETER!;
      const value = await deps.readParameter(name);
      if (!value) throw new Error(`config.missing-token-key: SSM parameter ${name} is empty`);
      return keysFromText(value);
    }
  }
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`config.bad-token-setting: ${name}=${value} is not an integer in [${min}, ${max}]`);
  return n;
}
