// A deterministic scheduler for simulating the serverless voice core (FoundationDB-style simulation).
// Every effect the core has on the outside world (a store operation, a media call, a post to a client)
// first waits at a scheduling point; the scheduler resumes one waiting point at a time, chosen by a seeded
// PRNG, and lets it run until it waits again. So one seed is one interleaving of invocations ($default,
// $disconnect, reaper), store operations, media calls and post deliveries, and the same seed replays it
// exactly. Virtual time advances a little at every step; nothing in the simulated world uses real timers.

/** mulberry32: small, fast, good enough for choosing interleavings; deterministic across platforms. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Scheduler {
  readonly random: () => number;
  /** Virtual epoch milliseconds. */
  time = 1_700_000_000_000;
  steps = 0;
  private readonly waiting: (() => void)[] = [];
  readonly crashes: { task: string; error: unknown }[] = [];
  private running = 0;

  constructor(readonly seed: number) {
    this.random = prng(seed);
  }

  readonly clock = { now: () => this.time };

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  /** Waits until the scheduler chooses to resume this caller. */
  point(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Starts a concurrent task (an invocation, a client's reaction) at a scheduling point. */
  spawn(task: string, fn: () => Promise<unknown>): void {
    this.running++;
    void this.point()
      .then(fn)
      .catch((error) => this.crashes.push({ task, error }))
      .finally(() => this.running--);
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running === 0;
  }

  /** Runs until nothing is waiting (or maxSteps). Returns false if it had to stop early. */
  async run(maxSteps = 200_000): Promise<boolean> {
    while (this.waiting.length > 0) {
      if (this.steps >= maxSteps) return false;
      const index = Math.floor(this.random() * this.waiting.length);
      const [resume] = this.waiting.splice(index, 1);
      this.steps++;
      this.time += Math.floor(this.random() * 40);
      resume!();
      // Let the resumed task (and everything it unblocks synchronously) run until it waits again.
      await new Promise<void>((r) => setImmediate(r));
    }
    return true;
  }

  /** Moves virtual time forward (a quiet period: nothing else happens meanwhile). */
  advance(ms: number): void {
    this.time += ms;
  }
}
