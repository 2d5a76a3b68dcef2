// `npm run bench:media -- --realistic`: voice channels as people use them, on one worker.
//
// Each channel is a router (as on the media node) with 20 members; each member has an Opus producer
// (PlainTransport fed from a UDP socket) and a listener transport (PlainTransport, SRTP with the suite
// Chromium negotiates) consuming the 19 others. One member talks at a time (50 packets/s of 80-byte
// frames; the talker changes every TALK_SPELL_S, channels out of phase); the others are silent with
// Opus DTX (one 3-byte packet every 400 ms = 2.5/s). Channels are added in steps until the worker
// passes --stop-at % of a core; each step measures the worker's CPU (from /proc) and the packets a sink
// process counted. Users per core = forwarded packets/s per % of CPU × 100 ÷ the pattern's packets/s per
// user (≈ 92.6 for 20 members), at the step that passed the threshold.
// Then, in the same run and on fresh workers, the all-talking case (10 producers, 1000 consumers) with
// SRTP and without: consumers per core, and SRTP µs per packet = extra CPU / packets out.
// Ingress is plain RTP (the sender does not encrypt): decryption is 1/19 of the SRTP work in a
// 20-member channel and is left out.
import { cpus } from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { ROOM_MEDIA_CODECS } from '../media-node/src/workers/codecs';
import { allTalking, formatStep, machineLoad, STEP_HEADER } from './media-all-talking';
import {
  bind,
  cpuMs,
  DTX_PAYLOAD_BYTES,
  listenerTransport,
  rtp,
  sleep,
  speakerProducer,
  startSink,
  type SrtpSuite,
} from './media-kit';

const TICK_MS = 20;
const DTX_EVERY_TICKS = 20; // 400 ms
const TALK_SPELL_S = 3;

interface Member {
  ssrc: number;
  port: number;
  sequence: number;
}

interface Channel {
  router: types.Router;
  members: Member[];
  /** Seconds added to the clock when choosing the talker, so channels do not switch in step. */
  phaseS: number;
}

export interface RealisticOptions {
  suite: SrtpSuite;
  channelSize: number;
  channelsPerStep: number;
  maxChannels: number;
  stopAtCpu: number;
  windowS: number;
  warmupS: number;
  /** SRTP-vs-none all-talking pairs for the comparison figures. */
  pairs: number;
}

interface RealisticStep {
  channels: number;
  users: number;
  consumers: number;
  ppsIn: number;
  ppsOut: number;
  delivered: number;
  cpu: number;
  usersPerCore: number;
}

