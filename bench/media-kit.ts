// Pieces shared by the media benchmarks: UDP sockets, Opus-shaped RTP, a packet sink in its own
// process, worker CPU, and SRTP suites with their key lengths.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { types } from 'mediasoup';

export const PAYLOAD_TYPE = 100;
/** A 20 ms Opus voice frame is ~40–120 bytes; a DTX frame (silence) 1–3 bytes. */
export const SPEECH_PAYLOAD_BYTES = 80;
export const DTX_PAYLOAD_BYTES = 3;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function bind(): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

export function rtp(sequence: number, timestamp: number, ssrc: number, payloadBytes = SPEECH_PAYLOAD_BYTES): Buffer {
  const packet = Buffer.alloc(12 + payloadBytes, 0x5a);
  packet[0] = 0x80;
  packet[1] = PAYLOAD_TYPE;
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  return packet;
}

/**
 * The sink counts packets in its own process, so 100k+ packets/s cannot starve the benchmark's event
 * loop (which talks to the worker and paces the senders).
 */
export async function startSink(): Promise<{ port: number; count: () => Promise<number>; stop: () => void }> {
  const code = `
    const socket = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 16 * 1024 * 1024 });
    let packets = 0;
    socket.on('message', () => packets++);
    socket.bind(0, '127.0.0.1', () => process.send({ port: socket.address().port }));
    process.on('message', () => process.send({ packets }));
    process.on('disconnect', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () =>
    new Promise<Record<string, number>>((resolve) =>
      child.once('message', (m) => resolve(m as Record<string, number>)),
    );
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

/**
 * The worker's CPU time (user + system) in ms, read from /proc at once: a busy worker answers
 * getResourceUsage late, which skews a window measured around two such requests (readings over
 * 100 % of a core were seen on a loaded machine). getResourceUsage where /proc is missing.
 */
export async function cpuMs(worker: types.Worker): Promise<number> {
  try {
    const fields = readFileSync(`/proc/${worker.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    const usage = await worker.getResourceUsage();
    return usage.ru_utime + usage.ru_stime;
  }
}

/** USER_HZ, as `getconf CLK_TCK` prints it (100 on Linux on x86 and arm). */
const CLOCK_TICKS_PER_SECOND = 100;

export const SRTP_SUITES = [
  'AEAD_AES_256_GCM',
  'AEAD_AES_128_GCM',
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
] as const;
export type SrtpSuite = (typeof SRTP_SUITES)[number];

/** Master key + salt lengths (RFC 7714 for GCM, RFC 3711 for AES-CM). */
const KEY_BYTES: Record<SrtpSuite, number> = {
  AEAD_AES_256_GCM: 32 + 12,
  AEAD_AES_128_GCM: 16 + 12,
  AES_CM_128_HMAC_SHA1_80: 16 + 14,
  AES_CM_128_HMAC_SHA1_32: 16 + 14,
};

export function parseSuite(value: string): SrtpSuite {
  if (!(SRTP_SUITES as readonly string[]).includes(value))
    throw new Error(`--srtp-suite must be one of ${SRTP_SUITES.join(', ')}`);
  return value as SrtpSuite;
}

export function srtpParameters(suite: SrtpSuite): types.SrtpParameters {
  return { cryptoSuite: suite, keyBase64: randomBytes(KEY_BYTES[suite]).toString('base64') };
}

/** An outbound PlainTransport (SRTP with `suite`, or plain RTP when undefined) sending to the sink. */
export async function listenerTransport(
  router: types.Router,
  sinkPort: number,
  suite: SrtpSuite | undefined,
): Promise<types.PlainTransport> {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: false,
    enableSrtp: suite !== undefined,
    ...(suite ? { srtpCryptoSuite: suite } : {}),
  });
  await transport.connect({
    ip: '127.0.0.1',
    port: sinkPort,
    ...(suite ? { srtpParameters: srtpParameters(suite) } : {}),
  });
  return transport;
}

/** An Opus producer on a comedia PlainTransport, fed from a UDP socket at `port`. */
export async function speakerProducer(
  router: types.Router,
  ssrc: number,
): Promise<{ producer: types.Producer; port: number }> {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await transport.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: PAYLOAD_TYPE, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc }],
    },
  });
  return { producer, port: transport.tuple.localPort };
}
