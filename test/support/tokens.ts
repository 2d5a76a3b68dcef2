// Development tokens for tests, signed with the same local key the local stack verifies with.
import { signToken } from '../../functions/auth/token';
import { DEV_TOKEN_ISSUER, loadDevKeys } from '../../local/dev-keys';

export function devToken(user: string | bigint, guild: string | bigint, channels: (string | bigint)[], ttlSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  return signToken(
    { sub: String(user), iss: DEV_TOKEN_ISSUER, iat: now, exp: now + ttlSeconds, channels: channels.map((c) => `${guild}:${c}`) },
    loadDevKeys().privateKey,
  );
}
