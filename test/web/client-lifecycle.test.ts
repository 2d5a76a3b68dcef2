// VoiceClient's lifecycle without a browser (the joined flow runs in Chromium: test/e2e/voice.e2e.ts, resume.e2e.ts):
// one AbortController per connect() that leave() aborts, so work under way is cancelled (the join's socket closes at
// once, a microphone that arrives after the leave is stopped); leave() resolves only when the socket has closed; a
// lost resume.v1 stream is `resuming`, not `reconnecting`; VoiceClientError keeps what it wraps as `cause`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bytesToBase64, encodeExtFrame } from '../../protocol/hrpc';
import { ClientErrorId, VoiceClientError } from '../../web/src/errors';
import type { ClientState, VoiceClientOptions } from '../../web/src/voice-client';
import { VoiceClient } from '../../web/src/voice-client';
import { FakeWebSocket } from './fake-websocket';

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Polls `condition` (each turn lets pending I/O and timers run); fails after ~2 s without it. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), `waited for ${what}`);
}

/** A MediaStreamTrack as far as the SDK touches it before media exists. */
function fakeTrack() {
  const track = { readyState: 'live', stopped: false, stop: () => (track.stopped = true) };
  return track;
}

const TARGET = { url: 'ws://voice.test/x', token: 'tok.en-1', guildId: 1n, channelId: 2n };

/** A client whose WebSockets are FakeWebSockets (`sockets` in creation order). */
function clientWithFakeSockets(options: VoiceClientOptions = {}) {
  const sockets: FakeWebSocket[] = [];
  const client = new VoiceClient({
    log: () => {},
    keepalive: false,
    speaking: false,
    createWebSocket: (url, protocols) => {
      const ws = new FakeWebSocket(url, protocols);
      sockets.push(ws);
      return ws as unknown as WebSocket;
    },
    ...options,
  });
  const states: ClientState[] = [];
  client.on('state', ({ state }) => states.push(state));
  return { client, sockets, states };
}

// The DTLS certificate comes from RTCPeerConnection.generateCertificate; Node has none.
const g = globalThis as { RTCPeerConnection?: unknown };
let hadPeerConnection: unknown;
before(() => {
  hadPeerConnection = g.RTCPeerConnection;
  g.RTCPeerConnection = {
    generateCertificate: async () => ({ getFingerprints: () => [{ algorithm: 'sha-256', value: 'AB:CD' }] }),
  };
});
after(() => {
  g.RTCPeerConnection = hadPeerConnection;
});

describe('leave()', () => {
  it('while joining: the join is cancelled at once (socket closed with 1000), connect() rejects, and leave() resolves only after the close', async () => {
    const { client, sockets, states } = clientWithFakeSockets();
    const connecting = client.connect({ ...TARGET, microphone: fakeTrack() as unknown as MediaStreamTrack });
    const rejected = assert.rejects(
      connecting,
      (err: VoiceClientError) => err.identifier === ClientErrorId.invalidState,
    );
    await until(() => sockets.length > 0, 'the socket');
    const ws = sockets[0]!;
    ws.accept('hrpc1.base64');
    await until(() => ws.sent.length > 0, 'Initialize'); // the join now waits for the server's Initialized
    let left = false;
    const leaving = client.leave().then(() => (left = true));
    assert.equal(client.state, 'closed', 'closed at once for the app');
    await rejected;
    assert.deepEqual(ws.closedWith, { code: 1000, reason: 'leave' }, 'the join in flight gave up its socket now');
    await flush();
    assert.equal(left, false, 'not done while the closing handshake is still under way');
    ws.onclose?.({ code: 1000, reason: 'leave', wasClean: true });
    await leaving;
    assert.equal(left, true);
    assert.deepEqual(states, ['connecting', 'closed']);
    assert.equal(await client.leave(), undefined, 'a second leave() resolves too');
  });

  it('a microphone the browser grants after leave() is stopped, and no socket is opened', async () => {
    const { client, sockets } = clientWithFakeSockets();
    const track = fakeTrack();
    let grant!: (stream: unknown) => void;
    const nav = globalThis.navigator as unknown as Record<string, unknown>;
    const had = Object.getOwnPropertyDescriptor(nav, 'mediaDevices');
    Object.defineProperty(nav, 'mediaDevices', {
      configurable: true,
      value: { getUserMedia: () => new Promise((resolve) => (grant = resolve)) },
    });
    try {
      const connecting = client.connect(TARGET);
      await until(() => grant !== undefined, 'getUserMedia'); // the permission prompt is open
      const leaving = client.leave();
      grant({ getAudioTracks: () => [track] });
      await assert.rejects(connecting, (err: VoiceClientError) => err.identifier === ClientErrorId.invalidState);
      await leaving;
      assert.equal(track.stopped, true, 'the microphone is not left on with nobody to stop it');
      assert.equal(client.localTrack, undefined);
      assert.equal(sockets.length, 0);
    } finally {
      if (had) Object.defineProperty(nav, 'mediaDevices', had);
      else delete nav.mediaDevices;
    }
  });
});

