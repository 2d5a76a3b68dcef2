// Development tokens for tests, signed by the same development issuer whose JWKS the local stack's handlers trust.
import { DevIssuer } from '../../local/dev-issuer';

let issuer: DevIssuer | undefined;

export function devToken(
  user: string | bigint,
  guild: string | bigint,
  channels: (string | bigint)[],
  ttlSeconds = 3600,
  claims?: Record<string, unknown>,
): string {
  issuer ??= DevIssuer.load();
  return issuer.mintSync({
    user: String(user),
    guild: String(guild),
    channels: channels.map(String),
    ttlSeconds,
    ...(claims ? { claims } : {}),
  });
}
