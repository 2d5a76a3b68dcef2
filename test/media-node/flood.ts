// Real RTP into a real media node for the producer police (test/media-node/police.test.ts) and for a benchmark
// (`floodFigures`: a bench can call it as it is). Members are PlainTransports made by the node's `localMedia`
// seam (test/support/plain-members.ts, as bench/span.ts does): each member's producer is fed plain RTP from a UDP socket of this process
// (comedia), and every consumer sends to one sink socket, where packets are counted per (receiver, producer) by
// the consumer's SSRC. Everything else — rooms, joins, the consumer mesh, the police — is the node's own.
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:dgram';
import type { types } from 'mediasoup';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle, MediaNodeOptions } from '../../media-node/src/node/media-node';
import type { PoliceEvent } from '../../media-node/src/session/producer-police';
import { plainMembers } from '../support/plain-members';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters, startTestNode, udpSocket } from './helpers';

/** What a sender puts on the wire: packets/s and whole RTP packet sizes; DTX alternates talk and silence. */
export interface SendShape {
  packetsPerSecond: number;
  /** Whole RTP packet bytes (12-byte header included); a function for varying sizes (Opus VBR, FEC). */
  bytes: number | (() => number);
  /** DTX: talk for `talkMs` at packetsPerSecond, then `silenceMs` at one packet per 400 ms (Opus DTX), repeating. */
  dtx?: { talkMs: number; silenceMs: number };
}

export interface FloodNode {
  node: MediaNodeHandle;
  api: MediaNodeApi;
  /** Every police event of the node. */
  events: PoliceEvent[];
  openRoom(roomId: string, sessionIds: string[]): Promise<FloodRoom>;
  stop(): Promise<void>;
}

export interface FloodRoom {
  /** RTP packets `receiver` got of `producerSession`'s producer, at the sink. */
  received(receiver: string, producerSession: string): number;
  /** Starts sending as `sessionId`'s client; returns the stop and the count sent so far. */
  send(sessionId: string, shape: SendShape): { stop(): void; sent(): number };
  stopAll(): void;
}

