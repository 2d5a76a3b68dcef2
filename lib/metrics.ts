// Operational metrics as a port: the voice core and the handlers say what happened (a join took 23 ms, a
// delivery found its connection gone); an adapter decides where it goes. On Lambda that is CloudWatch's Embedded
// Metric Format through Powertools Metrics (functions/handlers/telemetry.ts): metrics from log lines, no API calls.
// Locally, MetricsSummary aggregates the same samples for a live summary.
export type MetricUnit = 'Count' | 'Milliseconds';
export type MetricDimensions = Record<string, string>;

export interface MetricSample {
  name: string;
  unit: MetricUnit;
  value: number;
  dimensions?: MetricDimensions;
}

export interface Metrics {
  /** Adds n (default 1) to a counter, e.g. count('JoinFailures', 1, { Identifier: 'voice.channel-full' }). */
  count(name: string, n?: number, dimensions?: MetricDimensions): void;
  /** Records a duration in milliseconds. */
  timing(name: string, ms: number, dimensions?: MetricDimensions): void;
}

/**
 * Every metric the signalling side emits (names as they appear in CloudWatch, namespace HarmonyVoice).
 * One truth for the emitters, the list in docs/configuration.md (test/project/docs-tables.test.ts) and the tests.
 */
export const METRIC = {
  /** Count. A $connect accepted. */
  connects: 'Connects',
  /** Count, dimension Identifier. A $connect refused (h.blank-session, hrpc.http.bad-streaming-request, …). */
  connectsRefused: 'ConnectsRefused',
  /** Milliseconds. From a JoinChannel frame's arrival to JoinedChannel and the members' UserJoined being sent. */
  joinLatency: 'JoinLatency',
  /** Count. Successful joins. */
  joins: 'Joins',
  /** Count. Sessions that left a media room (the others were told). */
  leaves: 'Leaves',
  /** Count, dimension Identifier. JoinChannel answered with an error. */
  joinFailures: 'JoinFailures',
  /** Count (one sample per fan-out). Sessions one UserJoined/UserLeft fan-out was sent to. */
  fanOutSize: 'FanOutSize',
  /** Count. Posts to @connections answered 410 Gone (that session is then ended). */
  deliveriesGone: 'DeliveriesGone',
  /** Milliseconds. One reaper sweep. */
  sweepDuration: 'SweepDuration',
  /** Count, dimension Reason. Sessions ended: disconnected, rejected, gone, replaced, timeout, media-lost, expired, stuck. */
  sessionsEnded: 'SessionsEnded',
  /** Count. Bugs and configuration failures (hrpc.internal-server-error, a handler that could not start). */
  internalErrors: 'InternalErrors',
  /** Count, dimension Race. Ordinary races logged at info (voice.expected-race): a client closing mid-step, a lost claim, a duplicate. */
  expectedRaces: 'ExpectedRaces',
  /** Count, dimension Limit. A per-user limit refused a request (functions/voice/user-limits.ts): connects, streams, joins, prepared, channel-prepared. */
  userLimited: 'UserLimited',
} as const;

export const noMetrics: Metrics = { count() {}, timing() {} };

/** Sends every sample to each sink. */
export function teeMetrics(...sinks: Array<(sample: MetricSample) => void>): Metrics {
  const emit = (sample: MetricSample) => sinks.forEach((sink) => sink(sample));
  return {
    count: (name, n = 1, dimensions) => emit({ name, unit: 'Count', value: n, dimensions }),
    timing: (name, ms, dimensions) => emit({ name, unit: 'Milliseconds', value: ms, dimensions }),
  };
}

interface Series {
  unit: MetricUnit;
  count: number;
  sum: number;
  values: number[];
}

/** Aggregates samples per name and dimensions (counters: sum; timings: count, p50, p99, max) for the local summary. */
export class MetricsSummary {
  private readonly series = new Map<string, Series>();
  private changed = false;

  readonly record = (sample: MetricSample): void => {
    const dims = Object.entries(sample.dimensions ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const key = dims ? `${sample.name}{${dims}}` : sample.name;
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { unit: sample.unit, count: 0, sum: 0, values: [] }));
    s.count++;
    s.sum += sample.value;
    if (sample.unit === 'Milliseconds') {
      s.values.push(sample.value);
      if (s.values.length > 10_000) s.values.splice(0, s.values.length - 10_000); // the latest 10k for percentiles
    }
    this.changed = true;
  };

  /** { "JoinLatency": { count, p50, p99, max }, "Joins": 12, "SessionsEnded{Reason=gone}": 1, … } sorted by key. */
  snapshot(): Record<string, number | { count: number; p50: number; p99: number; max: number }> {
    const out: Record<string, number | { count: number; p50: number; p99: number; max: number }> = {};
    for (const key of [...this.series.keys()].sort()) {
      const s = this.series.get(key)!;
      if (s.unit === 'Count') out[key] = s.sum;
      else {
        const sorted = [...s.values].sort((a, b) => a - b);
        const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0);
        out[key] = { count: s.count, p50: at(0.5), p99: at(0.99), max: round(sorted.at(-1) ?? 0) };
      }
    }
    return out;
  }

  /** True once after any new sample (for printing only when something happened). */
  takeChanged(): boolean {
    const was = this.changed;
    this.changed = false;
    return was;
  }
}

/** A MetricsSummary snapshot as one terminal line: "metrics: Connects 2 · JoinLatency n=1 p50 40.1 p99 40.1 max 40.1 ms · …". */
export function summaryLine(snapshot: ReturnType<MetricsSummary['snapshot']>): string {
  const parts = Object.entries(snapshot).map(([key, v]) =>
    typeof v === 'number' ? `${key} ${v}` : `${key} n=${v.count} p50 ${v.p50} p99 ${v.p99} max ${v.max} ms`,
  );
  return `metrics: ${parts.join(' · ') || 'none yet'}`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
