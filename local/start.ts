// `npm start`: the whole service on loopback (dynalite, a media node — MEDIA_NODES=2 for two or more — the
// Lambda handlers behind the local API Gateway, the reaper on its schedule) plus the web demo. Ctrl-C /
// SIGTERM stops everything.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEV_TOKEN_PATH } from './gateway/dev-token';
import { createLogger } from '../lib/log';
import { METRIC, summaryLine } from '../lib/metrics';
import { awaitExitOrKill, descendantProcesses, signal } from './process-tree';
import { formatPortRange } from '../media-node/src/span/pipe-ports';
import { mediaNodeCount, REPO_ROOT, startLocalStack, type LocalStack } from './stack';
import { coturnAvailable, startCoturn, type Coturn } from './coturn';

const log = createLogger().child({ component: 'npm-start' });
const SUMMARY_EVERY_MS = Number(process.env.LOCAL_METRICS_SUMMARY_MS) || 30_000;
/**
 * `npm start -- --emf` (or LOCAL_EMF=1): the handlers print their raw EMF lines, as on AWS. Without it they do
 * not (POWERTOOLS_METRICS_DISABLED), and the terminal gets one summary line of the same samples instead.
 */
const RAW_EMF = process.argv.includes('--emf') || process.env.LOCAL_EMF === '1';
if (!RAW_EMF) process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

async function buildWebBundle(): Promise<void> {
  const file = join(REPO_ROOT, 'web/build.ts');
  if (!existsSync(file)) {
    log.warn('web.build-skipped', {
      note: 'web/build.ts does not exist yet: the demo page is served without a fresh bundle',
    });
    return;
  }
  const mod = (await import(pathToFileURL(file).href)) as { buildWeb?: () => Promise<void> };
  if (typeof mod.buildWeb !== 'function') {
    log.warn('web.build-skipped', { note: 'web/build.ts does not export buildWeb()' });
    return;
  }
  await mod.buildWeb();
  log.info('web.built', { dir: 'web/dist' });
}

function mediaNodeLines(stack: LocalStack): string[] {
  const nodes = stack.mediaNodes;
  if (nodes.length === 0) return ['  media node gRPC      (not started)'];
  return [
    ...(nodes.length > 1
      ? [
          `  media nodes          ${nodes.length} (MEDIA_NODES), each in the registry ${stack.dynamo.tables.MEDIA_NODES_TABLE}`,
        ]
      : []),
    ...nodes.flatMap((node) => {
      const metrics = node.ready.metrics;
      const rtc = (node.ready.workers as { udp?: number[] }[] | undefined)?.flatMap((w) => w.udp ?? []) ?? [];
      return [
        `  media node gRPC      ${node.grpc}${nodes.length > 1 ? `   (node ${node.index + 1})` : ''}`,
        `  media node metrics   ${typeof metrics === 'string' ? metrics : '(see the media node ready line)'}`,
        `  media node id        ${node.nodeId ?? '(see the media node ready line)'}   RTC UDP+TCP ${rtc.join(', ') || '?'}   pipes UDP ${formatPortRange(node.pipePorts)}`,
      ];
    }),
  ];
}

/**
 * The embedded TURN relay when Debian's coturn is installed (LOCAL_TURN=off: not started): on loopback, relaying to
 * the media nodes only, short-lived credentials only, TLS on LOCAL_TURN_TLS_PORT (default 5349; 443 needs root and
 * would meet a media node's MEDIA_ICE_TCP_PORT=443 on the same address). docs/reachability.md.
 */
async function startRelay(): Promise<Coturn | undefined> {
  if (process.env.LOCAL_TURN === 'off' || !coturnAvailable()) return undefined;
  try {
    return await startCoturn({
      listenIp: '127.0.0.1',
      mediaNodeIps: ['127.0.0.1'],
      port: Number(process.env.LOCAL_TURN_PORT ?? 3478),
      tlsPort: Number(process.env.LOCAL_TURN_TLS_PORT ?? 5349),
    });
  } catch (err) {
    log.warn('turn.start-failed', { error: err as Error, note: 'continuing without the relay' });
    return undefined;
  }
}

