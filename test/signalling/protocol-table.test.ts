// The protocol table (functions/voice/protocol-table.ts), the step runner (step-runner.ts) and the end reasons'
// table (end-reasons.ts): the rows agree with each other, the sweep applies each state's rule, and every claimed step
// runs the same way (a reply that cannot be posted after its step advanced reverts nothing, in every step).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { listedNodeDirectory } from '../../functions/adapters/node-directory';
import { nodeRecord } from '../support/node-record';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import { END_REASONS, endError, type EndReason } from '../../functions/voice/end-reasons';
import type { ConnectionRecord, Gateway, MediaClient } from '../../functions/voice/ports';
import { STATES, STEPS, stateRule, type ConnectionState } from '../../functions/voice/protocol-table';
import { judge } from '../../functions/voice/sweep';
import { VoiceCore } from '../../functions/voice/voice-core';
import { silentLogger } from '../../lib/log';
import { METRIC, type MetricDimensions, type Metrics } from '../../lib/metrics';
import { encodeRequest } from '../../protocol/hrpc';

const NOW = 1_700_000_000_000;
const ALL = Object.keys(STATES) as ConnectionState[];

function record(state: ConnectionState, extra: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    connectionId: 's1',
    userId: '7',
    variant: 'binary',
    grants: ['1:2'],
    state,
    version: 3,
    connectedAt: NOW - 1000,
    expiresAt: Math.ceil(NOW / 1000) + 3600,
    guildId: '1',
    channelId: '2',
    ...extra,
  };
}

test('the rows agree: whose turn it is decides the deadline, and the claimed steps chain connected → joined', () => {
  for (const state of ALL) {
    const { turn, deadline } = stateRule(state);
    if (turn === 'server')
      assert.equal(deadline, 'stepWithinMs', `${state}: a server step is bounded by the step window`);
    if (turn === 'client')
      assert.ok(deadline && deadline !== 'stepWithinMs', `${state}: the client's turn has its window`);
    if (turn === 'nobody') assert.equal(deadline, undefined, `${state}: nobody's turn, no deadline`);
  }
  const chain = [STEPS.initialize, STEPS.prepare, STEPS.join];
  assert.equal(chain[0]!.from, 'connected');
  for (const [i, step] of chain.entries()) {
    assert.equal(stateRule(step.from).turn, 'client', `${step.from} waits for the client`);
    assert.equal(stateRule(step.claim).turn, 'server', `${step.claim} is the server's step`);
    if (i > 0) assert.equal(step.from, chain[i - 1]!.to, 'each step starts where the previous one ended');
  }
  assert.equal(chain.at(-1)!.to, 'joined');
  // A prepared slot is held from PrepareForJoinChannel's claim until JoinChannel's advance.
  assert.deepEqual(
    ALL.filter((s) => stateRule(s).preparedSlot),
    [STEPS.prepare.claim, STEPS.prepare.to, STEPS.join.claim],
  );
  // Only a state with somebody's socket can be suspended; only the resume.v1 states have none (or a moving one).
  for (const state of ALL) if (stateRule(state).suspendable) assert.notEqual(stateRule(state).socket, 'none');
});

test("the sweep applies each state's rule to a record past its deadline", async () => {
  const store = new MemoryStateStore(() => NOW);
  const core = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => []),
    media: { leave: async () => ({ wasPresent: false, announced: false }) } as unknown as MediaClient,
    gateway: { send: async () => 'sent', close: async () => undefined },
    policy: new TokenGrantPolicy(),
    clock: { now: () => NOW },
    log: silentLogger,
  });
  for (const state of ALL) {
    const overdue = record(state, { deadline: NOW - 1 });
    const byCore = await core.sweepResumable(overdue, () => true);
    const verdict = judge(overdue, NOW);
    const rule = stateRule(state).sweep;
    if (rule === 'timeout') {
      assert.equal(byCore, false, state);
      assert.equal(verdict?.reason, 'timeout', state);
      assert.equal(verdict?.error?.humanMessage, `no progress from state ${state} in time; the stream is closed`);
    } else if (rule === 'finish-end') {
      assert.deepEqual([byCore, verdict?.reason], [false, 'stuck'], state);
    } else if (rule === 'replay-owed') {
      assert.deepEqual([byCore, verdict], [false, undefined], `${state}: nothing to do without a replay owed`);
      assert.equal(await core.sweepResumable({ ...overdue, replayFrom: 3 }, () => false), true, `${state}: replay`);
    } else {
      assert.equal(byCore, true, `${state} (${rule}) is the core's resume.v1 rule`);
    }
  }
});

test('end reasons: each tells its client a fatal error or nothing, under its own metric label', () => {
  const labels = Object.values(END_REASONS).map((r) => r.metric);
  assert.equal(new Set(labels).size, labels.length);
  const told: [EndReason, ReturnType<typeof endError>][] = [
    ['replaced', endError('replaced')],
    ['undeliverable', endError('undeliverable')],
    ['timeout', endError('timeout', 'prepared')],
    ['expired', endError('expired', { tokenExpired: true })],
    ['expired', endError('expired', { tokenExpired: false })],
    ['media-lost', endError('media-lost', { mediaReason: 'ice-failed' })],
    ['media-lost', endError('media-lost', { nodeStopped: true })],
    ['media-lost', endError('media-lost', { resumeFailed: 'voice.media-lost' })],
  ];
  for (const [reason, error] of told) assert.ok(error?.fatal, `${reason}: ${error?.message}`);
  for (const reason of ['disconnected', 'gone', 'stuck', 'resume-grace-over'] as const)
    assert.equal(endError(reason), undefined, reason);
  assert.equal(endError('media-lost', undefined), undefined);
});

test('a reply that cannot be posted after its step advanced reverts nothing: Initialize and PrepareForJoinChannel alike', async () => {
  const races: (string | undefined)[] = [];
  const metrics: Metrics = {
    count: (name: string, _n?: number, dimensions?: MetricDimensions) => {
      if (name === METRIC.expectedRaces) races.push(dimensions?.Race);
    },
    timing: () => undefined,
  };
  const transports = { id: 't', iceParameters: '{}', iceCandidates: [], dtlsParameters: '{}' };
  const media = {
    openRoom: async () => ({ rtpCapabilities: '{"codecs":[]}' }),
    createTransports: async () => ({ consumerTransport: transports, producerTransport: transports }),
  } as unknown as MediaClient;
  // The gateway fails every post (a throttled or failing @connections call, not a 410).
  const gateway: Gateway = {
    send: async () => {
      throw new Error('PostToConnection failed (simulated)');
    },
    close: async () => undefined,
  };
  const store = new MemoryStateStore();
  const core = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => [
      nodeRecord('n1', { grpcAddress: 'n1:1', publicAddress: 'n1', capacity: 100 }),
    ]),
    media,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
    metrics,
  });
  await core.connect('c1', { userId: '7', grants: ['1:2'] }, 'binary');
  await core.receive('c1', encodeRequest({ message: { $case: 'initialize', value: { guildId: 1n, channelId: 2n } } }));
  assert.equal((await store.getConnection('c1'))?.state, 'initialized');
  const afterInitialize = [...races];
  await core.receive(
    'c1',
    encodeRequest({ message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: '{"codecs":[]}' } } }),
  );
  assert.equal((await store.getConnection('c1'))?.state, 'prepared');
  assert.deepEqual(afterInitialize, []);
  assert.deepEqual(races, [], 'no revert was tried after the step had advanced (it could only lose)');
});
