// Opus DTX in a real browser. Chromium's fake microphone plays a recording made at test time
// (espeak-ng speech, then 3 s of digital silence, repeated). Three SDK clients in their own pages join
// one channel of the local stack: ada with the SDK's default (DTX on), bo with `opusDtx: false`, cy
// listening. Every page samples getStats every 250 ms: its own outbound-rtp packetsSent (from the
// RTCPeerConnections the page created) and inbound-rtp per remote user.
// Proven: ada's packet rate falls to a few packets/s in the silences and is back at ~50/s in speech;
// bo's never falls (the option turns DTX off); cy receives ada's speech (packets and audio level) and
// the node forwards ada's low silent rate as it is. Also printed: the SRTP cipher Chromium negotiated.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createLogger } from '../../lib/log';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { buildWeb } from '../../web/build';
import { launchChromium } from './support/chromium';
import { makeSpeechAndSilence, type SpeechRecording } from './support/recording';

const GUILD = '9223372036854775813';
const CHANNEL = '77';
const USERS = { ada: '9007199254741011', bo: '9007199254741013', cy: '9007199254741015' };
const SAMPLE_EVERY_MS = 250;
const WINDOW_MS = 1_000;

interface Sample {
  t: number;
  sent: number;
  received: Record<string, { packets: number; audioLevel: number }>;
}

interface SdkPage {
  context: BrowserContext;
  page: Page;
}

// Runs before the page's scripts: every RTCPeerConnection the SDK creates is kept for getStats.
const RECORD_PEER_CONNECTIONS = `
  globalThis.__name ??= (fn) => fn;
  (() => {
    const Native = window.RTCPeerConnection;
    const all = [];
    window.e2ePeerConnections = all;
    window.RTCPeerConnection = class extends Native {
      constructor(...args) { super(...args); all.push(this); }
    };
  })();
`;

/** Packets per second over every WINDOW_MS stretch of the series (sliding by one sample). */
function windowRates(series: Sample[], value: (s: Sample) => number | undefined): number[] {
  const rates: number[] = [];
  for (let i = 0; i < series.length; i++) {
    const from = series[i]!;
    const to = series.find((s) => s.t - from.t >= WINDOW_MS);
    const a = value(from);
    const b = to && value(to);
    if (!to || a === undefined || b === undefined) continue;
    rates.push(((b - a) * 1000) / (to.t - from.t));
  }
  return rates;
}

const fmt = (rates: number[]) => `min ${Math.min(...rates).toFixed(1)}, max ${Math.max(...rates).toFixed(1)} packets/s`;

