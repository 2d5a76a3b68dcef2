// Errors the SDK wraps keep the original as their standard `cause` (web/src/errors.ts and every wrapping site).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asClientError, ClientErrorId, VoiceClientError } from '../../web/src/errors';
import { Microphone } from '../../web/src/microphone';
import { parseJson } from '../../web/src/participants';
import { retry } from '../../web/src/reconnect-policy';

describe('errors keep their cause', () => {
  it('the SDK wraps a foreign error with it as cause (and passes its own on as they are)', async () => {
    const original = new TypeError('boom');
    const wrapped = new VoiceClientError(ClientErrorId.media, 'failed', { cause: original });
    assert.equal(wrapped.cause, original);
    assert.equal(asClientError(original, ClientErrorId.media).cause, original);
    assert.equal(asClientError(wrapped, ClientErrorId.protocol), wrapped, 'one of its own is passed on as it is');
    assert.throws(
      () => parseJson('{', 'Initialized.rtp_capabilities'),
      (err: VoiceClientError) => err.identifier === ClientErrorId.protocol && err.cause instanceof SyntaxError,
    );
    assert.equal(new VoiceClientError('h.bad-guild-id', 'x').retryable, false);
    assert.equal(new VoiceClientError('voice.media-lost', 'x').retryable, true);
    // A failed retry attempt that threw something else is reported with it as cause.
    const failures: VoiceClientError[] = [];
    await retry(
      { nextRetryDelayMs: ({ attempt }) => (attempt < 1 ? 0 : null) },
      async () => {
        throw original;
      },
      { signal: new AbortController().signal, onFailure: (e) => failures.push(e) },
    );
    assert.equal(failures[0]?.identifier, ClientErrorId.connectFailed);
    assert.equal(failures[0]?.cause, original);
  });

  it("a denied microphone is client.microphone-denied with the browser's DOMException as cause", async () => {
    const denied = Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' });
    const nav = globalThis.navigator as unknown as Record<string, unknown>;
    const had = Object.getOwnPropertyDescriptor(nav, 'mediaDevices');
    Object.defineProperty(nav, 'mediaDevices', {
      configurable: true,
      value: { getUserMedia: () => Promise.reject(denied) },
    });
    try {
      await assert.rejects(
        new Microphone().acquire(undefined, {}, new AbortController().signal),
        (err: VoiceClientError) => err.identifier === ClientErrorId.microphoneDenied && err.cause === denied,
      );
    } finally {
      if (had) Object.defineProperty(nav, 'mediaDevices', had);
      else delete nav.mediaDevices;
    }
  });
});
