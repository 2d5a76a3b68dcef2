// `npm run bench:state [-- --members 20 --rounds 20 --cycles 12 --legs mute,speaking]`: state.v1 through the local
// stack (figures, never assertions).
//   mute      a channel of `members` Node clients (msc-node on werift: real ICE/DTLS/SRTP, test/support/
//             media-voice-client.ts), every one granted state.v1; one of them talks (RTP at 50 packets/s), the others
//             consume it. Per round it mutes itself (SetSelfState) and, for each other member, the bench records
//             (a) "mute seen": from sending SetSelfState to that member receiving the state change, and (b) "packets
//             stop": from sending SetSelfState to the last RTP packet of the talker reaching that member (the node
//             pauses the producer: nothing of it is forwarded); then it unmutes and waits for the audio to return.
//   speaking  two Chromium pages (demo, ?state=1), the talker's fake microphone a recording of speech and silence
//             (espeak-ng + sox): from speech starting at the talker (its own microphone's level crossing 0.01 RMS after
//             ≥ 1 s of quiet, sampled every 10 ms in its page) to the listener's SDK emitting speakingChanged(true)
//             (received audioLevel, 100 ms sampling, hysteresis: web/src/speaking.ts). Same machine clock (Date.now()).
// Ends with: state: mute seen p95 <x> ms, packets stop p95 <y> ms, speaking detected p95 <z> ms
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { createLogger } from '../lib/log';
import { startLocalStack, type LocalStack } from '../local/stack';
import { launchChromium } from '../test/e2e/support/chromium';
import { Participant } from '../test/e2e/support/participant';
import { makeSpeechAndSilence } from '../test/e2e/support/recording';
import { joinWithMedia, waitFor, type MediaJoined } from '../test/support/media-voice-client';
import { devToken } from '../test/support/tokens';
import { buildWeb } from '../web/build';
import { fmt, parseLegs, percentile, sleep, summary } from './leg-kit';

const ALL_LEGS = ['mute', 'speaking'];
const { values } = parseArgs({
  options: {
    members: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '20' },
    cycles: { type: 'string', default: '12' },
    legs: { type: 'string', default: ALL_LEGS.join(',') },
  },
});
const MEMBERS = Math.max(2, Number(values.members));
const ROUNDS = Math.max(1, Number(values.rounds));
const CYCLES = Math.max(2, Number(values.cycles));
const LEGS = parseLegs(values.legs, ALL_LEGS);
const GUILD = 20n;

async function muteLeg(stack: LocalStack): Promise<{ seen: number[]; stop: number[] }> {
  const members: MediaJoined[] = [];
  const seen: number[] = [];
  const stop: number[] = [];
  try {
    console.log(`mute: joining ${MEMBERS} members (state.v1)…`);
    for (let i = 1; i <= MEMBERS; i++) {
      members.push(
        await joinWithMedia(
          { wsUrl: stack.wsUrl, token: devToken(BigInt(i), GUILD, [1n]), features: ['state.v1'] },
          GUILD,
          1n,
        ),
      );
    }
    const [talker, ...listeners] = members;
    for (const l of listeners) await l.consume(l.joined.otherUsers.find((u) => u.userId === 1n)!);
    const lastFrom = new Map<MediaJoined, number>();
    for (const l of listeners)
      l.onRtp((user, at) => {
        if (user === '1') lastFrom.set(l, at);
      });
    const stopTalking = talker!.speak();
    try {
      const heard = async (timeoutMs = 10_000) => {
        const before = listeners.map((l) => l.received.get('1') ?? 0);
        await waitFor(
          () => listeners.every((l, i) => (l.received.get('1') ?? 0) > before[i]! + 5),
          timeoutMs,
          'every listener to hear the talker',
        ).catch((err) => {
          throw new Error(
            `${(err as Error).message} (${listeners.filter((l, i) => (l.received.get('1') ?? 0) > before[i]! + 5).length}/${listeners.length} do)`,
          );
        });
      };
      // The first time, every receive transport still has to connect (ICE + DTLS in JavaScript, 19 at once).
      await heard(60_000);
      for (let round = 0; round < ROUNDS; round++) {
        const logged = listeners.map((l) => l.client.stateLog.length);
        const wallStart = Date.now();
        const start = performance.now();
        talker!.client.sendExt({ $case: 'setSelfState', value: { selfMuted: true } });
        await waitFor(
          () =>
            listeners.every((l, i) =>
              l.client.stateLog.slice(logged[i]).some((e) => e.states.some((s) => s.userId === 1n && s.selfMuted)),
            ),
          10_000,
          'every listener to see the mute',
        );
        for (const [i, l] of listeners.entries()) {
          const entry = l.client.stateLog
            .slice(logged[i])
            .find((e) => e.states.some((s) => s.userId === 1n && s.selfMuted))!;
          seen.push(entry.at - start);
        }
        await sleep(1_500); // nothing more arrives once the node paused the producer
        for (const l of listeners) stop.push(Math.max(0, (lastFrom.get(l) ?? wallStart) - wallStart));
        talker!.client.sendExt({ $case: 'setSelfState', value: { selfMuted: false } });
        await heard(30_000).catch((err) => {
          throw new Error(`round ${round + 1}: ${(err as Error).message}`);
        });
        await sleep(300);
      }
    } finally {
      stopTalking();
    }
    console.log(`mute: ${ROUNDS} rounds × ${listeners.length} listeners`);
    summary('mute seen by the others (SetSelfState sent → state change received)', seen);
    summary('packets stop (SetSelfState sent → last RTP of the talker received)', stop);
  } finally {
    for (const m of members) {
      for (const t of m.transports) t.close();
      m.client.terminate();
    }
  }
  return { seen, stop };
}

