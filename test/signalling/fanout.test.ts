// Many users joining one channel at the same instant, and joins interleaved with leaves, through the
// real local stack: every member must end up consuming every other member exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';

const GUILD = 42n;
let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, strict: true });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

async function joinAll(users: bigint[], channel: bigint) {
  return Promise.all(
    users.map(async (user) => {
      const { client } = await joinedClient(
        { wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) },
        GUILD,
        channel,
      );
      open.push(client);
      return { user, client };
    }),
  );
}

/** The consumers a client holds now: user id → consumer id, replaying its frames in order. */
function liveConsumers(client: VoiceTestClient): Map<bigint, string> {
  const live = new Map<bigint, string>();
  for (const frame of client.frames) {
    if (frame.kind !== 'response') continue;
    const m = frame.response.message;
    if (m?.$case === 'joinedChannel') for (const o of m.value.otherUsers) live.set(o.userId, o.consumerId);
    if (m?.$case === 'userJoined') live.set(m.value.data!.userId, m.value.data!.consumerId);
    if (m?.$case === 'userLeft') live.delete(m.value.userId);
  }
  return live;
}

async function eventually(check: () => void, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('20 clients joining one channel at once: each ends with exactly 19 consumers, one per other member', async () => {
  const users = Array.from({ length: 20 }, (_, i) => 1000n + BigInt(i));
  const members = await joinAll(users, 1n);
  await eventually(() => {
    for (const { user, client } of members) {
      const consumers = [
        ...client.all('joinedChannel').flatMap((j) => j.otherUsers),
        ...client.all('userJoined').map((u) => u.data!),
      ];
      assert.equal(consumers.length, 19, `user ${user} has ${consumers.length} consumers`);
      assert.deepEqual(new Set(consumers.map((c) => c.userId)), new Set(users.filter((u) => u !== user)));
    }
  });
  const all = members.flatMap(({ client }) => [
    ...client.all('joinedChannel').flatMap((j) => j.otherUsers),
    ...client.all('userJoined').map((u) => u.data!),
  ]);
  assert.equal(all.length, 380, 'every pair, both directions, exactly once');
  assert.equal(new Set(all.map((c) => c.consumerId)).size, 380, 'no consumer id delivered twice');
  const joinedCounts = members.map(({ client }) => client.all('joinedChannel')[0]!.otherUsers.length);
  const userJoinedTotal = members.reduce((n, { client }) => n + client.all('userJoined').length, 0);
  assert.equal(
    userJoinedTotal,
    joinedCounts.reduce((a, b) => a + b, 0),
    'every UserJoined matches a joiner that found that member',
  );
  for (const { client } of members) assert.deepEqual(client.errors(), []);
});

test('joins and leaves interleaved: the survivors consume exactly each other', async () => {
  const stable = Array.from({ length: 10 }, (_, i) => 2000n + BigInt(i));
  const first = await joinAll(stable, 2n);
  const leavers = first.slice(0, 5);
  const newcomers = Array.from({ length: 10 }, (_, i) => 3000n + BigInt(i));
  const [joined] = await Promise.all([
    joinAll(newcomers, 2n),
    (async () => {
      for (const { client } of leavers) {
        client.close();
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
  ]);
  const survivors = [...first.slice(5), ...joined];
  const survivorIds = new Set(survivors.map((s) => s.user));
  await eventually(() => {
    for (const { user, client } of survivors) {
      const live = liveConsumers(client);
      assert.deepEqual(
        new Set(live.keys()),
        new Set([...survivorIds].filter((u) => u !== user)),
        `user ${user}'s consumers`,
      );
    }
  });
  for (const { client } of survivors) {
    for (const { user } of leavers) {
      assert.ok(
        client.all('userLeft').filter((l) => l.userId === user).length <= 1,
        'UserLeft at most once per leaver',
      );
    }
  }
});
