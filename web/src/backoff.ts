// Reconnect delays: capped exponential backoff with "equal jitter" (half fixed, half random), so a
// crowd of clients dropped by the same failure does not come back in lockstep, yet no client retries
// at once in a tight loop.
export interface BackoffPolicy {
  /** Delay ceiling of the first attempt. */
  baseMs: number;
  /** Largest delay of any attempt. */
  maxMs: number;
  /** Attempts before giving up. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000, maxAttempts: 8 };

/** Delay before attempt `attempt` (0-based). `random` returns [0, 1). */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
