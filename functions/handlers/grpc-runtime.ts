// The runtime of the handlers that call media nodes ($default, $disconnect, the reaper): the gRPC client
// with the media node API secret (MEDIA_NODE_SECRET, or MEDIA_NODE_SECRET_ARN read from Secrets Manager, or
// MEDIA_GRPC_INSECURE=1 on loopback only). From Secrets Manager the AWSCURRENT version is read again when the
// container's copy is older than SECRET_MAX_AGE_MS (in the background: calls go on with the copy held), so a
// rotation reaches warm containers without a deploy (docs/deploy-aws.md "Media node secrets"). These handlers never get the
// node-to-node span secret.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GrpcMediaClient } from '../adapters/grpc-media-client';
import { log, runtimeWith } from './runtime';
import { RELAY_ENV_VARS, relaysFromEnv } from './relay-env';

export { log };

/** How old a container's copy of the media node secret may get before it is read again. */
export const SECRET_MAX_AGE_MS = 5 * 60_000;

// relay.v1's relays too (relay-env.ts): these handlers take the client frames (Hello, RefreshRelays).
export const runtime = runtimeWith(
  {
    create: async (logger, env) => new GrpcMediaClient({ secret: await mediaSecret(env), log: logger }),
  },
  { vars: RELAY_ENV_VARS, load: (env, logger) => relaysFromEnv(env, logger) },
);

/** The secret (or a getter of the current one) the media client presents; undefined only with MEDIA_GRPC_INSECURE=1. */
export async function mediaSecret(
  env: NodeJS.ProcessEnv,
  deps: { client?: Pick<SecretsManagerClient, 'send'>; now?: () => number; maxAgeMs?: number } = {},
): Promise<string | (() => string) | undefined> {
  if (env.MEDIA_NODE_SECRET) return env.MEDIA_NODE_SECRET;
  if (env.MEDIA_NODE_SECRET_ARN) {
    const client = deps.client ?? new SecretsManagerClient({});
    const now = deps.now ?? Date.now;
    const read = async () => {
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: env.MEDIA_NODE_SECRET_ARN }));
      if (!SecretString) throw new Error('config.missing-media-secret: the media node secret is empty');
      return SecretString;
    };
    let value = await read();
    let readAt = now();
    let reading: Promise<void> | undefined;
    return () => {
      if (!reading && now() - readAt > (deps.maxAgeMs ?? SECRET_MAX_AGE_MS)) {
        reading = read()
          .then(
            (fresh) => {
              value = fresh;
              readAt = now();
            },
            (error) => log.warn('voice.media-secret-refresh-failed', { error: (error as Error).message }),
          )
          .finally(() => {
            reading = undefined;
          });
      }
      return value;
    };
  }
  if (env.MEDIA_GRPC_INSECURE === '1') return undefined;
  throw new Error(
    'config.missing-media-secret: set MEDIA_NODE_SECRET or MEDIA_NODE_SECRET_ARN (or MEDIA_GRPC_INSECURE=1 on loopback)',
  );
}
