// The one extension negotiation (VOICE-PROTOCOL.md §5, protocol/extensions.ts): the `+ext.v1` subprotocol values
// per variant, the server's selection (negotiation first; text variants only where frames are text-only), the
// Hello/Welcome frames (docs/protocol.md's example bytes), and that the older `+resume.v1` values and stock offers
// select exactly what they did.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VoiceError } from '../../protocol/errors';
import { FEATURE, grantFeatures } from '../../protocol/extensions';
import {
  decodeClientFrame,
  decodeServerFrame,
  encodeExtFrame,
  encodeExtRequest,
  parseHandshake,
  SUBPROTOCOL_BASE64_EXT,
  SUBPROTOCOL_BINARY_EXT,
  variantOf,
} from '../../protocol/hrpc';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();
const offer = (value: string, options?: { binaryFrames?: boolean }) =>
  parseHandshake({ 'sec-websocket-protocol': value }, options);
const isBadRequest = (e: unknown) => e instanceof VoiceError && e.identifier === 'hrpc.http.bad-streaming-request';

describe('one extension-capable subprotocol value per variant', () => {
  test('hrpc1.base64+ext.v1 and hrpc1+ext.v1 are selected first, marked ext (never resume by themselves), token kept apart', () => {
    assert.deepEqual(offer('hrpc1.base64+ext.v1, hrpc1.base64+resume.v1, hrpc1.base64, tok.en.sig'), {
      subprotocol: SUBPROTOCOL_BASE64_EXT,
      variant: 'base64',
      ext: true,
      token: 'tok.en.sig',
    });
    assert.deepEqual(offer('hrpc1+ext.v1, hrpc1, tok'), {
      subprotocol: SUBPROTOCOL_BINARY_EXT,
      variant: 'binary',
      ext: true,
      token: 'tok',
    });
    assert.equal(variantOf('hrpc1.base64+ext.v1'), 'base64');
    assert.equal(variantOf('hrpc1+ext.v1'), 'binary');
    assert.equal(offer('hrpc1.base64+ext.v1').token, undefined, 'the value alone is not taken for a token');
  });

  test('the resume.v1 values and stock offers select what they did before (no ext field)', () => {
    assert.deepEqual(offer('hrpc1.base64+resume.v1, hrpc1.base64, t'), {
      subprotocol: 'hrpc1.base64+resume.v1',
      variant: 'base64',
      resume: true,
      token: 't',
    });
    assert.deepEqual(offer('hrpc1+resume.v1, hrpc1, t'), {
      subprotocol: 'hrpc1+resume.v1',
      variant: 'binary',
      resume: true,
      token: 't',
    });
    assert.deepEqual(offer('hrpc1.base64, t'), { subprotocol: 'hrpc1.base64', variant: 'base64', token: 't' });
    assert.deepEqual(offer('hrpc1'), { subprotocol: 'hrpc1', variant: 'binary', token: undefined });
  });
});

describe('text-only front door (API Gateway, strict local gateway): only text variants are selected', () => {
  const textOnly = { binaryFrames: false };
  test('hrpc1+resume.v1 with hrpc1.base64 selects hrpc1.base64 (it used to select the binary value, closed 1003 at its first frame)', () => {
    assert.deepEqual(offer('hrpc1+resume.v1, hrpc1.base64, t', textOnly), {
      subprotocol: 'hrpc1.base64',
      variant: 'base64',
      token: 't',
    });
    assert.deepEqual(offer('hrpc1+ext.v1, hrpc1+resume.v1, hrpc1, hrpc1.base64, t', textOnly), {
      subprotocol: 'hrpc1.base64',
      variant: 'base64',
      token: 't',
    });
    assert.equal(offer('hrpc1+ext.v1, hrpc1.base64+ext.v1, t', textOnly).subprotocol, 'hrpc1.base64+ext.v1');
  });

  test('binary-only offers of any extension are refused (400 naming hrpc1.base64)', () => {
    for (const value of [
      'hrpc1',
      'hrpc1+resume.v1, hrpc1',
      'hrpc1+resume.v1',
      'hrpc1+ext.v1, hrpc1, t',
      'hrpc1+ext.v1',
    ]) {
      assert.throws(
        () => offer(value, textOnly),
        (e: unknown) => isBadRequest(e) && /hrpc1\.base64/.test((e as VoiceError).humanMessage),
        value,
      );
    }
    assert.throws(
      () => offer('chat, t', textOnly),
      (e: unknown) => isBadRequest(e) && /no hRPC subprotocol/.test((e as VoiceError).humanMessage),
    );
  });
});

