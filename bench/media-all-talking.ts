// Every producer talking (50 packets/s each): P speakers, listeners each consuming all P, on one worker.
// The original bench:media scenario, as a function the realistic run reuses for its comparison figures.
import { loadavg } from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { ROOM_MEDIA_CODECS } from '../media-node/src/workers/codecs';
import { bind, cpuMs, listenerTransport, rtp, sleep, speakerProducer, startSink, type SrtpSuite } from './media-kit';

const PACKET_INTERVAL_MS = 20;

export interface StepResult {
  consumers: number;
  ppsIn: number;
  ppsOut: number;
  expected: number;
  delivered: number;
  cpu: number;
  perCore: number;
}

/** One worker; for each target in `steps`, listeners are added (traffic paused) and the worker measured over a window. */
export async function allTalking(options: {
  producers: number;
  steps: number[];
  suite: SrtpSuite | undefined;
  windowS: number;
  warmupS: number;
  onStep?: (step: StepResult) => void;
}): Promise<StepResult[]> {
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
  const sender = await bind();
  const sink = await startSink();
  try {
    const speakers: { producer: types.Producer; port: number; ssrc: number }[] = [];
    for (let i = 0; i < options.producers; i++) {
      const ssrc = 1000 + i;
      speakers.push({ ...(await speakerProducer(router, ssrc)), ssrc });
    }
    let sent = 0;
    let sequence = 0;
    let feed: NodeJS.Timeout | undefined;
    const startFeed = () => {
      feed = setInterval(() => {
        sequence++;
        for (const s of speakers) {
          sender.send(rtp(sequence, sequence * 960, s.ssrc), s.port, '127.0.0.1');
          sent++;
        }
      }, PACKET_INTERVAL_MS);
    };
    const stopFeed = () => clearInterval(feed);

    let listeners = 0;
    const results: StepResult[] = [];
    for (const target of options.steps) {
      stopFeed();
      while (listeners < Math.ceil(target / options.producers)) {
        const transport = await listenerTransport(router, sink.port, options.suite);
        for (const { producer } of speakers) {
          const consumer = await transport.consume({
            producerId: producer.id,
            rtpCapabilities: router.rtpCapabilities,
            paused: true,
          });
          await consumer.resume();
        }
        listeners++;
      }
      startFeed();
      await sleep(options.warmupS * 1000);
      // The window runs from one CPU reading to the next (a busy worker answers late: everything is
      // read right after each answer, so CPU, packets in and packets out cover the same stretch).
      const startCpu = await cpuMs(worker);
      const startAt = Date.now();
      const startSent = sent;
      const startSink = await sink.count();
      await sleep(options.windowS * 1000);
      const endCpu = await cpuMs(worker);
      const elapsedS = (Date.now() - startAt) / 1000;
      const endSent = sent;
      const endSink = await sink.count();
      const cpu = (100 * (endCpu - startCpu)) / (elapsedS * 1000);
      const ppsIn = (endSent - startSent) / elapsedS;
      const ppsOut = (endSink - startSink) / elapsedS;
      const expected = ppsIn * listeners;
      const consumers = listeners * options.producers;
      // Per core from the packets actually forwarded (a consumer of a talker = 50 packets/s), so a sender
      // that falls behind on a loaded machine does not read as cheaper consumers.
      const step = {
        consumers,
        ppsIn,
        ppsOut,
        expected,
        delivered: expected > 0 ? ppsOut / expected : 0,
        cpu,
        perCore: cpu > 0 ? Math.round((ppsOut * 100) / cpu / 50) : Infinity,
      };
      results.push(step);
      options.onStep?.(step);
    }
    stopFeed();
    return results;
  } finally {
    sender.close();
    sink.stop();
    worker.close();
  }
}

export function formatStep(r: StepResult): string {
  return [
    String(r.consumers).padStart(9),
    r.ppsIn.toFixed(0).padStart(6),
    r.ppsOut.toFixed(0).padStart(7),
    r.expected.toFixed(0).padStart(12),
    `${(r.delivered * 100).toFixed(1)}%`.padStart(9),
    r.cpu.toFixed(1).padStart(12),
    String(r.perCore).padStart(10),
  ].join(' | ');
}

export const STEP_HEADER =
  'consumers | pps in | pps out | expected out | delivered | worker CPU % | consumers per core (extrapolated)';

export function machineLoad(): string {
  return `machine load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}
