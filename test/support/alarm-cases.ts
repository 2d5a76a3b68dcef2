// The real log lines each metric filter of the stacks is meant to count, and ordinary ones: the handlers' Powertools
// logger through the real local stack (a join refused for want of a media node, the reaper's sweep report, an
// unexpected handler failure as the handlers log it), API Gateway access lines rendered from the stage's own
// format, the media node's logger. Used by test/infra/alarms-fire.test.ts and bench/boot.ts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DevIssuer, signingKey } from '../../local/dev-issuer';
import { startLocalStack } from '../../local/stack';
import { createLogger } from '../../lib/log';
import { withInvocation } from '../../functions/handlers/telemetry';
import { handler as reaper } from '../../functions/handlers/reaper';
import { alarmFires, type AlarmSpec, type MetricFilterSpec, published } from '../../infra/conformance/alarms';
import type { TemplateJson } from '../../infra/conformance/ordering';
import { VoiceTestClient } from './voice-client';

export interface AlarmCase {
  trip: string;
  ordinary: string;
}

export interface AlarmCases {
  /** Per filter metric name. */
  readonly cases: Map<string, AlarmCase>;
  /** Every JSON line written meanwhile (EMF lines included). */
  readonly lines: string[];
}

/** Runs the local stack (no media node) and the loggers; `stageFormat` is the stage's access log format. */
export async function collectAlarmCases(stageFormat: string): Promise<AlarmCases> {
  const written: string[] = [];
  const restore: Array<() => void> = [];
  const capture = (stream: NodeJS.WriteStream) => {
    const original = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
    restore.push(() => (stream.write = original));
  };
  const jsonLines = () =>
    written
      .flatMap((c) => c.split('\n'))
      .filter(
        (l) =>
          l.startsWith('{') &&
          (() => {
            try {
              JSON.parse(l);
              return true;
            } catch {
              return false;
            }
          })(),
      );
  const cases = new Map<string, AlarmCase>();
  capture(process.stdout);
  capture(process.stderr);
  const issuer = new DevIssuer([signingKey(generateKeyPairSync('ed25519').privateKey)]);
  // No media node: a join can only be refused (hrpc.unavailable), the failure the JoinFailures alarm is for.
  const stack = await startLocalStack({
    port: 0,
    strict: true,
    issuer,
    mediaNode: false,
    reaperIntervalMs: 60_000,
    handlerEnv: { LOG_LEVEL: 'debug' },
  });
  try {
    const client = await VoiceTestClient.connect({
      wsUrl: stack.wsUrl,
      token: await issuer.mint({ user: '1', guild: '5', channels: ['9'] }),
    });
    client.send({ $case: 'initialize', value: { guildId: 5n, channelId: 9n } });
    assert.equal((await client.nextError()).identifier, 'hrpc.unavailable');
    client.close();
    // The reaper as EventBridge runs it on AWS: several sweeps in one invocation, then its report.
    process.env.REAPER_INTERVAL_MS = '20';
    process.env.REAPER_WINDOW_MS = '100';
    try {
      await reaper({}, {
        getRemainingTimeInMillis: () => 60_000,
        awsRequestId: 'r-1',
        functionName: 'reaper',
      } as never);
    } finally {
      delete process.env.REAPER_INTERVAL_MS;
      delete process.env.REAPER_WINDOW_MS;
    }
    // An unexpected failure in a handler, logged as the handlers do (functions/handlers/default.ts).
    await withInvocation(
      { requestContext: { connectionId: 'c-1', routeKey: '$default', requestId: 'q-1' } },
      undefined,
      async ({ log }) => {
        log.error('voice.default-failed', { error: 'Error: boom\n    at handler (default.ts:40:7)' });
      },
    );
  } finally {
    await stack.close();
    restore.forEach((undo) => undo());
  }
  const handlerLines = jsonLines().filter(
    (l) => JSON.parse(l).service === 'harmony-voice-signalling' && !JSON.parse(l)._aws,
  );
  const ordinary = handlerLines.find(
    (l) =>
      JSON.parse(l).level === 'INFO' &&
      JSON.parse(l).message !== 'voice.rejected' &&
      JSON.parse(l).message !== 'voice.reaper-done',
  );
  const errorLine = handlerLines.find((l) => JSON.parse(l).message === 'voice.default-failed');
  const rejected = handlerLines.find(
    (l) => JSON.parse(l).message === 'voice.rejected' && JSON.parse(l).identifier === 'hrpc.unavailable',
  );
  const sweep = handlerLines.find((l) => JSON.parse(l).message === 'voice.reaper-done');
  assert.ok(
    ordinary && errorLine && rejected && sweep,
    `real lines: ordinary ${!!ordinary}, error ${!!errorLine}, join failure ${!!rejected}, sweep ${!!sweep}`,
  );
  // The sweep-lag alarm trips on a report of a long gap: the real report with the gap a stalled sweep would give.
  const lagging = JSON.stringify({ ...JSON.parse(sweep), maxGapMs: 60_000 });
  for (const fn of ['Connect', 'Default', 'Disconnect', 'Reaper'])
    cases.set(`${fn}ErrorLines`, { trip: errorLine, ordinary });
  cases.set('JoinFailures', { trip: rejected, ordinary });
  cases.set('SweepGapMs', { trip: lagging, ordinary: sweep });

  // API Gateway's access lines, rendered from the stage's own format.
  const access = (status: string) =>
    stageFormat.replace(/\$context\.([A-Za-z.]+)/g, (_m, key: string) => (key === 'status' ? status : `x-${key}`));
  cases.set('Api5xx', { trip: access('502'), ordinary: access('200') });
  cases.set('Api4xx', { trip: access('403'), ordinary: access('200') });
  cases.set('Api429', { trip: access('429'), ordinary: access('403') });

  // The media node's logger (lib/log.ts) as it writes to the journal the host ships.
  const nodeLines: string[] = [];
  const nodeLog = createLogger({ level: 'info', write: (l) => nodeLines.push(l), base: { nodeId: 'i-0abc' } });
  nodeLog.error('media-node.worker-died', { worker: 0 });
  nodeLog.info('media-node.ready', { grpc: '0.0.0.0:50051' });
  cases.set('MediaNodeErrorLines', { trip: nodeLines[0]!, ordinary: nodeLines[1]! });
  return { cases, lines: jsonLines() };
}

/** The values each filter metric gets in one period: `n` copies of a case's line. */
export function periodOf(
  filters: readonly MetricFilterSpec[],
  cases: Map<string, AlarmCase>,
  pick: 'trip' | 'ordinary',
  n: number,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of filters) out.set(f.metricName, published(f, Array(n).fill(cases.get(f.metricName)![pick])));
  return out;
}

/** Alarms on filter metrics that reach ALARM on their tripping lines and stay OK on ordinary lines and on none. */
export function provenAlarms(
  alarms: readonly AlarmSpec[],
  filters: readonly MetricFilterSpec[],
  cases: Map<string, AlarmCase>,
): AlarmSpec[] {
  return alarms
    .filter((a) => a.metrics.some((m) => filters.some((f) => f.metricName === m.metricName)))
    .filter(
      (a) =>
        alarmFires(a, periodOf(filters, cases, 'trip', Math.max(1, Math.ceil(a.threshold)))) &&
        !alarmFires(a, periodOf(filters, cases, 'ordinary', 50)) &&
        !alarmFires(a, new Map()),
    );
}

export type { TemplateJson };