/** A node (one worker, its police configured by `police`) whose members are plain RTP endpoints of this process. */
export async function startFloodNode(options: MediaNodeOptions = {}): Promise<FloodNode> {
  const sink = await udpSocket();
  const sinkPort = (sink.address() as AddressInfo).port;
  const bySsrc = new Map<number, string>(); // consumer ssrc → `${receiver}<-${producer}`
  const counts = new Map<string, number>();
  sink.on('message', (msg) => {
    if (msg.length < 12 || ((msg[1]! & 0x7f) >= 72 && (msg[1]! & 0x7f) <= 76)) return; // RTCP
    const key = bySsrc.get(msg.readUInt32BE(8));
    if (key) counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  const { node, api, stop } = await startTestNode({
    iceConsentTimeoutS: 0,
    localMedia: plainMembers({ sinkPort: () => sinkPort }),
    ...options,
  });
  const events: PoliceEvent[] = [];
  node.police?.onPoliced((event) => events.push(event));
  const senders = new Set<Socket>();

  const openRoom = async (roomId: string, sessionIds: string[]): Promise<FloodRoom> => {
    await api.openRoom({ roomId });
    const members = new Map<string, { port: number; ssrc: number }>();
    for (const [i, sessionId] of sessionIds.entries()) {
      const transports = await api.createTransports({
        roomId,
        sessionId,
        userId: String(1000 + i),
        rtpCapabilities: clientRtpCapabilities(),
      });
      const { port } = JSON.parse(transports.producerTransport!.iceCandidates[0]!) as { port: number };
      const ssrc = 0x10000 + i;
      const joined = await api.join({
        roomId,
        sessionId,
        rtpParameters: producerRtpParameters(ssrc),
        producerDtlsParameters: dtlsParameters(),
        consumerDtlsParameters: dtlsParameters(),
      });
      for (const d of [...joined.forJoiner, ...joined.forMembers]) {
        const rtp = JSON.parse(d.rtpParameters) as types.RtpParameters;
        bySsrc.set(rtp.encodings![0]!.ssrc!, `${d.receiverSessionId}<-${d.producerSessionId}`);
        await api.resumeConsumer({ roomId, sessionId: d.receiverSessionId, consumerId: d.consumerId });
      }
      members.set(sessionId, { port, ssrc });
    }
    const running = new Set<() => void>();
    return {
      received: (receiver, producer) => counts.get(`${receiver}<-${producer}`) ?? 0,
      send(sessionId, shape) {
        const member = members.get(sessionId)!;
        const sender = { socket: undefined as Socket | undefined, sent: 0 };
        let stopped = false;
        let timer: NodeJS.Timeout | undefined;
        void udpSocket().then((socket) => {
          if (stopped) return socket.close();
          sender.socket = socket;
          senders.add(socket);
          let last = performance.now();
          let phaseStart = last;
          let talking = true;
          let due = 0;
          // Every 10 ms, the packets due since the last tick (a late timer catches up, as a real sender's queue would).
          timer = setInterval(() => {
            const now = performance.now();
            if (shape.dtx && now - phaseStart >= (talking ? shape.dtx.talkMs : shape.dtx.silenceMs)) {
              phaseStart = now;
              talking = !talking;
            }
            const pps = shape.dtx && !talking ? 2.5 : shape.packetsPerSecond;
            due += (pps * Math.min(now - last, 100)) / 1000;
            last = now;
            for (; due >= 1; due--) {
              const size = typeof shape.bytes === 'number' ? shape.bytes : shape.bytes();
              socket.send(opusPacket(sender.sent++, member.ssrc, size), member.port, '127.0.0.1');
            }
          }, 10);
        });
        const stop = () => {
          stopped = true;
          clearInterval(timer);
          if (sender.socket) {
            senders.delete(sender.socket);
            sender.socket.close();
          }
          running.delete(stop);
        };
        running.add(stop);
        return { stop, sent: () => sender.sent };
      },
      stopAll: () => {
        for (const stop of [...running]) stop();
      },
    };
  };

  return {
    node,
    api,
    events,
    openRoom,
    stop: async () => {
      for (const socket of senders) socket.close();
      senders.clear();
      sink.close();
      await stop();
    },
  };
}

/** An RTP packet of `size` bytes (12-byte header, payload type 111 as the producer's parameters say). */
export function opusPacket(sequence: number, ssrc: number, size: number): Buffer {
  const packet = Buffer.alloc(Math.max(13, size), sequence & 0xff);
  packet[0] = 0x80;
  packet[1] = 111;
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE((sequence * 960) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

/** The node's workers' CPU time so far (user + system, ms): differences over an interval are its CPU use. */
export async function workerCpuMs(node: MediaNodeHandle): Promise<number> {
  let total = 0;
  for (const slot of node.pool.slots) {
    const usage = await slot.worker.getResourceUsage();
    total += usage.ru_utime + usage.ru_stime;
  }
  return total;
}

/** CPU percent of one core the node's workers used over `ms` from now. */
export async function cpuOver(node: MediaNodeHandle, ms: number): Promise<number> {
  const before = await workerCpuMs(node);
  const at = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return (100 * ((await workerCpuMs(node)) - before)) / (performance.now() - at);
}

/** The floods of the abuse benchmark: a packet flood (small packets, many) and a bitrate flood (large packets, voice rate). */
export const FLOODS = {
  packets: { packetsPerSecond: 1000, bytes: 40 },
  bitrate: { packetsPerSecond: 100, bytes: 1200 },
} satisfies Record<string, SendShape>;

/** An honest talker: Opus 20 ms ptime, ~32–64 kbit/s with in-band FEC (VBR sizes). */
export const HONEST_TALKER: SendShape = { packetsPerSecond: 50, bytes: () => 12 + 80 + Math.floor(Math.random() * 80) };

export interface FloodFigures {
  flood: keyof typeof FLOODS;
  listeners: number;
  /** Packets/s one listener received of the honest talker: quiet, and while the flood ran (after its pause when policed). */
  honestQuietPps: number;
  honestFloodPps: number;
  /** Packets/s one listener received of the flooder while the flood ran (after the pause when policed). */
  floodReceivedPps: number;
  /** Worker CPU percent of one core: quiet, and during the flood (after the pause when policed). */
  cpuQuiet: number;
  cpuFlood: number;
  /** Police events of the flooder during the run. */
  policed: PoliceEvent[];
}

/**
 * A benchmark's measurement (bench/abuse can call it as it is): a room of one honest talker, one flooder and
 * `listeners` listeners; measures quiet, then floods for `floodMs` (measured from the pause when the node
 * polices, else from `floodMs / 2`). Prints nothing: returns the figures.
 */
export async function floodFigures(options: {
  flood: keyof typeof FLOODS;
  listeners: number;
  police: MediaNodeOptions['police'];
  floodMs?: number;
}): Promise<FloodFigures> {
  const floodMs = options.floodMs ?? 4000;
  const flood = await startFloodNode({ police: options.police });
  try {
    const listeners = Array.from({ length: options.listeners }, (_, i) => `listener-${i}`);
    const room = await flood.openRoom('flood:1', ['honest', 'flooder', ...listeners]);
    const listener = listeners[0]!;
    room.send('honest', HONEST_TALKER);
    await sleep(1000);
    const quiet0 = room.received(listener, 'honest');
    const cpuQuiet = await cpuOver(flood.node, 2000);
    const honestQuietPps = (room.received(listener, 'honest') - quiet0) / 2;
    const startedAt = performance.now();
    room.send('flooder', FLOODS[options.flood]);
    // Measured once the police paused it (if it does), or over the second half of the flood.
    const deadline = startedAt + floodMs;
    while (performance.now() < deadline && !flood.events.some((e) => e.sessionId === 'flooder')) await sleep(50);
    await sleep(200);
    const measureMs = Math.max(1000, deadline - performance.now());
    const h0 = room.received(listener, 'honest');
    const f0 = room.received(listener, 'flooder');
    const cpuFlood = await cpuOver(flood.node, measureMs);
    const honestFloodPps = (room.received(listener, 'honest') - h0) / (measureMs / 1000);
    const floodReceivedPps = (room.received(listener, 'flooder') - f0) / (measureMs / 1000);
    room.stopAll();
    return {
      flood: options.flood,
      listeners: options.listeners,
      honestQuietPps,
      honestFloodPps,
      floodReceivedPps,
      cpuQuiet,
      cpuFlood,
      policed: flood.events.filter((e) => e.sessionId === 'flooder'),
    };
  } finally {
    await flood.stop();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
