// Short-lived TURN credentials (functions/voice/relay-credentials.ts): the TURN REST API scheme coturn checks.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  DEFAULT_RELAY_TTL_S,
  issueRelayCredentials,
  validateRelayConfig,
} from '../../functions/voice/relay-credentials';

const config = { secret: 'x'.repeat(40), urls: ['turns:198.18.1.1:443?transport=tcp'] };

test('username is <expiry>:<user id> (uint64 kept exact), credential is base64 HMAC-SHA1 of it, expiry after the TTL', () => {
  const user = 18446744073709551557n;
  const c = issueRelayCredentials(config, user, 1_800_000_000.7);
  assert.equal(c.expiresAtSeconds, 1_800_000_000 + DEFAULT_RELAY_TTL_S);
  assert.equal(c.username, `${1_800_000_000 + DEFAULT_RELAY_TTL_S}:18446744073709551557`);
  // Independent computation (RFC 2104 HMAC as coturn's use-auth-secret does it).
  assert.equal(c.credential, createHmac('sha1', config.secret).update(c.username).digest('base64'));
  assert.ok(c.refreshAtSeconds < c.expiresAtSeconds && c.refreshAtSeconds > 1_800_000_000);
  assert.deepEqual(c.urls, config.urls);
});

test('another secret or another user gives another credential', () => {
  const a = issueRelayCredentials(config, 1n, 100);
  assert.notEqual(issueRelayCredentials({ ...config, secret: 'y'.repeat(40) }, 1n, 100).credential, a.credential);
  assert.notEqual(issueRelayCredentials(config, 2n, 100).credential, a.credential);
});

test('configuration is checked: short secret, no urls, a non-TURN url, a TTL out of range', () => {
  assert.throws(() => validateRelayConfig({ ...config, secret: 'short' }), /config\.relay-secret/);
  assert.throws(() => validateRelayConfig({ ...config, urls: [] }), /config\.relay-urls/);
  assert.throws(() => validateRelayConfig({ ...config, urls: ['https://x'] }), /config\.relay-urls/);
  assert.throws(() => validateRelayConfig({ ...config, ttlSeconds: 10 }), /config\.relay-ttl/);
  validateRelayConfig(config);
});

test('a media-unreachable loss ends the session with voice.media-unreachable (fatal, actionable); other losses stay voice.media-lost', async () => {
  const { mediaLostError } = await import('../../functions/voice/media-errors');
  const unreachable = mediaLostError('media-unreachable');
  assert.equal(unreachable.identifier, 'voice.media-unreachable');
  assert.equal(unreachable.fatal, true);
  assert.match(unreachable.humanMessage, /another network/);
  assert.equal(mediaLostError('ice-failed').identifier, 'voice.media-lost');
});

test('relay.v1 configuration from the environment: none without urls; a plain secret; a Secrets Manager one re-read after its max age', async () => {
  const { relaysFromEnv, RELAY_SECRET_MAX_AGE_MS } = await import('../../functions/handlers/relay-env');
  const log = { info() {}, debug() {}, warn() {}, error() {} } as never;
  const urls = 'turns:relay.example.com:443?transport=tcp, turn:relay.example.com:3478?transport=udp';
  assert.equal(await relaysFromEnv({}, log), undefined, 'no relays: relay.v1 not granted');
  assert.deepEqual(
    await relaysFromEnv(
      { VOICE_RELAY_URLS: urls, VOICE_RELAY_SECRET: 'x'.repeat(40), VOICE_RELAY_TTL_SECONDS: '300' },
      log,
    ),
    {
      urls: ['turns:relay.example.com:443?transport=tcp', 'turn:relay.example.com:3478?transport=udp'],
      ttlSeconds: 300,
      secret: 'x'.repeat(40),
    },
  );
  await assert.rejects(relaysFromEnv({ VOICE_RELAY_URLS: urls }, log), /config\.missing-relay-secret/);
  await assert.rejects(
    relaysFromEnv({ VOICE_RELAY_URLS: urls, VOICE_RELAY_SECRET: 'short' }, log),
    /config\.relay-secret/,
  );
  await assert.rejects(
    relaysFromEnv({ VOICE_RELAY_URLS: urls, VOICE_RELAY_SECRET: 'x'.repeat(40), VOICE_RELAY_TTL_SECONDS: 'ten' }, log),
    /config\.relay-ttl/,
  );

  let value = 'a'.repeat(40);
  let reads = 0;
  const client = { send: async () => (reads++, { SecretString: value }) };
  let clock = 0;
  const get = await relaysFromEnv({ VOICE_RELAY_URLS: urls, VOICE_RELAY_SECRET_ARN: 'arn:relay' }, log, {
    client: client as never,
    now: () => clock,
  });
  assert.equal(typeof get, 'function');
  const current = get as () => { secret: string };
  assert.equal(current().secret, 'a'.repeat(40));
  value = 'b'.repeat(40);
  clock = RELAY_SECRET_MAX_AGE_MS - 1;
  assert.equal(current().secret, 'a'.repeat(40), 'not re-read before its max age');
  clock = RELAY_SECRET_MAX_AGE_MS + 1;
  current(); // starts the re-read in the background
  await new Promise((r) => setImmediate(r));
  assert.equal(current().secret, 'b'.repeat(40), 'a rotation reaches a warm container');
  assert.equal(reads, 2);
});
