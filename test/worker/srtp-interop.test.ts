// SRTP of the offline-built worker (libsrtp 3 API adapted onto Debian's
// libsrtp2) against implementations that share no code with libsrtp: werift
// (two suites) and srtp-reference.ts (all four suites mediasoup offers).
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';
import { RtpHeader, RtpPacket, SrtpSession } from 'msc-node';
import { SUITES, SrtpContext, deriveKey, type SrtpSuite } from './srtp-reference';

const hex = (s: string) => Buffer.from(s, 'hex');
const PACKETS = 40;
const SSRC = 0x1111;
const PT = 101;
const payloadOf = (i: number) => Buffer.from(`opus-frame-${i}-`.padEnd(60 + (i % 7), 'x'));
const rtpPacket = (i: number) =>
  new RtpPacket(
    new RtpHeader({ payloadType: PT, sequenceNumber: 1000 + i, timestamp: 960 * i, ssrc: SSRC, marker: false }),
    payloadOf(i),
  ).serialize();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isRtcp = (packet: Buffer) => (packet[1] ?? 0) >= 192 && (packet[1] ?? 0) <= 223;

describe('srtp-reference (the independent implementation itself)', () => {
  it('derives the RFC 3711 appendix B.3 session keys', () => {
    const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
    const salt = hex('0EC675AD498AFEEBB6960B3AABE6');
    assert.equal(deriveKey(key, salt, 0, 16).toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087');
    assert.equal(deriveKey(key, salt, 2, 14).toString('hex'), '30cbbc08863d8c85d49db34a9ae1');
    assert.equal(deriveKey(key, salt, 1, 20).toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4');
  });

  for (const [suite, profile] of [
    ['AES_CM_128_HMAC_SHA1_80', 1],
    ['AEAD_AES_128_GCM', 7],
  ] as const) {
    it(`agrees with werift both ways for ${suite}`, () => {
      const { keyLen, saltLen } = SUITES[suite];
      const master = crypto.randomBytes(keyLen + saltLen);
      const keys = {
        localMasterKey: master.subarray(0, keyLen),
        localMasterSalt: master.subarray(keyLen),
        remoteMasterKey: master.subarray(0, keyLen),
        remoteMasterSalt: master.subarray(keyLen),
      };
      const werift = new SrtpSession({ keys, profile });
      const ours = new SrtpContext(suite, master);
      const packet = rtpPacket(7);
      const fromWerift = werift.encrypt(payloadOf(7), RtpPacket.deSerialize(packet).header);
      assert.deepEqual(ours.unprotectRtp(fromWerift), packet);
      assert.deepEqual(werift.decrypt(ours.protectRtp(packet)), packet);
      const tampered = Buffer.from(ours.protectRtp(packet));
      tampered[20] = (tampered[20] ?? 0) ^ 1;
      assert.throws(() => ours.unprotectRtp(tampered));
    });
  }
});

describe('worker SRTP against the independent implementation', () => {
  let worker: types.Worker;
  const sockets: dgram.Socket[] = [];
  const udpSocket = async () => {
    const socket = dgram.createSocket('udp4');
    sockets.push(socket);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket;
  };

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
  });
  after(() => {
    for (const s of sockets) s.close();
    worker?.close();
  });

  // All suites run at once so they share the wait for the worker's first RTCP report.
  it('decrypts our SRTP and encrypts SRTP/SRTCP we can verify, for every suite', { timeout: 30_000 }, async () => {
    const results = await Promise.all(
      (Object.keys(SUITES) as SrtpSuite[]).map(async (suite) => {
        const { keyLen, saltLen } = SUITES[suite];
        const router = await worker.createRouter({
          mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
        });
        const listenInfo = { protocol: 'udp' as const, ip: '127.0.0.1' };

        // client --SRTP--> worker: the worker's unprotect.
        const ingress = await router.createPlainTransport({
          listenInfo,
          rtcpMux: true,
          comedia: true,
          enableSrtp: true,
          srtpCryptoSuite: suite,
        });
        const clientKey = crypto.randomBytes(keyLen + saltLen);
        await ingress.connect({ srtpParameters: { cryptoSuite: suite, keyBase64: clientKey.toString('base64') } });
        const producer = await ingress.produce({
          kind: 'audio',
          rtpParameters: {
            codecs: [{ mimeType: 'audio/opus', payloadType: PT, clockRate: 48000, channels: 2 }],
            encodings: [{ ssrc: SSRC }],
          },
        });

        // worker --SRTP/SRTCP--> client: the worker's protect and protect_rtcp.
        const receiver = await udpSocket();
        const egress = await router.createPlainTransport({
          listenInfo,
          rtcpMux: true,
          comedia: false,
          enableSrtp: true,
          srtpCryptoSuite: suite,
        });
        await egress.connect({
          ip: '127.0.0.1',
          port: receiver.address().port,
          srtpParameters: { cryptoSuite: suite, keyBase64: crypto.randomBytes(keyLen + saltLen).toString('base64') },
        });
        await egress.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
        const workerKey = Buffer.from(egress.srtpParameters?.keyBase64 ?? '', 'base64');
        const fromWorker = new SrtpContext(suite, workerKey);
        const payloads: string[] = [];
        let srtcpVerified = 0;
        let failures = 0;
        receiver.on('message', (packet: Buffer) => {
          try {
            if (isRtcp(packet)) {
              fromWorker.unprotectRtcp(packet);
              srtcpVerified++;
            } else {
              payloads.push(RtpPacket.deSerialize(fromWorker.unprotectRtp(packet)).payload.toString());
            }
          } catch {
            failures++;
          }
        });

        const toWorker = new SrtpContext(suite, clientKey);
        const sender = await udpSocket();
        for (let i = 0; i < PACKETS; i++) {
          sender.send(toWorker.protectRtp(rtpPacket(i)), ingress.tuple.localPort, '127.0.0.1');
          await sleep(20);
        }
        for (let waited = 0; (payloads.length < PACKETS || srtcpVerified === 0) && waited < 12_000; waited += 100)
          await sleep(100);

        const [producerStats] = await producer.getStats();
        router.close();
        return { suite, unprotected: producerStats?.packetCount ?? 0, payloads, srtcpVerified, failures };
      }),
    );

    for (const r of results) {
      assert.equal(
        r.unprotected,
        PACKETS,
        `${r.suite}: the worker decrypted ${r.unprotected} of our ${PACKETS} packets`,
      );
      assert.equal(r.failures, 0, `${r.suite}: ${r.failures} packets from the worker failed to verify`);
      assert.deepEqual(
        r.payloads,
        Array.from({ length: PACKETS }, (_, i) => payloadOf(i).toString()),
        `${r.suite}: payloads`,
      );
      assert.ok(r.srtcpVerified > 0, `${r.suite}: no SRTCP report from the worker verified`);
    }
  });
});
