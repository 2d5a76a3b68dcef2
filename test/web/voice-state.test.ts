// The SDK's state.v1 pieces without a browser (the whole flow runs in Chromium: test/e2e/state.e2e.ts): the one
// negotiation (offer `+ext.v1`, Hello, wait for Welcome), state frames only on a stream granted state.v1, and the
// speaking detector's hysteresis.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { base64ToBytes, bytesToBase64, encodeExtFrame } from '../../protocol/hrpc';
import { ClientMessage } from '../../gen/harmonyvoice/ext/v1/session';
import { SpeakingDetector } from '../../web/src/speaking';
import { askedFeatures } from '../../web/src/extensions';
import { openHrpcSocket } from './fake-websocket';
import { VoiceClient } from '../../web/src/voice-client';
import { VoiceClientError } from '../../web/src/errors';

const decodeSent = (frame: string | Uint8Array) => ClientMessage.decode(base64ToBytes(frame as string).subarray(1));

describe("state.v1 in the SDK's negotiation", () => {
  it('voiceState asks for state.v1 next to the other features; a stream granted it sends state frames', async () => {
    assert.deepEqual(askedFeatures({ resume: true, consumersResumed: true, voiceState: true }), [
      'resume.v1',
      'consumers.v1',
      'state.v1',
    ]);
    assert.deepEqual(
      askedFeatures({ resume: false, consumersResumed: false }),
      [],
      'without voiceState nothing more is asked',
    );
    const { opening, ws } = openHrpcSocket({ variant: 'base64', extensions: ['state.v1'] });
    assert.deepEqual(ws().protocols.slice(0, 1), ['hrpc1.base64+ext.v1']);
    ws().accept('hrpc1.base64+ext.v1');
    assert.deepEqual(decodeSent(ws().sent[0]!).message, { $case: 'hello', value: { features: ['state.v1'] } });
    ws().onmessage?.({
      data: bytesToBase64(encodeExtFrame({ message: { $case: 'welcome', value: { features: ['state.v1'] } } })),
    });
    const socket = await opening;
    socket.sendExt({ message: { $case: 'setSelfState', value: { selfMuted: true } } });
    assert.deepEqual(decodeSent(ws().sent[1]!).message, {
      $case: 'setSelfState',
      value: { selfMuted: true, selfDeafened: undefined },
    });
  });

  it('a stream without state.v1 never sends a state frame', async () => {
    const { opening, ws } = openHrpcSocket({ variant: 'base64' });
    ws().accept('hrpc1.base64');
    const socket = await opening;
    socket.sendExt({ message: { $case: 'setSelfState', value: { selfMuted: true } } });
    assert.deepEqual(ws().sent, []);
  });
});

describe('SpeakingDetector', () => {
  const options = { intervalMs: 100, onLevel: 0.03, offLevel: 0.015, holdMs: 500 };

  it('starts at the first level at or above onLevel, and stops only after holdMs below offLevel', () => {
    const d = new SpeakingDetector(options);
    assert.equal(d.update('1', 0.01, 0), undefined);
    assert.equal(d.update('1', 0.029, 100), undefined);
    assert.equal(d.update('1', 0.05, 200), true);
    // A gap between words (below offLevel for less than holdMs) keeps speaking.
    assert.equal(d.update('1', 0.005, 300), undefined);
    assert.equal(d.update('1', 0.005, 700), undefined);
    assert.equal(d.update('1', 0.02, 750), undefined); // between off and on: still speaking, quiet timer reset
    assert.equal(d.update('1', 0.005, 800), undefined);
    assert.equal(d.update('1', 0.005, 1299), undefined);
    assert.equal(d.update('1', 0.005, 1300), false);
    assert.equal(d.isSpeaking('1'), false);
  });

  it('keeps members apart and forgets a member that left', () => {
    const d = new SpeakingDetector(options);
    assert.equal(d.update('1', 0.2, 0), true);
    assert.equal(d.update('2', 0.0, 0), undefined);
    assert.equal(d.forget('1'), true);
    assert.equal(d.forget('2'), false);
    assert.deepEqual(d.keys(), []);
    assert.throws(() => new SpeakingDetector({ ...options, offLevel: 0.1 }), RangeError);
  });
});

describe('state.v1: a change of its own state the server refuses', () => {
  it("is undone in the SDK (a server-muted member's unmute): muted again, and the app told (was left unmuted)", () => {
    const client = new VoiceClient({ log: () => {} });
    const events: string[] = [];
    client.on('muted', ({ muted }) => events.push(`muted:${muted}`));
    client.on('deafened', ({ deafened }) => events.push(`deafened:${deafened}`));
    client.on('error', (e) => events.push(`error:${e.identifier}`));
    client.setSelfMuted(true);
    client.setSelfMuted(false); // the server refuses it: a moderator muted this member
    // The session's sink as the server's error frame reaches it (no browser here: no session is running).
    const internals = client as unknown as {
      sinkFor(signal: AbortSignal): { error(e: VoiceClientError): void };
    };
    const sink = internals.sinkFor(new AbortController().signal);
    sink.error(
      new VoiceClientError(
        'voice.state-refused',
        'a server-muted (or server-deafened) member cannot unmute (or undeafen) itself',
      ),
    );
    assert.equal(client.muted, true);
    assert.deepEqual(events, ['muted:true', 'muted:false', 'muted:true', 'error:voice.state-refused']);
    // Another error changes nothing; a second refusal has nothing left to undo.
    sink.error(new VoiceClientError('voice.state-refused', 'again'));
    assert.equal(client.muted, true);
  });
});
