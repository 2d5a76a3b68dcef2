// No poison entry: an entry of a channel's history that cannot be posted to one receiver
// (here: its frame is over the server-message budget, so the size check throws — what padded parameters did
// on main) ends that receiver alone with `voice.undeliverable`; the channel's feed goes on, and later joins
// are announced to everyone else. The real VoiceCore and ChannelFeed over the in-memory store and gateway, with
// a media fake whose history carries the oversized entry (the node cannot make one any more: its consumer
// parameters are bounded by construction — test/signalling/parameters.test.ts shows that through the real stack).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryGateway } from '../../functions/adapters/memory-gateway';
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import type {
  ConnectionRecord,
  ConsumerDelivery,
  HistoryEntry,
  MediaClient,
  NodeDirectory,
  Placement,
} from '../../functions/voice/ports';
import { listedNodeDirectory } from '../../functions/adapters/node-directory';
import { VoiceCore } from '../../functions/voice/voice-core';
import { silentLogger } from '../../lib/log';
import { decodeServerFrame, type ServerFrame } from '../../protocol/hrpc';

const NODE: Placement = { nodeId: 'node-1', grpcAddress: '127.0.0.1:1' };
const CHANNEL = '1:2';

/** A room's history as the node keeps it, with leave entries appended by Leave. */
class HistoryMedia {
  readonly entries: HistoryEntry[] = [];
  /** Entries per History answer (the node bounds its answers: the feed pages on). */
  constructor(private readonly pageSize = Infinity) {}
  historyCalls = 0;
  private readonly members = new Map<string, { userId: string; toldTo: Set<string> }>();
  join(sessionId: string, userId: string, forJoiner: ConsumerDelivery[], forMembers: ConsumerDelivery[]): void {
    for (const d of forJoiner) this.members.get(d.producerSessionId)?.toldTo.add(sessionId);
    this.members.set(sessionId, { userId, toldTo: new Set(forMembers.map((d) => d.receiverSessionId)) });
    this.entries.push({ seq: this.entries.length + 1, kind: 'join', sessionId, userId, forJoiner, forMembers });
  }
  readonly client = {
    history: async (_node: Placement, { after }: { after: number }) => {
      this.historyCalls++;
      return {
        exists: true,
        roomInstance: 'r1',
        head: this.entries.length,
        entries: this.entries.filter((e) => e.seq > after).slice(0, this.pageSize),
        truncated: false,
      };
    },
    leave: async (_node: Placement, { sessionId }: { sessionId: string }) => {
      const member = this.members.get(sessionId);
      if (!member) return { wasPresent: false, announced: false };
      this.members.delete(sessionId);
      for (const other of this.members.values()) other.toldTo.delete(sessionId);
      const audience = [...member.toldTo].filter((id) => this.members.has(id));
      this.entries.push({
        seq: this.entries.length + 1,
        kind: 'leave',
        sessionId,
        userId: member.userId,
        audience,
        reason: 'left',
      });
      return { wasPresent: true, announced: true };
    },
  } as unknown as MediaClient;
}

function delivery(
  receiver: string,
  producerSession: string,
  producerUser: string,
  rtpParameters = '{"codecs":[]}',
): ConsumerDelivery {
  return {
    receiverSessionId: receiver,
    producerSessionId: producerSession,
    producerUserId: producerUser,
    producerId: `p-${producerSession}`,
    consumerId: `c-${receiver}-${producerSession}`,
    rtpParameters,
  };
}

