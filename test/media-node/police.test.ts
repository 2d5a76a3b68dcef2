// Producers are policed on the media node (media-node/src/session/producer-police.ts): the policy on its own (times
// passed in), and real RTP through a real node — a packet flood and a bitrate flood are paused (nothing of
// them reaches the other members any more) and, repeated, end the flooder's session, while honest Opus
// senders (20 ms, 10 ms at 510 kbit/s, FEC-sized VBR, DTX) in the same room are never touched.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HistoryEntry_Kind, type SessionLost } from '../../gen/medianode/v1/media_node';
import { configFromEnv } from '../../media-node/src/node/config';
import { listedFarNodes } from '../../media-node/src/span/far-nodes';
import { NodeRegistry } from '../../routing/node-registry';
import { PacketMeter } from '../../media-node/src/load/packet-meter';
import { DEFAULT_POLICE_LIMITS, PoliceRecord, type PoliceLimits } from '../../media-node/src/session/producer-police';
import { cpuOver, FLOODS, HONEST_TALKER, sleep, startFloodNode, type FloodNode, type SendShape } from './flood';
import { startLocalDynamo, waitFor } from './helpers';

/** Feeds a record `seconds` of a sender at `pps` packets/s of `bytes` bytes, sampled every sampleMs; returns the verdicts. */
function run(
  record: PoliceRecord,
  limits: PoliceLimits,
  from: { at: number; packets: number; bytes: number },
  seconds: number,
  pps: number,
  bytes: number,
) {
  const verdicts: string[] = [];
  const steps = Math.round((seconds * 1000) / limits.sampleMs);
  for (let i = 0; i < steps; i++) {
    from.at += limits.sampleMs;
    from.packets += (pps * limits.sampleMs) / 1000;
    from.bytes += (pps * bytes * limits.sampleMs) / 1000;
    const verdict = record.observe(from.at, from.packets, from.bytes);
    if (verdict.kind !== 'none') verdicts.push(`${(from.at / 1000).toFixed(0)}s:${verdict.kind}`);
  }
  return verdicts;
}

describe('the policy (PoliceRecord, default limits)', () => {
  const limits = { ...DEFAULT_POLICE_LIMITS };
  /** A record with its first sample (the baseline) at t = 0. */
  const fresh = () => {
    const record = new PoliceRecord(limits);
    record.observe(0, 0, 0);
    return { record, at: { at: 0, packets: 0, bytes: 0 } };
  };

  test('honest voice is never over: 20 ms and 10 ms ptime up to 510 kbit/s of Opus, DTX, a 1 s burst after a stall', () => {
    for (const [pps, bytes] of [
      [50, 12 + 160],
      [100, 12 + 28 + 638],
      [50, 12 + 28 + 1275],
      [2.5, 12 + 28 + 3],
    ] as const) {
      const { record, at } = fresh();
      assert.deepEqual(run(record, limits, at, 60, pps, bytes), [], `${pps} packets/s of ${bytes} bytes`);
    }
    // A 1 s freeze flushed at once (100 packets more in one sample) on top of 10 ms ptime.
    const { record, at } = fresh();
    run(record, limits, at, 10, 100, 120);
    at.packets += 100;
    assert.deepEqual(run(record, limits, at, 20, 100, 120), []);
  });

  test('a sustained excess is an offence once the window is full; a flood ten times over at the first sample', () => {
    const { record, at } = fresh();
    assert.deepEqual(
      run(record, limits, at, 6, 250, 60),
      ['5s:pause'],
      '250 packets/s: over the packet rate, after 5 s',
    );
    const bitrate = fresh();
    assert.deepEqual(
      run(bitrate.record, limits, bitrate.at, 6, 100, 1000),
      ['5s:pause'],
      '800 kbit/s: over the bitrate',
    );
    const flood = fresh();
    run(flood.record, limits, flood.at, 2, 50, 100);
    assert.deepEqual(run(flood.record, limits, flood.at, 1, 2500, 40), ['3s:pause'], '2,500 packets/s: at once');
  });

  test('paused: resumed after the cool-down when back under; still over is a repeat; maxOffences in the window end it', () => {
    const { record, at } = fresh();
    assert.deepEqual(run(record, limits, at, 5, 300, 60), ['5s:pause']);
    // Back to voice during the cool-down: resumed at its end (the window then holds voice only).
    assert.deepEqual(run(record, limits, at, 10, 50, 100), ['15s:resume']);
    // Over again: a second offence; still over when its cool-down ends: the third, which ends the session.
    assert.deepEqual(run(record, limits, at, 30, 300, 60), ['19s:pause', '29s:end']);
  });

  test('offences older than the offence window are forgotten', () => {
    const { record, at } = fresh();
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(
        run(record, limits, at, 5, 300, 60).map((v) => v.split(':')[1]),
        ['pause'],
      );
      run(record, limits, at, 70, 50, 100);
    }
  });
});

