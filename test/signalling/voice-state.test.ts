// state.v1 through the real local stack (API Gateway, handlers, dynalite, a real media node, msc-node WebRTC
// clients sending real RTP): mute and deafen are entries of the channel's history that every state.v1 member sees,
// and act on the media node (a muted member's packets stop reaching the others, a deafened member's inbound
// packets stop); a moderator (the token's `moderates` claim) server-mutes a stock voice.v1 member, who sees plain
// voice.v1 only (no extension frame) and simply is not heard; a server-muted member cannot unmute itself.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';
import { joinWithMedia, type MediaJoined } from '../support/media-voice-client';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';
import { waitFor } from '../support/wait';

const GUILD = 20n;
const CHANNEL = 1n;
let stack: LocalStack;
const open: MediaJoined[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, mediaNode: { forwardLogs: false } });
});
after(async () => {
  for (const member of open) {
    for (const t of member.transports) t.close();
    member.client.terminate();
  }
  await stack?.close();
});

async function join(user: bigint, opts: { state?: boolean; moderator?: boolean } = {}): Promise<MediaJoined> {
  const token = devToken(
    user,
    GUILD,
    [CHANNEL],
    3600,
    opts.moderator ? { moderates: [`${GUILD}:${CHANNEL}`] } : undefined,
  );
  const member = await joinWithMedia(
    { wsUrl: stack.wsUrl, token, ...(opts.state ? { features: ['resume.v1', 'state.v1'] } : {}) },
    GUILD,
    CHANNEL,
  );
  open.push(member);
  return member;
}

/** The member's view of `user`'s state: the last one its stream was told (snapshot, UserJoined or change). */
function stateOf(member: MediaJoined, user: bigint): Omit<MemberState, 'userId'> | undefined {
  let found: MemberState | undefined;
  for (const entry of member.client.stateLog) for (const s of entry.states) if (s.userId === user) found = s;
  if (!found) return undefined;
  const { userId: _, ...flags } = found;
  return flags;
}

const flags = (f: Partial<Omit<MemberState, 'userId'>>) => ({
  selfMuted: false,
  selfDeafened: false,
  serverMuted: false,
  serverDeafened: false,
  ...f,
});

/** Packets from `user` reaching `member` stop: none arrives in a second once in-flight ones are through. */
async function assertSilent(member: MediaJoined, user: bigint, what: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 400));
  const before = member.received.get(String(user)) ?? 0;
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(member.received.get(String(user)) ?? 0, before, what);
}

async function assertFlowing(member: MediaJoined, user: bigint, what: string): Promise<void> {
  const before = member.received.get(String(user)) ?? 0;
  await waitFor(() => (member.received.get(String(user)) ?? 0) > before + 10, 5_000, what);
}

