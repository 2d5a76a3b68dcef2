// relay.v1's configuration from the environment (functions/voice/relay-extension.ts), read by the runtime of the
// handlers that take client frames ($default; grpc-runtime.ts): unset VOICE_RELAY_URLS means no relays, and
// relay.v1 is not granted.
//   VOICE_RELAY_URLS            comma-separated RTCIceServer urls (`turns:relay.example.com:443?transport=tcp`, …)
//   VOICE_RELAY_SECRET | VOICE_RELAY_SECRET_ARN
//                               the TURN REST API secret shared with the relays (coturn `static-auth-secret`), or
//                               the Secrets Manager secret holding it (read at cold start, again when older than
//                               SECRET_MAX_AGE_MS: a rotation reaches warm containers without a deploy)
//   VOICE_RELAY_TTL_SECONDS     how long an issued credential is good for (default DEFAULT_RELAY_TTL_S, 600)
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '../../lib/log';
import { validateRelayConfig, type RelayConfig } from '../voice/relay-credentials';

export const RELAY_ENV_VARS = [
  'VOICE_RELAY_URLS',
  'VOICE_RELAY_SECRET',
  'VOICE_RELAY_SECRET_ARN',
  'VOICE_RELAY_TTL_SECONDS',
] as const;

/** How old a container's copy of the relay secret may get before it is read again. */
export const RELAY_SECRET_MAX_AGE_MS = 5 * 60_000;

export async function relaysFromEnv(
  env: NodeJS.ProcessEnv,
  log: Logger,
  deps: { client?: Pick<SecretsManagerClient, 'send'>; now?: () => number } = {},
): Promise<RelayConfig | (() => RelayConfig) | undefined> {
  const urls = (env.VOICE_RELAY_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (urls.length === 0) return undefined;
  const ttl = env.VOICE_RELAY_TTL_SECONDS ? Number(env.VOICE_RELAY_TTL_SECONDS) : undefined;
  const base = { urls, ...(ttl !== undefined ? { ttlSeconds: ttl } : {}) };
  if (env.VOICE_RELAY_SECRET) {
    const config = { ...base, secret: env.VOICE_RELAY_SECRET };
    validateRelayConfig(config);
    return config;
  }
  if (!env.VOICE_RELAY_SECRET_ARN)
    throw new Error(
      'config.missing-relay-secret: VOICE_RELAY_URLS is set; set VOICE_RELAY_SECRET or VOICE_RELAY_SECRET_ARN',
    );
  const client = deps.client ?? new SecretsManagerClient({});
  const now = deps.now ?? Date.now;
  const read = async () => {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: env.VOICE_RELAY_SECRET_ARN }));
    if (!SecretString) throw new Error('config.missing-relay-secret: the relay secret is empty');
    const config = { ...base, secret: SecretString };
    validateRelayConfig(config);
    return config;
  };
  let value = await read();
  let readAt = now();
  let reading: Promise<void> | undefined;
  return () => {
    if (!reading && now() - readAt > RELAY_SECRET_MAX_AGE_MS) {
      reading = read()
        .then(
          (fresh) => {
            value = fresh;
            readAt = now();
          },
          (error) => log.warn('voice.relay-secret-refresh-failed', { error: (error as Error).message }),
        )
        .finally(() => {
          reading = undefined;
        });
    }
    return value;
  };
}
