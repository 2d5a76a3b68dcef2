// The browser SDK's pieces that need no browser: the hRPC socket adapter (over a fake WebSocket),
// DTLS fingerprint handling, id parsing, backoff and the keepalive timer. The full flow is proven
// in Chromium by test/e2e/voice.e2e.ts.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import {
  encodeErrorFrame,
  encodeResponseFrame,
  bytesToBase64,
  decodeRequest,
  base64ToBytes,
} from '../../protocol/hrpc';
import { DEFAULT_BACKOFF, backoffDelayMs } from '../../web/src/backoff';
import { normalizeFingerprints, presentsAnnouncedFingerprint } from '../../web/src/dtls';
import type { VoiceClientError } from '../../web/src/errors';
import { toUint64 } from '../../web/src/ids';
import { KEEPALIVE_FRAME, startKeepalive, DEFAULT_KEEPALIVE } from '../../web/src/keepalive';
import { openHrpcSocket } from './fake-websocket';

function openWith(variant: 'base64' | 'binary', token = 'tok.en-1') {
  return openHrpcSocket({ variant, token });
}

describe('HrpcSocket (browser WebSocket adapter)', () => {
  it('offers [subprotocol, token] with the token last, and sends base64 text frames', async () => {
    const { opening, ws } = openWith('base64');
    assert.deepEqual(ws().protocols, ['hrpc1.base64', 'tok.en-1']);
    ws().accept('hrpc1.base64');
    const socket = await opening;
    socket.send({ message: { $case: 'initialize', value: { guildId: 2n ** 63n + 5n, channelId: 300n } } });
    const frame = ws().sent[0];
    assert.equal(typeof frame, 'string');
    // VOICE-PROTOCOL.md §2 test vector: Initialize{2^63+5, 300}.
    assert.deepEqual(
      [...base64ToBytes(frame as string)],
      [0x0a, 0x0e, 0x08, 0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x10, 0xac, 0x02],
    );
    assert.equal(decodeRequest(base64ToBytes(frame as string)).message?.$case, 'initialize');
  });

  it('sends binary frames on hrpc1 and decodes 0x00 / 0x01 server frames', async () => {
    const { opening, ws } = openWith('binary');
    assert.deepEqual(ws().protocols, ['hrpc1', 'tok.en-1']);
    ws().accept('hrpc1');
    const socket = await opening;
    const frames: unknown[] = [];
    socket.onFrame = (f) => frames.push(f);
    socket.send({ message: { $case: 'resumeConsumer', value: { consumerId: 'c1' } } });
    assert.ok(ws().sent[0] instanceof Uint8Array);
    ws().onmessage!({
      data: encodeResponseFrame({ message: { $case: 'userLeft', value: { userId: 7n } } }).slice().buffer,
    });
    ws().onmessage!({ data: encodeErrorFrame('h.bad-guild-id', 'x').slice().buffer });
    assert.deepEqual(frames, [
      { kind: 'response', response: { message: { $case: 'userLeft', value: { userId: 7n } } } },
      {
        kind: 'error',
        error: { identifier: 'h.bad-guild-id', humanMessage: 'x', details: new Uint8Array() },
        retryAfterSeconds: undefined,
      },
    ]);
  });

  it('reports a frame of the wrong kind for the variant instead of throwing', async () => {
    const { opening, ws } = openWith('base64');
    ws().accept('hrpc1.base64');
    const socket = await opening;
    const bad: string[] = [];
    socket.onBadFrame = (err) => bad.push(err.message);
    ws().onmessage!({ data: new Uint8Array([0, 0x1a, 0]).buffer }); // binary on the text variant
    ws().onmessage!({ data: '{"message": "Internal server error"}' }); // API Gateway's own text error
    assert.equal(bad.length, 2);
    const frames: unknown[] = [];
    socket.onFrame = (f) => frames.push(f);
    ws().onmessage!({
      data: bytesToBase64(encodeResponseFrame({ message: { $case: 'joinedChannel', value: { otherUsers: [] } } })),
    });
    assert.equal(frames.length, 1);
  });

  it('rejects with client.connect-failed when the handshake is refused', async () => {
    const { opening, ws } = openWith('base64');
    ws().refuse();
    await assert.rejects(opening, (err: VoiceClientError) => err.identifier === 'client.connect-failed');
  });

  it('rejects a server that answers another subprotocol, and tokens that cannot be subprotocols', async () => {
    const { opening, ws } = openWith('base64');
    ws().accept('hrpc1');
    await assert.rejects(opening, (err: VoiceClientError) => err.identifier === 'client.protocol');
    assert.equal(ws().closedWith?.code, 1002);
    await assert.rejects(
      openWith('base64', 'Bearer abc').opening,
      (err: VoiceClientError) => err.identifier === 'client.bad-token',
    );
    await assert.rejects(
      openWith('base64', '').opening,
      (err: VoiceClientError) => err.identifier === 'client.bad-token',
    );
  });

  it('reports its close once, with the code', async () => {
    const { opening, ws } = openWith('base64');
    ws().accept('hrpc1.base64');
    const socket = await opening;
    const closes: number[] = [];
    socket.onClose = (c) => closes.push(c.code);
    ws().onclose!({ code: 1001, reason: 'Going away', wasClean: true });
    void socket.close();
    assert.deepEqual(closes, [1001]);
  });
});

