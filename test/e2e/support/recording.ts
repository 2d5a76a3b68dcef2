// A microphone recording made at test time: espeak-ng speaks a sentence, sox makes it 48 kHz mono
// 16-bit and alternates it with digital silence. Chromium plays it (in a loop) as its fake microphone
// with --use-file-for-fake-audio-capture. Debian packages espeak-ng and sox (.ci/run installs them).
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SpeechRecording {
  path: string;
  /** Seconds of speech, then of silence, in each of the repeated cycles. */
  speechSeconds: number;
  silenceSeconds: number;
  cycles: number;
}

/** Speech, silence, speech, silence …: `cycles` times; returns the WAV's path and its shape. */
export async function makeSpeechAndSilence(
  options: { text?: string; silenceSeconds?: number; cycles?: number } = {},
): Promise<SpeechRecording> {
  const text = options.text ?? 'Hello, can you hear me now? One, two, three.';
  const silenceSeconds = options.silenceSeconds ?? 3;
  const cycles = options.cycles ?? 2;
  const dir = await mkdtemp(join(tmpdir(), 'harmony-voice-speech-'));
  const spoken = join(dir, 'spoken.wav');
  const speech = join(dir, 'speech-48k.wav');
  const silence = join(dir, 'silence.wav');
  const path = join(dir, 'speech-and-silence.wav');
  try {
    await run('espeak-ng', ['-v', 'en', '-s', '160', '-w', spoken, text]);
    await run('sox', [spoken, '-r', '48000', '-c', '1', '-b', '16', speech]);
    await run('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', silence, 'trim', '0', String(silenceSeconds)]);
    await run('sox', [...Array.from({ length: cycles }, () => [speech, silence]).flat(), path]);
    const { stdout } = await run('soxi', ['-D', speech]);
    return { path, speechSeconds: Number(stdout.trim()), silenceSeconds, cycles };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT')
      throw new Error(
        `e2e: ${e.path ?? 'espeak-ng/sox'} is missing; install it with \`apt-get install -y --no-install-recommends espeak-ng sox\``,
      );
    throw err;
  }
}
