// The embedded default (`npm start`, integration and E2E tests): dynalite with the service's tables, one or
// more media node child processes (`mediaNodes`; each with its own ports and node id, all in the one registry
// table with the one secret, placed by routing/placement.ts as on AWS), the Lambda handler modules configured through the same environment variables as on
// AWS, the local API Gateway in front of them, and the reaper on a schedule. One stack per process: the
// handlers read process.env, which the stack sets while it runs and restores on close().
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKEN_ENV_VARS } from '../functions/auth/token-config';
import { metricTaps } from '../functions/handlers/telemetry';
import { MetricsSummary } from '../lib/metrics';
import { DevIssuer, JWKS_PATH } from './dev-issuer';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo, type LocalDynamo } from './dynamo';
import { startLocalGateway, type GatewayHandlers, type LocalGateway } from './gateway/gateway';
import type { LambdaHandler } from './gateway/lambda';
import { createLogger, type Logger } from '../lib/log';
import type { StaticMount } from './gateway/static-files';
import { loadHandlerModules, scheduleReaper, type HandlerName, type ReaperSchedule } from './handler-modules';
import { startMediaNodeProcess, type MediaNodeProcess } from './media-node-process';
import type { RequestCounter } from './request-counter';
import { SWEEP_SCHEDULE } from '../functions/voice/sweep';
import { superviseMediaNode, type MediaNodeSupervisor } from './media-node-supervisor';
import {
  DEFAULT_PIPE_PORTS,
  formatPortRange,
  parsePortRange,
  splitPortRange,
  type PortRange,
} from '../media-node/src/span/pipe-ports';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEV_TOKEN_TTL_SECONDS = 24 * 60 * 60;

export interface MediaNodeOptions {
  /** argv; default `node --import tsx media-node/main.ts`. */
  command?: string[];
  grpcPort?: number;
  metricsPort?: number;
  rtcPortBase?: number;
  workers?: number;
  readyTimeoutMs?: number;
  /** Forward the child's log lines to this process's stdout/stderr (default true). */
  forwardLogs?: boolean;
  /** Also hands every line of the child to this (tests read a node's diagnostics from it). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Start a new media node when this one dies (default true). */
  restart?: boolean;
  /** UDP ports of the node's pipes (default: its slice of $MEDIA_PIPE_PORTS, else of 45000-45999). */
  pipePorts?: PortRange;
  /** Extra environment of the node process (e.g. MEDIA_HEARTBEAT_MS, MEDIA_CAPACITY). */
  env?: Record<string, string>;
}

/** One of the stack's media nodes, as it runs now (a restarted node has a new pid, gRPC address and id). */
export interface LocalMediaNode {
  /** 0-based position in the stack (node 1 is index 0). */
  index: number;
  grpc: string;
  pid: number;
  /** The registry key the node logged in its ready line. */
  nodeId: string | undefined;
  pipePorts: PortRange;
  ready: Record<string, unknown>;
}

/** The most media nodes one local stack starts. */
export const MAX_LOCAL_MEDIA_NODES = 16;

export interface LocalStackOptions {
  /** Gateway port: default $PORT, else 8080; 0 picks a free port (tests). */
  port?: number;
  host?: string;
  /** API Gateway strict mode (binary client frames → 1003). Default: LOCAL_GATEWAY_STRICT=1. */
  strict?: boolean;
  /** Serve this one directory at '/' instead of the default web/public at '/' and web/dist at '/dist/'. */
  staticDir?: string;
  staticMounts?: StaticMount[];
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  /** How often the reaper sweeps, as each AWS invocation does (default 5 s: functions/voice/sweep.ts SWEEP_SCHEDULE). */
  reaperIntervalMs?: number;
  /** Where connect/default/disconnect/reaper.ts live (default functions/handlers). */
  handlersDir?: string;
  /** false: no media node (signalling-only tests). Otherwise the options of every node. */
  mediaNode?: MediaNodeOptions | false;
  /**
   * How many media nodes (default 1): a count, or one options object per node (each merged over `mediaNode`).
   * Node i gets its own gRPC/metrics/RTC ports (fixed bases + i; ephemeral in port-0 stacks), its own slice
   * of the pipe port range, and registers under its own id.
   */
  mediaNodes?: number | MediaNodeOptions[];
  /** The development token issuer (default: the key in .local/); its JWKS is served at /.well-known/jwks.json. */
  issuer?: DevIssuer;
  /** Extra or overriding handler environment (e.g. TOKEN_JWKS_COOLDOWN_MS for rotation tests). */
  handlerEnv?: Record<string, string>;
  logger?: Logger;
  /** Counts requests to dynalite and the gateway, and reaper invocations (bench/scale.ts). */
  counter?: RequestCounter;
}

