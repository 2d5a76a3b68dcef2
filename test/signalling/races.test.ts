// Conflicts return the record (no re-read after a lost race), and every expected race is counted with its name
// (functions/voice/races.ts), whichever module lost it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryGateway } from '../../functions/adapters/memory-gateway';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { listedNodeDirectory } from '../../functions/adapters/node-directory';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import type { ConnectionRecord, MediaClient, NodeDirectory } from '../../functions/voice/ports';
import { ChannelFeed } from '../../functions/voice/channel-feed';
import { Races } from '../../functions/voice/races';
import { VoiceCore } from '../../functions/voice/voice-core';
import { silentLogger } from '../../lib/log';
import { METRIC, type MetricDimensions, type Metrics } from '../../lib/metrics';
import { decodeServerFrame, encodeRequest, type ServerFrame } from '../../protocol/hrpc';

/** Counts the reads of one connection (a re-read after a lost race would show here). */
class ReadCountingStore extends MemoryStateStore {
  reads = 0;
  override async getConnection(connectionId: string) {
    this.reads++;
    return super.getConnection(connectionId);
  }
}

function harness() {
  const store = new ReadCountingStore();
  const counted: { name: string; dimensions?: MetricDimensions }[] = [];
  const metrics: Metrics = {
    count: (name, _n, dimensions) => void counted.push({ name, dimensions }),
    timing: () => undefined,
  };
  const nodes: NodeDirectory = listedNodeDirectory(async () => []);
  const media = { leave: async () => ({ wasPresent: false, announced: false }) } as unknown as MediaClient;
  const core = new VoiceCore({
    store,
    nodes,
    media,
    gateway: new MemoryGateway(),
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
    metrics,
  });
  const races = () => counted.filter((c) => c.name === METRIC.expectedRaces).map((c) => c.dimensions?.Race);
  return { store, core, races };
}

const session = (extra: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
  connectionId: 's1',
  userId: '7',
  variant: 'base64',
  grants: ['1:2'],
  state: 'joined',
  version: 3,
  connectedAt: Date.now(),
  expiresAt: Math.ceil(Date.now() / 1000) + 3600,
  guildId: '1',
  channelId: '2',
  resume: true,
  credentialHash: 'ab',
  ...extra,
});

test('ending a session from an outdated record claims it from the record the lost write returned (no re-read)', async () => {
  const { store, core } = harness();
  await store.putConnection(session({ version: 5 }));
  store.reads = 0;
  await core.endSession(session({ version: 4, resume: false }), 'timeout');
  assert.equal(await store.getConnection('s1'), undefined, 'the session was ended');
  assert.equal(store.reads, 1, 'only the check above read the record');
});

test('suspending from an outdated record retries from the returned record (no re-read)', async () => {
  const { store, core } = harness();
  await store.putConnection(session({ version: 5 }));
  store.reads = 0;
  assert.equal(await core.resumption.suspend(session({ version: 4 }), 's1', 'gone'), true);
  assert.equal(store.reads, 0);
  assert.equal((await store.getConnection('s1'))?.state, 'suspended');
});

test("resume.v1's races are counted with their Race dimension like the core's (they were only logged)", async () => {
  const { store, core, races } = harness();
  await store.putConnection(session({ socket: 's2' }));
  // The old socket of a session that moved to s2 goes away: nothing changes, an expected race.
  assert.equal(await core.resumption.suspend((await store.getConnection('s1'))!, 's1', 'gone'), true);
  assert.deepEqual(races(), ['old-socket-gone']);
});

