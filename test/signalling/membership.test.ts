// Members' views through the real local stack (real sockets, Lambda handlers, dynalite, a real media
// node): regressions for the defects of the ordered-history issue (D1–D5) and a short churn.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { channelTruth } from '../support/channel-truth';
import { ChurnClient, runChurn, settle } from '../support/churn';
import { dtlsParameters } from '../support/client-params';
import { initialize, joinedClient, prepare, sendJoin } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';
import { waitFor } from '../support/wait';

const GUILD = 91n;
const CHURN_LIMITS = {
  VOICE_USER_MAX_STREAMS: '1000',
  VOICE_USER_CONNECTS_PER_MINUTE: '10000',
  VOICE_USER_JOINS_PER_MINUTE: '10000',
  VOICE_USER_REPLACEMENTS_PER_MINUTE: '10000',
  VOICE_USER_MAX_PREPARED: '1000',
};
let stack: LocalStack;
const open: VoiceTestClient[] = [];
const saved = { ...process.env };

before(async () => {
  process.env.VOICE_JOIN_WITHIN_MS = '8000';
  process.env.VOICE_STEP_WITHIN_MS = '4000';
  // The media node closes an empty room after 300 ms of its own: the signalling window must still hold (D5).
  process.env.MEDIA_ROOM_GRACE_MS = '300';
  // The churn below runs a handful of users far faster than any honest client (closes after every message,
  // five streams of one user at once, a stopped media node holding ends back): the per-user limits, tested in
  // user-limits.test.ts, would refuse it (429 at $connect) and that is not what this test is about.
  Object.assign(process.env, CHURN_LIMITS);
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 1_000 });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
  for (const k of [
    'VOICE_JOIN_WITHIN_MS',
    'VOICE_STEP_WITHIN_MS',
    'MEDIA_ROOM_GRACE_MS',
    ...Object.keys(CHURN_LIMITS),
  ]) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

const options = (user: bigint, channel: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) });
const track = <T extends { client: VoiceTestClient } | VoiceTestClient>(x: T): T => {
  open.push('client' in x ? x.client : x);
  return x;
};

test('D1: a rejected join from a second stream changes nothing (the first stream and the others are untouched)', async () => {
  const channel = 1n;
  const c1 = track(await joinedClient(options(30n, channel), GUILD, channel));
  const m = track(await joinedClient(options(31n, channel), GUILD, channel));
  assert.equal((await c1.client.expect('userJoined')).data?.userId, 31n);
  const c2 = track(await VoiceTestClient.connect(options(30n, channel)));
  await initialize(c2, GUILD, channel);
  await prepare(c2);
  c2.send({
    $case: 'joinChannel',
    value: {
      rtpParamaters: '{"codecs":[]}',
      producerDtlsParamaters: dtlsParameters(),
      consumerDtlsParamaters: dtlsParameters(),
    },
  });
  assert.equal((await c2.expectError()).identifier, 'voice.bad-rtp-parameters');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c1.client.closed, undefined, 'the working first stream is not closed');
  assert.ok(!c1.client.frames.some((f) => f.kind === 'error'), 'the first stream is told nothing');
  assert.ok(
    !m.client.frames.some((f) => f.kind === 'response' && f.response.message?.$case === 'userLeft'),
    'the others see no UserLeft',
  );
  // A valid join from the second stream then replaces the first: UserLeft before UserJoined, in that order.
  const c3 = track(await joinedClient(options(30n, channel), GUILD, channel));
  assert.deepEqual(
    c3.joined.otherUsers.map((u) => u.userId),
    [31n],
  );
  assert.equal((await c1.client.expectError()).identifier, 'voice.session-replaced');
  assert.equal((await m.client.expect('userLeft')).userId, 30n);
  assert.equal((await m.client.expect('userJoined')).data?.userId, 30n);
});

test("D5: a client inside its PrepareForJoinChannel window is served although the node's own room grace passed", async () => {
  const client = track(await VoiceTestClient.connect(options(40n, 2n)));
  await initialize(client, GUILD, 2n);
  // Past the node's own grace (300 ms) and its 5 s minimum for a freshly opened room; well inside the 30 s window.
  await new Promise((r) => setTimeout(r, 6_000));
  const prepared = await prepare(client);
  assert.ok(prepared.consumerTransportOptions?.id);
});

