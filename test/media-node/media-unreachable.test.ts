// Media that never connects is a failure: a session whose client never connects the transport it
// is due to connect is reported lost as 'media-unreachable' after the bound, and leaves the room's history.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HistoryEntry_Kind, type SessionLost } from '../../gen/medianode/v1/media_node';
import { configFromEnv } from '../../media-node/src/node/config';
import { waitFor } from '../support/wait';
import { joinSession, startTestNode } from './helpers';

describe('media that never connects', () => {
  test('a joined session whose send transport never connects is lost as media-unreachable, and the others are told it left', async () => {
    const node = await startTestNode({ iceConnectTimeoutMs: 800 });
    const lost: SessionLost[] = [];
    const stream = node.api.watchSessions();
    stream.on('data', (event: SessionLost) => lost.push(event));
    stream.on('error', () => {});
    try {
      const roomId = 'unreachable:1';
      // Hand-built parameters: neither client ever sends a STUN check, so ICE stays 'new'.
      await joinSession(node.api, roomId, 'conn-a', '601');
      await joinSession(node.api, roomId, 'conn-b', '602');
      await waitFor(() => lost.length === 2, 10_000, 'both sessions reported lost');
      assert.deepEqual(lost.map((e) => [e.sessionId, e.reason]).sort(), [
        ['conn-a', 'media-unreachable'],
        ['conn-b', 'media-unreachable'],
      ]);
      assert.deepEqual((await node.api.getRoom({ roomId })).sessions, []);
      const leaves = (await node.api.history({ roomId, after: 0 })).entries.filter(
        (e) => e.kind === HistoryEntry_Kind.KIND_LEAVE,
      );
      assert.deepEqual(
        leaves.map((e) => e.reason),
        ['media-unreachable', 'media-unreachable'],
      );
      assert.ok(
        leaves.some((e) => e.audience.length === 1),
        'the first to go is announced to the other',
      );
    } finally {
      stream.cancel();
      await node.stop();
    }
  });

  test('with the bound off (0) such a session stays', async () => {
    const node = await startTestNode({ iceConnectTimeoutMs: 0 });
    try {
      await joinSession(node.api, 'unreachable:2', 'conn-c', '603');
      await new Promise((r) => setTimeout(r, 1_200));
      assert.deepEqual((await node.api.getRoom({ roomId: 'unreachable:2' })).sessions, [
        { sessionId: 'conn-c', userId: '603' },
      ]);
    } finally {
      await node.stop();
    }
  });

  test('MEDIA_ICE_CONNECT_TIMEOUT_MS is read from the environment', () => {
    assert.equal(configFromEnv({ MEDIA_ICE_CONNECT_TIMEOUT_MS: '4000' }).iceConnectTimeoutMs, 4000);
    assert.equal(configFromEnv({}).iceConnectTimeoutMs, undefined);
  });
});
