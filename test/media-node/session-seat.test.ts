// A session's seat (media-node/src/session/session-seat.ts), the lifecycle Room and PartHost share, against fakes of
// its media and span: what an open that fails leaves behind, what close undoes (once), a producer muted before it
// exists, consumers forgotten when they close. The real paths run in span-nodes, member-states and police tests.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { types } from 'mediasoup';
import { Reservation } from '../../media-node/src/load/reservation';
import { holdsOf } from '../../media-node/src/session/media-holds';
import type { ConsumerHandle, SessionMedia } from '../../media-node/src/session/session-media';
import { type SeatOpening, SessionSeat } from '../../media-node/src/session/session-seat';

type Part = { name: string };
const HOME: Part = { name: 'home' };
const OTHER: Part = { name: 'other' };

function fakes() {
  const calls: string[] = [];
  const consumers: (ConsumerHandle & { fireClose(): void })[] = [];
  const producer = {
    paused: false,
    closed: false,
    pause: async () => void (producer.paused = true),
    resume: async () => void (producer.paused = false),
  };
  const media: SessionMedia = {
    consumerOptions: { id: 'c', iceParameters: '{}', iceCandidates: [], dtlsParameters: '{}' },
    producerOptions: { id: 'p', iceParameters: '{}', iceCandidates: [], dtlsParameters: '{}' },
    start: async () => {
      calls.push('start');
      return {
        id: 'producer-1',
        kind: 'audio',
        close: () => calls.push('producer.close'),
        local: producer as unknown as types.Producer,
      };
    },
    consume: async (producerId) => {
      const listeners: (() => void)[] = [];
      let closed = false;
      const consumer = {
        id: `consumer-${consumers.length + 1}`,
        producerId,
        rtpParameters: { codecs: [] } as types.RtpParameters,
        get closed() {
          return closed;
        },
        resume: async () => void calls.push(`resume ${producerId}`),
        pause: async () => {},
        close: () => {
          if (closed) return;
          closed = true;
          calls.push(`consumer.close ${producerId}`);
          for (const l of listeners) l();
        },
        onClose: (l: () => void) => void listeners.push(l),
        fireClose: () => consumer.close(),
      };
      consumers.push(consumer);
      return consumer;
    },
    restartIce: async () => ({ consumer: {} as types.IceParameters, producer: {} as types.IceParameters }),
    close: () => calls.push('media.close'),
  };
  const span = {
    reach: async (producerId: string, from: Part, to: Part) =>
      void calls.push(`reach ${producerId} ${from.name}>${to.name}`),
    release: (sessionId: string) => void calls.push(`span.release ${sessionId}`),
  };
  const lost: string[] = [];
  let onLost: ((reason: 'ice-failed') => void) | undefined;
  const opening = (overrides: Partial<SeatOpening<Part>> = {}): SeatOpening<Part> => ({
    id: 's1',
    userId: 'u1',
    reservation: new Reservation(new Map(), Number.MAX_SAFE_INTEGER, 0),
    span,
    place: async () => HOME,
    media: async (_part, lostHook) => {
      onLost = lostHook;
      return media;
    },
    onLost: (seat, reason) => void lost.push(`${seat.id} ${reason}`),
    ...overrides,
  });
  return { calls, consumers, producer, opening, lost, fireLost: () => onLost?.('ice-failed') };
}

const DTLS = {} as types.DtlsParameters;
const RTP = {} as types.RtpParameters;
const CAPS = {} as types.RtpCapabilities;

