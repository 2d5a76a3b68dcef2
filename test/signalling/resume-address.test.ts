// resume.v1 after a network change, through the real local stack with real media (msc-node clients on werift,
// a real media node): A's WebSocket is cut (no close frame) and, at the same moment, A's UDP sockets move to new
// local ports (test/support/werift-address-change.ts: the old sockets are closed). A resumes with
// `restart_ice`, applies both transports' new ICE parameters (test/support/werift-ice-restart.ts, through
// msc-node's transport.restartIce) and ICE checks run from the new ports with the new credentials. The media
// node (test/support/media-node-ice-tuples.ts reports its transports' selected tuples) must switch both of A's
// transports to the new ports, RTP must flow both ways again on the same transports, producer and consumers, the
// old ports must get nothing more, and B must see nothing (no UserLeft/UserJoined).
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { connectMediaNode } from '../../media-node/api/client';
import { ICE_TUPLE_NODE_COMMAND, parseTupleLine, type SelectedTupleLine } from '../support/media-node-ice-tuples';
import { joinWithMedia, waitFor, type MediaJoined } from '../support/media-voice-client';
import { devToken } from '../support/tokens';
import { VoiceTestClient } from '../support/voice-client';
import { changeLocalAddress, type AddressChange } from '../support/werift-address-change';
import { iceOf, localPorts, nominatedPort, type MscTransport } from '../support/werift-ice';

const GUILD = 98n;
let stack: LocalStack;
const tuples: SelectedTupleLine[] = [];
const cleanups: (() => void)[] = [];

before(async () => {
  stack = await startLocalStack({
    port: 0,
    strict: true,
    reaperIntervalMs: 500,
    mediaNode: {
      command: ICE_TUPLE_NODE_COMMAND,
      forwardLogs: false,
      onLine: (line) => {
        const t = parseTupleLine(line);
        if (t) tuples.push(t);
      },
    },
  });
});
after(async () => {
  for (const cleanup of cleanups.reverse()) cleanup();
  await stack?.close();
});

const options = (user: bigint, channel: bigint, resume = false) => ({
  wsUrl: stack.wsUrl,
  token: devToken(user, GUILD, [channel]),
  resume,
});
const count = (peer: MediaJoined, user: bigint) => peer.received.get(String(user)) ?? 0;
/** The node's current selected tuple of a transport (its last report). */
const selected = (transport: MscTransport) => tuples.filter((t) => t.transportId === transport.id).at(-1);

function membership(client: VoiceTestClient): string[] {
  return client.frames.flatMap((f) => {
    const m = f.kind === 'response' ? f.response.message : undefined;
    if (m?.$case === 'userJoined') return [`joined:${m.value.data!.userId}`];
    if (m?.$case === 'userLeft') return [`left:${m.value.userId}`];
    return [];
  });
}

/** Binds the port a closed socket had and counts what still arrives there. */
async function sinkOn(port: number): Promise<{ socket: Socket; datagrams: number }> {
  const sink = { socket: createSocket('udp4'), datagrams: 0 };
  sink.socket.on('message', () => void sink.datagrams++);
  await new Promise<void>((resolve, reject) => {
    sink.socket.once('error', reject);
    sink.socket.bind(port, () => resolve());
  });
  cleanups.push(() => sink.socket.close());
  return sink;
}

