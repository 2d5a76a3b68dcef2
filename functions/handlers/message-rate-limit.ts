// Per-connection message rate limit of `$default`: a token bucket per connection id, in the memory of the
// Lambda container (no DynamoDB write per message: it costs nothing but a Map entry per active connection).
// API Gateway may spread one connection's messages over several containers, so the effective bound is
// `burst + ratePerSecond·t` per container that connection reaches; a single abusive client hammering one
// container is stopped, and the stage/route throttles (infra/signalling-stack.ts) bound the sum.
// Over the limit a message is dropped without running the voice core; the first drop of a run is answered
// with `voice.rate-limited` (non-fatal, with RetryInfo), later ones of the same run silently (logged as counts),
// so a flood cannot turn into a flood of replies. Pure: the clock is passed in.

export interface RateLimitSettings {
  /** Messages a connection may send at once (a join into a full channel sends one ResumeConsumer per member). */
  readonly burst: number;
  /** Sustained messages per second. */
  readonly ratePerSecond: number;
  /** Connections tracked at most (oldest forgotten first). */
  readonly maxTracked?: number;
}

export type RateVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly tell: boolean; readonly dropped: number; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
  dropped: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { burst: 150, ratePerSecond: 20, maxTracked: 50_000 };

export class MessageRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly settings: RateLimitSettings = DEFAULT_RATE_LIMIT) {
    if (!(settings.burst >= 1 && settings.ratePerSecond > 0))
      throw new Error('rate-limit.bad-settings: burst >= 1 and ratePerSecond > 0');
  }

  /** Takes one message of `connectionId` at time `nowMs`. */
  take(connectionId: string, nowMs: number): RateVerdict {
    const { burst, ratePerSecond } = this.settings;
    let bucket = this.buckets.get(connectionId);
    if (bucket) {
      this.buckets.delete(connectionId); // re-inserted below: Map order = least recently used first
      bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * ratePerSecond);
      bucket.at = nowMs;
    } else {
      bucket = { tokens: burst, at: nowMs, dropped: 0 };
    }
    this.buckets.set(connectionId, bucket);
    this.evict();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.dropped = 0;
      return { allowed: true };
    }
    bucket.dropped += 1;
    return {
      allowed: false,
      tell: bucket.dropped === 1,
      dropped: bucket.dropped,
      retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)),
    };
  }

  /** Forgets a connection (its stream ended). */
  forget(connectionId: string): void {
    this.buckets.delete(connectionId);
  }

  get tracked(): number {
    return this.buckets.size;
  }

  private evict(): void {
    const max = this.settings.maxTracked ?? DEFAULT_RATE_LIMIT.maxTracked!;
    while (this.buckets.size > max) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

/** VOICE_RATE_BURST / VOICE_RATE_PER_SECOND override the defaults. */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv): RateLimitSettings {
  const num = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`config.bad-limit: ${name}=${raw} is not a positive number`);
    return value;
  };
  return {
    burst: num('VOICE_RATE_BURST', DEFAULT_RATE_LIMIT.burst),
    ratePerSecond: num('VOICE_RATE_PER_SECOND', DEFAULT_RATE_LIMIT.ratePerSecond),
    maxTracked: DEFAULT_RATE_LIMIT.maxTracked,
  };
}