describe('Hello → Welcome (docs/protocol.md example exchange)', () => {
  test('client Hello{["resume.v1","consumers.v1"]} and server Welcome{same}', () => {
    const hello = encodeExtRequest({
      message: { $case: 'hello', value: { features: [FEATURE.resume, FEATURE.consumers] } },
    });
    assert.equal(hex(hello), '02 12 19 0a 09 72 65 73 75 6d 65 2e 76 31 0a 0c 63 6f 6e 73 75 6d 65 72 73 2e 76 31');
    const decoded = decodeClientFrame(hello, true);
    assert.ok(decoded.kind === 'ext' && decoded.message.message?.$case === 'hello');
    assert.deepEqual(decoded.message.message.value.features, ['resume.v1', 'consumers.v1']);
    const welcome = encodeExtFrame({ message: { $case: 'welcome', value: { features: [FEATURE.consumers] } } });
    assert.equal(hex(welcome), '02 22 0e 0a 0c 63 6f 6e 73 75 6d 65 72 73 2e 76 31');
    const back = decodeServerFrame(welcome);
    assert.ok(back.kind === 'ext' && back.message.message?.$case === 'welcome');
    assert.deepEqual(back.message.message.value.features, ['consumers.v1']);
  });

  test('relay.v1 (docs/reachability.md example exchange): Hello, Welcome, RelayServers, RefreshRelays', () => {
    assert.equal(
      hex(encodeExtRequest({ message: { $case: 'hello', value: { features: [FEATURE.relay] } } })),
      '02 12 0a 0a 08 72 65 6c 61 79 2e 76 31',
    );
    assert.equal(
      hex(encodeExtFrame({ message: { $case: 'welcome', value: { features: [FEATURE.relay] } } })),
      '02 22 0a 0a 08 72 65 6c 61 79 2e 76 31',
    );
    const relays = encodeExtFrame({
      message: {
        $case: 'relays',
        value: {
          servers: [{ urls: ['turns:r.example:443?transport=tcp'], username: '1800000600:7', credential: 'AAAA' }],
          expiresInS: 600,
          refreshInS: 480,
        },
      },
    });
    assert.equal(
      hex(relays),
      '02 2a 3f 0a 37 0a 21 74 75 72 6e 73 3a 72 2e 65 78 61 6d 70 6c 65 3a 34 34 33 3f 74 72 61 6e 73 70 6f 72 74 3d 74 63 70 12 0c 31 38 30 30 30 30 30 36 30 30 3a 37 1a 04 41 41 41 41 10 d8 04 18 e0 03',
    );
    const back = decodeServerFrame(relays);
    assert.ok(back.kind === 'ext' && back.message.message?.$case === 'relays');
    assert.equal(back.message.message.value.servers[0]!.username, '1800000600:7');
    const refresh = encodeExtRequest({ message: { $case: 'refreshRelays', value: {} } });
    assert.equal(hex(refresh), '02 1a 00');
    const decoded = decodeClientFrame(refresh, true);
    assert.ok(decoded.kind === 'ext' && decoded.message.message?.$case === 'refreshRelays');
    assert.throws(
      () => decodeClientFrame(refresh, false),
      isBadRequest,
      'on a stock stream: the bad streaming request it always was',
    );
  });

  test('on a stock stream a Hello is the bad streaming request any 0x02 frame always was', () => {
    const hello = encodeExtRequest({ message: { $case: 'hello', value: { features: ['consumers.v1'] } } });
    assert.throws(() => decodeClientFrame(hello, false), isBadRequest);
  });

  test('grants: known and enabled names, once each, in the asking order; unknown names left out, never an error', () => {
    assert.deepEqual(grantFeatures(['consumers.v1', 'relays.v9', 'resume.v1', 'consumers.v1']), [
      'consumers.v1',
      'resume.v1',
    ]);
    assert.deepEqual(grantFeatures(['resume.v1', 'consumers.v1'], ['consumers.v1']), ['consumers.v1']);
    assert.deepEqual(grantFeatures([]), []);
  });
});
