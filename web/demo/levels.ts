// Speaking indicators: the audio level of each track, measured in the page with a WebAudio
// AnalyserNode (RMS of the waveform), with a short hold so the indicator does not flicker between words.
export interface Level {
  /** RMS amplitude, 0..1. */
  rms: number;
  speaking: boolean;
}

const SPEAKING_RMS = 0.012; // about -38 dBFS
const HOLD_MS = 300;

interface Meter {
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  samples: Float32Array<ArrayBuffer>;
  lastLoudAt: number;
  level: Level;
}

export class LevelMeters {
  private readonly meters = new Map<string, Meter>();
  private context?: AudioContext;
  private timer?: ReturnType<typeof setInterval>;

  constructor(private readonly onUpdate: (levels: ReadonlyMap<string, Level>) => void) {}

  /** Call from a user gesture (the Join click) so the AudioContext may start. */
  start(): void {
    this.context ??= new AudioContext();
    void this.context.resume();
    // A timer rather than requestAnimationFrame: it keeps measuring when the tab is in the background.
    this.timer ??= setInterval(() => this.sample(), 100);
  }

  watch(key: string, track: MediaStreamTrack): void {
    this.unwatch(key);
    if (!this.context) this.start();
    const context = this.context!;
    const source = context.createMediaStreamSource(new MediaStream([track]));
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser); // analysis only: never connected to the speakers (playback is the <audio> element's)
    this.meters.set(key, {
      source,
      analyser,
      samples: new Float32Array(analyser.fftSize),
      lastLoudAt: 0,
      level: { rms: 0, speaking: false },
    });
  }

  unwatch(key: string): void {
    const meter = this.meters.get(key);
    if (!meter) return;
    meter.source.disconnect();
    this.meters.delete(key);
  }

  levels(): Map<string, Level> {
    return new Map([...this.meters].map(([key, m]) => [key, m.level]));
  }

  stop(): void {
    for (const key of [...this.meters.keys()]) this.unwatch(key);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sample(): void {
    const now = performance.now();
    for (const meter of this.meters.values()) {
      meter.analyser.getFloatTimeDomainData(meter.samples);
      let sum = 0;
      for (const s of meter.samples) sum += s * s;
      const rms = Math.sqrt(sum / meter.samples.length);
      if (rms >= SPEAKING_RMS) meter.lastLoudAt = now;
      meter.level = { rms, speaking: now - meter.lastLoudAt < HOLD_MS };
    }
    this.onUpdate(this.levels());
  }
}
