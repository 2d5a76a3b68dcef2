// The local stack's development issuer over HTTP (never on AWS):
//   GET /dev/token?user=42&guild=1&channel=7[&channel=8]  a session token for the web demo (jose-signed)
//       [&moderator=1]                                    state.v1: the token may moderate those channels (`moderates`)
//   GET /.well-known/jwks.json                            the issuer's public keys, as an identity provider serves them
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUint64Decimal } from '../../functions/auth/token';
import { JWKS_PATH, type DevIssuer } from '../dev-issuer';

export const DEV_TOKEN_PATH = '/dev/token';
export const DEV_TOKEN_TTL_SECONDS = 24 * 60 * 60;

export type DevTokenQuery =
  | { ok: true; user: string; guild: string; channels: string[]; moderator?: boolean }
  | { ok: false; message: string };

export function parseDevTokenQuery(search: URLSearchParams): DevTokenQuery {
  const user = search.get('user') ?? '';
  const guild = search.get('guild') ?? '';
  const channels = search.getAll('channel');
  if (!user || !guild || channels.length === 0) {
    return { ok: false, message: 'expected ?user=<id>&guild=<id>&channel=<id>[&channel=<id>...]' };
  }
  const bad = [user, guild, ...channels].find((id) => !isUint64Decimal(id));
  if (bad !== undefined) return { ok: false, message: `"${bad}" is not a decimal uint64 id` };
  return { ok: true, user, guild, channels, ...(search.get('moderator') === '1' ? { moderator: true } : {}) };
}

export async function mintDevToken(
  issuer: DevIssuer,
  user: string,
  guild: string,
  channels: string[],
  nowSeconds = Math.floor(Date.now() / 1000),
  moderator = false,
) {
  const claims = moderator ? { moderates: channels.map((c) => `${guild}:${c}`) } : undefined;
  const token = await issuer.mint({
    user,
    guild,
    channels,
    ttlSeconds: DEV_TOKEN_TTL_SECONDS,
    nowSeconds,
    ...(claims ? { claims } : {}),
  });
  return { token, expiresAt: nowSeconds + DEV_TOKEN_TTL_SECONDS };
}

/** Answers `/dev/token` and the JWKS; returns false for any other path. Token response: {"token","user","guild","channels","expiresAt"}. */
export async function handleDevIssuerRequest(
  req: IncomingMessage,
  res: ServerResponse,
  issuer: DevIssuer,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://gateway.invalid');
  if (url.pathname === JWKS_PATH) {
    if (issuer.unavailable)
      respond(res, 503, { error: 'unavailable', message: 'the development issuer is switched off' });
    else respond(res, 200, issuer.jwks(), 'application/jwk-set+json');
    return true;
  }
  if (url.pathname !== DEV_TOKEN_PATH) return false;
  const parsed: DevTokenQuery =
    req.method === 'GET' || req.method === undefined
      ? parseDevTokenQuery(url.searchParams)
      : { ok: false, message: `${req.method} ${DEV_TOKEN_PATH}: use GET` };
  const status = parsed.ok ? 200 : req.method === 'GET' ? 400 : 405;
  const body = parsed.ok
    ? {
        ...(await mintDevToken(issuer, parsed.user, parsed.guild, parsed.channels, undefined, parsed.moderator)),
        user: parsed.user,
        guild: parsed.guild,
        channels: parsed.channels,
      }
    : { error: status === 405 ? 'method-not-allowed' : 'bad-request', message: parsed.message };
  respond(res, status, body);
  return true;
}

function respond(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
