// Builds the voice core and its adapters from the environment, once per Lambda container (and once per
// configuration locally). The same code runs on AWS and in the local stack; only the environment differs:
//   VOICE_STATE_TABLE, MEDIA_NODES_TABLE           table names (data/tables.ts)
//   TOKEN_ISSUER, TOKEN_AUDIENCE, TOKEN_JWKS_URL | TOKEN_JWKS | TOKEN_PUBLIC_KEY, …
//                                                  session token verification (all of them: auth/token-config.ts;
//                                                  on AWS a key in SSM is resolved into TOKEN_PUBLIC_KEY at deploy time)
//   MEDIA_NODE_SECRET | MEDIA_NODE_SECRET_ARN      media-node gRPC secret, or the Secrets Manager secret holding it
//   MEDIA_GRPC_INSECURE=1                          loopback development only: call media nodes without a secret
//   CONNECTIONS_ENDPOINT                           @connections base URL; else https://<domainName>/<stage> of the event
//   VOICE_INITIALIZE_WITHIN_MS, VOICE_PREPARE_WITHIN_MS, VOICE_JOIN_WITHIN_MS, VOICE_MAX_MEMBERS,
//   VOICE_NODE_STALE_AFTER_MS, VOICE_STEP_WITHIN_MS,
//   VOICE_RESUME_GRACE_MS, VOICE_TOKEN_GRACE_SECONDS optional limits (defaults in voice/voice-core.ts)
//   VOICE_USER_MAX_STREAMS, VOICE_USER_CONNECTS_PER_MINUTE, VOICE_USER_JOINS_PER_MINUTE,
//   VOICE_USER_REPLACEMENTS_PER_MINUTE, VOICE_USER_MAX_PREPARED,
//   VOICE_CHANNEL_MAX_PREPARED                     optional per-user limits (defaults in voice/user-limits.ts)
//
// No gRPC here: the media client is wired in by the caller (grpc-runtime.ts for the handlers that call media
// nodes; `$connect` never does, so its bundle carries no gRPC code and it reads no media secret).
import { MAX_ICE_CONSENT_TIMEOUT_S } from '../../media-node/api/limits';
import { NODES_TABLE, STATE_TABLE, tableName } from '../../data/tables';
import { createDocumentClient } from '../../routing/dynamo';
import { NodeRegistry } from '../../routing/node-registry';
import { ApiGatewayConnections } from '../adapters/apigw-gateway';
import { DynamoStateStore } from '../adapters/dynamo-store';
import { RegistryNodeDirectory } from '../adapters/node-directory';
import { TokenGrantPolicy } from '../auth/policy';
import type { VerifiedToken } from '../auth/token';
import { TOKEN_ENV_VARS, tokenVerifierFromEnv } from '../auth/token-config';
import type { Logger } from '../../lib/log';
import type { Metrics } from '../../lib/metrics';
import type { Gateway, MediaClient } from '../voice/ports';
import { Sweep } from '../voice/sweep';
import { DEFAULT_LIMITS, MAX_MEMBERS_THAT_FIT, VoiceCore, type VoiceLimits } from '../voice/voice-core';
import { RefusedMinutes } from '../voice/user-limits';
import { USER_LIMIT_VARS, userLimitsFrom } from './user-limits-env';
import { log } from './telemetry';
import type { RelayConfig } from '../voice/relay-credentials';

export { log } from './telemetry';

export interface EventEndpoint {
  domainName?: string;
  stage?: string;
}

/** Per-invocation logger and metrics (functions/handlers/telemetry.ts). */
export interface Telemetry {
  log: Logger;
  metrics: Metrics;
}

