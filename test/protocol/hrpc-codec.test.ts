import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StreamMessageRequest } from '../../gen/protocol/voice/v1/voice';
import {
  decodeRequest,
  decodeServerFrame,
  encodeErrorFrame,
  encodeRequest,
  encodeResponseFrame,
  fromWire,
  MAX_FRAME_BYTES,
  normalizeId,
  parseHandshake,
  toWire,
} from '../../protocol/hrpc';
import { ErrorId, VoiceError } from '../../protocol/errors';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text.replace(/ /g, ''), 'hex'));

describe('VOICE-PROTOCOL.md §2 test vectors, byte-exact', () => {
  test('client Initialize{guild_id:1, channel_id:2}', () => {
    const bytes = encodeRequest({ message: { $case: 'initialize', value: { guildId: 1n, channelId: 2n } } });
    assert.equal(hex(bytes), hex(unhex('0a 04 08 01 10 02')));
    assert.deepEqual(decodeRequest(bytes).message, { $case: 'initialize', value: { guildId: 1n, channelId: 2n } });
  });

  test('client Initialize with a uint64 above 2^53 survives exactly', () => {
    const guildId = 2n ** 63n + 5n;
    const bytes = encodeRequest({ message: { $case: 'initialize', value: { guildId, channelId: 300n } } });
    assert.equal(hex(bytes), hex(unhex('0a 0e 08 85 80 80 80 80 80 80 80 80 01 10 ac 02')));
    const decoded = decodeRequest(unhex('0a 0e 08 85 80 80 80 80 80 80 80 80 01 10 ac 02'));
    assert.equal(decoded.message?.$case, 'initialize');
    assert.equal((decoded.message!.value as { guildId: bigint }).guildId, 9223372036854775813n);
    assert.equal(typeof (decoded.message!.value as { guildId: unknown }).guildId, 'bigint');
  });

  test('server Initialized{rtp_capabilities:"{}"}', () => {
    const frame = encodeResponseFrame({ message: { $case: 'initialized', value: { rtpCapabilities: '{}' } } });
    assert.equal(hex(frame), hex(unhex('00 0a 04 0a 02 7b 7d')));
    assert.deepEqual(decodeServerFrame(frame), {
      kind: 'response',
      response: { message: { $case: 'initialized', value: { rtpCapabilities: '{}' } } },
    });
  });

  test('server JoinedChannel{}', () => {
    assert.equal(
      hex(encodeResponseFrame({ message: { $case: 'joinedChannel', value: { otherUsers: [] } } })),
      hex(unhex('00 1a 00')),
    );
  });

  test('server UserLeft{user_id:7}', () => {
    const frame = encodeResponseFrame({ message: { $case: 'userLeft', value: { userId: 7n } } });
    assert.equal(hex(frame), hex(unhex('00 2a 02 08 07')));
  });

  test('server error {identifier:"h.bad-guild-id", human_message:"x"}', () => {
    const frame = encodeErrorFrame('h.bad-guild-id', 'x');
    assert.equal(hex(frame), hex(unhex('01 0a 0e 68 2e 62 61 64 2d 67 75 69 6c 64 2d 69 64 12 01 78')));
    const decoded = decodeServerFrame(frame);
    assert.equal(decoded.kind, 'error');
    assert.equal(decoded.kind === 'error' && decoded.error.identifier, 'h.bad-guild-id');
  });

  test('retryable error carries RetryInfo in details', () => {
    const decoded = decodeServerFrame(encodeErrorFrame(ErrorId.unavailable, 'try later', 3));
    assert.equal(decoded.kind === 'error' && decoded.retryAfterSeconds, 3);
  });
});

describe('malformed client frames become VoiceErrors, never other exceptions', () => {
  const rejects = (bytes: Uint8Array, identifier: string) => {
    assert.throws(
      () => decodeRequest(bytes),
      (err: unknown) => err instanceof VoiceError && err.identifier === identifier,
    );
  };
  test('empty frame', () => rejects(new Uint8Array(), ErrorId.badStreamingRequest));
  test('truncated frame', () => rejects(unhex('0a 0e 08 85 80 80'), ErrorId.badStreamingRequest));
  test('garbage bytes', () => rejects(unhex('ff ff ff ff ff'), ErrorId.badStreamingRequest));
  test('valid protobuf with no known message', () => rejects(unhex('2a 00'), ErrorId.badStreamingRequest));
  test('wrongly typed field (string where a message is expected)', () =>
    rejects(unhex('0a 01 41'), ErrorId.badStreamingRequest));
  test('oversized frame', () => rejects(new Uint8Array(MAX_FRAME_BYTES + 1), ErrorId.frameTooLarge));
  test('text frame on the binary variant', () => {
    assert.throws(() => fromWire('CgQIARAC', 'binary'), VoiceError);
  });
  test('binary frame on the base64 variant, and non-base64 text', () => {
    assert.throws(() => fromWire(new Uint8Array([1]), 'base64'), VoiceError);
    assert.throws(() => fromWire('not base64!', 'base64'), VoiceError);
  });
});

describe('hrpc1.base64 variant', () => {
  test('carries exactly the binary bytes, both ways', () => {
    const bytes = encodeRequest({ message: { $case: 'resumeConsumer', value: { consumerId: 'abc' } } });
    const wire = toWire(bytes, 'base64');
    assert.equal(wire, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(fromWire(wire, 'base64'), bytes);
    const frame = encodeResponseFrame({ message: { $case: 'userLeft', value: { userId: 2n ** 64n - 1n } } });
    const decoded = decodeServerFrame(fromWire(toWire(frame, 'base64'), 'base64'));
    assert.deepEqual(decoded, {
      kind: 'response',
      response: { message: { $case: 'userLeft', value: { userId: 2n ** 64n - 1n } } },
    });
  });
  test('binary variant passes bytes through untouched', () => {
    const bytes = new Uint8Array([10, 4, 8, 1, 16, 2]);
    assert.equal(toWire(bytes, 'binary'), bytes);
    assert.deepEqual(StreamMessageRequest.decode(fromWire(bytes, 'binary')).message?.$case, 'initialize');
  });
});

describe('handshake', () => {
  test('token as the last Sec-WebSocket-Protocol value; the echo is never the token', () => {
    const h = parseHandshake({ 'Sec-WebSocket-Protocol': 'hrpc1.base64, tok.en.sig' });
    assert.deepEqual(h, { subprotocol: 'hrpc1.base64', variant: 'base64', token: 'tok.en.sig' });
  });
  test('Authorization header wins and carries the raw token', () => {
    const h = parseHandshake({ authorization: 'raw-token', 'sec-websocket-protocol': 'hrpc1' });
    assert.deepEqual(h, { subprotocol: 'hrpc1', variant: 'binary', token: 'raw-token' });
  });
  test('no token at all', () => {
    assert.equal(parseHandshake({ 'sec-websocket-protocol': 'hrpc1' }).token, undefined);
  });
  test('missing hrpc1 is an error', () => {
    assert.throws(() => parseHandshake({ 'sec-websocket-protocol': 'chat' }), VoiceError);
    assert.throws(() => parseHandshake({}), VoiceError);
  });
});

test('ids: raw and once-JSON-quoted both accepted', () => {
  assert.equal(normalizeId('abc-123'), 'abc-123');
  assert.equal(normalizeId('"abc-123"'), 'abc-123');
  assert.equal(normalizeId('"\\"x\\""'), '"x"');
});
