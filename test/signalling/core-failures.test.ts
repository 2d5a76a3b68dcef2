// The voice core when its own dependencies fail: the client always hears why (never a silent drop).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryGateway } from '../../functions/adapters/memory-gateway';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import type { MediaClient, NodeDirectory } from '../../functions/voice/ports';
import { listedNodeDirectory } from '../../functions/adapters/node-directory';
import { VoiceCore } from '../../functions/voice/voice-core';
import { silentLogger } from '../../lib/log';
import { decodeServerFrame, encodeRequest, toWire, type ServerFrame } from '../../protocol/hrpc';

class FailingStore extends MemoryStateStore {
  failing = false;
  override async getConnection(connectionId: string) {
    if (this.failing) throw new Error('ProvisionedThroughputExceededException (simulated)');
    return super.getConnection(connectionId);
  }
}

const noNodes: NodeDirectory = listedNodeDirectory(async () => []);
const noMedia = {} as MediaClient;

test('a store outage while reading the stream state is answered with hrpc.internal-server-error', async () => {
  const store = new FailingStore();
  const gateway = new MemoryGateway();
  const core = new VoiceCore({
    store,
    nodes: noNodes,
    media: noMedia,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  const frames: ServerFrame[] = [];
  gateway.attach('c1', (frame) => frames.push(decodeServerFrame(frame)));
  await core.connect('c1', { userId: '1', grants: ['1:2'] }, 'base64');
  store.failing = true;
  await core.receive(
    'c1',
    toWire(
      encodeRequest({ message: { $case: 'initialize', value: { guildId: 1n, channelId: 2n } } }),
      'base64',
    ) as string,
  );
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.kind, 'error');
  assert.equal(frames[0]!.kind === 'error' && frames[0]!.error.identifier, 'hrpc.internal-server-error');
});

test('with no media node available, Initialize is answered with hrpc.unavailable and a retry hint, and changes nothing', async () => {
  const store = new MemoryStateStore();
  const gateway = new MemoryGateway();
  const core = new VoiceCore({
    store,
    nodes: noNodes,
    media: noMedia,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  const frames: ServerFrame[] = [];
  gateway.attach('c2', (frame) => frames.push(decodeServerFrame(frame)));
  await core.connect('c2', { userId: '1', grants: ['1:2'] }, 'binary');
  await core.receive('c2', encodeRequest({ message: { $case: 'initialize', value: { guildId: 1n, channelId: 2n } } }));
  const frame = frames[0]!;
  assert.equal(frame.kind === 'error' && frame.error.identifier, 'hrpc.unavailable');
  assert.ok(frame.kind === 'error' && (frame.retryAfterSeconds ?? 0) > 0);
  assert.equal((await store.getConnection('c2'))?.state, 'connected');
});