describe('Opus DTX with a speech-and-silence microphone (Chromium, local stack)', { timeout: 180_000 }, () => {
  let recording: SpeechRecording;
  let browser: Browser | undefined;
  let stack: LocalStack | undefined;
  const pages: SdkPage[] = [];

  before(async () => {
    recording = await makeSpeechAndSilence();
    await buildWeb();
    browser = await launchChromium([`--use-file-for-fake-audio-capture=${recording.path}`]);
    stack = await startLocalStack({
      port: 0,
      strict: false,
      mediaNode: { forwardLogs: false },
      logger: createLogger({ level: 'warn' }),
    });
  });

  after(async () => {
    for (const p of pages) await p.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stack?.close();
  });

  /** A page with the SDK bundle alone (no demo UI), joined as `user` with the given client options. */
  async function join(user: string, clientOptions: Record<string, unknown>): Promise<SdkPage> {
    const context = await browser!.newContext();
    await context.addInitScript(RECORD_PEER_CONNECTIONS);
    const page = await context.newPage();
    pages.push({ context, page });
    await page.goto(`${stack!.url}/`);
    await page.evaluate(
      async ({ wsUrl, guild, channel, user, clientOptions }) => {
        type Client = {
          connect(o: object): Promise<void>;
          on(e: string, l: (p: { track: MediaStreamTrack }) => void): void;
        };
        const sdk = (await import('/dist/voice-client.js' as string)) as { VoiceClient: new (o: object) => Client };
        const token = async () =>
          (
            (await (await fetch(`/dev/token?user=${user}&guild=${guild}&channel=${channel}`)).json()) as {
              token: string;
            }
          ).token;
        const client = new sdk.VoiceClient({ ...clientOptions, backoff: { maxAttempts: 0 } });
        // Played like an app would: Chromium measures a remote track's audioLevel only while it plays.
        client.on('track', ({ track }) => {
          const audio = new Audio();
          audio.srcObject = new MediaStream([track]);
          void audio.play();
        });
        await client.connect({ url: wsUrl, token, guildId: guild, channelId: channel });
        (window as unknown as { e2eClient: Client }).e2eClient = client;
      },
      { wsUrl: stack!.wsUrl, guild: GUILD, channel: CHANNEL, user, clientOptions },
    );
    return { context, page };
  }

  /** getStats every SAMPLE_EVERY_MS for `durationMs`, in the page. */
  function sample(p: SdkPage, durationMs: number): Promise<{ series: Sample[]; ciphers: string[] }> {
    return p.page.evaluate(
      async ({ durationMs, everyMs }) => {
        type Stats = Record<string, unknown>;
        const w = window as unknown as {
          e2ePeerConnections: RTCPeerConnection[];
          e2eClient: {
            getReceiveStats(): Promise<Array<{ userId: bigint; packetsReceived: number; audioLevel: number }>>;
          };
        };
        const series: Array<{
          t: number;
          sent: number;
          received: Record<string, { packets: number; audioLevel: number }>;
        }> = [];
        const ciphers = new Set<string>();
        const end = performance.now() + durationMs;
        while (performance.now() < end) {
          const t = performance.now();
          let sent = 0;
          for (const pc of w.e2ePeerConnections) {
            if (pc.connectionState === 'closed') continue;
            (await pc.getStats()).forEach((s: Stats) => {
              if (s.type === 'outbound-rtp' && s.kind === 'audio') sent += Number(s.packetsSent ?? 0);
              if (s.type === 'transport' && typeof s.srtpCipher === 'string') ciphers.add(s.srtpCipher);
            });
          }
          const received: Record<string, { packets: number; audioLevel: number }> = {};
          for (const r of await w.e2eClient.getReceiveStats())
            received[r.userId.toString()] = { packets: r.packetsReceived, audioLevel: r.audioLevel };
          series.push({ t, sent, received });
          await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (performance.now() - t))));
        }
        return { series, ciphers: [...ciphers] };
      },
      { durationMs, everyMs: SAMPLE_EVERY_MS },
    );
  }

  it('the sender sends a few packets/s in silence and ~50/s in speech; a listener receives the speech; opusDtx:false keeps 50/s', async () => {
    const ada = await join(USERS.ada, {}); // the SDK's default: DTX on
    const bo = await join(USERS.bo, { opusDtx: false });
    const cy = await join(USERS.cy, {});
    // Long enough to hold a whole silence and a whole sentence of the looping recording.
    const cycleMs = (recording.speechSeconds + recording.silenceSeconds) * 1000;
    const durationMs = Math.ceil(2 * cycleMs + WINDOW_MS);
    const [adaStats, boStats, cyStats] = await Promise.all([ada, bo, cy].map((p) => sample(p, durationMs)));

    const adaSent = windowRates(adaStats!.series, (s) => s.sent);
    const boSent = windowRates(boStats!.series, (s) => s.sent);
    const cyFromAda = windowRates(cyStats!.series, (s) => s.received[USERS.ada]?.packets);
    const cyHearsAda = cyStats!.series.map((s) => s.received[USERS.ada]).filter((r) => r !== undefined);
    const maxLevel = Math.max(...cyHearsAda.map((r) => r.audioLevel));
    const total = (series: Sample[]) => series.at(-1)!.sent - series[0]!.sent;
    console.log(
      `[e2e dtx] recording: ${recording.speechSeconds.toFixed(2)} s speech + ${recording.silenceSeconds} s silence, sampled ${(durationMs / 1000).toFixed(1)} s every ${SAMPLE_EVERY_MS} ms`,
    );
    console.log(`[e2e dtx] ada (DTX, default) sends ${fmt(adaSent)}; ${total(adaStats!.series)} packets in all`);
    console.log(
      `[e2e dtx] bo (opusDtx: false) sends ${fmt(boSent)}; ${total(boStats!.series)} packets in all (ada/bo = ${(total(adaStats!.series) / total(boStats!.series)).toFixed(2)})`,
    );
    console.log(`[e2e dtx] cy receives ada at ${fmt(cyFromAda)}; max audioLevel ${maxLevel.toFixed(3)}`);
    console.log(
      `[e2e dtx] SRTP cipher Chromium negotiated with the media node: ${[...new Set([...adaStats!.ciphers, ...boStats!.ciphers, ...cyStats!.ciphers])].join(', ')}`,
    );

    assert.ok(adaSent.length > 0 && boSent.length > 0 && cyFromAda.length > 0, 'enough samples for 1 s windows');
    // DTX: one packet per 400 ms in silence (2.5/s), 50/s in speech. (On a loaded machine Chromium's audio
    // thread can stall and then send a burst, so window minima and maxima are only asserted in the direction
    // a stall cannot fake: a stall can lower a window, never make a 50/s stream look silent for long, and a
    // burst can raise one. Without DTX the proof is the total: every 20 ms frame was sent.)
    assert.ok(Math.min(...adaSent) <= 10, `ada's packet rate falls in the silences (${fmt(adaSent)})`);
    assert.ok(Math.max(...adaSent) >= 40, `ada sends full rate while speaking (${fmt(adaSent)})`);
    const seconds = (series: Sample[]) => (series.at(-1)!.t - series[0]!.t) / 1000;
    const boAverage = total(boStats!.series) / seconds(boStats!.series);
    assert.ok(
      boAverage >= 40,
      `with opusDtx: false every frame is sent: ${boAverage.toFixed(1)} packets/s on average (${fmt(boSent)})`,
    );
    // This recording is ~55 % speech: DTX sends ~30/s on average against 50.
    const ratio = total(adaStats!.series) / total(boStats!.series);
    assert.ok(ratio <= 0.8, `DTX sends fewer packets over the same recording: ada/bo = ${ratio.toFixed(2)}`);
    // The listener: the speech arrives (packets and audio level), and the silent stretches arrive thin.
    assert.ok(Math.max(...cyFromAda) >= 40, `cy receives ada's speech at full rate (${fmt(cyFromAda)})`);
    assert.ok(Math.min(...cyFromAda) <= 10, `cy receives ada's silences at the DTX rate (${fmt(cyFromAda)})`);
    assert.ok(maxLevel > 0.01, `cy hears ada's speech: audioLevel ${maxLevel}`);
    const ciphers = new Set([...adaStats!.ciphers, ...cyStats!.ciphers]);
    assert.ok(ciphers.size > 0, 'getStats reports the negotiated SRTP cipher');
  });
});
