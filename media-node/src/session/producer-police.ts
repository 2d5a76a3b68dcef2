// Producers are policed: whatever one member uploads is forwarded to every other member (1 Mbit/s into a
// 100-member channel is ~99 Mbit/s of egress), so every producer made on this node is held to a packet rate
// and a bitrate that fit voice. The police samples each watched producer's received packet and byte counts
// (mediasoup `producer.getStats()`: inbound-rtp packetCount/byteCount, whole RTP packets) every `sampleMs`
// and judges the average over the last `windowMs` (a sliding window: bursts are absorbed, a sustained excess
// is not), or one sample interval above `burstFactor` × the limit (a flood is stopped within ~1 s).
//
// An offence pauses the producer (producer.pause(): the worker forwards nothing of it to any consumer) for
// `cooldownMs`; the member is told (event 'policed', action 'paused' → the node's registry notice, which the
// signalling side's sweep turns into a non-fatal `voice.producer-policed` frame). A paused producer keeps being
// measured (mediasoup counts what it receives while paused): at the end of the cool-down it is resumed if its
// window is back under the limits, otherwise that is another offence. `maxOffences` within `offenceWindowMs`
// end the session (`onEnd`: the session is lost with reason 'policed'; the member gets a fatal
// `voice.producer-policed`, the others UserLeft).
//
// Honest voice never meets the defaults: Opus tops out at 510 kbit/s of payload, 10 ms ptime is 100 packets/s
// (20 ms: 50), DTX drops to a few packets/s, in-band FEC lives inside the Opus payload.
import { hold, release } from './media-holds';

/** The limits and timings (media-node/src/node/config.ts: MEDIA_POLICE_*; docs/media-node.md "Producer policing"). */
export interface PoliceLimits {
  /** Average RTP packets/s over the window above which a producer is over (default 200: 2× 10 ms ptime). */
  packetsPerSecond: number;
  /** Average bits/s (whole RTP packets) over the window above which a producer is over (default 640,000). */
  bitsPerSecond: number;
  /** The sliding window the averages are taken over (default 5,000 ms). */
  windowMs: number;
  /** How often every producer's counts are read (default 1,000 ms). */
  sampleMs: number;
  /** One sample interval above this multiple of a limit is an offence at once (default 10). */
  burstFactor: number;
  /** How long an offending producer stays paused before it is judged again (default 10,000 ms). */
  cooldownMs: number;
  /** Offences within `offenceWindowMs` that end the session (default 3). */
  maxOffences: number;
  offenceWindowMs: number;
}

export const DEFAULT_POLICE_LIMITS: Readonly<PoliceLimits> = {
  packetsPerSecond: 200,
  bitsPerSecond: 640_000,
  windowMs: 5_000,
  sampleMs: 1_000,
  burstFactor: 10,
  cooldownMs: 10_000,
  maxOffences: 3,
  offenceWindowMs: 60_000,
};

/** What the police needs of a producer (a mediasoup Producer is one). */
export interface PolicedProducer {
  readonly id: string;
  readonly closed: boolean;
  pause(): Promise<void>;
  resume(): Promise<void>;
  getStats(): Promise<readonly { packetCount: number; byteCount: number }[]>;
}

/** Whose producer it is. */
export interface PoliceSubject {
  roomId: string;
  sessionId: string;
  userId: string;
}

export type PoliceAction = 'paused' | 'resumed' | 'ended';

export interface PoliceEvent extends PoliceSubject {
  producerId: string;
  action: PoliceAction;
  /** Offences within the offence window, this one included (0 for 'resumed'). */
  offences: number;
  /** The rates the verdict was taken on (rounded). */
  packetsPerSecond: number;
  bitsPerSecond: number;
}

interface Sample {
  at: number;
  packets: number;
  bytes: number;
}

export interface Rates {
  packetsPerSecond: number;
  bitsPerSecond: number;
}

export type Verdict = { kind: 'none' } | { kind: 'pause' | 'end'; offences: number } | { kind: 'resume' };

/**
 * One producer's record: its samples, whether it is paused, its offences. Pure (time is passed in), so the
 * policy is tested without a worker (test/media-node/police.test.ts) and with one.
 */
export class PoliceRecord {
  private readonly samples: Sample[] = [];
  private readonly offences: number[] = [];
  pausedUntil: number | undefined;
  /** Its offences ended the session: nothing more to judge. */
  ended = false;
  last: Rates = { packetsPerSecond: 0, bitsPerSecond: 0 };

  constructor(private readonly limits: PoliceLimits) {}

  get paused(): boolean {
    return this.pausedUntil !== undefined;
  }

  /** Adds a sample of the producer's cumulative counts at `at` (ms) and says what to do. */
  observe(at: number, packets: number, bytes: number): Verdict {
    if (this.ended) return { kind: 'none' };
    const previous = this.samples.at(-1);
    this.samples.push({ at, packets, bytes });
    // Keep the newest sample at or before the window's start, so the window is covered to its edge.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.limits.windowMs) this.samples.shift();
    const over = this.overWindow(at) || (previous !== undefined && this.overBurst(previous, { at, packets, bytes }));
    if (this.pausedUntil === undefined) return over ? this.offence(at) : { kind: 'none' };
    if (at < this.pausedUntil) return { kind: 'none' };
    if (over) return this.offence(at);
    this.pausedUntil = undefined;
    return { kind: 'resume' };
  }

