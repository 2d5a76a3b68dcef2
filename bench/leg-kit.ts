// What the benchmarks that run in legs through the local stack share (bench/state.ts, bench/resume.ts): the `--legs`
// option, percentiles of unsorted samples, and the summary line each leg prints. Importing it defaults LOG_LEVEL to
// warn (the stack's handlers log at info otherwise).
import { percentile as sortedPercentile } from './stats';

process.env.LOG_LEVEL ??= 'warn';

/** The legs `--legs` names (comma-separated), each one of `all`; otherwise `bench.unknown-leg`. */
export function parseLegs(value: string, all: readonly string[]): Set<string> {
  const legs = new Set(value.split(',').map((l) => l.trim()));
  for (const leg of legs)
    if (!all.includes(leg)) throw new Error(`bench.unknown-leg: ${leg} (legs: ${all.join(', ')})`);
  return legs;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The p-th percentile of unsorted samples (bench/stats.ts). */
export const percentile = (values: number[], p: number) =>
  sortedPercentile(
    [...values].sort((a, b) => a - b),
    p,
  );

/** Milliseconds rounded, or n/a (no samples). */
export const fmt = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : 'n/a');

/** Prints `  <label>: n=… p50 … ms, p95 … ms, max … ms`. */
export const summary = (label: string, v: number[]) =>
  console.log(
    `  ${label}: n=${v.length} p50 ${fmt(percentile(v, 50))} ms, p95 ${fmt(percentile(v, 95))} ms, max ${fmt(v.length ? Math.max(...v) : NaN)} ms`,
  );
