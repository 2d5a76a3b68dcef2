// A channel spanning two real media nodes in one process (two workers each, one shared secret): the
// signalling side talks to the room's home node only; a join no worker of the home node admits lands on
// the other node (a remote part), members on both nodes hear each other over an SRTP PipeTransport pair
// (RTP counted per pair with msc-node WebRTC clients), the node-to-node API refuses a wrong or missing
// secret, an emptied remote part leaves nothing on either node, and a far node that dies takes only its
// members (lost with 'node-lost'), while the home node's members keep hearing each other.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { HistoryEntry_Kind, type SessionLost } from '../../gen/medianode/v1/media_node';
import type { MediaNodeApi } from '../../media-node/api/client';
import { parseMediaError } from '../../media-node/api/errors';
import { connectMediaNodeSpan } from '../../media-node/api/span-client';
import { listedFarNodes, registryFarNodes } from '../../media-node/src/span/far-nodes';
import type { NodeRegistry } from '../../routing/node-registry';
import { summarizeLoad } from '../../routing/load';
import type { MediaNodeRecord } from '../../routing/types';
import type { MediaNodeHandle } from '../../media-node/src/node/media-node';
import type { RemotePart } from '../../media-node/src/span/remote-part';
import type { Room } from '../../media-node/src/room/room';
import { joinSession, SECRET, startTestNode, waitFor } from './helpers';
import { TestClient } from './msc-client';

const ROOM = 'span:nodes';
let home: MediaNodeHandle;
let far: MediaNodeHandle;
let api: MediaNodeApi;
let stopHome: () => Promise<void>;
let stopFar: () => Promise<void>;
const lost: SessionLost[] = [];
let stream: ReturnType<MediaNodeApi['watchSessions']>;
const clients: TestClient[] = [];

before(async () => {
  // ICE consent off: msc-node never refreshes it; losses here come from the far node's death only.
  // Node 2: 6 consumers per worker, admitting up to 100 % (spilling from 75 %), so its part spreads over
  // its two workers by its own admission too.
  ({ node: far, stop: stopFar } = await startTestNode({
    nodeId: 'node-2',
    workers: 2,
    capacity: 12,
    admitLoadPercent: 100,
    iceConsentTimeoutS: 0,
  }));
  // The home node: 4 consumers per worker, admitting up to 100 % (spilling to another worker from 75 %):
  // two members fit on one worker; a third fits on neither (the first join on a new part costs the main
  // worker as much as joining there), so it goes to node 2.
  ({
    node: home,
    api,
    stop: stopHome,
  } = await startTestNode({
    nodeId: 'node-1',
    workers: 2,
    capacity: 8,
    admitLoadPercent: 100,
    iceConsentTimeoutS: 0,
    farNodes: listedFarNodes([{ nodeId: 'node-2', grpcAddress: far.grpcAddress }]),
  }));
  stream = api.watchSessions();
  stream.on('data', (event: SessionLost) => lost.push(event));
  stream.on('error', () => {});
});
after(async () => {
  for (const c of clients) c.close();
  stream.cancel();
  await stopHome();
  await stopFar();
});

function room(): Room {
  const found = home.rooms.find(ROOM);
  assert.ok(found, 'the room is open on the home node');
  return found;
}

function remotePart(): RemotePart {
  const part = room()
    .span.list()
    .find((p) => p.kind === 'remote');
  assert.ok(part && part.kind === 'remote', 'the room has a part on another node');
  return part;
}

function client(sessionId: string, userId: string): TestClient {
  const c = new TestClient(api, ROOM, sessionId, userId);
  clients.push(c);
  return c;
}

async function joinMember(joiner: TestClient, members: TestClient[]): Promise<void> {
  const joined = await joiner.join();
  for (const member of members) {
    const delivery = joined.forMembers.find((d) => d.receiverSessionId === member.sessionId);
    assert.ok(delivery, `${member.sessionId} gets a consumer of ${joiner.sessionId}`);
    await member.consume(delivery);
  }
}