export interface Runtime {
  /** The voice core for one invocation: its replies go to the endpoint; it logs and measures through `telemetry`. */
  core(endpoint: EventEndpoint, telemetry?: Telemetry): VoiceCore;
  /** The @connections client for the event's endpoint (replies outside the core, e.g. rate-limit answers). */
  gateway(endpoint: EventEndpoint): Gateway;
  /** The reaper's sweep (functions/voice/sweep.ts) over the same store, registry and core. */
  sweep(telemetry?: Telemetry): Sweep;
  /** Verifies a session token; rejects with a fatal h.blank-session VoiceError saying why. */
  verify(token: string | undefined): Promise<VerifiedToken>;
}

/** How a runtime gets its media client: the gRPC one (grpc-runtime.ts) or none ($connect). */
export interface MediaWiring {
  create(log: Logger, env: NodeJS.ProcessEnv): Promise<MediaClient> | MediaClient;
}

/** relay.v1's relays for the core (relay-env.ts; only the runtime of the handlers that take client frames reads them). */
export interface RelayWiring {
  /** The variables it reads (a change rebuilds the runtime). */
  vars: readonly string[];
  load(env: NodeJS.ProcessEnv, log: Logger): Promise<RelayConfig | (() => RelayConfig) | undefined>;
}

/** For handlers that never call a media node: any call is a bug, reported as such. */
export const NO_MEDIA: MediaWiring = {
  create: (): MediaClient => {
    const none = (method: string) => () =>
      Promise.reject(new Error(`runtime.no-media: this handler has no media client (called ${method})`));
    return {
      openRoom: none('openRoom'),
      createTransports: none('createTransports'),
      join: none('join'),
      resumeConsumer: none('resumeConsumer'),
      leave: none('leave'),
      history: none('history'),
      restartIce: none('restartIce'),
      setMemberState: none('setMemberState'),
    };
  },
};

const ENV_KEYS = [
  STATE_TABLE.envVar,
  NODES_TABLE.envVar,
  ...TOKEN_ENV_VARS,
  'MEDIA_NODE_SECRET',
  'MEDIA_NODE_SECRET_ARN',
  'MEDIA_GRPC_INSECURE',
  'CONNECTIONS_ENDPOINT',
  'AWS_ENDPOINT_URL_DYNAMODB',
];

/** A cached runtime getter for one media wiring (rebuilt only when the environment changes). */
export function runtimeWith(media: MediaWiring, relays?: RelayWiring): (env?: NodeJS.ProcessEnv) => Promise<Runtime> {
  let cached: { key: string; runtime: Promise<Runtime> } | undefined;
  return (env = process.env) => {
    const key = [...ENV_KEYS, ...Object.keys(LIMIT_VARS), ...Object.keys(USER_LIMIT_VARS), ...(relays?.vars ?? [])]
      .map((name) => env[name] ?? '')
      .join('\n');
    if (cached?.key !== key) {
      const runtime = build(env, media, relays);
      runtime.catch(() => {
        if (cached?.runtime === runtime) cached = undefined;
      });
      cached = { key, runtime };
    }
    return cached.runtime;
  };
}

async function build(env: NodeJS.ProcessEnv, wiring: MediaWiring, relayWiring?: RelayWiring): Promise<Runtime> {
  const [verifier, media, relays] = await Promise.all([
    tokenVerifierFromEnv(env, { readParameter: noParameterAtRuntime, log: log.child({ component: 'token' }) }),
    wiring.create(log, env),
    relayWiring?.load(env, log),
  ]);
  const db = createDocumentClient();
  const store = new DynamoStateStore(db, tableName(STATE_TABLE, env));
  const nodes = new RegistryNodeDirectory(new NodeRegistry(db, tableName(NODES_TABLE, env)));
  const policy = new TokenGrantPolicy();
  const limits = limitsFrom(env);
  const userLimits = userLimitsFrom(env);
  const refusedMinutes = new RefusedMinutes();
  const gateways = new Map<string, ApiGatewayConnections>();
  const gateway = ({ domainName, stage }: EventEndpoint) => {
    const endpoint = env.CONNECTIONS_ENDPOINT || (domainName && stage ? `https://${domainName}/${stage}` : undefined);
    if (!endpoint)
      throw new Error('config.missing-endpoint: set CONNECTIONS_ENDPOINT (no domainName/stage in the event)');
    if (!gateways.has(endpoint)) gateways.set(endpoint, new ApiGatewayConnections(endpoint));
    return gateways.get(endpoint)!;
  };
  const core = (endpoint: EventEndpoint, telemetry?: Telemetry) =>
    new VoiceCore({
      store,
      nodes,
      media,
      gateway: gateway(endpoint),
      policy,
      clock: Date,
      limits,
      userLimits,
      refusedMinutes,
      relays,
      log: telemetry?.log ?? log,
      metrics: telemetry?.metrics,
    });
  return {
    core,
    gateway,
    sweep: (telemetry) =>
      new Sweep({
        core: core({}, telemetry),
        store,
        nodes,
        clock: Date,
        log: telemetry?.log ?? log,
        limits: { nodeStaleAfterMs: limits.nodeStaleAfterMs ?? DEFAULT_LIMITS.nodeStaleAfterMs },
      }),
    verify: (token) => verifier.verify(token),
  };
}