  /** The average over the window, once samples cover (nearly) all of it. */
  private overWindow(at: number): boolean {
    const first = this.samples[0]!;
    const elapsed = at - first.at;
    if (elapsed < this.limits.windowMs - this.limits.sampleMs / 2) return false;
    const last = this.samples.at(-1)!;
    this.last = rates(first, last);
    return (
      this.last.packetsPerSecond > this.limits.packetsPerSecond || this.last.bitsPerSecond > this.limits.bitsPerSecond
    );
  }

  private overBurst(from: Sample, to: Sample): boolean {
    const r = rates(from, to);
    const { burstFactor } = this.limits;
    const over =
      r.packetsPerSecond > burstFactor * this.limits.packetsPerSecond ||
      r.bitsPerSecond > burstFactor * this.limits.bitsPerSecond;
    if (over) this.last = r;
    return over;
  }

  private offence(at: number): Verdict {
    while (this.offences.length > 0 && this.offences[0]! <= at - this.limits.offenceWindowMs) this.offences.shift();
    this.offences.push(at);
    this.pausedUntil = at + this.limits.cooldownMs;
    this.ended = this.offences.length >= this.limits.maxOffences;
    return { kind: this.ended ? 'end' : 'pause', offences: this.offences.length };
  }
}

function rates(from: Sample, to: Sample): Rates {
  const seconds = (to.at - from.at) / 1000;
  if (seconds <= 0) return { packetsPerSecond: 0, bitsPerSecond: 0 };
  return {
    packetsPerSecond: Math.max(0, to.packets - from.packets) / seconds,
    bitsPerSecond: (8 * Math.max(0, to.bytes - from.bytes)) / seconds,
  };
}

interface Watched {
  readonly producer: PolicedProducer;
  readonly subject: PoliceSubject;
  readonly record: PoliceRecord;
  readonly onEnd: () => void;
}

type PoliceListener = (event: PoliceEvent) => void;

/** The node's police: one timer sampling every watched producer (of every worker). */
export class ProducerPolice {
  readonly limits: PoliceLimits;
  private readonly watched = new Map<string, Watched>();
  private readonly listeners = new Set<PoliceListener>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(
    limits: Partial<PoliceLimits> = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limits = { ...DEFAULT_POLICE_LIMITS, ...limits };
  }

  /** Every pause, resume and end, for the node's metrics, logs and registry notices. */
  onPoliced(listener: PoliceListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /**
   * Polices a producer until it closes (or the returned function is called). `onEnd` ends its session (its
   * offences reached `maxOffences`); the producer stays paused meanwhile.
   */
  watch(producer: PolicedProducer, subject: PoliceSubject, onEnd: () => void): () => void {
    const entry: Watched = { producer, subject, record: new PoliceRecord(this.limits), onEnd };
    this.watched.set(producer.id, entry);
    this.timer ??= setInterval(() => void this.tick(), this.limits.sampleMs);
    this.timer.unref();
    return () => this.unwatch(entry);
  }

  /** Producers watched now (tests, diagnostics). */
  get size(): number {
    return this.watched.size;
  }

  close(): void {
    this.watched.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private unwatch(entry: Watched): void {
    if (this.watched.get(entry.producer.id) === entry) this.watched.delete(entry.producer.id);
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** One sample of every watched producer (a tick still running when the next is due lets it pass). */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await Promise.all([...this.watched.values()].map((entry) => this.check(entry)));
    } finally {
      this.ticking = false;
    }
  }

  private async check(entry: Watched): Promise<void> {
    const { producer, record } = entry;
    if (producer.closed) return this.unwatch(entry);
    let packets = 0;
    let bytes = 0;
    try {
      for (const s of await producer.getStats()) {
        packets += s.packetCount;
        bytes += s.byteCount;
      }
    } catch {
      if (producer.closed) this.unwatch(entry);
      return; // closed while asking
    }
    const verdict = record.observe(this.now(), packets, bytes);
    if (verdict.kind === 'none') return;
    if (verdict.kind === 'resume') {
      // (A muted member's producer stays paused: MediaHolds.)
      if (!(await settled(release(producer, 'police').then(() => undefined)))) return;
      this.emit(entry, 'resumed', 0);
      return;
    }
    // Pausing a paused producer changes nothing (a repeat offence at the end of a cool-down).
    await settled(hold(producer, 'police'));
    if (verdict.kind === 'end') {
      this.unwatch(entry);
      this.emit(entry, 'ended', verdict.offences);
      entry.onEnd();
      return;
    }
    this.emit(entry, 'paused', verdict.offences);
  }

  private emit(entry: Watched, action: PoliceAction, offences: number): void {
    const { last } = entry.record;
    const event: PoliceEvent = {
      ...entry.subject,
      producerId: entry.producer.id,
      action,
      offences,
      packetsPerSecond: Math.round(last.packetsPerSecond),
      bitsPerSecond: Math.round(last.bitsPerSecond),
    };
    for (const listener of this.listeners) listener(event);
  }
}

/** True when the call succeeded (a producer closed meanwhile refuses; that is no error). */
async function settled(call: Promise<void>): Promise<boolean> {
  try {
    await call;
    return true;
  } catch {
    return false;
  }
}
