// `npm run -s token -- --user 42 --guild 1 --channel 7 [--ttl 3600] [--issuer iss] [--audience aud]`: prints a
// session token (alone, on its last line) that lets that user join that one channel, signed with jose by the local
// development key (or the private key PEM named by DEV_TOKEN_KEY_FILE: Ed25519, P-256 or RSA, e.g. for a trial
// deployment). The header names the key's `kid` (its RFC 7638 thumbprint), so a JWKS of that key verifies it.
import { parseArgs } from 'node:util';
import { isUint64Decimal } from '../functions/auth/token';
import { DEV_TOKEN_AUDIENCE, DEV_TOKEN_ISSUER, DevIssuer } from '../local/dev-issuer';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    guild: { type: 'string' },
    channel: { type: 'string', multiple: true },
    ttl: { type: 'string', default: '86400' },
    issuer: { type: 'string', default: DEV_TOKEN_ISSUER },
    audience: { type: 'string', default: DEV_TOKEN_AUDIENCE },
    jwks: { type: 'boolean', default: false },
  },
});
const { user, guild, channel, ttl, issuer, audience, jwks } = values;
const dev = DevIssuer.load();
if (jwks) {
  // The public JWKS of the signing key (e.g. for TOKEN_JWKS or an SSM parameter).
  console.log(JSON.stringify(dev.jwks()));
  process.exit(0);
}
if (
  !user ||
  !guild ||
  !channel?.length ||
  ![user, guild, ...channel].every(isUint64Decimal) ||
  !/^[0-9]+$/.test(ttl!)
) {
  console.error(
    'usage: npm run -s token -- --user <id> --guild <id> --channel <id> [--channel <id>...] [--ttl <seconds>] [--issuer <iss>] [--audience <aud>]\n' +
      '       npm run -s token -- --jwks   (prints the public JWKS of the signing key)\n' +
      '(signs with .local/dev-token-key.pem, or the PEM file named by DEV_TOKEN_KEY_FILE)',
  );
  process.exit(2);
}
const token = await new DevIssuer([dev.current], issuer, audience).mint({
  user,
  guild,
  channels: channel,
  ttlSeconds: Number(ttl),
});
console.log(token);