test('MEDIA_POLICE_* configure the police; off turns it off; a window shorter than two samples is refused', () => {
  assert.deepEqual(configFromEnv({}).police, {});
  assert.equal(configFromEnv({ MEDIA_POLICE: 'off' }).police, false);
  assert.deepEqual(
    configFromEnv({
      MEDIA_POLICE_PACKETS_PER_SECOND: '300',
      MEDIA_POLICE_BITS_PER_SECOND: '1000000',
      MEDIA_POLICE_MAX_OFFENCES: '5',
    }).police,
    { packetsPerSecond: 300, bitsPerSecond: 1_000_000, maxOffences: 5 },
  );
  assert.throws(
    () => configFromEnv({ MEDIA_POLICE_WINDOW_MS: '1000', MEDIA_POLICE_SAMPLE_MS: '800' }),
    /MEDIA_POLICE_WINDOW_MS/,
  );
  assert.throws(() => configFromEnv({ MEDIA_POLICE_PACKETS_PER_SECOND: '0' }), /MEDIA_POLICE_PACKETS_PER_SECOND/);
});

describe('real RTP through a node (PlainTransport members, default limits, short windows)', () => {
  // The default limits; the timings shortened so a test takes seconds: judged over 2 s, sampled every 250 ms,
  // paused 1.5 s per offence, the third offence ends the session.
  const police = { windowMs: 2000, sampleMs: 250, cooldownMs: 1500 };
  let flood: FloodNode;
  let meter: PacketMeter;
  before(async () => {
    flood = await startFloodNode({ police });
    meter = new PacketMeter(flood.node.pool);
  });
  after(() => flood.stop());

  const honest: Record<string, SendShape> = {
    talker: HONEST_TALKER,
    // Opus at its maximum, 510 kbit/s, with 10 ms ptime: 638-byte payloads + header extensions.
    max: { packetsPerSecond: 100, bytes: 12 + 28 + 638 },
    dtx: { ...HONEST_TALKER, dtx: { talkMs: 1200, silenceMs: 1500 } },
  };

  for (const [name, shape] of Object.entries(FLOODS)) {
    test(`a ${name} flood (${shape.packetsPerSecond} packets/s of ${shape.bytes} bytes) is paused, then its session ended; honest senders go on untouched`, async () => {
      const lost: SessionLost[] = [];
      const stream = flood.api.watchSessions();
      stream.on('data', (event: SessionLost) => lost.push(event));
      stream.on('error', () => {});
      const roomId = `police:${name}`;
      const room = await flood.openRoom(roomId, ['flooder', ...Object.keys(honest), 'listener']);
      const events = () => flood.events.filter((e) => e.roomId === roomId);
      try {
        for (const [sessionId, s] of Object.entries(honest)) room.send(sessionId, s);
        await sleep(1500);
        const cpuQuiet = await cpuOver(flood.node, 1500);
        const flooder = room.send('flooder', shape);
        await waitFor(
          () => events().some((e) => e.sessionId === 'flooder' && e.action === 'paused'),
          10_000,
          'the flooder paused',
        );
        const paused = events().find((e) => e.sessionId === 'flooder')!;
        assert.deepEqual(
          { roomId: paused.roomId, userId: paused.userId, offences: paused.offences },
          { roomId, userId: '1000', offences: 1 },
        );
        // Paused: nothing more of it reaches anyone (packets already in flight settle first), while it keeps sending.
        await sleep(200);
        const atPause = ['listener', ...Object.keys(honest)].map((r) => room.received(r, 'flooder'));
        const honestAtPause = room.received('listener', 'talker');
        const sentAtPause = flooder.sent();
        const cpuPaused = await cpuOver(flood.node, 1000);
        assert.deepEqual(
          ['listener', ...Object.keys(honest)].map((r) => room.received(r, 'flooder')),
          atPause,
          'no packet of the paused flooder forwarded',
        );
        assert.ok(flooder.sent() > sentAtPause + 50, 'the flooder kept sending');
        assert.ok(room.received('listener', 'talker') > honestAtPause + 25, 'the honest talker is still heard');
        // Nor does it weigh on admission: the room's received rate (joinCost) leaves the paused producer out.
        await meter.sample();
        await sleep(500);
        const roomRate = (await meter.sample(), meter.room(roomId)!.receivedPerSecond);
        if (shape.packetsPerSecond >= 1000)
          assert.ok(roomRate < 500, `the room's received rate ${roomRate} packets/s leaves the flood out`);

        // Still flooding at the end of each cool-down: repeat offences, the third ends the session.
        await waitFor(() => lost.some((e) => e.sessionId === 'flooder'), 15_000, 'the flooder session ended');
        assert.deepEqual(
          lost.filter((e) => e.sessionId === 'flooder'),
          [{ roomId, sessionId: 'flooder', userId: '1000', reason: 'policed' }],
        );
        const history = await flood.api.history({ roomId, after: 0 });
        const leave = history.entries.find((e) => e.kind === HistoryEntry_Kind.KIND_LEAVE && e.sessionId === 'flooder');
        assert.deepEqual(leave && { reason: leave.reason, audience: [...leave.audience].sort() }, {
          reason: 'policed',
          audience: [...Object.keys(honest), 'listener'].sort(),
        });
        assert.deepEqual(
          events()
            .filter((e) => e.sessionId === 'flooder')
            .map((e) => `${e.action}:${e.offences}`),
          ['paused:1', 'paused:2', 'ended:3'],
        );

        // Every honest sender was heard all along and never policed.
        const heard = Object.keys(honest).map((s) => room.received('listener', s));
        await sleep(1000);
        Object.keys(honest).forEach((s, i) => assert.ok(room.received('listener', s) > heard[i]!, `${s} still heard`));
        assert.deepEqual(
          events().filter((e) => e.sessionId !== 'flooder'),
          [],
          'no honest sender policed',
        );
        console.log(
          `${name} flood: worker CPU quiet ${cpuQuiet.toFixed(1)} %, flooder paused ${cpuPaused.toFixed(1)} % ` +
            `(flood ${paused.packetsPerSecond} packets/s, ${(paused.bitsPerSecond / 1000).toFixed(0)} kbit/s when judged)`,
        );
      } finally {
        room.stopAll();
        stream.cancel();
      }
    });
  }
});

