// GET /dev/token?user=42&guild=1&channel=7[&channel=8]: a development session token for the web demo,
// signed with the local development key. Only the local stack enables it; nothing on AWS serves it.
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUint64Decimal, signToken } from '../../functions/auth/token';

export const DEV_TOKEN_PATH = '/dev/token';
export const DEV_TOKEN_TTL_SECONDS = 24 * 60 * 60;

export interface DevTokenSigner {
  privateKey: KeyObject;
  issuer: string;
}

export type DevTokenRequest =
  | { ok: true; user: string; guild: string; channels: string[] }
  | { ok: false; message: string };

export function parseDevTokenQuery(search: URLSearchParams): DevTokenRequest {
  const user = search.get('user') ?? '';
  const guild = search.get('guild') ?? '';
  const channels = search.getAll('channel');
  if (!user || !guild || channels.length === 0) {
    return { ok: false, message: 'expected ?user=<id>&guild=<id>&channel=<id>[&channel=<id>...]' };
  }
  const bad = [user, guild, ...channels].find((id) => !isUint64Decimal(id));
  if (bad !== undefined) return { ok: false, message: `"${bad}" is not a decimal uint64 id` };
  return { ok: true, user, guild, channels };
}

export function mintDevToken(signer: DevTokenSigner, user: string, guild: string, channels: string[], nowSeconds = Math.floor(Date.now() / 1000)) {
  const expiresAt = nowSeconds + DEV_TOKEN_TTL_SECONDS;
  const token = signToken(
    { sub: user, iss: signer.issuer, iat: nowSeconds, exp: expiresAt, channels: channels.map((c) => `${guild}:${c}`) },
    signer.privateKey,
  );
  return { token, expiresAt };
}

/** Answers `/dev/token`; returns false for any other path. Response: {"token","user","guild","channels","expiresAt"}. */
export function handleDevTokenRequest(req: IncomingMessage, res: ServerResponse, signer: DevTokenSigner): boolean {
  const url = new URL(req.url ?? '/', 'http://gateway.invalid');
  if (url.pathname !== DEV_TOKEN_PATH) return false;
  const parsed: DevTokenRequest = req.method === 'GET' || req.method === undefined
    ? parseDevTokenQuery(url.searchParams)
    : { ok: false, message: `${req.method} ${DEV_TOKEN_PATH}: use GET` };
  const status = parsed.ok ? 200 : req.method === 'GET' ? 400 : 405;
  const body = parsed.ok
    ? { ...mintDevToken(signer, parsed.user, parsed.guild, parsed.channels), user: parsed.user, guild: parsed.guild, channels: parsed.channels }
    : { error: status === 405 ? 'method-not-allowed' : 'bad-request', message: parsed.message };
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
  return true;
}
