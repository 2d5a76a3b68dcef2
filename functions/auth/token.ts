// Session tokens: standard JWTs (compact JWS) from any issuer, verified with jose. Only public keys live with the
// service (a JWKS URL, a static JWKS or one PEM key: keys.ts), so a leaked function environment cannot mint
// tokens. What is checked: the algorithm against an allow-list (never `none`, never HMAC: a public key must not be
// usable as a shared secret), the signature with the key the header's `kid` selects, `iss`, `aud` (when
// configured), `exp` (required), `nbf`, with a small clock tolerance. Which claims hold the user id and the channel
// grants is configurable, so an identity provider's or a Harmony homeserver's tokens work without re-minting.
// Every refusal is `h.blank-session` with the precise reason.
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { KeysUnavailableError, TOKEN_ALGORITHMS, type TokenAlgorithm, type TokenKeys } from './keys';
import type { Principal } from './policy';

export interface ClaimsMapping {
  /** Claim holding the Harmony user id: a decimal uint64 string (or a safe integer). Default `sub`. */
  userClaim: string;
  /** Claim holding the channel grants: an array of "<guildId>:<channelId>" or one space-separated string. Default `channels`. */
  grantsClaim: string;
  /** state.v1: claim listing the channels the user may moderate, like the grants. Default `moderates`. */
  moderateClaim: string;
}

export const DEFAULT_CLAIMS: ClaimsMapping = { userClaim: 'sub', grantsClaim: 'channels', moderateClaim: 'moderates' };
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

export interface TokenVerifierOptions {
  keys: TokenKeys;
  /** Accepted `iss` value(s). */
  issuer: string | string[];
  /** Accepted `aud` value(s); unset = `aud` is not checked. */
  audience?: string | string[];
  /** Subset of EdDSA, ES256, RS256 (default all three). */
  algorithms?: TokenAlgorithm[];
  clockToleranceSeconds?: number;
  claims?: Partial<ClaimsMapping>;
}

export interface VerifiedToken extends Principal {
  /** Epoch seconds. */
  expiresAt: number;
}

const DECIMAL_U64 = /^(0|[1-9][0-9]{0,19})$/;

export function isUint64Decimal(value: string): boolean {
  return DECIMAL_U64.test(value) && BigInt(value) < 1n << 64n;
}

export class TokenVerifier {
  private readonly algorithms: TokenAlgorithm[];
  private readonly claims: ClaimsMapping;
  private readonly tolerance: number;

  constructor(private readonly options: TokenVerifierOptions) {
    this.algorithms = options.algorithms ?? [...TOKEN_ALGORITHMS];
    const unknown = this.algorithms.filter((a) => !TOKEN_ALGORITHMS.includes(a));
    if (unknown.length > 0 || this.algorithms.length === 0) {
      throw new Error(
        `config.bad-token-algorithms: choose from ${TOKEN_ALGORITHMS.join(', ')} (got ${this.algorithms.join(', ') || 'none'})`,
      );
    }
    this.claims = {
      userClaim: options.claims?.userClaim || DEFAULT_CLAIMS.userClaim,
      grantsClaim: options.claims?.grantsClaim || DEFAULT_CLAIMS.grantsClaim,
      moderateClaim: options.claims?.moderateClaim || DEFAULT_CLAIMS.moderateClaim,
    };
    this.tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  }

  /** The principal the token names; rejects with a fatal `h.blank-session` VoiceError saying why. */
  async verify(token: string | undefined, at?: { now?: Date }): Promise<VerifiedToken> {
    if (!token)
      throw reject('no session token: send it as the Authorization header or the last Sec-WebSocket-Protocol value');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.options.keys.getKey, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.tolerance,
        requiredClaims: ['exp'],
        currentDate: at?.now,
      }));
    } catch (err) {
      throw reject(reasonFor(err, token, this.algorithms));
    }
    const userId = claimAt(payload, this.claims.userClaim);
    const user = typeof userId === 'number' && Number.isSafeInteger(userId) && userId >= 0 ? String(userId) : userId;
    if (typeof user !== 'string' || !isUint64Decimal(user)) {
      throw reject(`session token has no valid user id (claim "${this.claims.userClaim}" must be a decimal uint64)`);
    }
    const grants = grantsOf(claimAt(payload, this.claims.grantsClaim));
    if (!grants)
      throw reject(
        `session token grants no channels (claim "${this.claims.grantsClaim}" must list "<guildId>:<channelId>")`,
      );
    // state.v1: channels the user may moderate; absent or malformed = none (it only ever adds a permission).
    const moderates = grantsOf(claimAt(payload, this.claims.moderateClaim)) ?? [];
    return { userId: user, grants, ...(moderates.length > 0 ? { moderates } : {}), expiresAt: payload.exp! };
  }
}

function reject(why: string): VoiceError {
  return new VoiceError(ErrorId.blankSession, why, { fatal: true });
}

/** A claim by exact name first (URLs as claim names are common), else by a dotted path into nested objects. */
function claimAt(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function grantsOf(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((g) => typeof g === 'string')) return value as string[];
  return undefined;
}

function reasonFor(err: unknown, token: string, algorithms: string[]): string {
  if (err instanceof KeysUnavailableError)
    return "the identity provider's signing keys (JWKS) could not be fetched; try again later";
  if (err instanceof errors.JWTExpired) return 'session token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'session token was issued by someone else (iss)';
    if (err.claim === 'aud') return 'session token is meant for another audience (aud)';
    if (err.claim === 'nbf') return 'session token is not valid yet (nbf)';
    if (err.claim === 'exp') return 'session token has no expiry (exp)';
    return `session token claim "${err.claim}" is invalid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return `session token algorithm ${headerAlg(token)} is not allowed (${algorithms.join(', ')})`;
  if (err instanceof errors.JWKSNoMatchingKey)
    return `no key of the issuer matches the session token (kid ${headerKid(token)}, ${headerAlg(token)})`;
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return 'several keys of the issuer match the session token and it names no kid';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'session token signature is invalid';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid)
    return 'session token is not a valid compact JWS/JWT';
  if (err instanceof errors.JOSENotSupported)
    return `session token uses an unsupported algorithm or key (${headerAlg(token)})`;
  return 'session token could not be verified';
}

function headerAlg(token: string): string {
  try {
    return JSON.stringify(decodeProtectedHeader(token).alg ?? null);
  } catch {
    return '(unreadable header)';
  }
}

function headerKid(token: string): string {
  try {
    return JSON.stringify(decodeProtectedHeader(token).kid ?? null);
  } catch {
    return '(unreadable header)';
  }
}
