// When the SDK tries again, and how long it waits first: one retry loop driven by a policy (as client-sdk-js's
// ReconnectPolicy: `nextRetryDelayMs(context) → ms | null`), with two policies — the rejoin after a stream ended
// (bounded by the backoff's maxAttempts, honouring the server's retry_after) and the resume.v1 resume after a lost
// socket (bounded by the session's grace). Every wait and attempt is cancelled by the caller's AbortSignal (leave()).
import { type BackoffPolicy, backoffDelayMs } from './backoff';
import { asClientError, ClientErrorId, NON_RETRYABLE, type VoiceClientError } from './errors';

export interface RetryContext {
  /** The attempt about to be made (0 = the first). */
  attempt: number;
  /** Since the loss that started the retries (ms). */
  elapsedMs: number;
  /** The last attempt's failure (for the first attempt: what ended the stream, if anything). */
  error?: VoiceClientError;
}

export interface ReconnectPolicy {
  /** Milliseconds to wait before attempt `context.attempt`, or null to give up. */
  nextRetryDelayMs(context: RetryContext): number | null;
}

/** Rejoining after a stream ended: jittered backoff (at least the server's retry_after), never after NON_RETRYABLE. */
export function rejoinPolicy(backoff: BackoffPolicy): ReconnectPolicy {
  return {
    nextRetryDelayMs: ({ attempt, error }) => {
      if (attempt >= backoff.maxAttempts) return null;
      if (error && NON_RETRYABLE.has(error.identifier)) return null;
      return Math.max(backoffDelayMs(attempt, backoff), (error?.options.retryAfterSeconds ?? 0) * 1000);
    },
  };
}

/** Failures of a resume attempt worth another one: the socket could not be opened or answered in time. */
const RESUME_RETRYABLE = new Set<string>([ClientErrorId.connectFailed, ClientErrorId.timeout, 'hrpc.unavailable']);

/** Whether a resume attempt that failed with `error` may be tried again (within the grace). */
export function resumeRetryable(error: VoiceClientError): boolean {
  return RESUME_RETRYABLE.has(error.identifier);
}

/**
 * Resuming a resume.v1 session on a new socket: at once, then with backoff, while the server still keeps the session
 * (its grace, less 500 ms) and at most max(maxAttempts, 3) times. Anything the server said (refused, media lost, …)
 * means the session cannot be resumed: no more attempts.
 */
export function resumePolicy(backoff: BackoffPolicy, graceMs: number): ReconnectPolicy {
  return {
    nextRetryDelayMs: ({ attempt, elapsedMs, error }) => {
      if (elapsedMs >= graceMs || attempt >= Math.max(backoff.maxAttempts, 3)) return null;
      if (error && !RESUME_RETRYABLE.has(error.identifier)) return null;
      if (attempt === 0) return 0;
      return Math.min(backoffDelayMs(attempt - 1, backoff), Math.max(0, graceMs - elapsedMs - 500));
    },
  };
}

export interface RetryOptions {
  signal: AbortSignal;
  /** When the loss happened (Date.now clock; default: now). */
  since?: number;
  /** The failure that started the retries, if any (the policy sees it before the first attempt). */
  error?: VoiceClientError;
  /** The identifier a failure that is no VoiceClientError is reported with (its `cause`); default connect-failed. */
  wrapAs?: string;
  /** Before each attempt's wait (the client's `reconnecting` event; `attempt` counts from 1). */
  onAttempt?(attempt: number, delayMs: number): void;
  /** After an attempt failed (not when the signal aborted it). */
  onFailure?(error: VoiceClientError): void;
}

export type RetryResult<T> = { ok: true; value: T } | { ok: false; error: VoiceClientError | undefined };

/**
 * Runs `attempt` until it succeeds or the policy gives up. Rejects with the signal's reason once it is aborted
 * (during a wait or an attempt); a failed attempt's error is wrapped as `client.connect-failed` (its `cause`) unless
 * it is a VoiceClientError.
 */
export async function retry<T>(
  policy: ReconnectPolicy,
  attempt: (signal: AbortSignal) => Promise<T>,
  options: RetryOptions,
): Promise<RetryResult<T>> {
  const since = options.since ?? Date.now();
  let error = options.error;
  for (let n = 0; ; n++) {
    const delayMs = policy.nextRetryDelayMs({ attempt: n, elapsedMs: Date.now() - since, error });
    if (delayMs === null) return { ok: false, error };
    options.onAttempt?.(n + 1, delayMs);
    await sleep(delayMs, options.signal);
    try {
      return { ok: true, value: await attempt(options.signal) };
    } catch (err) {
      options.signal.throwIfAborted();
      error = asClientError(err, options.wrapAs ?? ClientErrorId.connectFailed);
      options.onFailure?.(error);
    }
  }
}

/** Waits `ms` (none at all for 0); rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', aborted);
    };
    const aborted = () => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal.addEventListener('abort', aborted, { once: true });
  });
}
