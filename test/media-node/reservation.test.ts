// A join's admission reservation (media-node/src/load/reservation.ts) through the Admission that counts it: commit and
// release are each safe to call again, in either order, and after the reservation's window has passed. The pool and
// the packet meter are fakes (one idle worker, a room of two members: a join costs 4 consumers).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Admission } from '../../media-node/src/load/admission';
import type { PacketMeter } from '../../media-node/src/load/packet-meter';
import { Reservation } from '../../media-node/src/load/reservation';
import type { WorkerPool } from '../../media-node/src/workers/worker-pool';

const ROOM = 'room:1';
const PER_JOIN = 4;

function admission(): { admission: Admission; clock: { now: number }; consumers: () => number } {
  const clock = { now: 1_000 };
  const pool = {
    slots: [{ index: 0, ready: true, worker: { closed: false } }],
    cpu: async () => [{ index: 0, cpuPercent: 0 }],
  } as unknown as WorkerPool;
  const meter = {
    sample: async () => [],
    rooms: () => 1,
    room: (roomId: string) =>
      roomId === ROOM
        ? { producerSessions: new Set(['a', 'b']), parts: [{ workerIndex: 0, producers: 2, receivedPerSecond: 0 }] }
        : undefined,
  } as unknown as PacketMeter;
  const a = new Admission(
    pool,
    meter,
    { packetsPerSecond: 100_000, consumers: 1_000, admitLoad: 0.8 },
    { reserveForMs: 100, now: () => clock.now },
  );
  return { admission: a, clock, consumers: () => a.workers()[0]!.consumers };
}

describe('Reservation', () => {
  test('commit twice, release twice: the first call decides, the others do nothing', async () => {
    const { admission: a, consumers } = admission();
    const joined = a.chooseSpanWorker(ROOM, 0, 'c').reservation;
    const left = a.chooseSpanWorker(ROOM, 0, 'd').reservation;
    assert.equal(consumers(), 2 * PER_JOIN);
    const calls = [joined.commit(), joined.commit(), left.release(), left.release()];
    assert.equal(consumers(), PER_JOIN, 'the released one no longer counts; the committed one does');
    assert.equal(a.reserved(), 1);
    calls.push(left.commit(), joined.release());
    assert.equal(
      consumers(),
      PER_JOIN,
      'neither a released one committed nor a committed one released changes anything',
    );
    assert.equal(a.reserved(), 1);
    assert.deepEqual(calls, [true, false, true, false, false, false], 'only the first call of each did something');
  });

  test('a release after commit (a joined session leaving before the next sample) keeps it counted until that sample', async () => {
    const { admission: a, consumers } = admission();
    const reservation = a.chooseSpanWorker(ROOM, 0, 'c').reservation;
    reservation.commit();
    const released = reservation.release();
    assert.equal(consumers(), PER_JOIN, 'its media is real until a sample sees it');
    assert.equal(reservation.state, 'committed');
    assert.equal(released, false);
    await a.sample();
    assert.equal(consumers(), 0, 'a sample that started after it drops it');
    assert.equal(a.reserved(), 0);
  });

  test('release after expiry is harmless: the other reservations still count', async () => {
    const { admission: a, clock, consumers } = admission();
    const expiring = a.chooseSpanWorker(ROOM, 0, 'c').reservation;
    clock.now += 50;
    const other = a.chooseSpanWorker(ROOM, 0, 'd').reservation;
    clock.now += 60; // the first one's window (100 ms) has passed, the second's has not
    assert.equal(consumers(), PER_JOIN);
    await a.sample();
    assert.equal(a.reserved(), 1, 'the sample dropped the expired one');
    expiring.release();
    expiring.release();
    assert.equal(consumers(), PER_JOIN, 'the one still in its window counts');
    assert.equal(a.reserved(), 1);
    expiring.commit();
    assert.equal(consumers(), PER_JOIN, 'a commit after its release does not bring it back');
    other.release();
    assert.equal(consumers(), 0);
    assert.equal(a.reserved(), 0);
  });

  test('a commit after expiry (a late join) counts until the next sample, then goes', async () => {
    const { admission: a, clock, consumers } = admission();
    const late = a.chooseSpanWorker(ROOM, 0, 'c').reservation;
    clock.now += 200;
    await a.sample();
    assert.equal(consumers(), 0, 'expired and dropped');
    assert.equal(late.commit(), true);
    assert.equal(consumers(), PER_JOIN, 'the joined session is not in any sample yet');
    late.release();
    assert.equal(consumers(), PER_JOIN, 'a release after that commit changes nothing');
    await a.sample();
    assert.equal(consumers(), 0);
  });

  test('Reservation.none() reserves nothing and may be committed and released', () => {
    const none = Reservation.none();
    assert.equal(none.counts(0), false);
    none.release();
    none.commit();
    assert.equal(none.state, 'released');
    assert.equal(none.counts(0), false);
  });
});
