// `npm run bench:span`: one big channel spread over two media nodes of two workers each, through the real
// node code (gRPC API, Room, RoomSpan, Admission, RemotePart/PartHost, SRTP pipe between the nodes).
//
// Both nodes run in this process. Members are light: each session's media is a PlainTransport pair made by
// the nodes' `localMedia` seam instead of WebRTC transports (a producer fed plain Opus-sized RTP from one
// UDP socket here, and a consumer transport with SRTP — the suite Chromium negotiates — sending to a sink
// process that counts packets per consumer SSRC, i.e. per listener and speaker). Joins go through node 1's
// API one by one, as the signalling side would send them; the per-worker consumer limits below make the
// nodes' own admission spread the channel: node 1's main worker, then its other worker, then node 2 (whose
// part spreads over its two workers the same way). Every member then sends `--pps` packets/s (a talker is
// 50/s) for `--warmup` + `--window` seconds; the run prints where members landed, the pipes the channel
// used, each worker's CPU over the window, and, per listener, the share of the other members' packets it
// received and how many of its streams got ≥ 99 %.
//
//   npm run bench:span -- [--members 100] [--pps 50] [--window 10] [--warmup 3]
//                         [--node1-consumers 1600] [--node2-consumers 6000] [--srtp-suite AEAD_AES_256_GCM]
import { cpus } from 'node:os';
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { types } from 'mediasoup';
import { connectMediaNode } from '../media-node/api/client';
import { listedFarNodes } from '../media-node/src/span/far-nodes';
import { startMediaNode, type MediaNodeHandle } from '../media-node/src/node/media-node';
import { silentLogger } from '../lib/log';
import { clientRtpCapabilities, dtlsParameters } from '../test/support/client-params';
import { plainMembers } from '../test/support/plain-members';
import { machineLoad } from './media-all-talking';
import { bind, cpuMs, listenerTransport, parseSuite, PAYLOAD_TYPE, rtp, sleep } from './media-kit';

const { values: args } = parseArgs({
  options: {
    members: { type: 'string', default: '100' },
    pps: { type: 'string', default: '50' },
    window: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    // Consumers per worker each node admits (MEDIA_CAPACITY ÷ workers): what makes admission spread the channel.
    'node1-consumers': { type: 'string', default: '1600' },
    'node2-consumers': { type: 'string', default: '6000' },
    'srtp-suite': { type: 'string', default: 'AEAD_AES_256_GCM' },
    sinks: { type: 'string', default: '4' },
  },
});

const ROOM = 'bench:span';
const SECRET = 'bench-span-secret';

