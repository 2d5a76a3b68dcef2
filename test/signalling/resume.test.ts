// resume.v1 through the real local stack (real sockets, Lambda handlers, dynalite, a real media node): a good
// resume (the others see nothing; what was missed is replayed once, in order; the same media session), make-
// before-break, the grace running out, and every bad resume of the issue (used, foreign, expired credential,
// another user's token, a resume after the grace, two resumes at once) refused with `voice.resume-refused`
// and changing nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { connectMediaNode } from '../../media-node/api/client';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 97n;
const GRACE_MS = 2_500;
let stack: LocalStack;
const open: VoiceTestClient[] = [];
const saved = { ...process.env };

before(async () => {
  process.env.VOICE_RESUME_GRACE_MS = String(GRACE_MS);
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 500 });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
  if (saved.VOICE_RESUME_GRACE_MS === undefined) delete process.env.VOICE_RESUME_GRACE_MS;
  else process.env.VOICE_RESUME_GRACE_MS = saved.VOICE_RESUME_GRACE_MS;
});

const options = (user: bigint, channel: bigint, resume = false) => ({
  wsUrl: stack.wsUrl,
  token: devToken(user, GUILD, [channel]),
  resume,
});
const track = <T extends VoiceTestClient>(c: T): T => {
  open.push(c);
  return c;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Membership messages a client received, in order, as "joined:<user>" / "left:<user>" (JoinedChannel excluded). */
function membership(client: VoiceTestClient): string[] {
  return client.frames.flatMap((f) => {
    if (f.kind !== 'response') return [];
    const m = f.response.message;
    if (m?.$case === 'userJoined') return [`joined:${m.value.data!.userId}`];
    if (m?.$case === 'userLeft') return [`left:${m.value.userId}`];
    return [];
  });
}

async function resumingMember(user: bigint, channel: bigint) {
  const { client, joined } = await joinedClient(options(user, channel, true), GUILD, channel);
  track(client);
  assert.equal(client.protocol, 'hrpc1.base64+resume.v1', 'the server selected the extension');
  for (let i = 0; i < 50 && !client.credential; i++) await sleep(20);
  assert.ok(client.credential, 'a joined opted-in session gets a credential');
  return { client, joined, credential: client.credential! };
}

async function resumeOn(
  user: bigint,
  channel: bigint,
  request: { sessionId: string; credential: string; lastSeq: number; restartIce?: boolean },
) {
  const next = track(await VoiceTestClient.connect(options(user, channel, true)));
  next.sendExt({
    $case: 'resume',
    value: {
      sessionId: request.sessionId,
      credential: request.credential,
      lastSeq: BigInt(request.lastSeq),
      restartIce: request.restartIce ?? false,
    },
  });
  return next;
}

test('a socket cut without a close frame is resumed: the others see nothing, the missed UserJoined/UserLeft are replayed once, in order', async () => {
  const channel = 1n;
  const a = await resumingMember(10n, channel);
  const b = track((await joinedClient(options(11n, channel), GUILD, channel)).client);
  const c = track((await joinedClient(options(12n, channel), GUILD, channel)).client);
  await a.client.expect('userJoined');
  await a.client.expect('userJoined');
  await b.expect('userJoined');
  const seenBefore = a.client.lastSeq;
  assert.ok(seenBefore >= 3, `membership messages carry their seq (last ${seenBefore})`);

  a.client.terminate(); // no close frame: $disconnect with 1006 → suspended
  await sleep(400);
  // While A is away: D joins (its JoinedChannel lists A: A is still there), B leaves.
  const d = await joinedClient(options(13n, channel), GUILD, channel);
  track(d.client);
  assert.deepEqual(
    d.joined.otherUsers.map((u) => u.userId).sort(),
    [10n, 11n, 12n],
    'A is still a member while suspended',
  );
  b.close();
  await c.expect('userJoined');
  assert.equal((await c.expect('userLeft')).userId, 11n);

  const a2 = await resumeOn(10n, channel, {
    sessionId: a.credential.sessionId,
    credential: a.credential.credential,
    lastSeq: seenBefore,
  });
  const resumed = await a2.nextExt();
  assert.equal(resumed.$case, 'resumed');
  assert.notEqual(a2.credential?.credential, a.credential.credential, 'the credential is rotated');
  assert.equal((await a2.expect('userJoined')).data?.userId, 13n);
  assert.equal((await a2.expect('userLeft')).userId, 11n);
  // The same media session: a consumer A got on its first socket can still be resumed.
  const ofC = a.client.all('userJoined').find((u) => u.data!.userId === 12n)!.data!.consumerId;
  a2.send({ $case: 'resumeConsumer', value: { consumerId: ofC } });
  await sleep(600);
  assert.deepEqual(membership(a2), ['joined:13', 'left:11'], 'replayed exactly once, in order; nothing else');
  assert.deepEqual(a2.errors(), [], 'ResumeConsumer on the original session is accepted');
  assert.deepEqual(membership(c), ['joined:13', 'left:11'], 'C never saw A leave or join');
  assert.deepEqual(membership(d.client), ['left:11'], 'D never saw A leave or join (only B leaving)');
  assert.equal(a2.closed, undefined);

  // New entries reach A on its new socket, with seqs after the replayed ones.
  const e = track((await joinedClient(options(14n, channel), GUILD, channel)).client);
  assert.equal((await a2.expect('userJoined')).data?.userId, 14n);
  assert.ok(a2.lastSeq > seenBefore + 2);
  // A leaves for good (a normal close): everyone is told once.
  a2.close();
  assert.equal((await e.expect('userLeft')).userId, 10n);
  assert.equal((await c.expect('userJoined')).data?.userId, 14n);
  assert.equal((await c.expect('userLeft')).userId, 10n);
});

test('make-before-break: a new socket resumes while the old one is still open; the old one is closed and carries nothing', async () => {
  const channel = 2n;
  const a = await resumingMember(20n, channel);
  const b = track((await joinedClient(options(21n, channel), GUILD, channel)).client);
  await a.client.expect('userJoined');
  const a2 = await resumeOn(20n, channel, {
    sessionId: a.credential.sessionId,
    credential: a.credential.credential,
    lastSeq: a.client.lastSeq,
  });
  assert.equal((await a2.nextExt()).$case, 'resumed');
  await a.client.waitClosed();
  const c = track((await joinedClient(options(22n, channel), GUILD, channel)).client);
  assert.equal((await a2.expect('userJoined')).data?.userId, 22n);
  await sleep(300);
  assert.deepEqual(membership(b), ['joined:22'], 'B saw nothing of the switch');
  assert.deepEqual(membership(a2), ['joined:22']);
  assert.deepEqual(c.errors(), []);
});

test('bad resumes are refused with voice.resume-refused and change nothing', async () => {
  const channel = 3n;
  const a = await resumingMember(30n, channel);
  const other = await resumingMember(31n, channel);
  await a.client.expect('userJoined');
  a.client.terminate();
  await sleep(300);
  const refusedBy = async (user: bigint, request: Parameters<typeof resumeOn>[2]) => {
    const s = await resumeOn(user, channel, request);
    const error = await s.expectError();
    assert.equal(error.identifier, 'voice.resume-refused', error.humanMessage);
    assert.ok(!error.humanMessage.includes(a.credential.sessionId), 'no internal ids in the message');
    return s;
  };
  // A foreign credential (another session's), a made-up one, another user's token, an unknown session.
  await refusedBy(30n, { sessionId: a.credential.sessionId, credential: other.credential.credential, lastSeq: 0 });
  await refusedBy(30n, { sessionId: a.credential.sessionId, credential: 'x'.repeat(43), lastSeq: 0 });
  await refusedBy(31n, { sessionId: a.credential.sessionId, credential: a.credential.credential, lastSeq: 0 });
  const unknown = await refusedBy(30n, {
    sessionId: 'no-such-session',
    credential: a.credential.credential,
    lastSeq: 0,
  });
  // Nothing changed: the refused stream may still join normally; the right credential still works.
  unknown.send({ $case: 'initialize', value: { guildId: GUILD, channelId: channel } });
  assert.equal((await unknown.next()).kind, 'response');
  unknown.terminate();

  // Two resumes with one credential at once: exactly one wins.
  const [r1, r2] = await Promise.all([
    resumeOn(30n, channel, {
      sessionId: a.credential.sessionId,
      credential: a.credential.credential,
      lastSeq: a.client.lastSeq,
    }),
    resumeOn(30n, channel, {
      sessionId: a.credential.sessionId,
      credential: a.credential.credential,
      lastSeq: a.client.lastSeq,
    }),
  ]);
  const outcomes = await Promise.all(
    [r1, r2].map(async (s) => {
      const f = await s.next();
      return f.kind === 'ext' ? f.message.message?.$case : f.kind === 'error' ? f.error.identifier : 'response';
    }),
  );
  assert.deepEqual(outcomes.sort(), ['resumed', 'voice.resume-refused']);
  const winner = outcomes[0] === 'resumed' ? r1 : r2;
  // The used credential is dead now.
  await refusedBy(30n, { sessionId: a.credential.sessionId, credential: a.credential.credential, lastSeq: 0 });
  await sleep(300);
  assert.equal(winner.closed, undefined, 'the winner keeps the session');
  assert.deepEqual(membership(other.client), [], 'the other member saw nothing of all this');
});

test('after the grace the session ends with the ordinary leave (UserLeft once), and a late resume is refused', async () => {
  const channel = 4n;
  const a = await resumingMember(40n, channel);
  const b = track((await joinedClient(options(41n, channel), GUILD, channel)).client);
  await a.client.expect('userJoined');
  a.client.terminate();
  await sleep(GRACE_MS / 2);
  assert.deepEqual(membership(b), [], 'inside the grace nobody is told');
  assert.equal((await b.expect('userLeft', GRACE_MS + 5_000)).userId, 40n);
  const late = await resumeOn(40n, channel, {
    sessionId: a.credential.sessionId,
    credential: a.credential.credential,
    lastSeq: a.client.lastSeq,
  });
  assert.equal((await late.expectError()).identifier, 'voice.resume-refused');
  await sleep(300);
  assert.deepEqual(membership(b), ['left:40'], 'UserLeft exactly once');
});

test("the old socket's late frames change nothing; a stock client of the same channel sees only voice.v1 frames", async () => {
  const channel = 5n;
  const stock = track((await joinedClient(options(50n, channel), GUILD, channel)).client);
  const a = await resumingMember(51n, channel);
  await stock.expect('userJoined');
  const a2 = await resumeOn(51n, channel, {
    sessionId: a.credential.sessionId,
    credential: a.credential.credential,
    lastSeq: a.client.lastSeq,
    restartIce: true,
  });
  const resumed = await a2.nextExt();
  assert.ok(resumed.$case === 'resumed' && resumed.value.ice, 'ICE restarted on request');
  const ice = resumed.$case === 'resumed' ? resumed.value.ice! : undefined;
  assert.ok(JSON.parse(ice!.consumerIceParameters).usernameFragment, 'new consumer ICE parameters');
  assert.ok(JSON.parse(ice!.producerIceParameters).usernameFragment, 'new producer ICE parameters');
  await sleep(300);
  assert.equal(a2.closed, undefined);
  assert.ok(
    stock.frames.every((f) => f.kind !== 'ext'),
    'never an extension frame to a stock client',
  );
  assert.deepEqual(membership(stock), ['joined:51']);
});

test('a suspended session whose media died is announced as left (regression: the leave was in the history but never delivered)', async () => {
  const channel = 6n;
  const a = await resumingMember(60n, channel);
  const b = track((await joinedClient(options(61n, channel), GUILD, channel)).client);
  await a.client.expect('userJoined');
  a.client.terminate();
  await sleep(300);
  // The media side loses the session while it is suspended (here: its Leave on the node, as ICE/DTLS loss would).
  const api = connectMediaNode(stack.mediaNode!.grpc, { secret: stack.env.MEDIA_NODE_SECRET });
  try {
    const left = await api.leave({ roomId: `${GUILD}:${channel}`, sessionId: a.credential.sessionId });
    assert.equal(left.announced, true, "the node wrote the leave into the room's history");
  } finally {
    api.close();
  }
  assert.equal((await b.expect('userLeft', GRACE_MS + 8_000)).userId, 60n);
  await sleep(300);
  assert.deepEqual(membership(b), ['left:60'], 'UserLeft exactly once');
});