const heard = (listener: TestClient, speaker: TestClient) => listener.received.get(speaker.sessionId) ?? 0;

/** Routers, transports, producers and consumers left on a node's workers (mediasoup's own dumps). */
async function workerObjects(node: MediaNodeHandle): Promise<number> {
  let count = 0;
  for (const slot of node.pool.slots) count += (await slot.worker.dump()).routerIds.length;
  return count;
}

describe('a channel spanning two media nodes', () => {
  let a: TestClient;
  let b: TestClient;
  let c: TestClient;

  test('a join no worker of the home node admits lands on node 2; members on both nodes hear each other over an SRTP pipe', async () => {
    a = client('a', '1');
    b = client('b', '2');
    await joinMember(a, []);
    await home.admission.sample();
    await joinMember(b, [a]);
    await home.admission.sample();
    assert.deepEqual(
      ['a', 'b'].map((id) => room().span.partOf(id)?.kind),
      ['local', 'local'],
    );

    c = client('c', '3');
    await joinMember(c, [a, b]);
    const part = remotePart();
    assert.equal(room().span.partOf('c'), part, 'c is on the remote part');
    assert.equal(part.nodeId, 'node-2');
    const hosted = far.parts.list();
    assert.deepEqual(
      hosted.map((p) => ({ roomId: p.roomId, home: p.homeNodeId, sessions: p.sessions })),
      [{ roomId: ROOM, home: 'node-1', sessions: ['c'] }],
    );
    // c's transports are on node 2 (the signalling side never saw node 2: every call went to node 1).
    assert.equal(room().transportsOf('c'), undefined, 'no transport of c on the home node');
    assert.equal(
      (await hosted[0]!.router.dump()).transportIds.length,
      2 + 1,
      "c's two transports and the pipe on node 2",
    );

    // A second member for node 2 (no media): the part is reused, one pipe pair per node pair; on node 2 it
    // goes on the other worker (5 consumers would pass 75 % of 6 on the part's worker), so the part spans
    // node 2's workers: d hears a and b through the pipe and node 2's pipeToRouter, c directly.
    await home.admission.sample();
    await far.admission.sample();
    const d = await joinSession(api, ROOM, 'd', '4');
    assert.deepEqual(d.joined.forJoiner.map((x) => x.producerSessionId).sort(), ['a', 'b', 'c']);
    assert.equal(room().span.partOf('d'), part);
    assert.deepEqual(far.parts.list()[0]!.sessions.sort(), ['c', 'd']);
    assert.deepEqual(
      far.parts.list()[0]!.workers,
      { [String(hosted[0]!.worker)]: 1, [String(1 - hosted[0]!.worker)]: 1 },
      'c and d on the two workers of node 2',
    );
    assert.equal(
      room()
        .span.list()
        .filter((p) => p.kind === 'remote').length,
      1,
    );

    // SRTP on both ends of the pipe.
    const homePipe = await part.pipeTransport.dump();
    const farPipe = await far.parts.list()[0]!.pipe!.dump();
    assert.ok(homePipe.srtpParameters?.keyBase64, 'the home end of the pipe has SRTP keys');
    assert.ok(farPipe.srtpParameters?.keyBase64, 'the far end of the pipe has SRTP keys');
    assert.equal(homePipe.tuple.remotePort, farPipe.tuple.localPort, 'the two ends are connected to each other');

    await Promise.all([a.speak(100), b.speak(100), c.speak(100)]);
    await waitFor(
      () =>
        heard(a, c) >= 50 &&
        heard(b, c) >= 50 &&
        heard(c, a) >= 50 &&
        heard(c, b) >= 50 &&
        heard(a, b) >= 50 &&
        heard(b, a) >= 50,
      10_000,
      'RTP between every pair of a, b (node 1) and c (node 2)',
    );
  });

  test('state.v1 for a member on node 2: its mute holds its producer there, its deafen its consumers there (were logged, not applied)', async () => {
    const reset = () => {
      for (const m of [a, b, c]) for (const key of m.received.keys()) m.received.set(key, 0);
    };
    const setState = (change: { selfMuted?: boolean; selfDeafened?: boolean }) =>
      api.setMemberState({ roomId: ROOM, sessionId: 'c', ...change });
    assert.equal(room().span.partOf('c')?.kind, 'remote', "c's media is on node 2");

    assert.equal((await setState({ selfMuted: true })).changed, true);
    await new Promise((r) => setTimeout(r, 200)); // packets already in flight
    reset();
    await Promise.all([a.speak(50), c.speak(50)]);
    await waitFor(() => heard(c, a) >= 25, 5000, 'c still hears a while muted');
    assert.equal(heard(a, c) + heard(b, c), 0, 'nothing of muted c reaches a or b (paused on node 2)');

    await setState({ selfMuted: false });
    reset();
    await c.speak(100);
    await waitFor(() => heard(a, c) >= 50 && heard(b, c) >= 50, 10_000, 'c heard again after unmuting');

    await setState({ selfDeafened: true });
    await new Promise((r) => setTimeout(r, 200));
    reset();
    await Promise.all([a.speak(50), b.speak(50), c.speak(50)]);
    await waitFor(() => heard(a, c) >= 25 && heard(b, c) >= 25, 5000, 'a and b still hear deafened c');
    assert.equal(heard(c, a) + heard(c, b), 0, 'deafened c receives nothing (its consumers paused on node 2)');

    await setState({ selfDeafened: false });
    reset();
    await Promise.all([a.speak(100), b.speak(100)]);
    await waitFor(() => heard(c, a) >= 50 && heard(c, b) >= 50, 10_000, 'c hears a and b again after undeafening');
  });

  test('the node-to-node API refuses a wrong or missing secret', async () => {
    for (const secret of ['wrong-' + SECRET, undefined]) {
      const intruder = connectMediaNodeSpan(far.grpcAddress, { secret });
      try {
        for (const attempt of [
          intruder.openPart({ roomId: 'x:1', homeNodeId: 'evil' }),
          intruder.partCloseSession({ roomId: ROOM, sessionId: 'c' }),
        ]) {
          const error = (await attempt.then(
            () => undefined,
            (e: unknown) => e,
          )) as ServiceError | undefined;
          assert.ok(error, 'the call was refused');
          assert.equal(error.code, status.UNAUTHENTICATED);
          assert.equal(parseMediaError(error.details).reason, 'unauthenticated');
        }
        const watch = intruder.watchPart(ROOM);
        const code = await new Promise<number>((resolve) => {
          watch.on('error', (e: ServiceError) => resolve(e.code));
          watch.on('end', () => resolve(-1));
        });
        assert.equal(code, status.UNAUTHENTICATED);
      } finally {
        intruder.close();
      }
    }
    assert.deepEqual(
      far.parts.list().map((p) => p.sessions.sort()),
      [['c', 'd']],
      'nothing changed on node 2',
    );
  });

  test('when the remote part empties, both nodes close their side: no router on node 2, no pipe on node 1', async () => {
    const part = remotePart();
    await api.leave({ roomId: ROOM, sessionId: 'd' });
    assert.equal(part.closed, false, 'c is still there');
    await api.leave({ roomId: ROOM, sessionId: 'c' });
    c.close();
    assert.equal(part.closed, true, 'the emptied remote part is closed');
    assert.equal(room().span.list().length, 1);
    await waitFor(() => far.parts.list().length === 0, 3000, 'node 2 closes the part');
    assert.equal(await workerObjects(far), 0, 'no router is left on node 2');
    await waitFor(
      async () => (await room().router.dump()).transportIds.length === 2 * 2,
      3000,
      'the home pipe transport closes',
    );
    const dump = await room().router.dump();
    assert.equal(dump.mapProducerIdConsumerIds.length, 2, "a's and b's producers, no pipe producer");
    assert.equal(
      dump.mapProducerIdConsumerIds.reduce((n, e) => n + e.values.length, 0),
      2,
      'a and b consume each other, no pipe consumer',
    );
  });

  test('a worker of node 2 dies: only the members on it are lost (worker-died); the rest, on both nodes, keep talking', async () => {
    await home.admission.sample();
    c = client('c2', '3');
    await joinMember(c, [a, b]);
    await far.admission.sample();
    await joinSession(api, ROOM, 'd2', '4');
    const hosted = far.parts.list()[0]!;
    assert.deepEqual(hosted.sessions.sort(), ['c2', 'd2']);
    const other = 1 - hosted.worker;
    assert.equal(hosted.workers[String(other)], 1, "d2 is on node 2's other worker");
    const before = lost.length;

    process.kill(far.pool.slots[other]!.worker.pid, 'SIGKILL');
    await waitFor(() => lost.length > before, 5000, 'd2 reported lost');
    assert.deepEqual(lost.slice(before), [{ roomId: ROOM, sessionId: 'd2', userId: '4', reason: 'worker-died' }]);
    assert.deepEqual((await api.getRoom({ roomId: ROOM })).sessions.map((s) => s.sessionId).sort(), ['a', 'b', 'c2']);
    assert.equal(remotePart().closed, false, 'the part on node 2 lives on');
    for (const m of [a, c]) for (const key of m.received.keys()) m.received.set(key, 0);
    await Promise.all([a.speak(100), c.speak(100)]);
    await waitFor(
      () => heard(a, c) >= 50 && heard(c, a) >= 50,
      10_000,
      'RTP between a (node 1) and c2 (node 2) after the worker died',
    );
    assert.equal(lost.length, before + 1, 'nobody else was lost');
    await waitFor(() => far.pool.slots[other]!.ready, 5000, 'node 2 replaced its worker');
  });

  test("node 2 dies: only its members are lost (node-lost), the home node's members keep hearing each other", async () => {
    await Promise.all([home.admission.sample(), far.admission.sample()]);
    await joinSession(api, ROOM, 'd2', '4');
    assert.equal(remotePart().nodeId, 'node-2');
    assert.deepEqual(far.parts.list()[0]!.sessions.sort(), ['c2', 'd2']);
    const before = lost.length;

    far.abort();
    await waitFor(() => lost.length >= before + 2, 10_000, "node 2's members reported lost");
    assert.deepEqual(
      lost
        .slice(before)
        .map((e) => `${e.sessionId}:${e.reason}`)
        .sort(),
      ['c2:node-lost', 'd2:node-lost'],
    );
    assert.deepEqual((await api.getRoom({ roomId: ROOM })).sessions.map((s) => s.sessionId).sort(), ['a', 'b']);
    const history = await api.history({ roomId: ROOM, after: 0 });
    const leaves = history.entries.slice(-2);
    for (const leave of leaves) {
      assert.equal(leave.kind, HistoryEntry_Kind.KIND_LEAVE);
      assert.equal(leave.reason, 'node-lost');
      assert.ok(
        ['a', 'b'].every((s) => leave.audience.includes(s)),
        "the home node's members are told",
      );
    }
    assert.equal(room().span.list().length, 1, 'the dead part is gone from the room');
    await waitFor(
      async () => (await room().router.dump()).transportIds.length === 2 * 2,
      3000,
      'the pipe to node 2 is closed',
    );

    for (const m of [a, b]) for (const key of m.received.keys()) m.received.set(key, 0);
    await Promise.all([a.speak(100), b.speak(100)]);
    await waitFor(() => heard(a, b) >= 50 && heard(b, a) >= 50, 10_000, 'RTP between a and b after node 2 died');
    assert.equal(lost.length, before + 2, 'nobody else was lost');
  });
});

