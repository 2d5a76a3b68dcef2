// Which ended streams the SDK joins again (web/src/errors.ts reconnectsAfter): a client the server stopped for
// flooding, or told why it cannot come back, must not come straight back; a lost network must. And the retry loop
// (web/src/reconnect-policy.ts): its two policies, and an AbortSignal that ends its waits and attempts at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientErrorId, reconnectsAfter, VoiceClientError } from '../../web/src/errors';
import { rejoinPolicy, resumePolicy, retry, sleep } from '../../web/src/reconnect-policy';

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('SDK reconnect policy', () => {
  it('does not rejoin after the node policed its producer (voice.producer-policed ends the session)', () => {
    assert.equal(reconnectsAfter(1008, { identifier: 'voice.producer-policed' }), false);
  });

  it('does not rejoin after a replacement or a refused token', () => {
    assert.equal(reconnectsAfter(1008, { identifier: 'voice.session-replaced' }), false);
    assert.equal(reconnectsAfter(1008, { identifier: 'h.blank-session' }), false);
  });

  it('rejoins after a lost socket, media loss, an expired token (a fresh one is fetched) or a busy service', () => {
    assert.equal(reconnectsAfter(1006, undefined), true);
    assert.equal(reconnectsAfter(1011, { identifier: 'voice.media-lost' }), true);
    assert.equal(reconnectsAfter(1008, { identifier: 'voice.token-expired' }), true);
    assert.equal(reconnectsAfter(1011, { identifier: 'hrpc.unavailable' }), true);
  });

  it('does not rejoin after a normal close without an error', () => {
    assert.equal(reconnectsAfter(1000, undefined), false);
  });
});

describe('AbortSignal cancels waits and retries', () => {
  it('sleep() rejects with the reason as soon as the signal aborts; retry() stops with it between attempts', async () => {
    const run = new AbortController();
    const reason = new VoiceClientError(ClientErrorId.invalidState, 'left before joining');
    const sleeping = sleep(60_000, run.signal);
    run.abort(reason);
    await assert.rejects(sleeping, (err) => err === reason);

    const again = new AbortController();
    let attempts = 0;
    const retrying = retry(
      { nextRetryDelayMs: ({ attempt }) => (attempt === 0 ? 0 : 60_000) },
      async () => {
        attempts++;
        throw new Error('refused');
      },
      { signal: again.signal },
    );
    await flush();
    again.abort(reason);
    await assert.rejects(retrying, (err) => err === reason);
    assert.equal(attempts, 1, 'no attempt after the abort');
  });

  it('the policies: rejoin honours retry_after and stops after a non-retryable error; resume stops at the grace', () => {
    const backoff = { baseMs: 500, maxMs: 4000, maxAttempts: 3 };
    const rejoin = rejoinPolicy(backoff);
    const busy = new VoiceClientError('hrpc.unavailable', 'busy', { retryAfterSeconds: 9 });
    assert.equal(rejoin.nextRetryDelayMs({ attempt: 0, elapsedMs: 0, error: busy }), 9000);
    assert.equal(
      rejoin.nextRetryDelayMs({ attempt: 1, elapsedMs: 0, error: new VoiceClientError('h.bad-guild-id', 'x') }),
      null,
    );
    assert.equal(rejoin.nextRetryDelayMs({ attempt: 3, elapsedMs: 0 }), null);
    const resume = resumePolicy(backoff, 10_000);
    assert.equal(resume.nextRetryDelayMs({ attempt: 0, elapsedMs: 0 }), 0);
    const timeout = new VoiceClientError(ClientErrorId.timeout, 'no answer');
    assert.ok((resume.nextRetryDelayMs({ attempt: 1, elapsedMs: 1000, error: timeout }) ?? -1) > 0);
    assert.equal(
      resume.nextRetryDelayMs({
        attempt: 1,
        elapsedMs: 1000,
        error: new VoiceClientError('voice.resume-refused', 'no'),
      }),
      null,
    );
    assert.equal(resume.nextRetryDelayMs({ attempt: 1, elapsedMs: 10_000, error: timeout }), null);
  });
});
