// Sessions that end without a $disconnect (AWS only does its best), clients that stall mid-flow, and
// sessions stuck in a step, are found by the scheduled reaper's sweep (functions/voice/sweep.ts) and ended,
// through the real local stack: the media node's ICE consent timeout reports a vanished client lost, and
// the DUE index holds every other deadline. Nothing here is found by probing connections.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STATE_TABLE } from '../../data/tables';
import { DynamoStateStore } from '../../functions/adapters/dynamo-store';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { joinWithMedia } from '../support/media-voice-client';
import { initialize, joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';

const GUILD = 77n;
/** The bound: a vanished member is announced gone within 30 s. */
const GHOST_BOUND_S = 30;
let stack: LocalStack;
let store: DynamoStateStore;
const open: VoiceTestClient[] = [];

before(async () => {
  process.env.VOICE_INITIALIZE_WITHIN_MS = '1500';
  process.env.VOICE_PREPARE_WITHIN_MS = '1500';
  // The media node runs with its production ICE consent timeout and grace; the reaper sweeps every 5 s as
  // on AWS (functions/handlers/reaper.ts).
  stack = await startLocalStack({ port: 0, strict: true, reaperIntervalMs: 5_000, mediaNode: { forwardLogs: false } });
  store = new DynamoStateStore(
    createDocumentClient({ endpoint: stack.dynamo.endpoint }),
    stack.dynamo.tables[STATE_TABLE.envVar]!,
  );
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

const options = (user: bigint, channel: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) });

test(`a client that vanishes (no $disconnect, its media dead) is announced gone within ${GHOST_BOUND_S} s`, async () => {
  const a = await joinedClient(options(1n, 1n), GUILD, 1n);
  open.push(a.client);
  const b = await joinWithMedia(options(2n, 1n), GUILD, 1n);
  open.push(b.client);
  assert.equal((await a.client.expect('userJoined')).data?.userId, 2n);
  // B vanishes: its socket dies with no $disconnect, and its ICE consent checks stop (msc-node sends none
  // after connecting, as a crashed browser sends none), so the media node's consent timeout will fire.
  stack.gateway.dropDisconnectEvents = true;
  const started = Date.now();
  b.client.terminate();
  assert.equal((await a.client.expect('userLeft', 60_000)).userId, 2n);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `ghost announced gone ${seconds.toFixed(1)} s after it vanished (ICE consent 15 s + grace 5 s + sweep every 5 s)`,
  );
  assert.ok(seconds <= GHOST_BOUND_S, `announced after ${seconds.toFixed(1)} s: over the ${GHOST_BOUND_S} s bound`);
  const lefts = a.client.frames.filter((f) => f.kind === 'response' && f.response.message?.$case === 'userLeft');
  assert.equal(lefts.length, 1, 'A is told once');
  stack.gateway.dropDisconnectEvents = false;
  for (const t of b.transports) t.close();
});

test('a client that never sends Initialize is told why and closed', async () => {
  const client = await VoiceTestClient.connect(options(3n, 2n));
  open.push(client);
  const error = await client.expectError(15_000);
  assert.equal(error.identifier, 'voice.timeout');
  await client.waitClosed();
});

test('a client that stalls after Initialize is closed and its channel slot freed', async () => {
  const client = await VoiceTestClient.connect(options(4n, 3n));
  open.push(client);
  await initialize(client, GUILD, 3n);
  assert.equal((await client.expectError(15_000)).identifier, 'voice.timeout');
  await client.waitClosed();
  // The channel still works for the next user.
  const next = await joinedClient(options(5n, 3n), GUILD, 3n);
  open.push(next.client);
  assert.deepEqual(next.joined.otherUsers, []);
});

test('sessions stuck in a step, stuck closing, or past the maximum duration are ended by the sweep', async () => {
  const now = Date.now();
  const base = {
    userId: '9',
    grants: [`${GUILD}:9`],
    variant: 'base64' as const,
    version: 3,
    connectedAt: now - 60_000,
  };
  const expires = Math.ceil(now / 1000) + 3600;
  // A crash mid-join leaves `joining`; a crash while ending leaves `closing`.
  await store.putConnection({
    ...base,
    connectionId: 'stuck-joining',
    state: 'joining',
    guildId: `${GUILD}`,
    channelId: '9',
    deadline: now - 1,
    expiresAt: expires,
  });
  await store.putConnection({
    ...base,
    connectionId: 'stuck-closing',
    state: 'closing',
    deadline: now - 1,
    expiresAt: expires,
  });
  await store.putConnection({
    ...base,
    connectionId: 'expired-joined',
    state: 'joined',
    guildId: `${GUILD}`,
    channelId: '10',
    expiresAt: Math.floor(now / 1000) - 1,
  });
  // Healthy ones the sweep must leave alone: joined (no deadline), closing within its step, connected in time.
  await store.putConnection({
    ...base,
    connectionId: 'healthy-joined',
    state: 'joined',
    guildId: `${GUILD}`,
    channelId: '11',
    expiresAt: expires,
  });
  await store.putConnection({
    ...base,
    connectionId: 'closing-now',
    state: 'closing',
    deadline: now + 600_000,
    expiresAt: expires,
  });
  await store.putConnection({
    ...base,
    connectionId: 'connected-now',
    state: 'connected',
    deadline: now + 600_000,
    expiresAt: expires,
  });
  await stack.runReaper();
  for (const id of ['stuck-joining', 'stuck-closing', 'expired-joined']) {
    assert.equal(await store.getConnectionForSweep(id), undefined, `${id} was ended`);
  }
  for (const id of ['healthy-joined', 'closing-now', 'connected-now']) {
    assert.ok(await store.getConnectionForSweep(id), `${id} was left alone`);
  }
});