describe('FarNodes from the registry (production)', () => {
  test('the active, fresh node with a worker below its threshold, lowest mean load first, never an excluded one', async () => {
    const now = 1_700_000_000_000;
    const record = (nodeId: string, workers: number[], state: 'active' | 'draining' = 'active'): MediaNodeRecord => ({
      nodeId,
      grpcAddress: `10.0.0.${nodeId.length}:50051`,
      publicAddress: '203.0.113.10',
      capacity: 40_000,
      rooms: 1,
      sessions: 0,
      transports: 0,
      producers: 0,
      consumers: 0,
      cpu: { workers: [0, 0], avg: 0, max: 0 },
      load: summarizeLoad(workers, 0.8),
      state,
      heartbeatAt: now,
      expiresAt: Math.floor(now / 1000) + 15,
    });
    const nodes = [
      record('self', [0.1, 0.1]),
      record('busy', [0.7, 0.6]),
      record('light', [0.3, 0.2]),
      record('gone', [0, 0], 'draining'),
      record('full', [0.9, 0.95]),
    ];
    const registry = { listNodes: async () => nodes } as unknown as NodeRegistry;
    const far = registryFarNodes(registry, () => now);
    assert.deepEqual(await far.choose('1:2', ['self']), { nodeId: 'light', grpcAddress: '10.0.0.5:50051' });
    assert.equal((await far.choose('1:2', ['self', 'light']))?.nodeId, 'busy');
    assert.equal(
      await far.choose('1:2', ['self', 'light', 'busy']),
      undefined,
      'a draining or full node is never chosen',
    );
  });
});

