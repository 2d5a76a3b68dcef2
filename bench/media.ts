// How many audio consumers one mediasoup worker core sustains with RTP flowing.
//
// Default run: one worker, one router with the media node's codecs. P "speaker" PlainTransports each
// carry an Opus producer fed 50 packets/s of Opus-sized RTP from a UDP socket (everyone talking).
// "Listener" PlainTransports (SRTP on, like WebRTC consumers, so the worker encrypts every packet) each
// consume all P producers and send to a sink socket. Listeners are added step by step; at each step the
// worker's CPU (getResourceUsage) and the packets forwarded (counted by a sink in its own process) are
// measured over a window. Traffic pauses while listeners are added, so setup stays quick.
// (Per-transport getStats is avoided while measuring: near saturation the worker answers control
// requests very slowly, which is itself a reason to keep workers well below one core.)
//
// `--realistic` (bench/media-realistic.ts): channels of 20 members, one talker at a time, the rest
// silent with Opus DTX, added until the worker passes 80 %: users per core.
//
//   npm run bench:media -- [--producers 10] [--steps 500,1000,1500,2000] [--window 8] [--no-srtp]
//                          [--srtp-suite AEAD_AES_256_GCM] [--realistic]
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as mediasoup from 'mediasoup';
import { allTalking, formatStep, machineLoad, STEP_HEADER } from './media-all-talking';
import { parseSuite, SPEECH_PAYLOAD_BYTES } from './media-kit';
import { runRealistic } from './media-realistic';

const { values: args } = parseArgs({
  options: {
    producers: { type: 'string', default: '10' },
    steps: { type: 'string' },
    window: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'no-srtp': { type: 'boolean', default: false },
    // What Chromium negotiates with the media node (getStats srtpCipher; test/e2e/dtx.e2e.ts prints it).
    'srtp-suite': { type: 'string', default: 'AEAD_AES_256_GCM' },
    realistic: { type: 'boolean', default: false },
    'channel-size': { type: 'string', default: '20' },
    'channels-per-step': { type: 'string', default: '5' },
    'max-channels': { type: 'string', default: '200' },
    'stop-at': { type: 'string', default: '80' },
    'srtp-pairs': { type: 'string', default: '3' },
  },
});
const suite = args['no-srtp'] ? undefined : parseSuite(args['srtp-suite']!);

async function main(): Promise<void> {
  if (args.realistic) {
    await runRealistic({
      suite: parseSuite(args['srtp-suite']!),
      channelSize: Number(args['channel-size']),
      channelsPerStep: Number(args['channels-per-step']),
      maxChannels: Number(args['max-channels']),
      stopAtCpu: Number(args['stop-at']),
      windowS: Number(args.window),
      warmupS: Number(args.warmup),
      pairs: Number(args['srtp-pairs']),
    });
    return;
  }
  const producers = Number(args.producers);
  const steps = (args.steps ?? '500,1000,1500,2000').split(',').map(Number);
  console.log(
    `mediasoup ${mediasoup.version}, 1 worker, ${producers} producers at 50 pps, ${SPEECH_PAYLOAD_BYTES}-byte Opus payloads, ` +
      `consumers on PlainTransports ${suite ? `with SRTP (${suite})` : 'without SRTP'}, window ${args.window}s`,
  );
  console.log(STEP_HEADER);
  const results = await allTalking({
    producers,
    steps,
    suite,
    windowS: Number(args.window),
    warmupS: Number(args.warmup),
    onStep: (r) => console.log(formatStep(r)),
  });
  // Sustained = the worker stays under one core with (almost) everything delivered.
  console.log(
    `(${machineLoad()} on ${cpus().length} cores; other load on the machine lowers "delivered", not "worker CPU %")`,
  );
  const sustained = results.filter((r) => r.cpu < 90 && r.delivered > 0.98);
  const best = sustained.at(-1);
  const target = results.find((r) => r.consumers >= 1000);
  const meets = target !== undefined && target.cpu < 90 && target.delivered > 0.98;
  console.log(
    `\nlargest step sustained (CPU < 90% of one core, > 98% delivered): ${best ? `${best.consumers} consumers at ${best.cpu.toFixed(1)}% CPU` : 'none'}`,
  );
  console.log(
    `>= 1000 audio consumers per worker core: ${meets ? 'YES' : 'NO'}${target ? ` (1000+ step: ${target.consumers} consumers, ${target.cpu.toFixed(1)}% CPU, ${(target.delivered * 100).toFixed(1)}% delivered)` : ''}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