test('JoinChannel claims a prepared stream without reading it first; on any other stream it answers as before', async () => {
  const { store } = harness();
  const calls: string[] = [];
  const media = {
    join: async () => (calls.push('join'), { forJoiner: [], forMembers: [], seq: 1, roomInstance: 'r1', replaced: [] }),
    history: async () => ({ exists: false, roomInstance: '', head: 0, entries: [], truncated: false }),
  } as unknown as MediaClient;
  const joinCore = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => []),
    media,
    gateway: new MemoryGateway(),
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  const frame = encodeRequest({
    message: {
      $case: 'joinChannel',
      value: { rtpParamaters: '{}', producerDtlsParamaters: '{}', consumerDtlsParamaters: '{}' },
    },
  });
  const prepared = session({
    connectionId: 'p1',
    state: 'prepared',
    variant: 'binary',
    resume: false,
    credentialHash: undefined,
    nodeId: 'n',
    nodeAddress: 'n:1',
    deadline: Date.now() + 60_000,
  });
  await store.putConnection(prepared);
  store.reads = 0;
  await joinCore.receive('p1', frame);
  assert.deepEqual(calls, ['join']);
  assert.equal((await store.getConnection('p1'))?.state, 'joined');
  assert.equal(store.reads, 1, 'no read before the claim (only the check above)');

  // Not prepared: the claim reads nothing either — its failed write carries the record — and the answer is the
  // ordinary one (out of order), nothing changed.
  const gateway = new MemoryGateway();
  const frames: ServerFrame[] = [];
  gateway.attach('p2', (f) => frames.push(decodeServerFrame(f)));
  const answering = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => []),
    media,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  await store.putConnection({ ...prepared, connectionId: 'p2', state: 'initialized' });
  store.reads = 0;
  await answering.receive('p2', frame);
  assert.equal(store.reads, 0);
  assert.equal(frames[0]?.kind === 'error' && frames[0].error.identifier, 'voice.out-of-order');
  assert.equal((await store.getConnection('p2'))?.version, prepared.version, 'unchanged');
  assert.deepEqual(calls, ['join']);
});

test("the feed's lost race (a replay overtaken by a new suspend) is counted like every other", async () => {
  const store = new MemoryStateStore();
  const counted: (string | undefined)[] = [];
  const metrics: Metrics = {
    count: (name, _n, d) => void (name === METRIC.expectedRaces && counted.push(d?.Race)),
    timing: () => undefined,
  };
  const node = { nodeId: 'n', grpcAddress: 'n:1' };
  const entry = { seq: 1, kind: 'join' as const, sessionId: 'other', userId: '8', forJoiner: [], forMembers: [] };
  const media = {
    history: async () => ({ exists: true, roomInstance: 'r1', head: 1, entries: [entry], truncated: false }),
  } as unknown as MediaClient;
  const feed = new ChannelFeed({
    store,
    media,
    gateway: new MemoryGateway(),
    clock: Date,
    log: silentLogger,
    metrics,
    races: new Races({ log: silentLogger, metrics }),
    leaseMs: 10_000,
    ttlSeconds: 3600,
    assertFits: () => undefined,
  });
  // A resumed session waiting for its replay from position 0; its record moves on (suspended again) mid-replay.
  const resumed = session({ replayFrom: 0, nodeId: 'n', nodeAddress: 'n:1' });
  await store.putConnection(resumed);
  const original = store.tryTransition.bind(store);
  store.tryTransition = async (expected, next) => {
    await original(expected, { state: 'suspended' });
    return original(expected, next);
  };
  await feed.drain('1:2', node, 's1');
  assert.deepEqual(counted, ['replay-overtaken']);
});

test('PrepareForJoinChannel claims an initialized stream without reading it first', async () => {
  const { store } = harness();
  const transport = { id: 't', iceParameters: '{}', iceCandidates: [], dtlsParameters: '{}' };
  const media = {
    createTransports: async () => ({ consumerTransport: transport, producerTransport: transport }),
  } as unknown as MediaClient;
  const gateway = new MemoryGateway();
  const frames: ServerFrame[] = [];
  gateway.attach('i1', (f) => frames.push(decodeServerFrame(f)));
  const core = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => []),
    media,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  await store.putConnection(
    session({
      connectionId: 'i1',
      state: 'initialized',
      variant: 'binary',
      resume: false,
      credentialHash: undefined,
      nodeId: 'n',
      nodeAddress: 'n:1',
      deadline: Date.now() + 60_000,
    }),
  );
  store.reads = 0;
  await core.receive(
    'i1',
    encodeRequest({ message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: '{"codecs":[]}' } } }),
  );
  assert.equal(store.reads, 0);
  assert.equal(frames[0]?.kind === 'response' && frames[0].response.message?.$case, 'preparedForJoinChannel');
  assert.equal((await store.getConnection('i1'))?.state, 'prepared');
});
