// `npm run -s token -- --user 42 --guild 1 --channel 7 [--ttl 3600]`: prints a development session
// token (alone, on its last line) that lets that user join that one channel, signed with the local key.
import { parseArgs } from 'node:util';
import { isUint64Decimal, signToken } from '../functions/auth/token';
import { DEV_TOKEN_ISSUER, loadDevKeys } from '../local/dev-keys';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    guild: { type: 'string' },
    channel: { type: 'string', multiple: true },
    ttl: { type: 'string', default: '86400' },
  },
});
const { user, guild, channel, ttl } = values;
if (!user || !guild || !channel?.length || ![user, guild, ...channel].every(isUint64Decimal)) {
  console.error('usage: npm run -s token -- --user <id> --guild <id> --channel <id> [--channel <id>...] [--ttl <seconds>]');
  process.exit(2);
}
const now = Math.floor(Date.now() / 1000);
const token = signToken(
  { sub: user, iss: DEV_TOKEN_ISSUER, iat: now, exp: now + Number(ttl), channels: channel.map((c) => `${guild}:${c}`) },
  loadDevKeys().privateKey,
);
console.log(token);
