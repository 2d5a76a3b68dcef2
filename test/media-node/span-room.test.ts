// A channel spanning two workers of one real node, through the gRPC API with real WebRTC clients
// (msc-node): a join its main worker cannot admit lands on the other worker, members on both hear each
// other (RTP counted per pair), an emptied part leaves no router, pipe transport or pipe consumer behind
// (router dumps), and the death of the part's worker takes only the members on it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SessionLost } from '../../gen/medianode/v1/media_node';
import { HistoryEntry_Kind } from '../../gen/medianode/v1/media_node';
import type { MediaNodeApi } from '../../media-node/api/client';
import type { MediaNodeHandle } from '../../media-node/src/node/media-node';
import type { Room } from '../../media-node/src/room/room';
import type { LocalPart, SpanPart } from '../../media-node/src/span/room-span';
import { joinSession, startTestNode, waitFor } from './helpers';
import { TestClient } from './msc-client';

const ROOM = 'span:room';
let node: MediaNodeHandle;
let api: MediaNodeApi;
let stop: () => Promise<void>;
const lost: SessionLost[] = [];
let stream: ReturnType<MediaNodeApi['watchSessions']>;
const clients: TestClient[] = [];
let main: number;
let other: number;

before(async () => {
  // 30 consumers per worker, admitting up to 80 % (24), spilling to another worker from 60 % (18).
  // ICE consent off: msc-node never refreshes it, and losses here come from worker death only.
  ({ node, api, stop } = await startTestNode({
    workers: 2,
    capacity: 60,
    admitLoadPercent: 80,
    iceConsentTimeoutS: 0,
  }));
  stream = api.watchSessions();
  stream.on('data', (event: SessionLost) => lost.push(event));
  stream.on('error', () => {});
});
after(async () => {
  for (const client of clients) client.close();
  stream.cancel();
  await stop();
});

function room(): Room {
  const found = node.rooms.find(ROOM);
  assert.ok(found, 'the room is open');
  return found;
}

function client(sessionId: string, userId: string): TestClient {
  const c = new TestClient(api, ROOM, sessionId, userId);
  clients.push(c);
  return c;
}

/** Joins a WebRTC member and hands each member its consumer of the joiner (what UserJoined carries). */
/** A part on a worker of this node (a test failure otherwise). */
function localPart(part: SpanPart | undefined): LocalPart | undefined {
  if (part) assert.equal(part.kind, 'local');
  return part as LocalPart | undefined;
}

async function joinMember(joiner: TestClient, members: TestClient[]): Promise<string> {
  const joined = await joiner.join();
  for (const member of members) {
    const delivery = joined.forMembers.find((d) => d.receiverSessionId === member.sessionId);
    assert.ok(delivery, `${member.sessionId} gets a consumer of ${joiner.sessionId}`);
    await member.consume(delivery);
  }
  return joined.forMembers[0]?.producerId ?? '';
}

function resetCounts(...cs: TestClient[]): void {
  for (const c of cs) for (const key of c.received.keys()) c.received.set(key, 0);
}

const heard = (listener: TestClient, speaker: TestClient) => listener.received.get(speaker.sessionId) ?? 0;

/** The session ids of a router's transports, to compare a dump with what the room's sessions hold. */
function transportIdsOf(sessionIds: string[]): string[] {
  return sessionIds
    .flatMap((id) => {
      const t = room().transportsOf(id);
      assert.ok(t, `${id} has transports`);
      return [t.consumer.id, t.producer.id];
    })
    .sort();
}

