// How many audio consumers one mediasoup worker core sustains with RTP flowing.
//
// One worker, one router with the media node's codecs. P "speaker" PlainTransports each carry an
// Opus producer fed ~50 packets/s of Opus-sized RTP from a UDP socket. "Listener" PlainTransports
// (SRTP on, like WebRTC consumers, so the worker encrypts every packet) each consume all P
// producers and send to a sink socket. Listeners are added step by step; at each step the worker's
// CPU (getResourceUsage) and the packets forwarded (counted by a sink in its own process) are
// measured over a window. Traffic pauses while listeners are added, so setup stays quick.
// (Per-transport getStats is avoided while measuring: near saturation the worker answers control
// requests very slowly, which is itself a reason to keep workers well below one core.)
//
//   npm run bench:media -- [--producers 10] [--steps 500,1000,1500,2000] [--window 8] [--no-srtp]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { ROOM_MEDIA_CODECS } from '../media-node/src/codecs';

const { values: args } = parseArgs({
  options: {
    producers: { type: 'string', default: '10' },
    steps: { type: 'string', default: '500,1000,1500,2000' },
    window: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'no-srtp': { type: 'boolean', default: false },
  },
});
const PRODUCERS = Number(args.producers);
const STEPS = args.steps!.split(',').map(Number);
const WINDOW_S = Number(args.window);
const WARMUP_S = Number(args.warmup);
const SRTP = !args['no-srtp'];
const PACKET_INTERVAL_MS = 20; // 50 packets/s, one Opus frame each
const PAYLOAD_BYTES = 80; // a 20 ms Opus voice frame is ~40–120 bytes
const PAYLOAD_TYPE = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function bind(): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

function rtp(sequence: number, ssrc: number): Buffer {
  const packet = Buffer.alloc(12 + PAYLOAD_BYTES, 0x5a);
  packet[0] = 0x80;
  packet[1] = PAYLOAD_TYPE;
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE((sequence * 960) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

/**
 * The sink counts packets in its own process, so 100k+ packets/s cannot starve this process's
 * event loop (which talks to the worker and paces the senders).
 */
async function startSink(): Promise<{ port: number; count: () => Promise<number>; stop: () => void }> {
  const code = `
    const socket = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
    let packets = 0;
    socket.on('message', () => packets++);
    socket.bind(0, '127.0.0.1', () => process.send({ port: socket.address().port }));
    process.on('message', () => process.send({ packets }));
    process.on('disconnect', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise<Record<string, number>>((resolve) => child.once('message', (m) => resolve(m as Record<string, number>)));
  const { port } = await next();
  return {
    port: port!,
    count: async () => {
      const reply = next();
      child.send('count');
      return (await reply).packets!;
    },
    stop: () => child.kill(),
  };
}

async function cpuMs(worker: types.Worker): Promise<number> {
  const usage = await worker.getResourceUsage();
  return usage.ru_utime + usage.ru_stime;
}

async function main(): Promise<void> {
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
  const sender = await bind();
  const sink = await startSink();
  const sinkPort = sink.port;

  // Speakers.
  const speakers: { producer: types.Producer; port: number; ssrc: number }[] = [];
  for (let i = 0; i < PRODUCERS; i++) {
    const transport = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const ssrc = 1000 + i;
    const producer = await transport.produce({
      kind: 'audio',
      rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: PAYLOAD_TYPE, clockRate: 48000, channels: 2 }], encodings: [{ ssrc }] },
    });
    speakers.push({ producer, port: transport.tuple.localPort, ssrc });
  }
  let sent = 0;
  let sequence = 0;
  let feed: NodeJS.Timeout | undefined;
  const startFeed = () => {
    feed = setInterval(() => {
      sequence++;
      for (const s of speakers) {
        sender.send(rtp(sequence, s.ssrc), s.port, '127.0.0.1');
        sent++;
      }
    }, PACKET_INTERVAL_MS);
  };
  const stopFeed = () => clearInterval(feed);

  // Listeners, added as the steps grow.
  const listeners: types.PlainTransport[] = [];
  const addListener = async () => {
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: false,
      enableSrtp: SRTP,
    });
    await transport.connect({
      ip: '127.0.0.1',
      port: sinkPort,
      ...(SRTP ? { srtpParameters: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: randomBytes(30).toString('base64') } } : {}),
    });
    for (const { producer } of speakers) {
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true });
      await consumer.resume();
    }
    listeners.push(transport);
  };

  console.log(
    `mediasoup ${mediasoup.version}, 1 worker, ${PRODUCERS} producers at ${1000 / PACKET_INTERVAL_MS} pps, ` +
      `${PAYLOAD_BYTES}-byte Opus payloads, consumers on PlainTransports ${SRTP ? 'with SRTP (AES_CM_128_HMAC_SHA1_80)' : 'without SRTP'}, ` +
      `window ${WINDOW_S}s`,
  );
  console.log('consumers | pps in | pps out | expected out | delivered | worker CPU % | consumers per core (extrapolated)');
  const results: { consumers: number; cpu: number; delivered: number; perCore: number }[] = [];
  for (const target of STEPS) {
    const listenersWanted = Math.ceil(target / PRODUCERS);
    stopFeed();
    while (listeners.length < listenersWanted) await addListener();
    const consumers = listeners.length * PRODUCERS;
    startFeed();
    await sleep(WARMUP_S * 1000);

    const startCpu = await cpuMs(worker);
    const startSink = await sink.count();
    const startSent = sent;
    const startAt = Date.now();
    await sleep(WINDOW_S * 1000);
    const elapsedS = (Date.now() - startAt) / 1000;
    const cpu = (100 * ((await cpuMs(worker)) - startCpu)) / (elapsedS * 1000);
    const ppsIn = (sent - startSent) / elapsedS;
    const ppsOut = ((await sink.count()) - startSink) / elapsedS;
    const expected = ppsIn * listeners.length; // each packet goes to every listener
    const delivered = expected > 0 ? ppsOut / expected : 0;
    const perCore = cpu > 0 ? Math.round((consumers * 100) / cpu) : Infinity;
    results.push({ consumers, cpu, delivered, perCore });
    console.log(
      [
        String(consumers).padStart(9),
        ppsIn.toFixed(0).padStart(6),
        ppsOut.toFixed(0).padStart(7),
        expected.toFixed(0).padStart(12),
        `${(delivered * 100).toFixed(1)}%`.padStart(9),
        cpu.toFixed(1).padStart(12),
        String(perCore).padStart(10),
      ].join(' | '),
    );
  }
  stopFeed();

  // Sustained = the worker stays under one core with (almost) everything delivered.
  console.log(`(machine load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores; other load on the machine lowers "delivered", not "worker CPU %")`);
  const sustained = results.filter((r) => r.cpu < 90 && r.delivered > 0.98);
  const best = sustained.at(-1);
  const target = results.find((r) => r.consumers >= 1000);
  const meets = target !== undefined && target.cpu < 90 && target.delivered > 0.98;
  console.log(
    `\nlargest step sustained (CPU < 90% of one core, > 98% delivered): ${best ? `${best.consumers} consumers at ${best.cpu.toFixed(1)}% CPU` : 'none'}`,
  );
  console.log(`>= 1000 audio consumers per worker core: ${meets ? 'YES' : 'NO'}${target ? ` (1000+ step: ${target.consumers} consumers, ${target.cpu.toFixed(1)}% CPU, ${(target.delivered * 100).toFixed(1)}% delivered)` : ''}`);

  sender.close();
  sink.stop();
  worker.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
