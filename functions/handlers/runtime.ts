// Builds the voice core and its adapters from the environment, once per Lambda container (and once per
// configuration locally). The same code runs on AWS and in the local stack; only the environment differs:
//   VOICE_STATE_TABLE, MEDIA_NODES_TABLE           table names (data/tables.ts)
//   TOKEN_ISSUER                                   expected `iss` of session tokens
//   TOKEN_PUBLIC_KEY | TOKEN_PUBLIC_KEY_PARAMETER  Ed25519 public key PEM, or the SSM parameter holding it
//   MEDIA_NODE_SECRET | MEDIA_NODE_SECRET_ARN      media-node gRPC secret, or the Secrets Manager secret holding it
//   MEDIA_GRPC_INSECURE=1                          loopback development only: call media nodes without a secret
//   CONNECTIONS_ENDPOINT                           @connections base URL; else https://<domainName>/<stage> of the event
//   VOICE_INITIALIZE_WITHIN_MS, VOICE_PREPARE_WITHIN_MS, VOICE_JOIN_WITHIN_MS, VOICE_MAX_MEMBERS,
//   VOICE_NODE_STALE_AFTER_MS, VOICE_STEP_WITHIN_MS,
//   VOICE_RESUME_GRACE_MS                          optional limits (defaults in voice/VoiceCore.ts)
import type { KeyObject } from 'node:crypto';
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
import { publicKeyFromPem, verifyToken, type TokenClaims } from '../auth/token';
import { createLogger } from '../../lib/log';
import { VoiceCore, type VoiceLimits } from '../voice/VoiceCore';

/** The signalling functions' logger (LOG_LEVEL sets the level). */
export const log = createLogger({ base: { component: 'signalling' } });

export interface Runtime {
  core(endpoint: { domainName?: string; stage?: string }): VoiceCore;
  verify(token: string | undefined): TokenClaims;
}

let cached: { key: string; runtime: Promise<Runtime> } | undefined;

/** The runtime for the current environment (rebuilt only when the environment changes). */
export function runtime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const key = [STATE_TABLE.envVar, NODES_TABLE.envVar, 'TOKEN_ISSUER', 'TOKEN_PUBLIC_KEY', 'TOKEN_PUBLIC_KEY_PARAMETER',
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
  const issuer = required(env, 'TOKEN_ISSUER');
  const [publicKey, mediaSecret] = await Promise.all([loadPublicKey(env), loadMediaSecret(env)]);
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
  return {
    core({ domainName, stage }) {
      const endpoint = env.CONNECTIONS_ENDPOINT || (domainName && stage ? `https://${domainName}/${stage}` : undefined);
      if (!endpoint) throw new Error('config.missing-endpoint: set CONNECTIONS_ENDPOINT (no domainName/stage in the event)');
      return new VoiceCore({ store, nodes, media, gateway: gatewayFor(endpoint), policy, clock: Date, log, limits });
    },
    verify: (token) => verifyToken(token, publicKey, { issuer }),
  };
}

async function loadPublicKey(env: NodeJS.ProcessEnv): Promise<KeyObject> {
  if (env.TOKEN_PUBLIC_KEY) return publicKeyFromPem(env.TOKEN_PUBLIC_KEY);
  const name = required(env, 'TOKEN_PUBLIC_KEY_PARAMETER');
  const { Parameter } = await new SSMClient({}).send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  if (!Parameter?.Value) throw new Error(`config.missing-token-key: SSM parameter ${name} is empty`);
  return publicKeyFromPem(Parameter.Value);
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
  VOICE_RESUME_GRACE_MS: 'resumeGraceMs',
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

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`config.missing: environment variable ${name} is not set`);
  return value;
}
