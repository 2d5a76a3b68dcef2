// resume.v1 on the wire: opt-in at the handshake, the 0x02 extension frames (docs/protocol.md's example bytes), and
// that a stock stream is unaffected (a 0x02 frame from a stock client is the bad streaming request it always was).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VoiceError } from '../../protocol/errors';
import {
  decodeClientFrame,
  decodeServerFrame,
  encodeExtFrame,
  encodeExtRequest,
  parseHandshake,
  SUBPROTOCOL_BASE64_RESUME,
  SUBPROTOCOL_BINARY_RESUME,
  variantOf,
} from '../../protocol/hrpc';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();

describe('handshake', () => {
  test('an opted-in client offers the combined value first; the server selects it (never the token)', () => {
    const h = parseHandshake({ 'sec-websocket-protocol': 'hrpc1.base64+resume.v1, hrpc1.base64, tok.en.sig' });
    assert.deepEqual(h, {
      subprotocol: SUBPROTOCOL_BASE64_RESUME,
      variant: 'base64',
      resume: true,
      token: 'tok.en.sig',
    });
    const b = parseHandshake({ 'sec-websocket-protocol': 'hrpc1+resume.v1, hrpc1', authorization: 'raw' });
    assert.deepEqual(b, { subprotocol: SUBPROTOCOL_BINARY_RESUME, variant: 'binary', resume: true, token: 'raw' });
    assert.equal(variantOf('hrpc1.base64+resume.v1'), 'base64');
    assert.equal(variantOf('hrpc1+resume.v1'), 'binary');
  });

  test('a stock offer selects exactly what it did before (no resume field at all)', () => {
    assert.deepEqual(parseHandshake({ 'sec-websocket-protocol': 'hrpc1.base64, tok' }), {
      subprotocol: 'hrpc1.base64',
      variant: 'base64',
      token: 'tok',
    });
    assert.deepEqual(parseHandshake({ 'sec-websocket-protocol': 'hrpc1' }), {
      subprotocol: 'hrpc1',
      variant: 'binary',
      token: undefined,
    });
  });

  test('the combined value alone is not taken for a token', () => {
    assert.equal(parseHandshake({ 'sec-websocket-protocol': 'hrpc1.base64+resume.v1' }).token, undefined);
  });
});

describe('extension frames (docs/protocol.md example exchange)', () => {
  test('client Resume{session_id:"S1", credential:"c", last_seq:3}', () => {
    const frame = encodeExtRequest({
      message: { $case: 'resume', value: { sessionId: 'S1', credential: 'c', lastSeq: 3n, restartIce: false } },
    });
    assert.equal(hex(frame), '02 0a 09 0a 02 53 31 12 01 63 18 03');
    const decoded = decodeClientFrame(frame, true);
    assert.equal(decoded.kind, 'ext');
  });

  test('server Resumed, Sequenced(UserLeft) and SessionCredential', () => {
    const resumed = encodeExtFrame({
      message: {
        $case: 'resumed',
        value: { credential: { sessionId: 'S1', credential: 'd', graceMs: 30000 }, ice: undefined },
      },
    });
    assert.equal(hex(resumed), '02 1a 0d 0a 0b 0a 02 53 31 12 01 64 18 b0 ea 01');
    const sequenced = encodeExtFrame({
      message: {
        $case: 'sequenced',
        value: { seq: 4n, message: { message: { $case: 'userLeft', value: { userId: 7n } } }, states: [] },
      },
    });
    // 0x02, Sequenced{seq:4, message: the voice.v1 StreamMessageResponse bytes of UserLeft{7} = 2a 02 08 07}
    assert.equal(hex(sequenced), '02 0a 08 08 04 12 04 2a 02 08 07');
    const joined = encodeExtFrame({
      message: {
        $case: 'sequenced',
        value: {
          seq: 3n,
          message: {
            message: {
              $case: 'userJoined',
              value: { data: { userId: 9n, producerId: 'p', consumerId: 'c', rtpParameters: '{}' } },
            },
          },
          states: [],
        },
      },
    });
    assert.equal(hex(joined), '02 0a 14 08 03 12 10 22 0e 0a 0c 08 09 12 01 70 1a 01 63 22 02 7b 7d');
    const credential = encodeExtFrame({
      message: { $case: 'credential', value: { sessionId: 'S1', credential: 'c', graceMs: 30000 } },
    });
    assert.equal(hex(credential), '02 12 0b 0a 02 53 31 12 01 63 18 b0 ea 01');
    const back = decodeServerFrame(sequenced);
    assert.ok(back.kind === 'ext' && back.message.message?.$case === 'sequenced');
    assert.equal(back.message.message.value.seq, 4n);
    assert.equal(back.message.message.value.message?.message?.$case, 'userLeft');
  });

  test('on a stock stream a 0x02 frame is a bad streaming request, as it always was', () => {
    const frame = encodeExtRequest({
      message: { $case: 'resume', value: { sessionId: 'S1', credential: 'c', lastSeq: 3n, restartIce: false } },
    });
    assert.throws(
      () => decodeClientFrame(frame, false),
      (e: unknown) => e instanceof VoiceError && e.identifier === 'hrpc.http.bad-streaming-request',
    );
  });

  test('an empty or garbage extension frame is a bad streaming request', () => {
    assert.throws(
      () => decodeClientFrame(new Uint8Array([2]), true),
      (e: unknown) => e instanceof VoiceError && e.identifier === 'hrpc.http.bad-streaming-request',
    );
    assert.throws(() => decodeClientFrame(new Uint8Array([2, 0xff, 0xff]), true), VoiceError);
  });
});