describe('a lost resume.v1 stream', () => {
  it('is `resuming` (not `reconnecting`) until the session moved to the new socket, then `joined` again', async () => {
    const { client, sockets, states } = clientWithFakeSockets();
    const resumedOn: unknown[] = [];
    // The session as VoiceClient sees it once joined (its media needs a browser): resumable, its socket just lost.
    const session = {
      graceMs: 30_000,
      canResume: true,
      socketOpenedAt: Date.now(),
      participants: new Map(),
      resumeOn: async (socket: unknown) => (resumedOn.push(socket), false),
      close: async () => {},
    };
    const internals = client as unknown as {
      run: AbortController;
      session: unknown;
      stateValue: ClientState;
      target: unknown;
      sinkFor(signal: AbortSignal): { suspended(close: { code: number; reason: string; wasClean: boolean }): void };
    };
    internals.run = new AbortController();
    internals.session = session;
    internals.stateValue = 'joined';
    internals.target = { ...TARGET, variant: 'base64', resume: false, extensions: ['resume.v1'] };
    const resumed = new Promise((resolve) => client.once('resumed', resolve));
    internals.sinkFor(internals.run.signal).suspended({ code: 1006, reason: '', wasClean: false });
    await until(() => sockets.length > 0, 'the resume socket');
    assert.equal(client.state, 'resuming');
    sockets[0]!.accept('hrpc1.base64+ext.v1');
    sockets[0]!.onmessage?.({ data: welcome(['resume.v1']) });
    const event = (await resumed) as { makeBeforeBreak: boolean; iceRestarted: boolean };
    assert.equal(event.makeBeforeBreak, false);
    assert.equal(event.iceRestarted, false);
    assert.equal(resumedOn.length, 1);
    assert.deepEqual(states, ['resuming', 'joined']);
    await client.leave();
  });
});

describe('reconnectPolicy', () => {
  it('decides the rejoin: asked with the error that ended the stream; null gives up (closed, with that error)', async () => {
    const asked: Array<{ attempt: number; identifier?: string }> = [];
    const { client, states } = clientWithFakeSockets({
      reconnectPolicy: {
        nextRetryDelayMs: ({ attempt, error }) => (asked.push({ attempt, identifier: error?.identifier }), null),
      },
    });
    const closed = new Promise<{ willReconnect: boolean; error?: { identifier: string } }>((resolve) =>
      client.once('closed', resolve),
    );
    const internals = client as unknown as {
      run: AbortController;
      reconnect(signal: AbortSignal, cause: VoiceClientError | undefined): Promise<void>;
    };
    internals.run = new AbortController();
    await internals.reconnect(internals.run.signal, new VoiceClientError('voice.media-lost', 'the media node died'));
    assert.deepEqual(asked, [{ attempt: 0, identifier: 'voice.media-lost' }]);
    const event = await closed;
    assert.equal(event.willReconnect, false);
    assert.equal(event.error?.identifier, 'voice.media-lost');
    assert.deepEqual(states, ['reconnecting', 'closed']);
  });
});

describe('errors keep their cause', () => {
  it('VoiceClientError passes `cause` to Error (standard Error.cause)', () => {
    const original = new TypeError('boom');
    const wrapped = new VoiceClientError(ClientErrorId.media, 'failed', { cause: original });
    assert.equal(wrapped.cause, original);
    assert.equal(new VoiceClientError(ClientErrorId.media, 'no cause').cause, undefined);
  });
});

/** A Welcome frame granting `features` (base64 variant). */
function welcome(features: string[]): string {
  return bytesToBase64(encodeExtFrame({ message: { $case: 'welcome', value: { features } } }));
}
