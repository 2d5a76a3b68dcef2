// The installed worker starts with no environment variable and serves the
// requests every media node makes first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as mediasoup from 'mediasoup';
import type { types } from 'mediasoup';

describe('mediasoup worker (default binary, no MEDIASOUP_WORKER_BIN)', () => {
  let worker: types.Worker;

  before(async () => {
    assert.equal(process.env.MEDIASOUP_WORKER_BIN ?? '', '', 'this test is about the default binary location');
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
  });

  after(() => worker?.close());

  it('starts a worker process that answers requests', async () => {
    assert.ok(worker.pid > 0);
    const usage = await worker.getResourceUsage();
    assert.ok(usage.ru_maxrss > 0);
  });

  it('creates an Opus router and WebRTC transports with ICE and DTLS parameters', async () => {
    const router = await worker.createRouter({
      mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
    });
    assert.ok(router.rtpCapabilities.codecs?.some((c) => c.mimeType === 'audio/opus'));

    const transport = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
    assert.equal(transport.iceCandidates[0]?.address, '127.0.0.1');
    assert.ok((transport.iceCandidates[0]?.port ?? 0) > 0);
    assert.ok(transport.iceParameters.usernameFragment.length > 0);
    assert.ok(transport.dtlsParameters.fingerprints.some((f) => f.algorithm === 'sha-256' && f.value.length > 0));

    const dump = await worker.dump();
    assert.deepEqual(dump.routerIds, [router.id]);
    router.close();
    assert.ok(transport.closed);
  });
});