/** The functions read no SSM parameter: the CDK stack resolves a key kept in SSM at deploy time (a missing one fails the deploy). */
function noParameterAtRuntime(name: string): Promise<string> {
  return Promise.reject(
    new Error(
      `config.unsupported: TOKEN_PUBLIC_KEY_PARAMETER (${name}) is resolved at deploy time; set TOKEN_PUBLIC_KEY, TOKEN_JWKS or TOKEN_JWKS_URL`,
    ),
  );
}

const MAX_RESUME_GRACE_MS = MAX_ICE_CONSENT_TIMEOUT_S * 1000;

const LIMIT_VARS: Record<string, keyof VoiceLimits> = {
  VOICE_INITIALIZE_WITHIN_MS: 'initializeWithinMs',
  VOICE_PREPARE_WITHIN_MS: 'prepareWithinMs',
  VOICE_JOIN_WITHIN_MS: 'joinWithinMs',
  VOICE_MAX_MEMBERS: 'maxMembersPerChannel',
  VOICE_NODE_STALE_AFTER_MS: 'nodeStaleAfterMs',
  VOICE_STEP_WITHIN_MS: 'stepWithinMs',
  VOICE_RESUME_GRACE_MS: 'resumeGraceMs',
  VOICE_TOKEN_GRACE_SECONDS: 'tokenGraceSeconds',
};

function positiveIntegers<T extends string>(
  env: NodeJS.ProcessEnv,
  vars: Record<string, T>,
): Partial<Record<T, number>> {
  const values: Partial<Record<T, number>> = {};
  for (const [name, field] of Object.entries(vars) as [string, T][]) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`config.bad-limit: ${name}=${value} is not a positive integer`);
    values[field] = n;
  }
  return values;
}

export function limitsFrom(env: NodeJS.ProcessEnv): Partial<VoiceLimits> {
  const limits: Partial<VoiceLimits> = positiveIntegers(env, LIMIT_VARS);
  // JoinedChannel names every other member: more than fit one API Gateway message would make it undeliverable.
  if ((limits.maxMembersPerChannel ?? 0) > MAX_MEMBERS_THAT_FIT) {
    throw new Error(
      `config.bad-limit: VOICE_MAX_MEMBERS=${limits.maxMembersPerChannel} is above ${MAX_MEMBERS_THAT_FIT} (JoinedChannel must fit one API Gateway message)`,
    );
  }
  // A longer grace than the node lengthens a session's ICE consent to would promise media it does not keep.
  if ((limits.resumeGraceMs ?? 0) > MAX_RESUME_GRACE_MS) {
    throw new Error(
      `config.bad-limit: VOICE_RESUME_GRACE_MS=${limits.resumeGraceMs} is above ${MAX_RESUME_GRACE_MS} (the media node's ICE consent cap)`,
    );
  }
  return limits;
}