/** A sink process counting packets per RTP SSRC (each consumer has its own). */
async function startSsrcSink(): Promise<{
  port: number;
  counts: () => Promise<Record<string, number>>;
  stop: () => void;
}> {
  const code = `
    const socket = require('node:dgram').createSocket({ type: 'udp4', recvBufferSize: 32 * 1024 * 1024 });
    const counts = {};
    socket.on('message', (m) => { if (m.length >= 12) { const s = m.readUInt32BE(8); counts[s] = (counts[s] || 0) + 1; } });
    socket.bind(0, '127.0.0.1', () => process.send({ port: socket.address().port }));
    process.on('message', () => process.send({ counts }));
    process.on('disconnect', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) =>
      child.once('message', (m) => resolve(m as Record<string, unknown>)),
    );
  const { port } = (await next()) as { port: number };
  return {
    port,
    counts: async () => {
      const reply = next();
      child.send('counts');
      return ((await reply) as { counts: Record<string, number> }).counts;
    },
    stop: () => child.kill(),
  };
}

/** Pipe transports, producers and consumers alive on a node's workers (from mediasoup's observers). */
function watchPipes(node: MediaNodeHandle, name: string) {
  const live = new Map<string, { worker: number; transport: types.Transport; srtp: boolean }>();
  for (const slot of node.pool.slots) {
    slot.worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        if (transport.type !== 'pipe') return;
        live.set(transport.id, {
          worker: slot.index,
          transport,
          srtp: (transport as types.PipeTransport).srtpParameters !== undefined,
        });
        transport.observer.once('close', () => live.delete(transport.id));
      });
    });
  }
  return async () => {
    const lines: string[] = [];
    for (const { worker, transport, srtp } of live.values()) {
      const dump = (await transport.dump()) as { producerIds: string[]; consumerIds: string[] };
      const pipe = transport as types.PipeTransport;
      const remote = `${pipe.tuple.remoteIp ?? '?'}:${pipe.tuple.remotePort ?? '?'}`;
      lines.push(
        `  ${name} worker ${worker}: pipe ${pipe.tuple.localAddress}:${pipe.tuple.localPort} → ${remote}${srtp ? ' SRTP' : ''}, ` +
          `${dump.producerIds.length} pipe producers, ${dump.consumerIds.length} pipe consumers`,
      );
    }
    return lines;
  };
}

async function main(): Promise<void> {
  const members = Number(args.members);
  const pps = Number(args.pps);
  const windowS = Number(args.window);
  const warmupS = Number(args.warmup);
  const suite = parseSuite(args['srtp-suite']!);
  const sinks = await Promise.all(Array.from({ length: Number(args.sinks) }, () => startSsrcSink()));
  const sessionIds = Array.from({ length: members }, (_, i) => `m${String(i).padStart(3, '0')}`);
  const sinkOf = new Map(sessionIds.map((id, i) => [id, sinks[i % sinks.length]!]));
  // Consumers send SRTP to their sink (test/support/plain-members.ts).
  const localMedia = plainMembers({
    sinkPort: (id) => sinkOf.get(id)!.port,
    consumerTransport: (router, port) => listenerTransport(router, port, suite),
  });
  const common = {
    grpcPort: 0,
    rtcPortBase: 0,
    metricsPort: -1,
    workers: 2,
    secret: SECRET,
    logger: silentLogger,
    heartbeatMs: 3_600_000,
    localMedia,
    admitLoadPercent: 80,
    // Members unpoliced, as this benchmark always ran them (its own factory's producers never reached the police);
    // bench:abuse measures the police.
    police: false as const,
  };
  const far = await startMediaNode({ ...common, nodeId: 'node-2', capacity: 2 * Number(args['node2-consumers']) });
  const home = await startMediaNode({
    ...common,
    nodeId: 'node-1',
    capacity: 2 * Number(args['node1-consumers']),
    farNodes: listedFarNodes([{ nodeId: 'node-2', grpcAddress: far.grpcAddress }]),
  });
  const pipesOf = [watchPipes(home, 'node-1'), watchPipes(far, 'node-2')];
  const api = connectMediaNode(home.grpcAddress, { secret: SECRET, timeoutMs: 60_000 });
  const sender = await bind();
  let sending: NodeJS.Timeout | undefined;
  try {
    console.log(
      `mediasoup bench:span — ${members} members in one channel, 2 nodes × 2 workers in one process, ${pps} packets/s per member, ` +
        `consumers with SRTP (${suite}), ${cpus().length} cores, ${machineLoad()}`,
    );
    const setupStart = Date.now();
    // Joins, one at a time, with each node's load sampled before each (as its heartbeat would, only more often).
    const speakers = new Map<string, { ssrc: number; port: number; sent: number }>();
    const consumerOf = new Map<number, { listener: string; speaker: string }>();
    await api.openRoom({ roomId: ROOM });
    for (const [i, sessionId] of sessionIds.entries()) {
      await Promise.all([home.admission.sample(), far.admission.sample()]);
      const ssrc = 0x10000 + i;
      const prepared = await api
        .createTransports({
          roomId: ROOM,
          sessionId,
          userId: String(1000 + i),
          rtpCapabilities: clientRtpCapabilities(),
        })
        .catch((error: unknown) => {
          // The mesh: every worker's members consume each joiner, so a full worker anywhere refuses the join.
          const room = home.rooms.find(ROOM);
          console.error(
            `join ${i} refused; node-1 parts ${JSON.stringify(room?.span.list().map((p) => (p.kind === 'local' ? `w${p.slot.index}:${p.sessions.size}` : `node:${p.sessions.size}`)))}, node-2 ${JSON.stringify(far.parts.list().map((p) => p.workers))}, node-2 loads ${far.admission.workers().map((w) => w.load.toFixed(2))}`,
          );
          throw error;
        });
      const joined = await api.join({
        roomId: ROOM,
        sessionId,
        rtpParameters: JSON.stringify({
          codecs: [{ mimeType: 'audio/opus', payloadType: PAYLOAD_TYPE, clockRate: 48000, channels: 2 }],
          encodings: [{ ssrc }],
        }),
        producerDtlsParameters: dtlsParameters(),
        consumerDtlsParameters: dtlsParameters(),
      });
      const { port } = JSON.parse(prepared.producerTransport!.iceCandidates[0]!) as { port: number };
      speakers.set(sessionId, { ssrc, port, sent: 0 });
      for (const d of [...joined.forJoiner, ...joined.forMembers]) {
        const consumerSsrc = (JSON.parse(d.rtpParameters) as types.RtpParameters).encodings![0]!.ssrc!;
        consumerOf.set(consumerSsrc, { listener: d.receiverSessionId, speaker: d.producerSessionId });
        await api.resumeConsumer({ roomId: ROOM, sessionId: d.receiverSessionId, consumerId: d.consumerId });
      }
    }
    const room = home.rooms.find(ROOM)!;
    console.log(
      `setup: ${members} joins and ${consumerOf.size} consumers in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`,
    );

    // Where the members landed.
    const landed = new Map<string, number>();
    for (const sessionId of sessionIds) {
      const part = room.span.partOf(sessionId)!;
      const key = part.kind === 'local' ? `node-1 worker ${part.slot.index}${part.main ? ' (main)' : ''}` : 'node-2';
      landed.set(key, (landed.get(key) ?? 0) + 1);
    }
    for (const hosted of far.parts.list()) {
      landed.delete('node-2');
      for (const [worker, count] of Object.entries(hosted.workers))
        landed.set(`node-2 worker ${worker}${Number(worker) === hosted.worker ? ' (part main)' : ''}`, count);
    }
    console.log('members landed:');
    for (const [where, count] of [...landed].sort()) console.log(`  ${where}: ${count}`);
    console.log('pipes:');
    for (const pipes of pipesOf) for (const line of await pipes()) console.log(line);

    // Traffic: every member sends `pps` packets/s.
    let sequence = 0;
    const tick = () => {
      sequence++;
      for (const s of speakers.values()) {
        sender.send(rtp(sequence, sequence * 960, s.ssrc), s.port, '127.0.0.1');
        s.sent++;
      }
    };
    sending = setInterval(tick, 1000 / pps);
    await sleep(warmupS * 1000);
    const workers = [
      ...home.pool.slots.map((s) => ({ name: `node-1 worker ${s.index}`, worker: s.worker })),
      ...far.pool.slots.map((s) => ({ name: `node-2 worker ${s.index}`, worker: s.worker })),
    ];
    const cpuStart = await Promise.all(workers.map((w) => cpuMs(w.worker)));
    const windowStart = Date.now();
    await sleep(windowS * 1000);
    const cpuEnd = await Promise.all(workers.map((w) => cpuMs(w.worker)));
    const elapsedMs = Date.now() - windowStart;
    clearInterval(sending);
    sending = undefined;
    await sleep(1500); // in-flight packets land
    await Promise.all([home.admission.sample(), far.admission.sample()]);

    console.log(`worker CPU over the ${windowS} s window (percent of one core):`);
    workers.forEach((w, i) =>
      console.log(`  ${w.name}: ${((100 * (cpuEnd[i]! - cpuStart[i]!)) / elapsedMs).toFixed(1)} %`),
    );

    // Delivery per listener: received ÷ sent over the whole run, per stream and in total.
    const received = new Map<string, number>();
    for (const sink of sinks) {
      for (const [ssrc, count] of Object.entries(await sink.counts())) {
        const pair = consumerOf.get(Number(ssrc));
        if (pair)
          received.set(
            `${pair.listener}<${pair.speaker}`,
            (received.get(`${pair.listener}<${pair.speaker}`) ?? 0) + count,
          );
      }
    }
    const shares: number[] = [];
    const goodStreams: number[] = [];
    for (const listener of sessionIds) {
      let got = 0;
      let sent = 0;
      let good = 0;
      for (const speaker of sessionIds) {
        if (speaker === listener) continue;
        const s = speakers.get(speaker)!.sent;
        const r = Math.min(received.get(`${listener}<${speaker}`) ?? 0, s);
        got += r;
        sent += s;
        if (r >= 0.99 * s) good++;
      }
      shares.push(sent > 0 ? got / sent : 0);
      goodStreams.push(good);
    }
    const sorted = [...shares].sort((a, b) => a - b);
    const sortedGood = [...goodStreams].sort((a, b) => a - b);
    const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
    console.log(
      `delivery per listener (of ${members - 1} streams): packets received min ${pct(sorted[0]!)}, p50 ${pct(sorted[Math.floor(sorted.length / 2)]!)}; ` +
        `streams with ≥ 99 % min ${sortedGood[0]}/${members - 1}, p50 ${sortedGood[Math.floor(sortedGood.length / 2)]}/${members - 1}`,
    );
    const forwarded = [...home.admission.workers(), ...far.admission.workers()].reduce(
      (n, w) => n + w.forwardedPerSecond,
      0,
    );
    console.log(`forwarded (packet meter, last sample): ${Math.round(forwarded)} packets/s in total; ${machineLoad()}`);
    console.log(
      `span: ${members} members on ${landed.size} workers of 2 nodes, ${pps} pps each: listeners received min ${pct(sorted[0]!)} / p50 ${pct(sorted[Math.floor(sorted.length / 2)]!)} of the other ${members - 1} streams`,
    );
  } finally {
    if (sending) clearInterval(sending);
    sender.close();
    api.close();
    await home.close();
    await far.close();
    for (const sink of sinks) sink.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