describe('a member whose media is on another node (a channel spanning nodes)', () => {
  test("is policed where its producer is: paused there (the home node's members stop hearing it, the home node writes the notice), then ended as a loss the home node reports", async () => {
    const police = { windowMs: 2000, sampleMs: 250, cooldownMs: 1500 };
    const dynamo = await startLocalDynamo();
    const registry = new NodeRegistry(dynamo.client, dynamo.tableName);
    const far = await startFloodNode({ nodeId: 'far', police, registry });
    // The home node takes two members (4 consumers on its one worker); the third joins on the far node.
    const home = await startFloodNode({
      nodeId: 'home',
      police,
      registry,
      capacity: 4,
      admitLoadPercent: 100,
      farNodes: listedFarNodes([{ nodeId: 'far', grpcAddress: far.node.grpcAddress }]),
    });
    const lost: SessionLost[] = [];
    const stream = home.api.watchSessions();
    stream.on('data', (event: SessionLost) => lost.push(event));
    stream.on('error', () => {});
    try {
      const roomId = 'police:span';
      const room = await home.openRoom(roomId, ['a', 'b', 'flooder']);
      assert.ok(
        home.node.rooms
          .find(roomId)!
          .span.list()
          .some((p) => p.kind === 'remote'),
        'the flooder is on the far node',
      );
      room.send('a', HONEST_TALKER);
      room.send('flooder', FLOODS.packets);
      await waitFor(
        () => far.events.some((e) => e.sessionId === 'flooder' && e.action === 'paused'),
        10_000,
        'the far node paused the flooder',
      );
      assert.deepEqual(home.events, [], 'nothing on the home node to police');
      // The member is told by the node hosting its session (the home node), as for its own members.
      await waitFor(
        async () => (await registry.listLostSessions()).some((l) => l.sessionId === 'flooder' && l.notice),
        5000,
        'the notice',
      );
      const [notice] = await registry.listLostSessions();
      assert.deepEqual(
        notice && {
          roomId: notice.roomId,
          userId: notice.userId,
          reason: notice.reason,
          nodeId: notice.nodeId,
          notice: notice.notice,
        },
        { roomId, userId: '1002', reason: 'policed', nodeId: 'home', notice: true },
      );
      await sleep(200);
      const heard = room.received('a', 'flooder');
      assert.ok(heard > 0, 'the flood reached the home node before the pause');
      await sleep(1000);
      assert.equal(room.received('a', 'flooder'), heard, 'nothing of the paused flooder reaches the home node');
      await waitFor(
        () => lost.some((e) => e.sessionId === 'flooder'),
        15_000,
        'the flooder reported lost by the home node',
      );
      assert.deepEqual(lost, [{ roomId, sessionId: 'flooder', userId: '1002', reason: 'policed' }]);
      assert.deepEqual((await home.api.getRoom({ roomId })).sessions.map((s) => s.sessionId).sort(), ['a', 'b']);
      await waitFor(
        async () => (await registry.listLostSessions()).some((l) => l.sessionId === 'flooder' && !l.notice),
        5000,
        'the loss record',
      );
      const loss = (await registry.listLostSessions()).find((l) => l.sessionId === 'flooder' && !l.notice);
      assert.deepEqual(loss && { reason: loss.reason, nodeId: loss.nodeId }, { reason: 'policed', nodeId: 'home' });
      room.stopAll();
    } finally {
      stream.cancel();
      await home.stop();
      await far.stop();
      await dynamo.stop();
    }
  });
});