async function speakingLeg(stack: LocalStack): Promise<number[]> {
  const recording = await makeSpeechAndSilence({
    text: 'One, two, three. Can you hear me?',
    silenceSeconds: 2,
    cycles: CYCLES,
  });
  await buildWeb();
  let talkerBrowser: Browser | undefined;
  let listenerBrowser: Browser | undefined;
  const latencies: number[] = [];
  try {
    talkerBrowser = await launchChromium([`--use-file-for-fake-audio-capture=${recording.path}`]);
    listenerBrowser = await launchChromium();
    const target = (user: string) => ({
      baseUrl: stack.url,
      user,
      guild: String(GUILD),
      channel: '2',
      variant: 'base64' as const,
      server: stack.wsUrl,
      query: { state: '1' },
    });
    const talker = new Participant('talker', talkerBrowser, target('101'));
    const listener = new Participant('listener', listenerBrowser, target('102'));
    for (const p of [talker, listener]) {
      await p.open();
      await p.clickJoin();
      await p.waitJoined();
    }
    await listener.hears(['101'], 20_000);
    // The talker's own microphone level, every 10 ms: speech onsets (loud after ≥ 1 s of quiet), wall clock.
    await talker.page.evaluate(() => {
      const w = window as unknown as {
        harmonyVoiceDemo: { client: { localTrack?: MediaStreamTrack } };
        onsets: number[];
      };
      w.onsets = [];
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 512;
      ctx.createMediaStreamSource(new MediaStream([w.harmonyVoiceDemo.client.localTrack!])).connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      let lastLoud = 0;
      setInterval(() => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const s of samples) sum += s * s;
        const now = Date.now();
        if (Math.sqrt(sum / samples.length) >= 0.01) {
          if (now - lastLoud >= 1_000) w.onsets.push(now);
          lastLoud = now;
        }
      }, 10);
    });
    const measureMs = CYCLES * (2_000 + 3_000) + 2_000;
    console.log(
      `speaking: listening for ${Math.round(measureMs / 1000)} s (${CYCLES} cycles of speech and 2 s of silence)…`,
    );
    const since = Date.now();
    await sleep(measureMs);
    const onsets = await talker.page.evaluate(() => (window as unknown as { onsets: number[] }).onsets);
    const detected = (await listener.events())
      .filter((e) => e.type === 'speakingChanged' && e.userId === '101' && e.speaking && (e.wall ?? 0) >= since)
      .map((e) => e.wall!);
    // Each onset: the first speakingChanged(true) after it (and before the next onset).
    for (const [i, onset] of onsets.entries()) {
      const next = onsets[i + 1] ?? Infinity;
      const hit = detected.find((t) => t >= onset && t < next);
      if (hit !== undefined) latencies.push(hit - onset);
    }
    console.log(
      `speaking: ${onsets.length} speech onsets at the talker, ${detected.length} speakingChanged(true) at the listener, ${latencies.length} matched`,
    );
    summary('speaking detected (speech starts at the talker → speakingChanged at the listener)', latencies);
    for (const p of [talker, listener]) await p.close();
  } finally {
    await talkerBrowser?.close().catch(() => {});
    await listenerBrowser?.close().catch(() => {});
  }
  return latencies;
}

async function main(): Promise<void> {
  // msc-node never refreshes ICE consent (docs/limits.md): the mute leg's clients hold their sessions for minutes.
  const stack = await startLocalStack({
    port: 0,
    mediaNode: { forwardLogs: false, env: { MEDIA_ICE_CONSENT_TIMEOUT_S: '0' } },
    logger: createLogger({ level: 'warn' }),
  });
  let mute = { seen: [] as number[], stop: [] as number[] };
  let speaking: number[] = [];
  try {
    if (LEGS.has('mute')) mute = await muteLeg(stack);
    if (LEGS.has('speaking')) speaking = await speakingLeg(stack);
  } finally {
    await stack.close();
  }
  console.log(
    `state: mute seen p95 ${fmt(percentile(mute.seen, 95))} ms, packets stop p95 ${fmt(percentile(mute.stop, 95))} ms, speaking detected p95 ${fmt(percentile(speaking, 95))} ms`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