test('an entry one receiver cannot be sent ends that receiver alone (voice.undeliverable); the feed goes on for everyone else', async () => {
  const store = new MemoryStateStore();
  const gateway = new MemoryGateway();
  const media = new HistoryMedia();
  const nodes: NodeDirectory = listedNodeDirectory(async () => []);
  const core = new VoiceCore({
    store,
    nodes,
    media: media.client,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  const frames = new Map<string, ServerFrame[]>();
  const now = Date.now();
  for (const [id, user] of [
    ['a', '10'],
    ['x', '11'],
    ['c', '12'],
  ] as const) {
    const record: ConnectionRecord = {
      connectionId: id,
      userId: user,
      variant: 'base64',
      grants: [CHANNEL],
      state: 'joined',
      version: 1,
      guildId: '1',
      channelId: '2',
      nodeId: NODE.nodeId,
      nodeAddress: NODE.grpcAddress,
      connectedAt: now,
      expiresAt: Math.ceil(now / 1000) + 3600,
    };
    await store.putConnection(record);
    frames.set(id, []);
    gateway.attach(id, (frame) => frames.get(id)!.push(decodeServerFrame(frame)));
  }
  // x's JoinedChannel carries 120 KB: over the 96 KB a server message may carry. Everyone else's messages are small.
  media.join('a', '10', [], []);
  media.join(
    'x',
    '11',
    [delivery('x', 'a', '10', JSON.stringify({ pad: 'x'.repeat(120_000) }))],
    [delivery('a', 'x', '11')],
  );
  media.join(
    'c',
    '12',
    [delivery('c', 'a', '10'), delivery('c', 'x', '11')],
    [delivery('a', 'c', '12'), delivery('x', 'c', '12')],
  );

  await core.announce({ channelKey: CHANNEL, node: NODE });

  const kinds = (id: string) =>
    frames
      .get(id)!
      .map((f) =>
        f.kind === 'error' ? f.error.identifier : f.kind === 'response' ? f.response.message?.$case : f.kind,
      );
  assert.deepEqual(
    kinds('x'),
    ['voice.undeliverable'],
    'x is told why, and nothing after its refused entry reaches it',
  );
  assert.ok(gateway.closed.has('x'), 'x is closed');
  assert.equal(await store.getConnection('x'), undefined, 'x is ended (its record is gone)');
  // The channel was not stalled: c's join (after the poison entry) is announced, and x's leave too.
  assert.deepEqual(kinds('c'), ['joinedChannel', 'userLeft']);
  assert.deepEqual(kinds('a'), ['joinedChannel', 'userJoined', 'userJoined', 'userLeft']);
  const joinedOfC = frames.get('c')![0]!;
  assert.deepEqual(
    joinedOfC.kind === 'response' &&
      joinedOfC.response.message?.$case === 'joinedChannel' &&
      joinedOfC.response.message.value.otherUsers.map((u) => u.userId),
    [10n, 11n],
  );
  // Nothing is left stalled for the sweep: the feed's cursor is at the head.
  assert.equal(await store.getStalledFeed(CHANNEL, Date.now() + 60_000), undefined);
});

test('History answers are pages: the feed reads on until the head and delivers every entry once, in order', async () => {
  const store = new MemoryStateStore();
  const gateway = new MemoryGateway();
  const media = new HistoryMedia(1);
  const core = new VoiceCore({
    store,
    nodes: listedNodeDirectory(async () => []),
    media: media.client,
    gateway,
    policy: new TokenGrantPolicy(),
    clock: Date,
    log: silentLogger,
  });
  const users = ['a', 'b', 'c', 'd'];
  const frames = new Map<string, string[]>();
  const now = Date.now();
  for (const [i, id] of users.entries()) {
    await store.putConnection({
      connectionId: id,
      userId: String(20 + i),
      variant: 'binary',
      grants: [CHANNEL],
      state: 'joined',
      version: 1,
      guildId: '1',
      channelId: '2',
      nodeId: NODE.nodeId,
      nodeAddress: NODE.grpcAddress,
      connectedAt: now,
      expiresAt: Math.ceil(now / 1000) + 3600,
    });
    frames.set(id, []);
    gateway.attach(id, (frame) => {
      const f = decodeServerFrame(frame);
      frames.get(id)!.push(f.kind === 'response' ? `${f.response.message?.$case}` : f.kind);
    });
    const before = users.slice(0, i);
    media.join(
      id,
      String(20 + i),
      before.map((m) => delivery(id, m, String(20 + users.indexOf(m)))),
      before.map((m) => delivery(m, id, String(20 + i))),
    );
  }
  await core.announce({ channelKey: CHANNEL, node: NODE });
  assert.ok(media.historyCalls >= 4, `one page per entry (${media.historyCalls} History calls)`);
  assert.deepEqual(frames.get('a'), ['joinedChannel', 'userJoined', 'userJoined', 'userJoined']);
  assert.deepEqual(frames.get('c'), ['joinedChannel', 'userJoined']);
  assert.deepEqual(frames.get('d'), ['joinedChannel']);
  assert.equal(await store.getStalledFeed(CHANNEL, Date.now() + 60_000), undefined);
});
