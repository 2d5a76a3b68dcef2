// The runtime of the handlers that call media nodes ($default, $disconnect, the reaper): the gRPC client
// with the media node secret (MEDIA_NODE_SECRET, or MEDIA_NODE_SECRET_ARN read from Secrets Manager once
// per container, or MEDIA_GRPC_INSECURE=1 on loopback only).
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GrpcMediaClient } from '../adapters/grpc-media-client';
import { log, runtimeWith } from './runtime';

export { log };

export const runtime = runtimeWith({
  create: async (logger, env) => new GrpcMediaClient({ secret: await loadMediaSecret(env), log: logger }),
});

async function loadMediaSecret(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (env.MEDIA_NODE_SECRET) return env.MEDIA_NODE_SECRET;
  if (env.MEDIA_NODE_SECRET_ARN) {
    const { SecretString } = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: env.MEDIA_NODE_SECRET_ARN }));
    if (!SecretString) throw new Error('config.missing-media-secret: the media node secret is empty');
    return SecretString;
  }
  if (env.MEDIA_GRPC_INSECURE === '1') return undefined;
  throw new Error('config.missing-media-secret: set MEDIA_NODE_SECRET or MEDIA_NODE_SECRET_ARN (or MEDIA_GRPC_INSECURE=1 on loopback)');
}