export interface LocalStack {
  /** http://host:port: demo page, @connections, /dev/token, /.well-known/jwks.json. */
  url: string;
  /** ws://host:port/protocol.voice.v1.VoiceService/StreamMessage */
  wsUrl: string;
  connectionsEndpoint: string;
  gateway: LocalGateway;
  dynamo: { endpoint: string; tables: Record<string, string> };
  /** The (first) media node running now (a new one after the previous died: the stack restarts it). */
  readonly mediaNode: { grpc: string; pid: number; ready: Record<string, unknown> } | undefined;
  /** Every media node running now, in order. */
  readonly mediaNodes: readonly LocalMediaNode[];
  /** Resolves when media node `index` (default 0) has been started in place of one that died. */
  mediaNodeRestarted(index?: number): Promise<{ grpc: string; pid: number }>;
  /** The environment the handlers run with (secrets included: do not log it). */
  env: Record<string, string>;
  /** The development issuer the handlers trust (through its JWKS URL). */
  issuer: DevIssuer;
  /** The handlers' metrics (the same samples as their EMF lines), aggregated; also served at GET /dev/metrics. */
  metrics: MetricsSummary;
  mintToken(user: string, guild: string, channels: string | string[], ttlSeconds?: number): string;
  /** Runs the reaper now, as if its schedule fired. */
  runReaper(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = (options.logger ?? createLogger()).child({ component: 'local-stack' });
  const issuer = options.issuer ?? DevIssuer.load();
  const metrics = new MetricsSummary();
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      await Promise.resolve(step()).catch((err: Error) => log.error('stack.close-step-failed', { error: err }));
    }
  };

  let restoreEnv: (() => void) | undefined;
  cleanups.push(() => restoreEnv?.()); // last: $disconnect runs during the gateway's close still need the environment

  const port = options.port ?? Number(process.env.PORT ?? 8080);
  try {
    const dynamo: LocalDynamo = await startLocalDynamo({ host: options.host, counter: options.counter });
    cleanups.push(() => dynamo.close());
    log.info('dynalite.listening', { endpoint: dynamo.endpoint, tables: dynamo.tables });

    const awsEnv: Record<string, string> = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_REGION: LOCAL_AWS_REGION,
      AWS_DEFAULT_REGION: LOCAL_AWS_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
      ...dynamo.tables,
    };
    const mediaNodeSecret = randomBytes(32).toString('base64url');
    // The node-to-node (span) API has its own secret, which the handlers never get (docs/deploy-aws.md "Media node secrets").
    const mediaSpanSecret = randomBytes(32).toString('base64url');

    const supervisors: { supervisor: MediaNodeSupervisor<MediaNodeProcess>; pipePorts: PortRange }[] = [];
    if (options.mediaNode !== false) {
      const perNode = mediaNodeList(options.mediaNodes, options.mediaNode ?? {});
      const pipeSlices = splitPortRange(
        process.env.MEDIA_PIPE_PORTS
          ? parsePortRange('MEDIA_PIPE_PORTS', process.env.MEDIA_PIPE_PORTS)
          : DEFAULT_PIPE_PORTS,
        perNode.length,
      );
      const nodeEnv = { ...awsEnv, MEDIA_NODE_SECRET: mediaNodeSecret, MEDIA_SPAN_SECRET: mediaSpanSecret };
      // Side by side: every node starts at once; if one fails, those that came up are stopped with the rest.
      const started = await Promise.allSettled(
        perNode.map(async (nodeOptions, index) => {
          const slot = { index, count: perNode.length, pipePorts: nodeOptions.pipePorts ?? pipeSlices[index]! };
          const supervisor = await superviseMediaNode(() => startMediaNode(nodeOptions, nodeEnv, port === 0, slot), {
            log: log.child({ mediaNode: index + 1 }),
            restart: nodeOptions.restart,
          });
          supervisors[index] = { supervisor, pipePorts: slot.pipePorts };
          cleanups.push(() => supervisor.stop());
          const node = supervisor.current;
          log.info('media-node.started', {
            node: index + 1,
            of: perNode.length,
            pid: node.pid,
            grpc: node.grpc,
            nodeId: node.ready.nodeId,
            metrics: node.ready.metrics,
            pipePorts: formatPortRange(slot.pipePorts),
          });
        }),
      );
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    const nodeView = (index: number): LocalMediaNode => {
      const { supervisor, pipePorts } = supervisors[index]!;
      const node = supervisor.current;
      const nodeId = typeof node.ready.nodeId === 'string' ? node.ready.nodeId : undefined;
      return { index, grpc: node.grpc, pid: node.pid, nodeId, pipePorts, ready: node.ready };
    };

    // The gateway starts before the handler modules load (their environment needs its port); an early
    // client waits for the modules instead of failing.
    let loaded: Promise<Record<HandlerName, LambdaHandler>> | undefined;
    const lazy =
      (name: HandlerName): LambdaHandler =>
      async (event, context, callback) => {
        if (!loaded) throw new Error('local-stack: handler modules are not loaded yet');
        return (await loaded)[name](event, context, callback);
      };
    const handlers: GatewayHandlers = {
      connect: lazy('connect'),
      default: lazy('default'),
      disconnect: lazy('disconnect'),
    };
    const strict = options.strict ?? process.env.LOCAL_GATEWAY_STRICT === '1';
    const gateway = await startLocalGateway({
      handlers,
      port,
      host: options.host,
      strict,
      idleTimeoutMs: options.idleTimeoutMs,
      maxConnectionMs: options.maxConnectionMs,
      staticMounts:
        options.staticMounts ??
        (options.staticDir
          ? [{ prefix: '/', dir: options.staticDir }]
          : [
              { prefix: '/', dir: join(REPO_ROOT, 'web/public') },
              { prefix: '/dist/', dir: join(REPO_ROOT, 'web/dist') },
            ]),
      devIssuer: issuer,
      devMetrics: () => metrics.snapshot(),
      logger: options.logger,
      counter: options.counter,
    });
    cleanups.push(() => gateway.close());

    const env: Record<string, string> = {
      ...awsEnv,
      ...Object.fromEntries(TOKEN_ENV_VARS.map((name) => [name, ''])), // none of the shell's token settings leak in
      // The handlers trust the development issuer the way a deployment trusts its identity provider.
      TOKEN_JWKS_URL: `${gateway.url}${JWKS_PATH}`,
      TOKEN_ISSUER: issuer.issuer,
      TOKEN_AUDIENCE: issuer.audience,
      MEDIA_NODE_SECRET: mediaNodeSecret,
      CONNECTIONS_ENDPOINT: gateway.connectionsEndpoint,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand', // as Lambda sets it: Powertools reports the cold start
      // As on AWS: a gateway that drops binary frames makes $connect refuse binary-only hrpc1 offers.
      ...(strict ? { VOICE_TEXT_FRAMES_ONLY: '1' } : {}),
      ...options.handlerEnv,
    };
    restoreEnv = applyEnv(env);
    metricTaps.add(metrics.record);
    cleanups.push(() => void metricTaps.delete(metrics.record));

    loaded = loadHandlerModules(options.handlersDir ?? join(REPO_ROOT, 'functions/handlers'));
    const modules = await loaded;
    // Each local invocation gets the schedule's interval as its time budget, so it sweeps once (on AWS one
    // invocation a minute sweeps every REAPER_INTERVAL_MS until its time runs low).
    const reaperIntervalMs = options.reaperIntervalMs ?? SWEEP_SCHEDULE.intervalMs;
    const counter = options.counter;
    const reaperHandler: LambdaHandler = counter
      ? (event, context, callback) => {
          counter.countGateway('reaper');
          return modules.reaper(event, context, callback);
        }
      : modules.reaper;
    const reaper: ReaperSchedule = scheduleReaper(reaperHandler, reaperIntervalMs, log, reaperIntervalMs);
    cleanups.push(() => reaper.stop());

    let closed: Promise<void> | undefined;
    return {
      url: gateway.url,
      wsUrl: gateway.wsUrl,
      connectionsEndpoint: gateway.connectionsEndpoint,
      gateway,
      dynamo: { endpoint: dynamo.endpoint, tables: dynamo.tables },
      get mediaNode() {
        const node = supervisors[0]?.supervisor.current;
        return node && { grpc: node.grpc, pid: node.pid, ready: node.ready };
      },
      get mediaNodes() {
        return supervisors.map((_, index) => nodeView(index));
      },
      async mediaNodeRestarted(index = 0) {
        const entry = supervisors[index];
        if (!entry) throw new Error(`local-stack.no-media-node: this stack has no media node ${index + 1}`);
        const node = await entry.supervisor.nextStart();
        return { grpc: node.grpc, pid: node.pid };
      },
      env,
      issuer,
      metrics,
      mintToken(user, guild, channels, ttlSeconds = DEV_TOKEN_TTL_SECONDS) {
        return issuer.mintSync({ user, guild, channels: Array.isArray(channels) ? channels : [channels], ttlSeconds });
      },
      runReaper: () => reaper.runNow(),
      close: () => (closed ??= cleanup().then(() => log.info('stack.closed'))),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** MEDIA_NODES: how many media nodes `npm start` runs (default 1). */
export function mediaNodeCount(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > MAX_LOCAL_MEDIA_NODES) {
    throw new Error(
      `config.bad-value: MEDIA_NODES must be an integer from 1 to ${MAX_LOCAL_MEDIA_NODES}, got ${JSON.stringify(raw)}`,
    );
  }
  return count;
}

/** The stack's media nodes' options: `mediaNodes` (a count, or per-node options over `shared`), default one. */
export function mediaNodeList(
  nodes: number | MediaNodeOptions[] | undefined,
  shared: MediaNodeOptions,
): MediaNodeOptions[] {
  const count = Array.isArray(nodes) ? nodes.length : (nodes ?? 1);
  if (!Number.isInteger(count) || count < 1 || count > MAX_LOCAL_MEDIA_NODES) {
    throw new Error(`local-stack.bad-media-nodes: between 1 and ${MAX_LOCAL_MEDIA_NODES} media nodes, got ${count}`);
  }
  return Array.isArray(nodes)
    ? nodes.map((own) => ({ ...shared, ...own, env: { ...shared.env, ...own.env } }))
    : Array.from({ length: count }, () => shared);
}

export interface MediaNodeSlot {
  /** 0-based position of the node in the stack. */
  index: number;
  count: number;
  pipePorts: PortRange;
}

/**
 * The ports and sizes node `slot.index` is started with: an explicit option as given, else the environment's
 * (or the fallback) base moved along per node — gRPC and metrics by 1, RTC by the worker count — where 0
 * (ephemeral) and -1 (off) stay as they are; and its slice of the pipe ports. Pure.
 */
export function mediaNodePortEnv(
  options: MediaNodeOptions,
  slot: MediaNodeSlot,
  ephemeral: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const workers = Number(options.workers ?? env.MEDIA_WORKERS ?? 1);
  const pick = (value: number | undefined, name: string, fallback: string, stride = 1) => {
    if (value !== undefined) return String(value);
    const base = Number(env[name] ?? fallback);
    return String(base > 0 ? base + slot.index * stride : base);
  };
  return {
    MEDIA_GRPC_PORT: pick(options.grpcPort, 'MEDIA_GRPC_PORT', '0'),
    MEDIA_METRICS_PORT: pick(options.metricsPort, 'MEDIA_METRICS_PORT', ephemeral ? '0' : '9464'),
    MEDIA_RTC_PORT_BASE: pick(options.rtcPortBase, 'MEDIA_RTC_PORT_BASE', ephemeral ? '0' : '40000', workers),
    MEDIA_WORKERS: String(workers),
    // The pipe's listen IP and announced address come from the environment if set (else the node's listen IP).
    MEDIA_PIPE_PORTS: formatPortRange(slot.pipePorts),
  };
}

/**
 * Ephemeral stacks (gateway port 0: tests running side by side) give the media nodes ephemeral ports too;
 * `npm start` uses fixed ones (RTC 40000+, metrics 9464) unless the environment says otherwise; node i of
 * several gets them offset by i (mediaNodePortEnv).
 */
function startMediaNode(
  options: MediaNodeOptions,
  env: Record<string, string>,
  ephemeral: boolean,
  slot: MediaNodeSlot,
): Promise<MediaNodeProcess> {
  const forward = options.forwardLogs ?? true;
  if (!options.command && !existsSync(join(REPO_ROOT, 'media-node/main.ts'))) {
    return Promise.reject(
      new Error(
        'local-stack.missing-media-node: media-node/main.ts does not exist yet; the stack starts it as ' +
          '`node --import tsx media-node/main.ts` (pass mediaNode: false for signalling-only runs)',
      ),
    );
  }
  return startMediaNodeProcess({
    command: options.command ?? [process.execPath, '--import', 'tsx', 'media-node/main.ts'],
    cwd: REPO_ROOT,
    env: {
      ...withoutAwsProfile(process.env),
      ...env,
      ...mediaNodePortEnv(options, slot, ephemeral),
      ...testStackIceBound(ephemeral),
      ...options.env,
    },
    readyTimeoutMs: options.readyTimeoutMs,
    onLine: (line, stream) => {
      if (forward) (stream === 'stdout' ? process.stdout : process.stderr).write(line + '\n');
      options.onLine?.(line, stream);
    },
  });
}

/**
 * Ephemeral (test) stacks run many hand-built clients that never start ICE (signalling tests): there the
 * media node's connect bound (MEDIA_ICE_CONNECT_TIMEOUT_MS, docs/reachability.md) is off unless the
 * environment or the node's options set it; `npm start` keeps the node's default (15 s).
 */
function testStackIceBound(ephemeral: boolean): Record<string, string> {
  return ephemeral && !process.env.MEDIA_ICE_CONNECT_TIMEOUT_MS ? { MEDIA_ICE_CONNECT_TIMEOUT_MS: '0' } : {};
}

function withoutAwsProfile(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { AWS_PROFILE: _profile, AWS_SESSION_TOKEN: _session, ...rest } = env;
  return rest;
}

/** Sets the handlers' environment (dropping any AWS profile/session so only the local credentials apply); returns the undo. */
function applyEnv(env: Record<string, string>): () => void {
  const names = [...Object.keys(env), 'AWS_PROFILE', 'AWS_SESSION_TOKEN'];
  const previous = new Map(names.map((name) => [name, process.env[name]]));
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  Object.assign(process.env, env);
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