export async function runRealistic(options: RealisticOptions): Promise<void> {
  const size = options.channelSize;
  /** Packets/s the worker forwards per member with this pattern: (one talker + the rest at the DTX rate) × listeners ÷ members. */
  const nominalPerUser = ((50 + (size - 1) * 2.5) * (size - 1)) / size;
  console.log(
    `mediasoup ${mediasoup.version}, 1 worker, channels of ${size} (one talker at 50 packets/s, the others DTX at 2.5/s, ` +
      `talker changes every ${TALK_SPELL_S} s), listeners on PlainTransports with SRTP (${options.suite}), ` +
      `+${options.channelsPerStep} channels per step until the worker passes ${options.stopAtCpu} %, window ${options.windowS}s`,
  );
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const sender = await bind();
  const sink = await startSink();
  const channels: Channel[] = [];
  let nextSsrc = 10_000;
  let tick = 0;
  let sentIn = 0;
  let expectedOut = 0;
  let feed: NodeJS.Timeout | undefined;

  const addChannel = async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const members: Member[] = [];
    const producers: types.Producer[] = [];
    for (let i = 0; i < size; i++) {
      const ssrc = nextSsrc++;
      const { producer, port } = await speakerProducer(router, ssrc);
      producers.push(producer);
      members.push({ ssrc, port, sequence: 0 });
    }
    for (let i = 0; i < size; i++) {
      const transport = await listenerTransport(router, sink.port, options.suite);
      await Promise.all(
        producers
          .filter((_, j) => j !== i)
          .map(async (producer) => {
            const consumer = await transport.consume({
              producerId: producer.id,
              rtpCapabilities: router.rtpCapabilities,
              paused: true,
            });
            await consumer.resume();
          }),
      );
    }
    channels.push({ router, members, phaseS: (channels.length * 0.77) % TALK_SPELL_S });
  };

  const send = (member: Member, payloadBytes?: number) => {
    member.sequence++;
    sender.send(rtp(member.sequence, tick * 960, member.ssrc, payloadBytes), member.port, '127.0.0.1');
    sentIn++;
    expectedOut += size - 1;
  };
  const startFeed = () => {
    feed = setInterval(() => {
      tick++;
      const nowS = (tick * TICK_MS) / 1000;
      for (const channel of channels) {
        const talker = Math.floor((nowS + channel.phaseS) / TALK_SPELL_S) % size;
        channel.members.forEach((member, i) => {
          if (i === talker) send(member);
          else if ((tick + i) % DTX_EVERY_TICKS === 0) send(member, DTX_PAYLOAD_BYTES);
        });
      }
    }, TICK_MS);
  };
  const stopFeed = () => clearInterval(feed);

  const steps: RealisticStep[] = [];
  try {
    console.log(
      'channels | users | consumers | pps in | pps out | delivered | worker CPU % | users per core (extrapolated)',
    );
    while (channels.length < options.maxChannels) {
      stopFeed();
      for (let i = 0; i < options.channelsPerStep && channels.length < options.maxChannels; i++) await addChannel();
      startFeed();
      await sleep(options.warmupS * 1000);
      // From one CPU reading to the next, everything read right after each (see media-all-talking.ts).
      const startCpu = await cpuMs(worker);
      const startAt = Date.now();
      const startIn = sentIn;
      const startExpected = expectedOut;
      const startSink = await sink.count();
      await sleep(options.windowS * 1000);
      const endCpu = await cpuMs(worker);
      const elapsedS = (Date.now() - startAt) / 1000;
      const endIn = sentIn;
      const expected = expectedOut - startExpected;
      const out = (await sink.count()) - startSink;
      const cpu = (100 * (endCpu - startCpu)) / (elapsedS * 1000);
      const users = channels.length * size;
      const step: RealisticStep = {
        channels: channels.length,
        users,
        consumers: users * (size - 1),
        ppsIn: (endIn - startIn) / elapsedS,
        ppsOut: out / elapsedS,
        delivered: expected > 0 ? out / expected : 0,
        cpu,
        // Per packet actually forwarded, not per user scheduled: on a loaded machine the sender falls
        // behind (fewer packets, less CPU), which must not read as cheaper users.
        usersPerCore: cpu > 0 ? Math.round(((out / elapsedS) * 100) / cpu / nominalPerUser) : Infinity,
      };
      steps.push(step);
      console.log(
        [
          String(step.channels).padStart(8),
          String(step.users).padStart(5),
          String(step.consumers).padStart(9),
          step.ppsIn.toFixed(0).padStart(6),
          step.ppsOut.toFixed(0).padStart(7),
          `${(step.delivered * 100).toFixed(1)}%`.padStart(9),
          step.cpu.toFixed(1).padStart(12),
          String(step.usersPerCore).padStart(8),
        ].join(' | '),
      );
      if (cpu >= options.stopAtCpu) break;
      if (step.delivered < 0.9) {
        console.log(
          `stopped: only ${(step.delivered * 100).toFixed(1)} % delivered — the worker, or this machine's other load, no longer keeps up`,
        );
        break;
      }
    }
  } finally {
    stopFeed();
    sender.close();
    sink.stop();
    worker.close();
  }
  console.log(
    `(${machineLoad()} on ${cpus().length} cores: the worker's own CPU time is measured, so other load skews it less than "delivered")`,
  );
  // The step that passed the threshold; if the run stopped on delivery first, the last step that delivered.
  const reached = steps.find((s) => s.cpu >= options.stopAtCpu);
  const passed = reached ?? steps.filter((s) => s.delivered >= 0.9).at(-1) ?? steps.at(-1)!;
  console.log(
    `realistic: ${reached ? `passed ${options.stopAtCpu} % at` : `stopped on delivery before ${options.stopAtCpu} %; figure from the last step that delivered,`} ` +
      `${passed.users} users (${passed.channels} channels of ${size}, ${passed.cpu.toFixed(1)} % CPU, ${(passed.delivered * 100).toFixed(1)} % delivered)`,
  );

  // Same run, fresh workers: everyone talking, with and without SRTP, alternated `pairs` times; the
  // medians are reported (one pair's CPU difference moves by tens of percent on a shared machine).
  console.log(
    `\nall talking: 10 producers at 50 packets/s, 1000 consumers; SRTP ${options.suite} vs none, ${options.pairs} pairs`,
  );
  console.log(STEP_HEADER);
  const common = {
    producers: 10,
    steps: [1000],
    windowS: options.windowS,
    warmupS: options.warmupS,
    onStep: (r: Parameters<typeof formatStep>[0]) => console.log(formatStep(r)),
  };
  const perCore: number[] = [];
  const withoutPerCore: number[] = [];
  const usPerPacket: number[] = [];
  for (let i = 0; i < options.pairs; i++) {
    const [withSrtp] = await allTalking({ ...common, suite: options.suite });
    const [withoutSrtp] = await allTalking({ ...common, suite: undefined });
    perCore.push(withSrtp!.perCore);
    withoutPerCore.push(withoutSrtp!.perCore);
    // CPU per packet out with SRTP minus without: what encrypting one packet costs.
    usPerPacket.push(
      ((withSrtp!.cpu / 100) * 1e6) / withSrtp!.ppsOut - ((withoutSrtp!.cpu / 100) * 1e6) / withoutSrtp!.ppsOut,
    );
  }
  const consumersPerCore = median(perCore);
  const srtpUsPerPacket = median(usPerPacket);
  const dtxOffUsers = Math.round(consumersPerCore / (size - 1));
  console.log(
    `all talking: ${consumersPerCore} consumers per core with SRTP (median of ${perCore.join(', ')}), ${median(withoutPerCore)} without; ` +
      `SRTP µs/packet per pair: ${usPerPacket.map((u) => u.toFixed(2)).join(', ')}`,
  );
  console.log(
    `the same channels with DTX off (every member sending 50/s): ≈ ${dtxOffUsers} users per core; with DTX: ${passed.usersPerCore} (×${(passed.usersPerCore / dtxOffUsers).toFixed(1)})`,
  );
  console.log(
    `media: ${passed.usersPerCore} users per core (realistic), ${consumersPerCore} consumers per core (all talking), SRTP ${srtpUsPerPacket.toFixed(2)} µs/packet`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
