// The scheduled reaper. EventBridge runs it at most once a minute, so one invocation sweeps every
// REAPER_INTERVAL_MS (default 15 s) until its time runs low: a ghost is gone well within 60 s.
import type { Context } from 'aws-lambda';
import { log, runtime } from './grpc-runtime';

export async function handler(_event: unknown, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<{ sweeps: number; ended: number }> {
  const intervalMs = Number(process.env.REAPER_INTERVAL_MS ?? 15_000);
  const core = (await runtime()).core({});
  let sweeps = 0;
  let ended = 0;
  // Sweep lag, for the SweepLagAlarm metric filter: the largest gap between sweep starts (and since the last
  // invocation's end would need state, the first sweep counts from the invocation's start).
  let maxGapMs = 0;
  let previousStart = Date.now();
  for (;;) {
    const started = Date.now();
    maxGapMs = Math.max(maxGapMs, started - previousStart);
    previousStart = started;
    try {
      ended += (await core.sweep()).ended;
    } catch (err) {
      log.error('voice.sweep-failed', { error: (err as Error)?.stack ?? String(err) });
    }
    sweeps++;
    const wait = Math.max(0, intervalMs - (Date.now() - started));
    if (context.getRemainingTimeInMillis() < wait + intervalMs) break;
    await new Promise((r) => setTimeout(r, wait));
  }
  // Info on AWS (several sweeps per invocation: the SweepLagAlarm reads maxGapMs); the local stack's
  // one-sweep invocations stay at debug unless they ended something.
  (sweeps > 1 || ended > 0 ? log.info : log.debug)('voice.reaper-done', { sweeps, ended, maxGapMs });
  return { sweeps, ended };
}