test('state.v1: mute, deafen and server mute act on the media node; a stock voice.v1 member sees plain voice.v1 and can be server-muted', {
  timeout: 120_000,
}, async () => {
  const a = await join(1n, { state: true });
  const m = await join(2n, { state: true, moderator: true });
  const c = await join(3n); // stock voice.v1
  assert.deepEqual(a.client.granted, ['resume.v1', 'state.v1']);
  // Everyone consumes everyone (UserJoined in join order).
  for (const u of [...a.joined.otherUsers]) await a.consume(u);
  for (const u of [...m.joined.otherUsers]) await m.consume(u);
  for (const u of [...c.joined.otherUsers]) await c.consume(u);
  await a.consume((await a.client.expect('userJoined')).data!);
  await a.consume((await a.client.expect('userJoined')).data!);
  await m.consume((await m.client.expect('userJoined')).data!);
  // The snapshot with JoinedChannel: M was told A's state (and its own); UserJoined carried C's.
  assert.deepEqual(stateOf(m, 1n), flags({}));
  assert.deepEqual(stateOf(a, 3n), flags({}));
  const stops = [a.speak(), m.speak(), c.speak()];
  try {
    await assertFlowing(m, 1n, 'A heard by M');
    await assertFlowing(c, 1n, 'A heard by C');

    // A mutes itself: everyone with state.v1 sees it; nothing of A is forwarded any more.
    a.client.sendExt({ $case: 'setSelfState', value: { selfMuted: true } });
    await waitFor(() => stateOf(m, 1n)?.selfMuted === true, 5_000, 'M to see A muted');
    await waitFor(() => stateOf(a, 1n)?.selfMuted === true, 5_000, 'A to see its own change');
    await assertSilent(m, 1n, 'no packet of muted A reaches M');
    await assertSilent(c, 1n, 'no packet of muted A reaches C');
    a.client.sendExt({ $case: 'setSelfState', value: { selfMuted: false } });
    await waitFor(() => stateOf(m, 1n)?.selfMuted === false, 5_000, 'M to see A unmuted');
    await assertFlowing(m, 1n, 'A heard again by M');

    // A deafens: nothing reaches A; undeafen: back.
    a.client.sendExt({ $case: 'setSelfState', value: { selfDeafened: true } });
    await waitFor(() => stateOf(m, 1n)?.selfDeafened === true, 5_000, 'M to see A deafened');
    await assertSilent(a, 2n, 'deafened A receives nothing of M');
    await assertSilent(a, 3n, 'deafened A receives nothing of C');
    await assertFlowing(m, 1n, 'deafened A is still heard');
    a.client.sendExt({ $case: 'setSelfState', value: { selfDeafened: false } });
    await assertFlowing(a, 2n, 'undeafened A hears M again');

    // A is no moderator: refused, nothing changed.
    const logBefore = m.client.stateLog.length;
    a.client.sendExt({ $case: 'moderate', value: { userId: 3n, serverMuted: true } });
    assert.equal((await a.client.nextError()).identifier, 'voice.not-moderator');

    // M server-mutes C (stock voice.v1): C's packets stop; A and M see it; C gets no extension frame.
    m.client.sendExt({ $case: 'moderate', value: { userId: 3n, serverMuted: true } });
    await waitFor(() => stateOf(a, 3n)?.serverMuted === true, 5_000, 'A to see C server-muted');
    assert.equal(m.client.stateLog.length, logBefore + 1, 'the refused Moderate wrote nothing to the history');
    await assertSilent(a, 3n, 'no packet of server-muted C reaches A');
    await assertSilent(m, 3n, 'no packet of server-muted C reaches M');

    // M server-mutes A: A's own unmute is refused (voice.state-refused) and changes nothing.
    m.client.sendExt({ $case: 'moderate', value: { userId: 1n, serverMuted: true } });
    await waitFor(() => stateOf(a, 1n)?.serverMuted === true, 5_000, 'A to see itself server-muted');
    a.client.sendExt({ $case: 'setSelfState', value: { selfMuted: false } });
    assert.equal((await a.client.nextError()).identifier, 'voice.state-refused');
    await assertSilent(m, 1n, 'server-muted A stays silent');

    // A late joiner with state.v1 gets everyone's state with its JoinedChannel.
    const d = await join(4n, { state: true });
    assert.deepEqual(stateOf(d, 1n), flags({ serverMuted: true }));
    assert.deepEqual(stateOf(d, 3n), flags({ serverMuted: true }));
    assert.deepEqual(stateOf(d, 2n), flags({}));

    // The stock member saw voice.v1 only: no extension frame, every frame a voice.v1 response.
    await waitFor(() => c.client.all('userJoined').length > 0, 5_000, 'C to be told D joined');
    assert.equal(c.client.extFrames, 0, 'no extension frame reached the stock voice.v1 member');
    assert.deepEqual(c.client.errors(), []);
    assert.ok(
      c.client.frames.every((f) => f.kind === 'response'),
      'only voice.v1 responses',
    );
    assert.deepEqual(
      c.client.all('userJoined').map((u) => u.data?.userId),
      [4n],
    );
    // Moderation follows the newest token: M resumes its session on a new socket with a token without the claim,
    // and its Moderate is refused from then on (its right was withdrawn).
    await waitFor(() => m.client.credential !== undefined, 5_000, 'M to have its resume credential');
    const credential = m.client.credential!;
    const lastSeq = m.client.lastSeq;
    m.client.terminate();
    const resumed = await VoiceTestClient.connect({
      wsUrl: stack.wsUrl,
      token: devToken(2n, GUILD, [CHANNEL]),
      features: ['resume.v1', 'state.v1'],
    });
    m.client = resumed;
    resumed.sendExt({
      $case: 'resume',
      value: {
        sessionId: credential.sessionId,
        credential: credential.credential,
        lastSeq: BigInt(lastSeq),
        restartIce: false,
      },
    });
    assert.equal((await resumed.nextExt(10_000)).$case, 'resumed');
    resumed.sendExt({ $case: 'moderate', value: { userId: 3n, serverMuted: false } });
    assert.equal((await resumed.nextError()).identifier, 'voice.not-moderator');
    assert.equal(stateOf(a, 3n)?.serverMuted, true, 'nothing changed');
  } finally {
    for (const stop of stops) stop();
  }
});