test('a client on a new UDP port resumes with an ICE restart: the node switches to the new port, RTP flows both ways again, nobody sees a leave', async () => {
  const channel = 1n;
  const a = await joinWithMedia(options(10n, channel, true), GUILD, channel);
  cleanups.push(() => {
    a.client.terminate();
    for (const t of a.transports) t.close();
  });
  await waitFor(() => a.client.credential !== undefined, 5_000, "A's resume.v1 credential");
  const b = await joinWithMedia(options(11n, channel), GUILD, channel);
  cleanups.push(() => {
    b.client.terminate();
    for (const t of b.transports) t.close();
  });
  const aSeenByB = b.joined.otherUsers.find((u) => u.userId === 10n);
  assert.ok(aSeenByB, "B's JoinedChannel lists A");
  await b.consume(aSeenByB);
  await waitFor(() => a.client.all('userJoined').length === 1, 5_000, 'UserJoined(B) at A');
  await a.consume(a.client.all('userJoined')[0]!.data!);
  const stops = [a.speak(), b.speak()];
  cleanups.push(() => stops.forEach((stop) => stop()));
  await waitFor(() => count(a, 11n) > 25 && count(b, 10n) > 25, 15_000, 'RTP both ways');

  const { sessionId, credential } = a.client.credential!;
  const ids = {
    send: a.send.id,
    recv: a.recv.id,
    consumerOfB: a.consumers.get('11'),
    bConsumerOfA: b.consumers.get('10'),
  };
  const oldUfrag = { send: iceUfrag(a.send), recv: iceUfrag(a.recv) };
  const oldTuple = { send: selected(a.send), recv: selected(a.recv) };
  for (const [role, tuple] of Object.entries(oldTuple)) {
    assert.ok(tuple, `the node reported a selected tuple for A's ${role} transport`);
    assert.equal(tuple.sessionId, sessionId, "a transport of A's media session");
    assert.ok(
      localPorts(a[role as 'send' | 'recv']).includes(tuple.remotePort!),
      `the node sends to A's current port (${tuple.remotePort})`,
    );
  }

  // The network changes: the WebSocket dies without a close frame and the UDP sockets move to new ports.
  a.client.terminate();
  const moved: Record<'send' | 'recv', AddressChange> = {
    send: await changeLocalAddress(a.send),
    recv: await changeLocalAddress(a.recv),
  };
  for (const m of Object.values(moved)) {
    assert.equal(m.newPorts.length, m.oldPorts.length);
    for (const port of m.newPorts)
      assert.ok(!m.oldPorts.includes(port), `a new port (${port}; old ${m.oldPorts.join(', ')})`);
  }
  assert.deepEqual(
    [localPorts(a.send), localPorts(a.recv)],
    [moved.send.newPorts, moved.recv.newPorts],
    'only the new sockets are open',
  );
  // The ports the node was sending to are bound again by sinks: whatever still arrives there is counted.
  const sinks = await Promise.all([oldTuple.send!.remotePort!, oldTuple.recv!.remotePort!].map(sinkOn));
  const atMove = { aFromB: count(a, 11n), bFromA: count(b, 10n) };

  // A resumes on a new socket with an ICE restart and applies both transports' new ICE parameters.
  const a2 = await VoiceTestClient.connect(options(10n, channel, true));
  cleanups.push(() => a2.terminate());
  a2.sendExt({
    $case: 'resume',
    value: { sessionId, credential, lastSeq: BigInt(a.client.lastSeq), restartIce: true },
  });
  const resumed = await a2.nextExt();
  assert.ok(resumed.$case === 'resumed' && resumed.value.ice, 'resumed, with new ICE parameters');
  a.client = a2;
  const ice = {
    send: JSON.parse(resumed.value.ice.producerIceParameters),
    recv: JSON.parse(resumed.value.ice.consumerIceParameters),
  };
  assert.notEqual(ice.send.usernameFragment, oldUfrag.send, 'new producer-transport credentials');
  assert.notEqual(ice.recv.usernameFragment, oldUfrag.recv, 'new consumer-transport credentials');
  await Promise.all([a.send.restartIce({ iceParameters: ice.send }), a.recv.restartIce({ iceParameters: ice.recv })]);

  // RTP flows both ways again (it could not before: the old sockets are closed, the new ones unknown to the node).
  await waitFor(
    () => count(a, 11n) > atMove.aFromB + 50 && count(b, 10n) > atMove.bFromA + 50,
    15_000,
    'RTP both ways after the ICE restart',
  );

  // The producer transport receives only the node's RTCP there (sent every few seconds for audio): wait for it.
  await waitFor(
    () => moved.send.wire.some((w) => w.mediaIn > 0) && moved.recv.wire.some((w) => w.mediaIn > 0),
    12_000,
    'media (RTP to the consumer transport, RTCP to the producer transport) at the new ports',
  );
  for (const role of ['send', 'recv'] as const) {
    const transport = a[role];
    const tuple = selected(transport)!;
    assert.ok(
      moved[role].newPorts.includes(tuple.remotePort!),
      `the node's ${role} transport switched its selected tuple to a new port (${tuple.remotePort}; new ${moved[role].newPorts.join(', ')})`,
    );
    assert.ok(moved[role].newPorts.includes(nominatedPort(transport)!), 'A sends from a new port');
    // What left the new port: ICE checks with the NEW credentials only, nominating (USE-CANDIDATE), answered.
    const stun = moved[role].wire.flatMap((w) => w.stun);
    const requests = stun.filter((s) => s.direction === 'sent' && s.kind === 'request');
    assert.ok(requests.length > 0, 'ICE checks from the new port');
    for (const r of requests)
      assert.ok(r.username?.startsWith(`${ice[role].usernameFragment}:`), `checks use the new ufrag (${r.username})`);
    assert.ok(
      requests.some((r) => r.useCandidate),
      'a nominating check (USE-CANDIDATE)',
    );
    assert.ok(
      stun.some((s) => s.direction === 'received' && s.kind === 'success'),
      'the node answered the new credentials',
    );
    assert.ok(!stun.some((s) => s.direction === 'received' && s.kind === 'error'), 'and never refused them');
    assert.ok(
      moved[role].wire.some((w) => w.mediaIn > 0),
      'media arrives at the new port',
    );
  }
  // Same media session: same transports (the node's ids), same consumers and producer, nothing renegotiated.
  assert.deepEqual(
    { send: a.send.id, recv: a.recv.id, consumerOfB: a.consumers.get('11'), bConsumerOfA: b.consumers.get('10') },
    ids,
  );
  const sessionTuples = tuples.filter((t) => t.sessionId === sessionId);
  assert.deepEqual(
    new Set(sessionTuples.map((t) => t.transportId)),
    new Set([ids.send, ids.recv]),
    "only A's two transports, never new ones",
  );
  const api = connectMediaNode(stack.mediaNode!.grpc, { secret: stack.env.MEDIA_NODE_SECRET });
  try {
    const room = await api.getRoom({ roomId: `${GUILD}:${channel}` });
    assert.ok(
      room.sessions.some((s) => s.sessionId === sessionId && s.userId === '10'),
      "A's media session is still in the room",
    );
    assert.equal(room.sessions.length, 2, 'A and B, nobody else');
  } finally {
    api.close();
  }

  // The old ports are not used any more: while more RTP flows on the new ones, nothing arrives at the old ones.
  const atSwitch = sinks.map((s) => s.datagrams);
  const flowing = { aFromB: count(a, 11n), bFromA: count(b, 10n) };
  await waitFor(
    () => count(a, 11n) > flowing.aFromB + 50 && count(b, 10n) > flowing.bFromA + 50,
    15_000,
    'more RTP both ways',
  );
  assert.deepEqual(
    sinks.map((s) => s.datagrams),
    atSwitch,
    'nothing sent to the old ports after the switch',
  );
  console.log(
    `node's selected tuple: producer transport port ${oldTuple.send!.remotePort} → ${selected(a.send)!.remotePort}, ` +
      `consumer transport ${oldTuple.recv!.remotePort} → ${selected(a.recv)!.remotePort}; the old ports got ${atSwitch.join('/')} datagrams ` +
      'between the move and the switch, none after',
  );

  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(membership(b.client), [], 'B saw no UserLeft/UserJoined');
  assert.deepEqual(membership(a2), [], 'nothing replayed to A (it missed nothing)');
  assert.deepEqual([a2.errors(), b.client.errors()], [[], []]);
  assert.equal(a2.closed, undefined);
});

function iceUfrag(transport: MscTransport): string {
  return iceOf(transport).connection.remoteUsername; // the node's credentials, as werift's ICE agent holds them
}
