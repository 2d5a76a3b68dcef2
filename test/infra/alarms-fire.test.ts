// Alarms that can fire: every metric filter of every stack is evaluated (infra/conformance/
// filter-pattern.ts, CloudWatch's JSON pattern syntax) against log lines the real code writes
// (test/support/alarm-cases.ts: the handlers' Powertools logger through the real local stack, the media node's
// logger, API Gateway access lines rendered from the stage's own format) and must match the line meant to trip it
// and not an ordinary one; each alarm then reaches ALARM on the values its filters publish for the tripping lines,
// and stays OK on ordinary ones and on none. Alarms on metrics no filter publishes must name an EMF metric (and
// dimension set) the handlers emitted, or the host's load metric. On main 2cfbf0d the error-line and join-failure
// filters selected `$.level = "error"` / `$.msg`, which Powertools' lines never carry.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  alarmFires,
  alarms,
  metricFilters,
  published,
  type AlarmSpec,
  type MetricFilterSpec,
} from '../../infra/conformance/alarms';
import { LOAD_METRIC_DIMENSION, LOAD_METRIC_NAME } from '../../infra/media-fleet/load-metric';
import type { TemplateJson } from '../../infra/conformance/ordering';
import { collectAlarmCases, periodOf, provenAlarms, type AlarmCases } from '../support/alarm-cases';
import { synthVoiceApp, resourcesOf } from './synth';

const s = synthVoiceApp({ skipBundling: true });
const templates = Object.values(s.templates).map((t) => t.toJSON() as TemplateJson);
const filters = templates.flatMap(metricFilters);
const allAlarms = templates.flatMap(alarms);

let collected: AlarmCases;
before(async () => {
  const [, stage] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Stage')[0]!;
  collected = await collectAlarmCases(stage.Properties.AccessLogSettings.Format as string);
});

const filterOf = (name: string): MetricFilterSpec | undefined => filters.find((f) => f.metricName === name);
const filterAlarms = (): AlarmSpec[] => allAlarms.filter((a) => a.metrics.some((m) => filterOf(m.metricName)));
const period = (pick: 'trip' | 'ordinary', n: number) => periodOf(filters, collected.cases, pick, n);

describe('alarms fire on the lines they are for', () => {
  it('every metric filter has a real tripping line and a real ordinary line, and tells them apart', () => {
    assert.ok(filters.length >= 9, `the stacks' filters: ${filters.map((f) => f.metricName).join(', ')}`);
    for (const f of filters) {
      const c = collected.cases.get(f.metricName);
      assert.ok(c, `${f.metricName}: no case here; a new filter needs the real line it is meant to count`);
      assert.equal(published(f, [c.trip]).length, 1, `${f.metricName} (${f.pattern}) matches ${c.trip}`);
      // A counting filter ignores the ordinary line; a value filter (the sweep gap) reads it, and its alarm stays OK below.
      if (f.metricValue === '1')
        assert.deepEqual(published(f, [c.ordinary]), [], `${f.metricName} (${f.pattern}) ignores ${c.ordinary}`);
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
    assert.deepEqual(
      provenAlarms(allAlarms, filters, collected.cases).map((a) => a.id),
      checked.map((a) => a.id),
      'what bench:boot counts',
    );
  });

  it('alarms on metrics no filter publishes name an EMF metric and dimensions the handlers emit, an AWS metric, or the host load metric', () => {
    const emf = collected.lines
      .map((l) => JSON.parse(l))
      .filter((l) => l._aws)
      .flatMap((l) =>
        l._aws.CloudWatchMetrics.flatMap((d: any) =>
          d.Metrics.flatMap((m: any) =>
            (d.Dimensions as string[][]).map((dims) => `${d.Namespace}/${m.Name}[${[...dims].sort().join(',')}]`),
          ),
        ),
      );
    assert.ok(emf.length > 0, 'the handlers emitted EMF lines');
    for (const a of allAlarms) {
      for (const m of a.metrics) {
        if (m.namespace.startsWith('AWS/') || filterOf(m.metricName)) continue;
        if (m.metricName === LOAD_METRIC_NAME) {
          assert.deepEqual(Object.keys(m.dimensions), [LOAD_METRIC_DIMENSION], `${a.id}: the load metric's dimension`);
          continue;
        }
        const key = `${m.namespace}/${m.metricName}[${Object.keys(m.dimensions).sort().join(',')}]`;
        assert.ok(
          emf.includes(key),
          `${a.id} reads ${key}, which nothing emits (emitted: ${[...new Set(emf)].join(' ')})`,
        );
      }
    }
  });

  it('the matcher refuses a pattern it does not implement rather than passing it (control)', () => {
    assert.equal(
      published({ ...filters[0]!, pattern: '{ $.level = "ERROR" }', metricValue: '1' }, ['{"level":"error"}']).length,
      0,
      'case-sensitive',
    );
    assert.throws(
      () => published({ ...filters[0]!, pattern: '[ip, user, ...]', metricValue: '1' }, ['x']),
      /only JSON patterns/,
    );
  });
});
