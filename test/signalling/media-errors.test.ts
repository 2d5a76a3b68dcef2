// What a client hears when a media node fails: a fixed message per reason, never the node's own text (which
// names nodes, rooms and sessions) nor gRPC transport details; those stay on the error's cause for the logs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEDIA_ERROR_REASONS } from '../../media-node/api/errors';
import { MEDIA_REASON_MESSAGES, mediaErrorToVoiceError } from '../../functions/voice/media-errors';
import { MediaError } from '../../functions/voice/ports';
import { internalIdsIn } from '../support/leaks';

const LEAKY =
  'ip-10-0-1-7:50051: consumer 3f2b6c1e-9a7d-4c55-8e0b-3a1d2c4b5e6f does not belong to session eiK3xnzLHy4qncE=';

test('every reason the signalling side maps has a fixed message with no internal id', () => {
  for (const reason of MEDIA_ERROR_REASONS) {
    if (reason === 'internal' || reason === 'unauthenticated') {
      assert.throws(
        () => mediaErrorToVoiceError(new MediaError(reason, LEAKY)),
        MediaError,
        `${reason} is a bug: rethrown as is`,
      );
      continue;
    }
    assert.ok(MEDIA_REASON_MESSAGES[reason], `${reason} is mapped`);
    const error = mediaErrorToVoiceError(new MediaError(reason, LEAKY, reason === 'draining'));
    assert.equal(error.humanMessage, MEDIA_REASON_MESSAGES[reason]!.message);
    assert.deepEqual(internalIdsIn(error.humanMessage), [], `${reason}: ${error.humanMessage}`);
    assert.ok(error.cause instanceof MediaError, 'the original stays on the cause, for logs');
  }
});

test('an unreachable node (raw gRPC text) becomes hrpc.unavailable with a fixed message and RetryInfo', () => {
  const error = mediaErrorToVoiceError(
    new MediaError(
      'internal',
      '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.1.7:50051',
      true,
    ),
  );
  assert.equal(error.identifier, 'hrpc.unavailable');
  assert.deepEqual(internalIdsIn(error.humanMessage), []);
  assert.equal(error.options.retryAfterSeconds, 2);
});

test('the leak detector itself recognises what it must (control)', () => {
  assert.deepEqual(
    internalIdsIn(LEAKY).sort(),
    ['a connection or session id', 'a mediasoup object id', 'a node id or address'].sort(),
  );
  assert.deepEqual(internalIdsIn('14 UNAVAILABLE: No connection established'), ['gRPC or socket internals']);
  assert.deepEqual(internalIdsIn('channel is full (100 members)'), []);
});