test('D4: a leave while the media node hangs is announced once the node is back', async () => {
  const channel = 3n;
  const a = track(await joinedClient(options(50n, channel), GUILD, channel));
  const b = track(await joinedClient(options(51n, channel), GUILD, channel));
  const w = track(await joinedClient(options(52n, channel), GUILD, channel));
  await a.client.expect('userJoined');
  await a.client.expect('userJoined');
  await b.client.expect('userJoined');
  const pid = stack.mediaNode!.pid;
  process.kill(pid, 'SIGSTOP');
  try {
    w.client.close();
    await new Promise((r) => setTimeout(r, 7_000)); // past the 5 s media call deadline
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.equal((await a.client.expect('userLeft', 30_000)).userId, 52n);
  assert.equal((await b.client.expect('userLeft', 30_000)).userId, 52n);
});

test('churn with closes after every message, destroyed sockets, same-user races and a stopped media node: views equal membership', {
  timeout: 240_000,
}, async () => {
  const report = await runChurn(stack, {
    durationMs: 15_000,
    // At load 15 on two cores the 15 s once sent only 10 JoinChannel: go on until there were enough to prove something.
    minJoins: 20,
    seed: 7,
    users: 8,
    channels: 2,
    concurrency: 4,
    stopMediaNodeMs: 2_500,
    guild: GUILD + 1n,
  });
  console.log(
    `# churn: ${report.operations} operations, ${report.joins} joins, ${report.remaining} members at the end, ` +
      `${report.anomalies.length} anomalies, ${report.mismatches.length} view mismatches`,
  );
  assert.deepEqual(report.anomalies, []);
  assert.deepEqual(report.mismatches, []);
  assert.ok(report.joins > 10, 'the churn actually joined people');
});

test("the churn's check waits for the last entry: a view read while a replacement is still being told is no divergence, a view still wrong after it is", async () => {
  // The divergence once seen under load ("user 1001 sees [1004], members are []") was this check's, not the
  // service's: it stopped at the first moment the views matched, however vacuously (the churn's last JoinChannel
  // unanswered), waited one second and compared again. A replaced stream is told voice.session-replaced before the
  // channel's history reaches the others (posts to different connections arrive in any order); if the second ended in
  // between, the old stream counted as gone, its successor not yet joined, and 1001 still saw 1004. Here the slow
  // path is made explicit: 1001's and the new stream's sockets are held (hold(): not read) while the old one's is not.
  const channel = 5n;
  const channelKey = `${GUILD}:${channel}`;
  const truth = channelTruth(stack);
  try {
    const m = track(await joinedClient(options(1001n, channel), GUILD, channel));
    const a = track(await joinedClient(options(1004n, channel), GUILD, channel));
    assert.equal((await m.client.expect('userJoined')).data?.userId, 1004n);
    const b = track(await VoiceTestClient.connect(options(1004n, channel)));
    await initialize(b, GUILD, channel);
    await prepare(b);
    for (const held of [a.client, m.client, b]) held.hold();
    sendJoin(b);
    // The server carries the replacement out and tells everyone (the posts wait in the held sockets).
    await waitFor(
      async () => {
        const [side] = await truth.read([channelKey]);
        const streams = side!.streams.map((s) => `${s.userId}=${s.state}`).sort();
        return !side!.busy && streams.join(',') === '1001=joined,1004=joined';
      },
      20_000,
      'the replacement carried out and delivered',
    );
    const clients = [m.client, a.client, b].map(
      (c, i) => new ChurnClient(c, ['1001', '1004', '1004'][i]!, GUILD, channel),
    );
    const settled = settle(clients, truth.read, { timeoutMs: 30_000 });
    // The old stream reads its voice.session-replaced now; 1001 and the new stream get theirs later.
    a.client.release();
    await a.client.waitClosed();
    setTimeout(() => {
      m.client.release();
      b.release();
    }, 1_500);
    const report = await settled;
    assert.deepEqual(report.anomalies, []);
    assert.deepEqual(report.mismatches, []);
    assert.equal(clients[1]!.fatal, true, 'the old stream was told it was replaced');
    assert.deepEqual([...clients[0]!.view!], ['1004'], '1001 sees the new stream of 1004 (after UserLeft, UserJoined)');
    assert.deepEqual([...clients[2]!.view!], ['1001'], 'the new stream of 1004 sees 1001');
    assert.equal(report.remaining, 2);

    // The check is not vacuous: a view that stays wrong once everything was delivered (as if a UserLeft were lost)
    // is reported, in the message the churn test fails with.
    const x = track(await joinedClient(options(1011n, channel + 1n), GUILD, channel + 1n));
    const y = track(await joinedClient(options(1014n, channel + 1n), GUILD, channel + 1n));
    await x.client.expect('userJoined');
    const wrong = new ChurnClient(x.client, '1011', GUILD, channel + 1n);
    const right = new ChurnClient(y.client, '1014', GUILD, channel + 1n);
    x.client.frames.push({
      kind: 'response',
      response: { message: { $case: 'userJoined', value: { data: { ...a.joined.otherUsers[0]!, userId: 1099n } } } },
    });
    const diverged = await settle([wrong, right], truth.read, { timeoutMs: 3_000 });
    assert.deepEqual(diverged.mismatches, [
      `user 1011 in channel ${channel + 1n} sees [1014,1099], members are [1014]`,
    ]);
  } finally {
    truth.close();
  }
});