describe('a home node that dies', () => {
  test('leaves nothing on the far node: the part whose home stopped watching it is closed there', async () => {
    const far2 = await startTestNode({ nodeId: 'far-2', workers: 1, iceConsentTimeoutS: 0 });
    const home2 = await startTestNode({
      nodeId: 'home-2',
      workers: 1,
      capacity: 4,
      admitLoadPercent: 100,
      farNodes: listedFarNodes([{ nodeId: 'far-2', grpcAddress: far2.node.grpcAddress }]),
    });
    try {
      for (const [i, id] of ['p', 'q', 'r'].entries()) {
        await home2.node.admission.sample();
        await joinSession(home2.api, 'span:orphan', id, String(i + 1));
      }
      assert.deepEqual(
        far2.node.parts.list().map((p) => p.sessions),
        [['r']],
        'r went to the far node',
      );
      assert.equal(await workerObjects(far2.node), 1);
      home2.node.abort();
      await waitFor(() => far2.node.parts.list().length === 0, 10_000, 'the far node closes the abandoned part');
      assert.equal(await workerObjects(far2.node), 0, 'no router is left on the far node');
    } finally {
      home2.api.close();
      await home2.node.close();
      await far2.stop();
    }
  });
});

describe('a home node that dies between OpenPart and WatchPart', () => {
  test('leaves nothing either: a part never watched is closed after the watch window', async () => {
    const far3 = await startTestNode({ nodeId: 'far-3', workers: 1, partWatchWithinMs: 300 });
    const span = connectMediaNodeSpan(far3.node.grpcAddress, { secret: SECRET });
    try {
      await span.openPart({ roomId: 'span:never-watched', homeNodeId: 'gone' });
      await span.createPipe({ roomId: 'span:never-watched' });
      assert.equal(far3.node.parts.list().length, 1, 'opened');
      assert.equal(await workerObjects(far3.node), 1, 'with its router');
      await waitFor(() => far3.node.parts.list().length === 0, 5_000, 'the never-watched part to close');
      assert.equal(await workerObjects(far3.node), 0, 'no router (and so no pipe transport) is left');
    } finally {
      span.close();
      await far3.stop();
    }
  });
});
