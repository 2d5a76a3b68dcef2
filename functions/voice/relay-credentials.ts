// Short-lived TURN credentials, issued per session by the signalling side: the TURN REST API
// scheme coturn checks with `use-auth-secret` + `static-auth-secret` — username `<expiry unix seconds>:<user id>`,
// credential base64(HMAC-SHA1(secret, username)). Nothing is stored: the relay recomputes the HMAC, refuses a
// forged one and one whose expiry has passed. Never a static password in a client.
//
// The relay.v1 extension (relay-extension.ts) carries these to clients that asked for them in the one negotiation.
import { createHmac } from 'node:crypto';

export interface RelayConfig {
  /** The secret shared with the relays (coturn `static-auth-secret`); at least 32 bytes of entropy. */
  secret: string;
  /** The relays, as RTCIceServer urls (e.g. `turns:relay.example.com:443?transport=tcp`). */
  urls: string[];
  /** How long a credential is good for (default DEFAULT_RELAY_TTL_S). */
  ttlSeconds?: number;
}

export interface RelayCredentials {
  urls: string[];
  username: string;
  credential: string;
  /** Unix seconds after which the relay refuses new allocations with it (refresh before: refreshAtSeconds). */
  expiresAtSeconds: number;
  /** When a client should ask for new ones (four fifths of the TTL in). */
  refreshAtSeconds: number;
}

/**
 * 10 minutes: long enough for the browser's ICE to gather and for a session's ICE restart soon after, short enough
 * that a leaked credential is worth little; an allocation made before the expiry lives on through its refreshes.
 */
export const DEFAULT_RELAY_TTL_S = 600;
/** coturn refuses longer secrets' absence silently; shorter ones are guessable. */
export const MIN_RELAY_SECRET_LENGTH = 32;

export class RelayConfigError extends Error {}

export function validateRelayConfig(config: RelayConfig): void {
  if (config.secret.length < MIN_RELAY_SECRET_LENGTH)
    throw new RelayConfigError(
      `config.relay-secret: the relay secret must be at least ${MIN_RELAY_SECRET_LENGTH} characters`,
    );
  if (config.urls.length === 0) throw new RelayConfigError('config.relay-urls: at least one relay url');
  for (const url of config.urls) {
    if (!/^turns?:[^\s?]+(\?transport=(udp|tcp))?$/.test(url))
      throw new RelayConfigError(`config.relay-urls: not a turn:/turns: url: ${JSON.stringify(url)}`);
  }
  const ttl = config.ttlSeconds ?? DEFAULT_RELAY_TTL_S;
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 86_400)
    throw new RelayConfigError('config.relay-ttl: between 60 and 86400 seconds');
}

/** The user id must be the server's own (from the verified token), a decimal uint64: never a client's string. */
export function issueRelayCredentials(config: RelayConfig, userId: bigint, nowSeconds: number): RelayCredentials {
  const ttl = config.ttlSeconds ?? DEFAULT_RELAY_TTL_S;
  const expiresAtSeconds = Math.floor(nowSeconds) + ttl;
  const username = `${expiresAtSeconds}:${userId.toString()}`;
  return {
    urls: [...config.urls],
    username,
    credential: turnRestCredential(config.secret, username),
    expiresAtSeconds,
    refreshAtSeconds: Math.floor(nowSeconds) + Math.floor((ttl * 4) / 5),
  };
}

/** base64(HMAC-SHA1(secret, username)): what coturn computes for `use-auth-secret`. */
export function turnRestCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}
