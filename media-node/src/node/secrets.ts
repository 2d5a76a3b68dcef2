// Where a media node's two secrets come from (docs/deploy-aws.md "Media node secrets"): the signalling→node API secret and
// the node↔node span secret, each a SecretRing (media-node/api/auth.ts).
//   - From the environment (local stack, tests): MEDIA_NODE_SECRET [+ MEDIA_NODE_SECRET_PREVIOUS],
//     MEDIA_SPAN_SECRET [+ MEDIA_SPAN_SECRET_PREVIOUS]. config.ts deletes them from process.env once read, so
//     nothing the node starts later (mediasoup workers) inherits them.
//   - From Secrets Manager (EC2): MEDIA_NODE_SECRET_ARN / MEDIA_SPAN_SECRET_ARN. The node reads the AWSCURRENT,
//     AWSPREVIOUS and AWSPENDING versions itself (never through its environment) and reads them again every
//     `refreshMs`, so a rotation reaches running nodes without a restart: accept-new first (AWSPENDING), then
//     promote (AWSCURRENT; the old one stays accepted as AWSPREVIOUS).
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretRing } from '../../api/auth';
import type { Logger } from '../../../lib/log';

/** How often a node re-reads its secrets from Secrets Manager (a rotation's accept-new step waits at least this). */
export const SECRET_REFRESH_MS = 5 * 60_000;

export interface SecretsManagerRingOptions {
  client?: Pick<SecretsManagerClient, 'send'>;
  refreshMs?: number;
  logger?: Logger;
  /** Which of the node's secrets (for logs only). */
  name: string;
}

export interface RefreshingRing extends SecretRing {
  /** Reads the versions again now. */
  refresh(): Promise<void>;
  stop(): void;
}

const STAGES = ['AWSCURRENT', 'AWSPREVIOUS', 'AWSPENDING'] as const;

/** A ring over one Secrets Manager secret; resolves once AWSCURRENT has been read. */
export async function secretsManagerRing(
  secretId: string,
  options: SecretsManagerRingOptions,
): Promise<RefreshingRing> {
  const client = options.client ?? new SecretsManagerClient({});
  let current = '';
  let accepted: string[] = [];
  const read = async (stage: (typeof STAGES)[number]): Promise<string | undefined> => {
    try {
      const { SecretString } = await client.send(
        new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }),
      );
      return SecretString || undefined;
    } catch (err) {
      // No version carries this stage (no rotation under way, or never rotated): nothing to accept.
      if (
        stage !== 'AWSCURRENT' &&
        (err instanceof ResourceNotFoundException || (err as Error)?.name === 'ResourceNotFoundException')
      )
        return undefined;
      throw err;
    }
  };
  const refresh = async () => {
    const [now, previous, pending] = await Promise.all(STAGES.map(read));
    if (!now) throw new Error(`config.missing-secret: the ${options.name} secret has no AWSCURRENT value`);
    const changed = now !== current;
    current = now;
    accepted = [now, ...[previous, pending].filter((s): s is string => !!s && s !== now)];
    if (changed) options.logger?.info('media-node.secret-loaded', { secret: options.name, accepted: accepted.length });
  };
  await refresh();
  const timer = setInterval(() => {
    refresh().catch((error) =>
      options.logger?.warn('media-node.secret-refresh-failed', {
        secret: options.name,
        error: (error as Error).message,
      }),
    );
  }, options.refreshMs ?? SECRET_REFRESH_MS);
  timer.unref();
  return { current: () => current, accepted: () => accepted, refresh, stop: () => clearInterval(timer) };
}
