// Who is speaking, from received audio levels, without a message on the wire (state.v1 signals mute and deafen,
// never speaking): the SDK samples each remote member's level (RTCInboundRtpStreamStats.audioLevel, 0..1 linear,
// what the browser plays out) every `intervalMs` and turns it into `speakingChanged` events with hysteresis —
// speaking starts at the first sample at or above `onLevel`, and stops only once the level stayed below `offLevel`
// for `holdMs` (the gaps between words do not flicker the ring). Pure: the caller passes the time.
// Latency (docs/protocol.md "Voice state"): start ≈ network + jitter buffer + up to one interval; stop ≈ holdMs + one interval.

export interface SpeakingOptions {
  /** How often levels are sampled (ms). */
  intervalMs: number;
  /** A level at or above this starts speaking (0..1 linear; ~0.03 ≈ -30 dBov). */
  onLevel: number;
  /** Below this for `holdMs`, speaking stops (must be ≤ onLevel). */
  offLevel: number;
  holdMs: number;
}

export const DEFAULT_SPEAKING: SpeakingOptions = { intervalMs: 100, onLevel: 0.03, offLevel: 0.015, holdMs: 500 };

export class SpeakingDetector {
  private readonly speakers = new Map<string, { speaking: boolean; quietSince?: number }>();

  constructor(private readonly options: SpeakingOptions = DEFAULT_SPEAKING) {
    if (options.offLevel > options.onLevel) throw new RangeError('offLevel must not exceed onLevel');
  }

  /** One sample of `key`'s level at `now` (ms); returns the new state when it changed, else undefined. */
  update(key: string, level: number, now: number): boolean | undefined {
    let s = this.speakers.get(key);
    if (!s) this.speakers.set(key, (s = { speaking: false }));
    if (!s.speaking) {
      if (level < this.options.onLevel) return undefined;
      s.speaking = true;
      s.quietSince = undefined;
      return true;
    }
    if (level >= this.options.offLevel) {
      s.quietSince = undefined;
      return undefined;
    }
    s.quietSince ??= now;
    if (now - s.quietSince < this.options.holdMs) return undefined;
    s.speaking = false;
    s.quietSince = undefined;
    return false;
  }

  /** Forgets `key` (it left); true when it was speaking (the caller reports it stopped). */
  forget(key: string): boolean {
    const was = this.speakers.get(key)?.speaking ?? false;
    this.speakers.delete(key);
    return was;
  }

  isSpeaking(key: string): boolean {
    return this.speakers.get(key)?.speaking ?? false;
  }

  keys(): string[] {
    return [...this.speakers.keys()];
  }
}
