import * as mediasoup from 'mediasoup';
import { createSocket } from 'node:dgram';
import { ROOM_MEDIA_CODECS } from '../media-node/src/codecs';
const worker = await mediasoup.createWorker({ logLevel: 'warn' });
const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
const sink = createSocket('udp4'); await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
const sinkPort = sink.address().port; let sinkN = 0; sink.on('message', () => { sinkN++; });
const producers = [];
const ports: number[] = [];
for (let i = 0; i < 10; i++) {
  const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
  ports.push(t.tuple.localPort);
  producers.push(await t.produce({ kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1000 + i }] } }));
}
const N = Number(process.argv[2] ?? 200);
const SRTP = process.argv[3] === 'srtp';
const ts = [];
let notif = 0;
const t0 = Date.now();
for (let l = 0; l < N; l++) {
  const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true, comedia: false, enableSrtp: SRTP });
  await t.connect({ ip: '127.0.0.1', port: sinkPort, ...(SRTP ? { srtpParameters: { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: Buffer.alloc(30, 7).toString('base64') } } : {}) });
  for (const p of producers) { const c = await t.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities, paused: true }); c.on('score', () => notif++); await c.resume(); }
  ts.push(t);
}
console.log('setup', Date.now() - t0, 'ms');
const sender = createSocket('udp4');
let seq = 0;
const feed = setInterval(() => { seq++; ports.forEach((port, i) => { const b = Buffer.alloc(92, 1); b[0] = 0x80; b[1] = 100; b.writeUInt16BE(seq & 0xffff, 2); b.writeUInt32BE(seq * 960, 4); b.writeUInt32BE(1000 + i, 8); sender.send(b, port, '127.0.0.1'); }); }, 20);
let last = { cpu: 0, n: 0, t: Date.now() };
const mon = setInterval(async () => { const u = await worker.getResourceUsage(); const cpu = u.ru_utime + u.ru_stime; const t = Date.now(); console.log('cpu%', ((cpu - last.cpu) * 100 / (t - last.t)).toFixed(0), 'sink pps', ((sinkN - last.n) * 1000 / (t - last.t)).toFixed(0)); last = { cpu, n: sinkN, t }; }, 2000);
await new Promise((r) => setTimeout(r, 30000));
clearInterval(mon);

for (let round = 0; round < 3; round++) {
  const t1 = Date.now();
  let i = 0;
  for (const t of ts) { const timer = setTimeout(() => console.log('stuck at', i), 5000); await t.getStats(); clearTimeout(timer); i++; }
  console.log('getStats round', round, Date.now() - t1, 'ms', 'score notifications', notif);
}
clearInterval(feed); worker.close(); sink.close(); sender.close();
