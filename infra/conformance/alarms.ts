// Alarms and metric filters of a synthesized template, evaluated on log lines: which filter publishes what for a
// line, and whether an alarm reaches ALARM for one period of such values. Covers the shapes the stacks use: an
// alarm on one metric (Namespace/MetricName/Statistic), or on a math expression that adds metrics (`e0 + e1`).
// Pure; used by test/infra/alarms-fire.test.ts and bench/boot.ts.
import { metricValueOf } from './filter-pattern';
import type { TemplateJson } from './ordering';

export interface MetricFilterSpec {
  readonly id: string;
  readonly logGroup: unknown;
  readonly pattern: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly metricValue: string;
}

export interface MetricRef {
  /** Its id in the alarm's math expression, if any. */
  readonly id?: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, unknown>;
  readonly statistic: string;
}

export interface AlarmSpec {
  readonly id: string;
  readonly threshold: number;
  readonly comparison: string;
  readonly treatMissingData: string;
  /** The metrics it reads, and how they combine (a sum of all, or the one metric). */
  readonly metrics: MetricRef[];
  readonly expression?: string;
}

export function metricFilters(template: TemplateJson): MetricFilterSpec[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Logs::MetricFilter')
    .map(([id, r]) => {
      const p = r.Properties as {
        LogGroupName: unknown;
        FilterPattern: string;
        MetricTransformations: { MetricNamespace: string; MetricName: string; MetricValue: string }[];
      };
      const t = p.MetricTransformations[0]!;
      return {
        id,
        logGroup: p.LogGroupName,
        pattern: p.FilterPattern,
        namespace: t.MetricNamespace,
        metricName: t.MetricName,
        metricValue: t.MetricValue,
      };
    });
}

export function alarms(template: TemplateJson): AlarmSpec[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
    .map(([id, r]) => {
      const p = r.Properties as Record<string, any>;
      const dims = (list: { Name: string; Value: unknown }[] | undefined) =>
        Object.fromEntries((list ?? []).map((d) => [d.Name, d.Value]));
      const base = {
        id,
        threshold: Number(p.Threshold),
        comparison: String(p.ComparisonOperator),
        treatMissingData: String(p.TreatMissingData ?? 'missing'),
      };
      if (p.MetricName) {
        return {
          ...base,
          metrics: [
            {
              namespace: p.Namespace,
              metricName: p.MetricName,
              dimensions: dims(p.Dimensions),
              statistic: p.Statistic ?? p.ExtendedStatistic,
            },
          ],
        };
      }
      const queries = (p.Metrics ?? []) as any[];
      const expression = queries.find((q) => q.Expression)?.Expression as string | undefined;
      const metrics = queries
        .filter((q) => q.MetricStat)
        .map((q) => ({
          id: q.Id as string,
          namespace: q.MetricStat.Metric.Namespace,
          metricName: q.MetricStat.Metric.MetricName,
          dimensions: dims(q.MetricStat.Metric.Dimensions),
          statistic: q.MetricStat.Stat,
        }));
      return { ...base, metrics, expression };
    });
}

/** The values `filter` publishes for `lines` (one per matching line). */
export function published(filter: MetricFilterSpec, lines: readonly string[]): number[] {
  return lines
    .map((line) => metricValueOf(filter.pattern, filter.metricValue, line))
    .filter((v): v is number => v !== undefined);
}

function statistic(name: string, values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  switch (name) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Maximum':
      return Math.max(...values);
    case 'Minimum':
      return Math.min(...values);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'SampleCount':
      return values.length;
    default:
      throw new Error(`infra.alarms: statistic ${name} is not evaluated here`);
  }
}

/**
 * Whether `alarm` is in ALARM for a period whose datapoints are `values` (metric name → values published in the
 * period; a metric absent from the map has no data). Every evaluation period is taken to look like this one.
 */
export function alarmFires(alarm: AlarmSpec, values: ReadonlyMap<string, number[]>): boolean {
  const stats = alarm.metrics.map((m) => statistic(m.statistic, values.get(m.metricName) ?? []));
  let value: number | undefined;
  if (stats.every((s) => s === undefined)) value = undefined;
  else if (!alarm.expression) value = stats[0];
  else {
    // Sums and differences of the alarm's metrics (a metric without data counts 0, as CloudWatch fills it).
    const terms = /^\s*(\w+)((?:\s*[-+]\s*\w+)*)\s*$/.exec(alarm.expression);
    if (!terms) throw new Error(`infra.alarms: ${alarm.id}: expression ${alarm.expression} is not evaluated here`);
    const of = (id: string) => stats[alarm.metrics.findIndex((m) => m.id === id)] ?? 0;
    value = of(terms[1]!);
    for (const m of terms[2]!.matchAll(/([-+])\s*(\w+)/g)) value += (m[1] === '-' ? -1 : 1) * of(m[2]!);
  }
  if (value === undefined) return alarm.treatMissingData === 'breaching';
  switch (alarm.comparison) {
    case 'GreaterThanOrEqualToThreshold':
      return value >= alarm.threshold;
    case 'GreaterThanThreshold':
      return value > alarm.threshold;
    case 'LessThanThreshold':
      return value < alarm.threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= alarm.threshold;
    default:
      throw new Error(`infra.alarms: comparison ${alarm.comparison}`);
  }
}