describe('SessionSeat', () => {
  test('an open whose placing fails releases the reservation; one whose media fails also leaves the span', async () => {
    const f = fakes();
    const placing = f.opening({ place: async () => Promise.reject(new Error('no router')) });
    await assert.rejects(SessionSeat.open(placing), /no router/);
    assert.equal(placing.reservation.state, 'released');
    assert.deepEqual(f.calls, [], 'nothing was placed, nothing to leave');
    const making = f.opening({ media: async () => Promise.reject(new Error('no transport')) });
    await assert.rejects(SessionSeat.open(making), /no transport/);
    assert.equal(making.reservation.state, 'released');
    assert.deepEqual(f.calls, ['span.release s1']);
  });

  test('close undoes everything once: consumers, producer, transports, its place; an unjoined seat releases its reservation', async () => {
    const f = fakes();
    const seat = await SessionSeat.open(f.opening());
    await seat.produce(RTP, DTLS, DTLS);
    await seat.consume({ producerId: 'x', sessionId: 's2', part: OTHER }, CAPS);
    seat.close();
    seat.close();
    assert.deepEqual(f.calls, [
      'start',
      'reach x other>home',
      'consumer.close x',
      'producer.close',
      'media.close',
      'span.release s1',
    ]);
    assert.equal(seat.reservation.state, 'released');
    assert.equal(seat.consumerCount, 0);
    f.fireLost();
    assert.deepEqual(f.lost, [], 'a closed seat reports no loss');
  });

  test('a joined seat keeps its committed reservation when it closes; its media loss is reported while open', async () => {
    const f = fakes();
    const seat = await SessionSeat.open(f.opening());
    await seat.produce(RTP, DTLS, DTLS);
    seat.reservation.commit();
    f.fireLost();
    assert.deepEqual(f.lost, ['s1 ice-failed']);
    seat.close();
    assert.equal(seat.reservation.state, 'committed');
  });

  test('produce twice makes one producer; a seat muted before it produces has its producer held when it does', async () => {
    const f = fakes();
    const seat = await SessionSeat.open(f.opening());
    await seat.setMuted(true);
    const first = await seat.produce(RTP, DTLS, DTLS);
    const again = await seat.produce(RTP, DTLS, DTLS);
    assert.equal(first, again);
    assert.deepEqual(
      f.calls.filter((c) => c === 'start'),
      ['start'],
    );
    assert.equal(f.producer.paused, true);
    assert.deepEqual(holdsOf(f.producer), ['muted']);
    await seat.setMuted(false);
    assert.equal(f.producer.paused, false);
    assert.deepEqual(holdsOf(f.producer), []);
  });

  test('consumers: held by the client from the start (and deafened when asked), forgotten when they close, dropped per sender', async () => {
    const f = fakes();
    const seat = await SessionSeat.open(f.opening());
    const a = await seat.consume({ producerId: 'pa', sessionId: 'sa', userId: 'ua', part: HOME }, CAPS, {
      parameters: (c) => `params of ${c.id}`,
      deafened: () => true,
    });
    const b = await seat.consume({ producerId: 'pb', sessionId: 'sb', part: OTHER }, CAPS);
    assert.equal(a.rtpParametersJson, 'params of consumer-1');
    assert.equal(a.producerUserId, 'ua');
    assert.deepEqual(holdsOf(a.consumer).sort(), ['client', 'deafened']);
    assert.deepEqual(holdsOf(b.consumer), ['client']);
    assert.deepEqual(
      f.calls.filter((c) => c.startsWith('reach')),
      ['reach pa home>home', 'reach pb other>home'],
    );
    f.consumers[1]!.fireClose();
    assert.equal(seat.consumer(b.consumer.id), undefined, 'closed by the worker: forgotten');
    seat.dropConsumersOf('sa');
    assert.equal(seat.consumerCount, 0);
    assert.equal(a.consumer.closed, true);
  });

  test('a consumers.v1 seat resumes its consumers before handing them out; a failing parameters build closes the consumer', async () => {
    const f = fakes();
    const seat = await SessionSeat.open(f.opening({ consumersResumed: true }));
    await seat.consume({ producerId: 'pa', sessionId: 'sa', part: HOME }, CAPS);
    assert.ok(f.calls.includes('resume pa'));
    await assert.rejects(
      seat.consume({ producerId: 'pb', sessionId: 'sb', part: HOME }, CAPS, {
        parameters: () => {
          throw new Error('too big');
        },
      }),
      /too big/,
    );
    assert.equal(f.consumers[1]!.closed, true);
    assert.equal(seat.consumerCount, 1);
  });
});
