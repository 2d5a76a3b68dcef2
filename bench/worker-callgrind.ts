// `npm run bench:worker-instructions`: instructions the mediasoup worker executes per forwarded packet,
// counted by valgrind's callgrind — exact and repeatable on a shared, noisy machine (CPU seconds are not).
// The worker runs under callgrind (through MEDIASOUP_WORKER_BIN); one router, 10 producers fed Opus-sized
// RTP, 10 listener PlainTransports (SRTP with --srtp-suite, or none) consuming all 10 = 100 consumers.
// Two runs forward N and 2N packets per producer; the difference of their totals ÷ the extra packets
// forwarded is the cost of one forwarded packet (setup and teardown cancel out).
//   npm run bench:worker-instructions -- [--worker-bin path] [--srtp-suite AEAD_AES_256_GCM | --no-srtp] [--packets 200]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bind, listenerTransport, parseSuite, rtp, sleep, speakerProducer, startSink } from './media-kit';

const { values: args } = parseArgs({
  options: {
    'worker-bin': { type: 'string' },
    'srtp-suite': { type: 'string', default: 'AEAD_AES_256_GCM' },
    'no-srtp': { type: 'boolean', default: false },
    packets: { type: 'string', default: '200' },
  },
});
const SPEAKERS = 10;
const LISTENERS = 10;

async function defaultWorkerBin(): Promise<string> {
  const { createRequire } = await import('node:module');
  // …/mediasoup/node/lib/index.js → …/mediasoup/worker/out/Release/mediasoup-worker
  return join(
    createRequire(import.meta.url).resolve('mediasoup'),
    '..',
    '..',
    '..',
    'worker',
    'out',
    'Release',
    'mediasoup-worker',
  );
}

/** Forwards `packets` per producer through a worker under callgrind; returns the instructions it executed. */
async function countRun(
  workerBin: string,
  dir: string,
  packets: number,
  suite: ReturnType<typeof parseSuite> | undefined,
): Promise<number> {
  const out = join(dir, `callgrind.${packets}.out`);
  const wrapper = join(dir, 'worker-under-callgrind.sh');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=${out} ${workerBin} "$@" 2>/dev/null\n`,
  );
  chmodSync(wrapper, 0o755);
  process.env.MEDIASOUP_WORKER_BIN = wrapper; // read by createWorker
  const mediasoup = await import('mediasoup');
  const { ROOM_MEDIA_CODECS } = await import('../media-node/src/workers/codecs');
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const sender = await bind();
  const sink = await startSink();
  try {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const speakers = [];
    for (let i = 0; i < SPEAKERS; i++) speakers.push({ ...(await speakerProducer(router, 5000 + i)), ssrc: 5000 + i });
    for (let l = 0; l < LISTENERS; l++) {
      const transport = await listenerTransport(router, sink.port, suite);
      for (const { producer } of speakers) {
        const consumer = await transport.consume({
          producerId: producer.id,
          rtpCapabilities: router.rtpCapabilities,
          paused: true,
        });
        await consumer.resume();
      }
    }
    // Slow enough for a worker running ~50× slower under valgrind: 10 packets every 20 ms.
    for (let seq = 1; seq <= packets; seq++) {
      for (const s of speakers) sender.send(rtp(seq, seq * 960, s.ssrc), s.port, '127.0.0.1');
      await sleep(20);
    }
    const expected = packets * SPEAKERS * LISTENERS;
    const deadline = Date.now() + 60_000;
    while ((await sink.count()) < expected && Date.now() < deadline) await sleep(200);
    const got = await sink.count();
    // (A few more arrive: the listeners' RTCP sender reports share the sink.)
    if (got < expected)
      throw new Error(`the sink got ${got} of ${expected} packets: the count would not be per packet`);
  } finally {
    sender.close();
    sink.stop();
    worker.close();
  }
  // callgrind writes its file when the worker exits.
  for (let i = 0; i < 100; i++) {
    try {
      const text = readFileSync(out, 'utf8');
      const total = /^(?:summary|totals): (\d+)/m.exec(text);
      if (total) return Number(total[1]);
    } catch {
      // not written yet
    }
    await sleep(200);
  }
  throw new Error(`no callgrind totals in ${out}`);
}

async function main(): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0) throw new Error('valgrind is not installed');
  const workerBin = args['worker-bin'] ?? process.env.MEDIASOUP_WORKER_BIN ?? (await defaultWorkerBin());
  const suite = args['no-srtp'] ? undefined : parseSuite(args['srtp-suite']!);
  const n = Number(args.packets);
  const dir = await mkdtemp(join(tmpdir(), 'bench-worker-callgrind-'));
  try {
    const small = await countRun(workerBin, dir, n, suite);
    const large = await countRun(workerBin, dir, 2 * n, suite);
    const perPacket = (large - small) / (n * SPEAKERS * LISTENERS);
    console.log(`worker ${workerBin}`);
    console.log(
      `${suite ?? 'no SRTP'}: ${perPacket.toFixed(0)} instructions per forwarded packet (callgrind; ${n} vs ${2 * n} packets × ${SPEAKERS} producers × ${LISTENERS} listeners)`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
