// `npm run -s token -- --user 42 --guild 1 --channel 7 [--ttl 3600] [--issuer iss]`: prints a session token
// (alone, on its last line) that lets that user join that one channel, signed with the local development key
// (or the Ed25519 private key PEM named by DEV_TOKEN_KEY_FILE, e.g. for a trial deployment).
import { parseArgs } from 'node:util';
import { isUint64Decimal, signToken } from '../functions/auth/token';
import { DEV_TOKEN_ISSUER, loadDevKeys } from '../local/dev-keys';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    guild: { type: 'string' },
    channel: { type: 'string', multiple: true },
    ttl: { type: 'string', default: '86400' },
    issuer: { type: 'string', default: DEV_TOKEN_ISSUER },
  },
});
const { user, guild, channel, ttl, issuer } = values;
if (!user || !guild || !channel?.length || ![user, guild, ...channel].every(isUint64Decimal)) {
  console.error('usage: npm run -s token -- --user <id> --guild <id> --channel <id> [--channel <id>...] [--ttl <seconds>] [--issuer <iss>]\n(signs with .local/dev-token-key.pem, or the PEM file named by DEV_TOKEN_KEY_FILE)');
  process.exit(2);
}
const now = Math.floor(Date.now() / 1000);
const token = signToken(
  { sub: user, iss: issuer!, iat: now, exp: now + Number(ttl), channels: channel.map((c) => `${guild}:${c}`) },
  loadDevKeys().privateKey,
);
console.log(token);