function relayLines(relay: Coturn | undefined): string[] {
  if (!relay)
    return [
      `  TURN relay           ${coturnAvailable() ? '(LOCAL_TURN=off or it failed to start)' : '(not installed: apt-get install -y coturn)'}`,
    ];
  return [
    `  TURN relay           ${relay.urls.join('  ')}   (coturn pid ${relay.pid}; short-lived credentials only, peers: the media nodes)`,
  ];
}

function banner(stack: LocalStack, relay?: Coturn): string {
  const lines = [
    '',
    'harmony-voice is running on loopback:',
    `  demo page            ${stack.url}/`,
    `  WebSocket (hRPC)     ${stack.wsUrl}`,
    `  @connections API     ${stack.connectionsEndpoint}/@connections/{connectionId}`,
    `  dev token endpoint   ${stack.url}${DEV_TOKEN_PATH}?user=42&guild=1&channel=7   (local stack only)`,
    `  dev issuer JWKS      ${stack.url}/.well-known/jwks.json   (the handlers verify tokens against it)`,
    `  handler metrics      ${stack.url}/dev/metrics   (a summary line every ${SUMMARY_EVERY_MS / 1000} s when it changed; ` +
      `${RAW_EMF ? 'raw EMF lines on' : 'raw EMF lines: npm start -- --emf'})`,
    `  dynalite             ${stack.dynamo.endpoint}   tables: ${Object.values(stack.dynamo.tables).join(', ')}`,
    ...mediaNodeLines(stack),
    ...relayLines(relay),
    `  gateway mode         ${stack.gateway.strict ? 'strict (API Gateway: binary frames closed with 1003)' : 'default (text hrpc1.base64 and binary hrpc1 clients)'}`,
    '',
    'Mint a development token (prints it alone on its last line):',
    '  npm run -s token -- --user 42 --guild 1 --channel 7',
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return lines.join('\n');
}

/**
 * After the stack is closed only helper processes remain below this one (esbuild's service, started by
 * tsx's loader thread and by the web build); end them and wait, so that nothing outlives `npm start`.
 */
async function stopRemainingChildren(): Promise<void> {
  const helpers = descendantProcesses(process.pid);
  for (const helper of helpers) signal(helper, 'SIGTERM');
  const killed = await awaitExitOrKill(helpers, 2_000);
  if (killed.length > 0) log.warn('stop.killed-leftovers', { pids: killed.map((k) => k.pid) });
}

async function main(): Promise<void> {
  try {
    await buildWebBundle();
  } catch (err) {
    log.error('web.build-failed', { error: err as Error, note: 'continuing: the demo page may be stale or missing' });
  }

  // The relay first: the handlers grant relay.v1 with its urls and secret (docs/reachability.md).
  const relay = await startRelay();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      mediaNodes: mediaNodeCount(process.env.MEDIA_NODES),
      ...(relay ? { handlerEnv: { VOICE_RELAY_URLS: relay.urls.join(','), VOICE_RELAY_SECRET: relay.secret } } : {}),
    });
  } catch (err) {
    log.error('stack.start-failed', { error: err as Error });
    await relay?.close();
    process.exitCode = 1;
    return;
  }
  process.stdout.write(banner(stack, relay) + '\n');
  // A live summary of the handlers' metrics (the names and units their EMF lines carry on AWS): one line, printed
  // when something besides the reaper's own schedule happened.
  let printed = '';
  const summary = setInterval(() => {
    if (!stack.metrics.takeChanged()) return;
    const snapshot = stack.metrics.snapshot();
    const { [METRIC.sweepDuration]: _sweeps, ...activity } = snapshot;
    if (JSON.stringify(activity) === printed) return;
    printed = JSON.stringify(activity);
    process.stdout.write(`${summaryLine(snapshot)}\n`);
  }, SUMMARY_EVERY_MS);
  summary.unref();

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn('stop.forced', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('stop.requested', { signal });
    Promise.resolve(relay?.close())
      .then(() => stack.close())
      .then(stopRemainingChildren)
      .then(
        () => process.exit(0),
        (err: Error) => {
          log.error('stop.failed', { error: err });
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
