// Alarms that can fire (issue 21): every metric filter of every stack is evaluated (infra/conformance/
// filter-pattern.ts, CloudWatch's JSON pattern syntax) against log lines the real code writes — the handlers'
// Powertools logger through the real local stack (a join refused for want of a media node, the reaper's sweep
// report), the media node's logger, API Gateway access lines rendered from the stage's own format — and must
// match the line meant to trip it and not an ordinary one; each alarm then reaches ALARM on the values its filters
// publish for the tripping lines, and stays OK on ordinary ones. Alarms on metrics no filter publishes must name
// an EMF metric (and dimension set) the handlers emitted, or the host's load metric. On main 2cfbf0d the error-line
// and join-failure filters selected `$.level = "error"` / `$.msg`, which Powertools' lines never carry.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DevIssuer, signingKey } from '../../local/dev-issuer';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createLogger } from '../../lib/log';
import { withInvocation } from '../../functions/handlers/telemetry';
import { handler as reaper } from '../../functions/handlers/reaper';
import { alarmFires, alarms, metricFilters, published, type AlarmSpec, type MetricFilterSpec } from '../../infra/conformance/alarms';
import { LOAD_METRIC_DIMENSION, LOAD_METRIC_NAME } from '../../infra/media-fleet/load-metric';
import type { TemplateJson } from '../../infra/conformance/ordering';
import { synthVoiceApp, resourcesOf } from './synth';
import { VoiceTestClient } from '../support/voice-client';

const written: string[] = [];
const restore: Array<() => void> = [];
function capture(stream: NodeJS.WriteStream): void {
  const original = stream.write;
  stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof stream.write;
  restore.push(() => (stream.write = original));
}
const jsonLines = () => written.flatMap((c) => c.split('\n')).filter((l) => l.startsWith('{') && (() => { try { JSON.parse(l); return true; } catch { return false; } })());
const lineWith = (predicate: (l: Record<string, any>) => boolean) => jsonLines().find((l) => predicate(JSON.parse(l)));

const s = synthVoiceApp({ skipBundling: true });
const templates = Object.values(s.templates).map((t) => t.toJSON() as TemplateJson);
const filters = templates.flatMap(metricFilters);
const allAlarms = templates.flatMap(alarms);

let stack: LocalStack;
/** Per filter metric name: the real line meant to trip it, and an ordinary real line. */
const cases = new Map<string, { trip: string; ordinary: string }>();

before(async () => {
  capture(process.stdout);
  capture(process.stderr);
  const issuer = new DevIssuer([signingKey(generateKeyPairSync('ed25519').privateKey)]);
  // No media node: a join can only be refused (hrpc.unavailable), the failure the JoinFailures alarm is for.
  stack = await startLocalStack({ port: 0, strict: true, issuer, mediaNode: false, reaperIntervalMs: 60_000, handlerEnv: { LOG_LEVEL: 'debug' } });
  const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: await issuer.mint({ user: '1', guild: '5', channels: ['9'] }) });
  client.send({ $case: 'initialize', value: { guildId: 5n, channelId: 9n } });
  assert.equal((await client.nextError()).identifier, 'hrpc.unavailable');
  client.close();
  // The reaper as EventBridge runs it on AWS: several sweeps in one invocation, then its report.
  process.env.REAPER_INTERVAL_MS = '20';
  process.env.REAPER_WINDOW_MS = '100';
  try {
    await reaper({}, { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'r-1', functionName: 'reaper' } as never);
  } finally {
    delete process.env.REAPER_INTERVAL_MS;
    delete process.env.REAPER_WINDOW_MS;
  }
  // An unexpected failure in a handler, logged as the handlers do (functions/handlers/default.ts).
  await withInvocation({ requestContext: { connectionId: 'c-1', routeKey: '$default', requestId: 'q-1' } }, undefined, async ({ log }) => {
    log.error('voice.default-failed', { error: 'Error: boom\n    at handler (default.ts:40:7)' });
  });

  const handlerLines = jsonLines().filter((l) => JSON.parse(l).service === 'harmony-voice-signalling' && !JSON.parse(l)._aws);
  const ordinary = handlerLines.find((l) => JSON.parse(l).level === 'INFO' && JSON.parse(l).message !== 'voice.rejected' && JSON.parse(l).message !== 'voice.reaper-done');
  const errorLine = handlerLines.find((l) => JSON.parse(l).message === 'voice.default-failed');
  const rejected = handlerLines.find((l) => JSON.parse(l).message === 'voice.rejected' && JSON.parse(l).identifier === 'hrpc.unavailable');
  const sweep = handlerLines.find((l) => JSON.parse(l).message === 'voice.reaper-done');
  assert.ok(ordinary && errorLine && rejected && sweep, `real lines: ordinary ${!!ordinary}, error ${!!errorLine}, join failure ${!!rejected}, sweep ${!!sweep}`);
  // The sweep-lag alarm trips on a report of a long gap: the real report with the gap a stalled sweep would give.
  const lagging = JSON.stringify({ ...JSON.parse(sweep), maxGapMs: 60_000 });
  for (const fn of ['Connect', 'Default', 'Disconnect', 'Reaper']) cases.set(`${fn}ErrorLines`, { trip: errorLine, ordinary });
  cases.set('JoinFailures', { trip: rejected, ordinary });
  cases.set('SweepGapMs', { trip: lagging, ordinary: sweep });

  // API Gateway's access lines, rendered from the stage's own format.
  const [, stage] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Stage')[0]!;
  const format = stage.Properties.AccessLogSettings.Format as string;
  const access = (status: string) => format.replace(/\$context\.([A-Za-z.]+)/g, (_m, key: string) => (key === 'status' ? status : `x-${key}`));
  cases.set('Api5xx', { trip: access('502'), ordinary: access('200') });
  cases.set('Api4xx', { trip: access('403'), ordinary: access('200') });
  cases.set('Api429', { trip: access('429'), ordinary: access('403') });

  // The media node's logger (lib/log.ts) as it writes to the journal the host ships.
  const nodeLines: string[] = [];
  const nodeLog = createLogger({ level: 'info', write: (l) => nodeLines.push(l), base: { nodeId: 'i-0abc' } });
  nodeLog.error('media-node.worker-died', { worker: 0 });
  nodeLog.info('media-node.ready', { grpc: '0.0.0.0:50051' });
  cases.set('MediaNodeErrorLines', { trip: nodeLines[0]!, ordinary: nodeLines[1]! });
});
after(async () => {
  await stack?.close();
  restore.forEach((undo) => undo());
});

