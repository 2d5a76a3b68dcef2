// Session tokens: compact JWS signed with Ed25519 ("EdDSA"). Only the public key lives with the
// service, so a leaked function environment cannot mint tokens. Claims name the user and the exact
// guild channels the token lets that user join.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ErrorId, VoiceError } from '../../protocol/errors';

export interface TokenClaims {
  /** Harmony user id, decimal string (uint64). */
  sub: string;
  iss: string;
  /** Epoch seconds. */
  iat: number;
  exp: number;
  /** Channels the user may join, each "<guildId>:<channelId>" in decimal. */
  channels: string[];
}

const HEADER = base64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' }));
const DECIMAL_U64 = /^(0|[1-9][0-9]{0,19})$/;

export function isUint64Decimal(value: string): boolean {
  return DECIMAL_U64.test(value) && BigInt(value) < 1n << 64n;
}

export function signToken(claims: TokenClaims, privateKey: KeyObject): string {
  const payload = base64url(JSON.stringify(claims));
  const signature = sign(null, Buffer.from(`${HEADER}.${payload}`), privateKey);
  return `${HEADER}.${payload}.${signature.toString('base64url')}`;
}

/** Verifies signature, issuer and expiry. Every failure is `h.blank-session` with the reason. */
export function verifyToken(
  token: string | undefined,
  publicKey: KeyObject,
  options: { issuer: string; nowSeconds?: number },
): TokenClaims {
  const reject = (why: string) => new VoiceError(ErrorId.blankSession, why, { fatal: true });
  if (!token) throw reject('no session token: send it as the Authorization header or the last Sec-WebSocket-Protocol value');
  const parts = token.split('.');
  if (parts.length !== 3) throw reject('session token is not a compact JWS');
  const [header, payload, signature] = parts as [string, string, string];
  if (header !== HEADER) throw reject('session token header is not EdDSA');
  const valid = verify(null, Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'));
  if (!valid) throw reject('session token signature is invalid');
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw reject('session token payload is not JSON');
  }
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (typeof claims.sub !== 'string' || !isUint64Decimal(claims.sub)) throw reject('session token has no valid user id (sub)');
  if (claims.iss !== options.issuer) throw reject('session token was issued by someone else');
  if (typeof claims.exp !== 'number' || claims.exp <= now) throw reject('session token has expired');
  if (!Array.isArray(claims.channels)) throw reject('session token grants no channels');
  return claims;
}

export function publicKeyFromPem(pem: string): KeyObject {
  return createPublicKey(pem);
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
