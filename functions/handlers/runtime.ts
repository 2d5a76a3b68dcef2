// Builds the voice core and its adapters from the environment, once per Lambda container (and once per
// configuration locally). The same code runs on AWS and in the local stack; only the environment differs:
//   VOICE_STATE_TABLE, MEDIA_NODES_TABLE           table names (data/tables.ts)
//   TOKEN_ISSUER, TOKEN_AUDIENCE, TOKEN_JWKS_URL | TOKEN_JWKS | TOKEN_PUBLIC_KEY | TOKEN_PUBLIC_KEY_PARAMETER, …
//                                                  session token verification (all of them: auth/token-config.ts)
//   MEDIA_NODE_SECRET | MEDIA_NODE_SECRET_ARN      media-node gRPC secret, or the Secrets Manager secret holding it
//   MEDIA_GRPC_INSECURE=1                          loopback development only: call media nodes without a secret
//   CONNECTIONS_ENDPOINT                           @connections base URL; else https://<domainName>/<stage> of the event
//   VOICE_INITIALIZE_WITHIN_MS, VOICE_PREPARE_WITHIN_MS, VOICE_JOIN_WITHIN_MS, VOICE_MAX_MEMBERS,
//   VOICE_NODE_STALE_AFTER_MS                      optional limits (defaults in voice/VoiceCore.ts)
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { NODES_TABLE, STATE_TABLE, tableName } from '../../data/tables';
import { createDocumentClient } from '../../routing/dynamo';
import { NodeRegistry } from '../../routing/NodeRegistry';
import { ApiGatewayConnections } from '../adapters/apigw-gateway';
import { DynamoStateStore } from '../adapters/dynamo-store';
import { GrpcMediaClient } from '../adapters/grpc-media-client';
import { RegistryNodeDirectory } from '../adapters/node-directory';
import { TokenGrantPolicy } from '../auth/policy';
import type { VerifiedToken } from '../auth/token';
import { TOKEN_ENV_VARS, tokenVerifierFromEnv } from '../auth/token-config';
import type { Logger } from '../../lib/log';
import type { Metrics } from '../../lib/metrics';
import { log } from './telemetry';
import { Sweep } from '../voice/Sweep';
import { DEFAULT_LIMITS, VoiceCore, type VoiceLimits } from '../voice/VoiceCore';

export { log } from './telemetry';

export interface Runtime {
  /** The voice core for one invocation: its replies go to the endpoint; it logs and measures through `telemetry`. */
  core(endpoint: { domainName?: string; stage?: string }, telemetry?: { log: Logger; metrics: Metrics }): VoiceCore;
  /** The reaper's sweep (functions/voice/Sweep.ts) over the same store, registry and core. */
  sweep(telemetry?: { log: Logger; metrics: Metrics }): Sweep;
  /** Verifies a session token; rejects with a fatal h.blank-session VoiceError saying why. */
  verify(token: string | undefined): Promise<VerifiedToken>;
}

let cached: { key: string; runtime: Promise<Runtime> } | undefined;

/** The runtime for the current environment (rebuilt only when the environment changes). */
export function runtime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const key = [STATE_TABLE.envVar, NODES_TABLE.envVar, ...TOKEN_ENV_VARS,
    'MEDIA_NODE_SECRET', 'MEDIA_NODE_SECRET_ARN', 'MEDIA_GRPC_INSECURE', 'CONNECTIONS_ENDPOINT', 'AWS_ENDPOINT_URL_DYNAMODB',
    ...Object.keys(LIMIT_VARS)]
    .map((name) => env[name] ?? '').join('\n');
  if (cached?.key !== key) {
    const runtime = build(env);
    runtime.catch(() => { if (cached?.runtime === runtime) cached = undefined; });
    cached = { key, runtime };
  }
  return cached.runtime;
}

async function build(env: NodeJS.ProcessEnv): Promise<Runtime> {
  const [verifier, mediaSecret] = await Promise.all([
    tokenVerifierFromEnv(env, { readParameter, log: log.child({ component: 'token' }) }),
    loadMediaSecret(env),
  ]);
  const db = createDocumentClient();
  const store = new DynamoStateStore(db, tableName(STATE_TABLE, env));
  const nodes = new RegistryNodeDirectory(new NodeRegistry(db, tableName(NODES_TABLE, env)));
  const media = new GrpcMediaClient({ secret: mediaSecret });
  const policy = new TokenGrantPolicy();
  const limits = limitsFrom(env);
  const gateways = new Map<string, ApiGatewayConnections>();
  const gatewayFor = (endpoint: string) => {
    if (!gateways.has(endpoint)) gateways.set(endpoint, new ApiGatewayConnections(endpoint));
    return gateways.get(endpoint)!;
  };
  const core = ({ domainName, stage }: { domainName?: string; stage?: string }, telemetry?: { log: Logger; metrics: Metrics }) => {
    const endpoint = env.CONNECTIONS_ENDPOINT || (domainName && stage ? `https://${domainName}/${stage}` : undefined);
    if (!endpoint) throw new Error('config.missing-endpoint: set CONNECTIONS_ENDPOINT (no domainName/stage in the event)');
    return new VoiceCore({
      store, nodes, media, gateway: gatewayFor(endpoint), policy, clock: Date, limits,
      log: telemetry?.log ?? log, metrics: telemetry?.metrics,
    });
  };
  return {
    core,
    sweep: (telemetry) => new Sweep({
      core: core({}, telemetry), store, nodes, clock: Date, log: telemetry?.log ?? log,
      limits: { nodeStaleAfterMs: limits.nodeStaleAfterMs ?? DEFAULT_LIMITS.nodeStaleAfterMs },
    }),
    verify: (token) => verifier.verify(token),
  };
}

async function readParameter(name: string): Promise<string> {
  const { Parameter } = await new SSMClient({}).send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  return Parameter?.Value ?? '';
}

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

const LIMIT_VARS: Record<string, keyof VoiceLimits> = {
  VOICE_INITIALIZE_WITHIN_MS: 'initializeWithinMs',
  VOICE_PREPARE_WITHIN_MS: 'prepareWithinMs',
  VOICE_JOIN_WITHIN_MS: 'joinWithinMs',
  VOICE_MAX_MEMBERS: 'maxMembersPerChannel',
  VOICE_NODE_STALE_AFTER_MS: 'nodeStaleAfterMs',
  VOICE_STEP_WITHIN_MS: 'stepWithinMs',
};

function limitsFrom(env: NodeJS.ProcessEnv): Partial<VoiceLimits> {
  const limits: Partial<VoiceLimits> = {};
  for (const [name, field] of Object.entries(LIMIT_VARS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`config.bad-limit: ${name}=${value} is not a positive integer`);
    limits[field] = n;
  }
  return limits;
}