/** The values each filter metric gets in one period: `n` copies of a case's line. */
function period(pick: 'trip' | 'ordinary', n: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const f of filters) out.set(f.metricName, published(f, Array(n).fill(cases.get(f.metricName)![pick])));
  return out;
}
const filterOf = (name: string): MetricFilterSpec | undefined => filters.find((f) => f.metricName === name);
const filterAlarms = (): AlarmSpec[] => allAlarms.filter((a) => a.metrics.some((m) => filterOf(m.metricName)));

describe('alarms fire on the lines they are for', () => {
  it('every metric filter has a real tripping line and a real ordinary line, and tells them apart', () => {
    assert.ok(filters.length >= 9, `the stacks' filters: ${filters.map((f) => f.metricName).join(', ')}`);
    for (const f of filters) {
      const c = cases.get(f.metricName);
      assert.ok(c, `${f.metricName}: no case here; a new filter needs the real line it is meant to count`);
      assert.equal(published(f, [c.trip]).length, 1, `${f.metricName} (${f.pattern}) matches ${c.trip}`);
      // A counting filter ignores the ordinary line; a value filter (the sweep gap) reads it, and its alarm stays OK below.
      if (f.metricValue === '1') assert.deepEqual(published(f, [c.ordinary]), [], `${f.metricName} (${f.pattern}) ignores ${c.ordinary}`);
    }
  });

  it('every alarm on a filter metric reaches ALARM on its tripping lines and stays OK on ordinary ones', () => {
    const checked = filterAlarms();
    assert.ok(checked.length >= 7, checked.map((a) => a.id).join(', '));
    for (const a of checked) {
      assert.ok(alarmFires(a, period('trip', Math.max(1, Math.ceil(a.threshold)))), `${a.id} fires`);
      assert.ok(!alarmFires(a, period('ordinary', 50)), `${a.id} stays OK on ordinary lines`);
      assert.ok(!alarmFires(a, new Map()), `${a.id}: no lines is not an alarm (missing data: ${a.treatMissingData})`);
    }
  });

  it('alarms on metrics no filter publishes name an EMF metric and dimensions the handlers emit, an AWS metric, or the host load metric', () => {
    const emf = jsonLines().map((l) => JSON.parse(l)).filter((l) => l._aws).flatMap((l) => l._aws.CloudWatchMetrics.flatMap((d: any) =>
      d.Metrics.flatMap((m: any) => (d.Dimensions as string[][]).map((dims) => `${d.Namespace}/${m.Name}[${[...dims].sort().join(',')}]`))));
    assert.ok(emf.length > 0, 'the handlers emitted EMF lines');
    for (const a of allAlarms) {
      for (const m of a.metrics) {
        if (m.namespace.startsWith('AWS/') || filterOf(m.metricName)) continue;
        if (m.metricName === LOAD_METRIC_NAME) {
          assert.deepEqual(Object.keys(m.dimensions), [LOAD_METRIC_DIMENSION], `${a.id}: the load metric's dimension`);
          continue;
        }
        const key = `${m.namespace}/${m.metricName}[${Object.keys(m.dimensions).sort().join(',')}]`;
        assert.ok(emf.includes(key), `${a.id} reads ${key}, which nothing emits (emitted: ${[...new Set(emf)].join(' ')})`);
      }
    }
  });

  it('the matcher refuses a pattern it does not implement rather than passing it (control)', () => {
    assert.equal(published({ ...filters[0]!, pattern: '{ $.level = "ERROR" }', metricValue: '1' }, ['{"level":"error"}']).length, 0, 'case-sensitive');
    assert.throws(() => published({ ...filters[0]!, pattern: '[ip, user, ...]', metricValue: '1' }, ['x']), /only JSON patterns/);
  });
});