describe('receive-transport DTLS parameters', () => {
  it('normalizes fingerprints to what mediasoup compares: lowercase algorithm, uppercase hex', () => {
    assert.deepEqual(
      normalizeFingerprints([
        { algorithm: 'SHA-256', value: 'ab:cd:ef' },
        { algorithm: 'md5', value: '00' },
      ]),
      [{ algorithm: 'sha-256', value: 'AB:CD:EF' }],
    );
  });

  it('checks that a transport presents an announced fingerprint', () => {
    const announced = { role: 'client' as const, fingerprints: [{ algorithm: 'sha-256' as const, value: 'AB:CD' }] };
    assert.equal(
      presentsAnnouncedFingerprint(announced, { fingerprints: [{ algorithm: 'sha-256', value: 'ab:cd' }] }),
      true,
    );
    assert.equal(
      presentsAnnouncedFingerprint(announced, { fingerprints: [{ algorithm: 'sha-256', value: 'AB:CE' }] }),
      false,
    );
  });
});

describe('ids, backoff, keepalive', () => {
  it('accepts uint64 ids as bigint or decimal strings only', () => {
    assert.equal(toUint64('18446744073709551615', 'id'), 2n ** 64n - 1n);
    assert.equal(toUint64(9007199254740993n, 'id'), 9007199254740993n);
    for (const bad of ['18446744073709551616', '-1', '1e3', '0x10', ' ', '01']) {
      assert.throws(
        () => toUint64(bad, 'id'),
        (err: VoiceClientError) => err.identifier === 'client.bad-argument',
        bad,
      );
    }
    assert.throws(() => toUint64(7 as unknown as bigint, 'id'));
  });

  it('backs off exponentially with equal jitter, capped', () => {
    const policy = { baseMs: 500, maxMs: 4000, maxAttempts: 8 };
    assert.equal(
      backoffDelayMs(0, policy, () => 0),
      250,
    );
    assert.equal(
      backoffDelayMs(0, policy, () => 0.999999),
      500,
    );
    assert.equal(
      backoffDelayMs(2, policy, () => 0),
      1000,
    );
    assert.equal(
      backoffDelayMs(10, policy, () => 0.5),
      3000,
    );
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(3, DEFAULT_BACKOFF)));
    assert.ok(delays.size > 10, 'jittered');
  });

  it('sends the keepalive frame after 9 minutes of client silence, until stopped; any client frame restarts the wait', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    try {
      const sent: Array<string | Uint8Array> = [];
      const socket = {
        variant: 'base64' as const,
        lastSentAt: Date.now(),
        send() {},
        sendWire: (p: string | Uint8Array) => sent.push(p),
      };
      const stop = startKeepalive(DEFAULT_KEEPALIVE, socket);
      assert.equal(
        DEFAULT_KEEPALIVE.intervalMs,
        9 * 60_000,
        "just under API Gateway's 10-minute idle timeout, with a 60 s margin",
      );
      mock.timers.tick(DEFAULT_KEEPALIVE.intervalMs - 1);
      assert.deepEqual(sent, []);
      mock.timers.tick(1);
      mock.timers.tick(DEFAULT_KEEPALIVE.intervalMs);
      assert.deepEqual(sent, [KEEPALIVE_FRAME, KEEPALIVE_FRAME]);
      // The client sends a frame 5 minutes later: the next keepalive waits 9 minutes from that frame.
      mock.timers.tick(5 * 60_000);
      socket.lastSentAt = Date.now();
      mock.timers.tick(DEFAULT_KEEPALIVE.intervalMs - 1);
      assert.equal(sent.length, 2, 'no keepalive while the client was not silent for 9 minutes');
      mock.timers.tick(1);
      assert.equal(sent.length, 3);
      stop();
      for (let i = 0; i < 3; i++) mock.timers.tick(DEFAULT_KEEPALIVE.intervalMs);
      assert.equal(sent.length, 3);
      assert.equal(startKeepalive(false, socket)(), undefined);
    } finally {
      mock.timers.reset();
    }
  });
});