describe('a channel spanning the workers of one node (RoomSpan wired into Room)', () => {
  let a: TestClient;
  let b: TestClient;
  let e: TestClient;
  let eProducerId: string;

  test('a join that would overload the main worker lands on the other; members on both workers hear each other', async () => {
    a = client('a', '1');
    b = client('b', '2');
    await joinMember(a, []);
    await joinMember(b, [a]);
    // Two members without media (listeners that never connect) fill the main worker: 12 consumers (40 %).
    await joinSession(api, ROOM, 'c', '3');
    await joinSession(api, ROOM, 'd', '4');
    await node.admission.sample();
    main = room().slot.index;
    other = 1 - main;
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => localPart(room().span.partOf(id))?.slot.index),
      [main, main, main, main],
    );

    // A fifth member would take the main worker to 20 consumers (67 %, past the 60 % spill load): it is
    // placed on the other worker, where the room opens a part.
    e = client('e', '5');
    eProducerId = await joinMember(e, [a, b]);
    const part = localPart(room().span.partOf('e'));
    assert.ok(part && !part.main, 'e is on a part, not on the main router');
    assert.equal(part.slot.index, other, 'e landed on the other worker');
    assert.equal(room().span.list().length, 2);
    assert.deepEqual(
      (await part.router.dump()).transportIds.filter((id) => transportIdsOf(['e']).includes(id)).length,
      2,
      "e's transports are on the part's router",
    );
    // The main router holds its members' transports plus one pipe transport to the part.
    assert.equal((await room().router.dump()).transportIds.length, 4 * 2 + 1);

    // RTP both ways across the pipe, counted per pair.
    await Promise.all([a.speak(100), b.speak(100), e.speak(100)]);
    await waitFor(
      () =>
        heard(e, a) >= 50 &&
        heard(e, b) >= 50 &&
        heard(a, e) >= 50 &&
        heard(b, e) >= 50 &&
        heard(a, b) >= 50 &&
        heard(b, a) >= 50,
      10_000,
      'RTP between every pair of a, b (worker A) and e (worker B)',
    );
    // Each producer is piped to the part once: the part holds e's producer and one pipe producer per member on the main router.
    const partDump = await part.router.dump();
    assert.equal(partDump.mapProducerIdConsumerIds.length, 1 + 4);
  });

  test("when the part's last member leaves, its router closes and the main router keeps no pipe transport or pipe consumer", async () => {
    const part = localPart(room().span.partOf('e'))!;
    assert.ok(
      (await room().router.dump()).mapProducerIdConsumerIds.some((entry) => entry.key === eProducerId),
      "e's pipe producer is on the main router",
    );
    await api.leave({ roomId: ROOM, sessionId: 'e' });
    e.close();
    assert.equal(part.router.closed, true, "the emptied part's router is closed");
    assert.equal(room().span.list().length, 1);
    const members = ['a', 'b', 'c', 'd'];
    await waitFor(
      async () => (await room().router.dump()).transportIds.length === members.length * 2,
      3000,
      'the pipe transport closes',
    );
    const dump = await room().router.dump();
    assert.deepEqual(
      [...dump.transportIds].sort(),
      transportIdsOf(members),
      "only the members' own transports are left",
    );
    // Four producers, each consumed by the three other members: no pipe consumer, no pipe producer of e.
    assert.equal(dump.mapProducerIdConsumerIds.length, 4);
    assert.equal(
      dump.mapProducerIdConsumerIds.reduce((n, entry) => n + entry.values.length, 0),
      4 * 3,
    );
    assert.ok(!dump.mapProducerIdConsumerIds.some((entry) => entry.key === eProducerId), "e's pipe producer is gone");
    assert.equal(
      (await node.pool.slots[other]!.worker.dump()).routerIds.length,
      0,
      'no router of the room is left on the other worker',
    );
  });

  test("the death of the part's worker takes only its members (worker-died); the rest keep talking", async () => {
    await node.admission.sample();
    e = client('e2', '5');
    await joinMember(e, [a, b]);
    assert.equal(
      localPart(room().span.partOf('e2'))?.slot.index,
      other,
      'the rejoin spans onto the other worker again',
    );
    const before = lost.length;

    process.kill(node.pool.slots[other]!.worker.pid, 'SIGKILL');
    await waitFor(() => lost.length > before, 5000, "the part's member reported lost");
    assert.deepEqual(lost.slice(before), [{ roomId: ROOM, sessionId: 'e2', userId: '5', reason: 'worker-died' }]);
    assert.deepEqual((await api.getRoom({ roomId: ROOM })).sessions.map((s) => s.sessionId).sort(), [
      'a',
      'b',
      'c',
      'd',
    ]);
    const history = await api.history({ roomId: ROOM, after: 0 });
    const leave = history.entries.at(-1)!;
    assert.deepEqual(
      { kind: leave.kind, sessionId: leave.sessionId, reason: leave.reason, audience: [...leave.audience].sort() },
      { kind: HistoryEntry_Kind.KIND_LEAVE, sessionId: 'e2', reason: 'worker-died', audience: ['a', 'b', 'c', 'd'] },
    );
    assert.equal(room().span.list().length, 1, 'the dead part is gone from the room');

    // a and b (on the main worker) still hear each other.
    resetCounts(a, b);
    await Promise.all([a.speak(100), b.speak(100)]);
    await waitFor(
      () => heard(a, b) >= 50 && heard(b, a) >= 50,
      10_000,
      'RTP between a and b after the other worker died',
    );
    assert.equal(lost.length, before + 1, 'nobody else was lost');
    await waitFor(
      async () => (await room().router.dump()).transportIds.length === 4 * 2,
      3000,
      'the pipe to the dead part closes',
    );
  });
});
