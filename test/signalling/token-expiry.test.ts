// A session does not outlive its token beyond the grace, through the real local stack: a stream
// opened with a token that expires is ended by the sweep at `exp` + VOICE_TOKEN_GRACE_SECONDS with
// `voice.token-expired`, the others told it left; a resume.v1 stream that resumes on a new socket with a fresh
// token before then carries on past the first token's bound.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 98n;
const GRACE_S = 1;
/** Short-lived tokens: the bound (exp + grace) falls inside the test. */
const SHORT_TTL_S = 4;
let stack: LocalStack;
const open: VoiceTestClient[] = [];
const saved = process.env.VOICE_TOKEN_GRACE_SECONDS;

before(async () => {
  process.env.VOICE_TOKEN_GRACE_SECONDS = String(GRACE_S);
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 500, mediaNode: { forwardLogs: false } });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
  if (saved === undefined) delete process.env.VOICE_TOKEN_GRACE_SECONDS;
  else process.env.VOICE_TOKEN_GRACE_SECONDS = saved;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const track = <T extends VoiceTestClient>(c: T): T => (open.push(c), c);

test("a session is ended with voice.token-expired once its token's exp + grace has passed", async () => {
  const witness = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(1n, GUILD, [1n]) }, GUILD, 1n);
  track(witness.client);
  const started = Date.now();
  const short = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(2n, GUILD, [1n], SHORT_TTL_S) }, GUILD, 1n);
  track(short.client);
  assert.equal((await witness.client.expect('userJoined')).data?.userId, 2n);
  const error = await short.client.expectError(20_000);
  assert.equal(error.identifier, 'voice.token-expired', error.humanMessage);
  const after = (Date.now() - started) / 1000;
  assert.ok(after >= SHORT_TTL_S - 1, `not before the token expired (${after.toFixed(1)} s)`);
  await short.client.waitClosed();
  assert.equal((await witness.client.expect('userLeft', 10_000)).userId, 2n);
});

// Both ways of opting in to resume.v1: the `+resume.v1` subprotocol, and the negotiation (`+ext.v1`, Hello{resume.v1})
// the SDK uses by default: a renewal by resume works the same through either.
const OPT_INS: [string, { resume?: boolean; features?: string[] }, bigint][] = [
  ['+resume.v1', { resume: true }, 2n],
  ['ext.v1 negotiation', { features: ['resume.v1'] }, 3n],
];
for (const [name, optIn, channel] of OPT_INS) {
  test(`resume.v1 (${name}): resuming on a new socket with a fresh token renews the bound (the session outlives the first token)`, async () => {
    const a = await joinedClient(
      { wsUrl: stack.wsUrl, token: devToken(10n, GUILD, [channel], SHORT_TTL_S), ...optIn },
      GUILD,
      channel,
    );
    track(a.client);
    const witness = await joinedClient({ wsUrl: stack.wsUrl, token: devToken(11n, GUILD, [channel]) }, GUILD, channel);
    track(witness.client);
    for (let i = 0; i < 50 && !a.client.credential; i++) await sleep(20);
    assert.ok(a.client.credential, 'the opted-in session has a credential');
    // Before the first token runs out, make-before-break onto a socket opened with a fresh (1-hour) token.
    const next = track(
      await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: devToken(10n, GUILD, [channel]), ...optIn }),
    );
    next.sendExt({
      $case: 'resume',
      value: {
        sessionId: a.client.credential!.sessionId,
        credential: a.client.credential!.credential,
        lastSeq: BigInt(a.client.lastSeq),
        restartIce: false,
      },
    });
    for (let i = 0; i < 100 && !next.credential; i++) await sleep(20);
    assert.ok(next.credential, 'resumed');
    // Well past the first token's exp + grace (and several sweeps): still a member, nobody told otherwise.
    await sleep((SHORT_TTL_S + GRACE_S + 3) * 1000);
    assert.ok(!next.frames.some((f) => f.kind === 'error'), 'no error on the renewed stream');
    assert.ok(
      !witness.client.frames.some((f) => f.kind === 'response' && f.response.message?.$case === 'userLeft'),
      'nobody saw it leave',
    );
  });
}
