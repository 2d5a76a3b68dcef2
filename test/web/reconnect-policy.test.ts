// Which ended streams the SDK joins again (web/src/errors.ts reconnectsAfter): a client the server stopped for
// flooding, or told why it cannot come back, must not come straight back; a lost network must.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconnectsAfter } from '../../web/src/errors';

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
