// The small modules the signalling side imports: error reasons and caller auth.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { AUTH_METADATA_KEY, authMetadata, isAuthorized } from '../../media-node/api/auth';
import { MEDIA_ERROR_REASONS, MediaError, parseMediaError } from '../../media-node/api/errors';

test('parseMediaError round-trips every reason and degrades unknown text to internal', () => {
  for (const reason of MEDIA_ERROR_REASONS) {
    const error = new MediaError(reason, 'room 1:2: something: with colons');
    assert.deepEqual(parseMediaError(error.details), { reason, message: 'room 1:2: something: with colons' });
  }
  assert.deepEqual(parseMediaError('No connection established'), {
    reason: 'internal',
    message: 'No connection established',
  });
  assert.deepEqual(parseMediaError(undefined), { reason: 'internal', message: '' });
  assert.equal(new MediaError('draining', 'x').code, status.UNAVAILABLE);
  assert.equal(new MediaError('consumer-not-yours', 'x').code, status.PERMISSION_DENIED);
  assert.equal(new MediaError('bad-dtls-parameters', 'x').code, status.INVALID_ARGUMENT);
});

test('isAuthorized accepts exactly "Bearer <secret>"', () => {
  assert.equal(isAuthorized(authMetadata('s3cret'), 's3cret'), true);
  assert.equal(isAuthorized(authMetadata('s3cret'), 's3cret-longer'), false);
  assert.equal(isAuthorized(authMetadata('wrong'), 's3cret'), false);
  assert.equal(isAuthorized(new Metadata(), 's3cret'), false);
  const raw = new Metadata();
  raw.set(AUTH_METADATA_KEY, 's3cret');
  assert.equal(isAuthorized(raw, 's3cret'), false, 'the Bearer prefix is required');
  const twice = authMetadata('s3cret');
  twice.add(AUTH_METADATA_KEY, 'Bearer other');
  assert.equal(isAuthorized(twice, 's3cret'), false, 'ambiguous metadata is refused');
});
