// Churn through the real local stack for ≥ 60 s (several seeds), checking every member's view against the
// membership at the end: `npm run bench:churn [-- --seconds 60 --seeds 3]`. Prints the operations, joins,
// anomalies (must be 0), view mismatches (must be 0) and error-level log lines (must be 0) per seed.
import { parseArgs } from 'node:util';
import { startLocalStack } from '../local/stack';
import { createLogger } from '../lib/log';
import { runChurn } from '../test/support/churn';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seeds: { type: 'string', default: '3' },
    stop: { type: 'string', default: '8000' },
  },
});
process.env.VOICE_JOIN_WITHIN_MS ??= '10000';
process.env.VOICE_STEP_WITHIN_MS ??= '6000';
process.env.LOG_LEVEL ??= 'warn';

// Count error-level lines of every part (handlers in-process, the media node's lines forwarded).
let errorLines = 0;
const write = process.stdout.write.bind(process.stdout);
const count = (chunk: string | Uint8Array) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  errorLines += (text.match(/"level":"error"/gi) ?? []).length;
};
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  count(chunk);
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
const writeErr = process.stderr.write.bind(process.stderr);
process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  count(chunk);
  return (writeErr as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stderr.write;

// Its 12 users each join and leave ~30 times a minute (a robot, not an honest client): the per-user limits
// (functions/voice/user-limits.ts, tested in test/signalling/user-limits.test.ts) are raised so the churn stays a churn.
const churnLimits = {
  VOICE_USER_CONNECTS_PER_MINUTE: '10000',
  VOICE_USER_JOINS_PER_MINUTE: '10000',
  VOICE_USER_REPLACEMENTS_PER_MINUTE: '10000',
};
const stack = await startLocalStack({
  port: 0,
  strict: true,
  reaperIntervalMs: 2_000,
  logger: createLogger({ level: 'warn' }),
  handlerEnv: churnLimits,
});
let failed = false;
try {
  for (let seed = 1; seed <= Number(values.seeds); seed++) {
    const before = errorLines;
    const report = await runChurn(stack, {
      durationMs: Number(values.seconds) * 1000,
      seed,
      users: 12,
      channels: 3,
      concurrency: 6,
      stopMediaNodeMs: Number(values.stop),
      guild: BigInt(500 + seed),
    });
    const errors = errorLines - before;
    console.log(
      `churn seed ${seed}: ${report.operations} operations, ${report.joins} joins, ${report.remaining} members at the end, ` +
        `${report.anomalies.length} anomalies, ${report.mismatches.length} view mismatches, ${errors} error-level lines`,
    );
    for (const line of [...report.anomalies, ...report.mismatches].slice(0, 10)) console.log(`  ${line}`);
    if (report.anomalies.length || report.mismatches.length || errors) failed = true;
  }
} finally {
  await stack.close();
}
process.exitCode = failed ? 1 : 0;
