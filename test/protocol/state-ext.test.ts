// state.v1's frames, byte for byte as README "Voice state (state.v1)" documents them (generated code, one codec).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeClientFrame, decodeServerFrame, encodeExtFrame, encodeExtRequest } from '../../protocol/hrpc';
import { grantFeatures } from '../../protocol/extensions';
import { SERVED_FEATURES } from '../../functions/voice/extension-negotiation';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').replace(/(..)/g, '$1 ').trim();

test('state.v1 is a served feature name of the one negotiation', () => {
  assert.ok(SERVED_FEATURES.includes('state.v1'));
  assert.deepEqual(grantFeatures(['state.v1', 'resume.v1', 'state.v1'], SERVED_FEATURES), ['state.v1', 'resume.v1']);
});

test('the example exchange of the README', () => {
  assert.equal(
    hex(encodeExtRequest({ message: { $case: 'setSelfState', value: { selfMuted: true } } })),
    '02 22 02 08 01',
  );
  assert.equal(
    hex(encodeExtRequest({ message: { $case: 'moderate', value: { userId: 42n, serverMuted: true } } })),
    '02 2a 04 08 2a 10 01',
  );
  const change = encodeExtFrame({
    message: {
      $case: 'sequenced',
      value: {
        seq: 7n,
        message: undefined,
        states: [{ userId: 42n, selfMuted: true, selfDeafened: false, serverMuted: false, serverDeafened: false }],
      },
    },
  });
  assert.equal(hex(change), '02 0a 08 08 07 1a 04 08 2a 10 01');
  const decoded = decodeServerFrame(change);
  assert.ok(decoded.kind === 'ext' && decoded.message.message?.$case === 'sequenced');
  assert.equal(decoded.message.message.value.message, undefined);
  assert.equal(decoded.message.message.value.states[0]!.userId, 42n);
  // An absent optional field stays absent (left as it is), distinct from false.
  const frame = decodeClientFrame(
    encodeExtRequest({ message: { $case: 'setSelfState', value: { selfDeafened: false } } }),
    true,
  );
  assert.ok(frame.kind === 'ext' && frame.message.message?.$case === 'setSelfState');
  assert.equal(frame.message.message.value.selfMuted, undefined);
  assert.equal(frame.message.message.value.selfDeafened, false);
});

test('resume.v1 frames without states keep their bytes (Sequenced gains only an empty repeated field)', () => {
  const sequenced = encodeExtFrame({
    message: {
      $case: 'sequenced',
      value: { seq: 4n, message: { message: { $case: 'userLeft', value: { userId: 7n } } }, states: [] },
    },
  });
  assert.equal(hex(sequenced), '02 0a 08 08 04 12 04 2a 02 08 07');
});
