// The scheduled reaper. EventBridge invokes it once a minute per group of shards (the event's `shards`;
// none = every shard, as the local stack does), and one invocation sweeps its shards every
// REAPER_INTERVAL_MS (default 5 s) for one minute, so consecutive invocations do not overlap and no
// gap exceeds an interval. A sweep reads only what is due (functions/voice/sweep.ts): at rest it costs
// two Queries per shard and one registry Query, whatever the number of connections.
import type { Context } from 'aws-lambda';
import { SWEEP_SHARDS } from '../../data/tables';
import type { Logger } from '../../lib/log';
import { METRIC } from '../../lib/metrics';
import { SWEEP_SCHEDULE } from '../voice/sweep';
import { runtime } from './grpc-runtime';
import { withInvocation } from './telemetry';

export interface ReaperEvent {
  /** The shards this invocation sweeps (0 ≤ shard < SWEEP_SHARDS); absent = all. */
  shards?: number[];
}

export function handler(
  event: ReaperEvent | undefined,
  context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>,
): Promise<{ sweeps: number; ended: number }> {
  const lambdaContext = context.awsRequestId ? (context as Context) : undefined;
  return withInvocation({}, lambdaContext, async ({ log, metrics }) => {
    const intervalMs = Number(process.env.REAPER_INTERVAL_MS ?? SWEEP_SCHEDULE.intervalMs);
    // The schedule's period: the next invocation takes over after it.
    const windowMs = Number(process.env.REAPER_WINDOW_MS ?? 60_000);
    const shards = shardsOf(event, log);
    const sweep = (await runtime()).sweep({ log, metrics });
    const begun = Date.now();
    let sweeps = 0;
    let ended = 0;
    // Sweep lag, for the SweepLagAlarm metric filter: the largest gap between sweep starts (the first sweep
    // counts from the invocation's start).
    let maxGapMs = 0;
    let previousStart = begun;
    for (;;) {
      const started = Date.now();
      maxGapMs = Math.max(maxGapMs, started - previousStart);
      previousStart = started;
      try {
        const result = await sweep.run(shards);
        const n = Object.values(result.ended).reduce((a, b) => a + b, 0);
        ended += n;
        if (n > 0 || result.failed > 0 || result.saturated.length > 0) log.info('voice.sweep', { ...result });
      } catch (err) {
        log.error('voice.sweep-failed', { error: (err as Error)?.stack ?? String(err) });
        metrics.count(METRIC.internalErrors);
      }
      metrics.timing(METRIC.sweepDuration, Date.now() - started);
      sweeps++;
      const wait = Math.max(0, intervalMs - (Date.now() - started));
      const nextStart = Date.now() + wait - begun;
      if (nextStart + intervalMs > windowMs || context.getRemainingTimeInMillis() < wait + intervalMs) break;
      await new Promise((r) => setTimeout(r, wait));
    }
    await sweep.settled();
    // Info on AWS (several sweeps per invocation: the SweepLagAlarm reads maxGapMs); the local stack's
    // one-sweep invocations stay at debug unless they ended something.
    (sweeps > 1 || ended > 0 ? log.info : log.debug)('voice.reaper-done', {
      sweeps,
      ended,
      maxGapMs,
      shards: shards.length,
    });
    return { sweeps, ended };
  });
}

function shardsOf(event: ReaperEvent | undefined, log: Logger): number[] {
  const all = [...Array(SWEEP_SHARDS).keys()];
  if (!event || !Array.isArray(event.shards)) return all;
  const shards = event.shards.filter((s) => Number.isInteger(s) && s >= 0 && s < SWEEP_SHARDS);
  if (shards.length !== event.shards.length)
    log.warn('voice.reaper-bad-shards', { shards: event.shards, sweeping: shards });
  return shards;
}
