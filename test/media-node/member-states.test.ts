// state.v1 on the media node, pure parts: who may change what (MemberStates) and why a producer or consumer is
// paused (MediaHolds) — a muted member stays silent when the police's cool-down ends, a deafened member's own
// ResumeConsumer lets nothing through, and undeafening resumes only what its client had resumed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaError } from '../../media-node/api/errors';
import { heldFromStart, hold, holdsOf, release } from '../../media-node/src/session/media-holds';
import { applyToMedia, MemberStates, UNMUTED } from '../../media-node/src/room/member-states';
import { ProducerPolice } from '../../media-node/src/session/producer-police';

class FakeMedia {
  paused: boolean;
  readonly calls: string[] = [];
  constructor(paused = false) {
    this.paused = paused;
  }
  async pause() {
    this.calls.push('pause');
    this.paused = true;
  }
  async resume() {
    this.calls.push('resume');
    this.paused = false;
  }
}

describe('MediaHolds', () => {
  it('the end of a police cool-down does not unmute a muted producer; unmuting a policed one waits for the police', async () => {
    const producer = new FakeMedia();
    await hold(producer, 'police');
    await hold(producer, 'muted');
    assert.equal(await release(producer, 'police'), false);
    assert.equal(producer.paused, true, 'still muted');
    assert.equal(await release(producer, 'muted'), true);
    assert.equal(producer.paused, false);
    await hold(producer, 'muted');
    await hold(producer, 'police');
    await release(producer, 'muted');
    assert.equal(producer.paused, true, 'still policed');
    assert.deepEqual(holdsOf(producer), ['police']);
  });

  it('a consumer runs once its client resumed it and its receiver is not deafened', async () => {
    const consumer = new FakeMedia(true);
    heldFromStart(consumer, 'client');
    await hold(consumer, 'deafened');
    assert.equal(await release(consumer, 'client'), false, 'ResumeConsumer while deafened');
    assert.equal(consumer.paused, true);
    assert.equal(await release(consumer, 'deafened'), true);
    assert.equal(consumer.paused, false);
    const notResumed = new FakeMedia(true);
    heldFromStart(notResumed, 'client');
    await hold(notResumed, 'deafened');
    await release(notResumed, 'deafened');
    assert.equal(notResumed.paused, true, 'undeafen does not resume what the client never resumed');
  });
});

describe('MemberStates', () => {
  it('a member sets its own flags; a server-muted member cannot unmute itself; nothing changes on a refusal', () => {
    const states = new MemberStates();
    assert.deepEqual(states.apply('s1', 'u1', { selfMuted: true }, 'self').after, { ...UNMUTED, selfMuted: true });
    states.apply('s1', 'u1', { serverMuted: true }, 'moderator');
    assert.throws(
      () => states.apply('s1', 'u1', { selfMuted: false }, 'self'),
      (e: unknown) => e instanceof MediaError && e.reason === 'state-refused',
    );
    assert.deepEqual(states.of('s1', 'u1'), { ...UNMUTED, selfMuted: true, serverMuted: true });
    assert.throws(() => states.apply('s1', 'u1', { serverMuted: false }, 'self'), MediaError);
    assert.throws(() => states.apply('s1', 'u1', { selfMuted: false }, 'moderator'), MediaError);
    states.apply('s1', 'u1', { serverDeafened: true }, 'moderator');
    assert.throws(() => states.apply('s1', 'u1', { selfDeafened: false }, 'self'), MediaError);
    // Deafening oneself more is allowed while server deafened.
    assert.equal(states.apply('s1', 'u1', { selfDeafened: true }, 'self').after.selfDeafened, true);
  });

  it('a request older than the last applied (a call the node runs late) changes nothing', () => {
    const states = new MemberStates();
    states.apply('s1', 'u1', { selfMuted: false }, 'self', 200);
    assert.deepEqual(
      states.apply('s1', 'u1', { selfMuted: true }, 'self', 100).after,
      UNMUTED,
      'the late mute is ignored',
    );
    states.apply('s1', 'u1', { serverMuted: true }, 'moderator', 300);
    assert.equal(states.apply('s1', 'u1', { serverMuted: false }, 'moderator', 250).after.serverMuted, true);
    // Self and server stamps are apart: an older self request is judged against the last self change only.
    assert.equal(states.apply('s1', 'u1', { selfDeafened: true }, 'self', 201).after.selfDeafened, true);
  });

  it('server flags stay with the user across sessions (a rejoin); self flags go with the session', () => {
    const states = new MemberStates();
    states.apply('s1', 'u1', { selfMuted: true }, 'self');
    states.apply('s1', 'u1', { serverMuted: true }, 'moderator');
    states.forget('s1');
    assert.deepEqual(states.of('s2', 'u1'), { ...UNMUTED, serverMuted: true });
  });

  it('the media follows the state: mute holds the producer, deafen the consumers, each only when it changes', async () => {
    const producer = new FakeMedia();
    const consumers = [new FakeMedia(), new FakeMedia()];
    await applyToMedia({ producer, consumers }, UNMUTED, { ...UNMUTED, selfMuted: true });
    assert.deepEqual([producer.paused, ...consumers.map((c) => c.paused)], [true, false, false]);
    // Server mute on top of self mute: still muted, no call.
    await applyToMedia(
      { producer, consumers },
      { ...UNMUTED, selfMuted: true },
      { ...UNMUTED, selfMuted: true, serverMuted: true },
    );
    assert.deepEqual(producer.calls, ['pause']);
    await applyToMedia({ producer, consumers }, UNMUTED, { ...UNMUTED, serverDeafened: true });
    assert.deepEqual(
      consumers.map((c) => c.paused),
      [true, true],
    );
  });
});

describe('the police and state.v1 together (ProducerPolice over MediaHolds)', () => {
  it('a flooder muted during its cool-down stays paused when the police lets go; unmuting then resumes it', async () => {
    let now = 0;
    const police = new ProducerPolice({ sampleMs: 100, windowMs: 500, cooldownMs: 1_000, maxOffences: 5 }, () => now);
    const counts = { packets: 0, bytes: 0 };
    const producer = Object.assign(new FakeMedia(), {
      id: 'p1',
      closed: false,
      getStats: async () => [{ packetCount: counts.packets, byteCount: counts.bytes }],
    });
    police.watch(producer, { roomId: 'r', sessionId: 's', userId: 'u' }, () => {});
    const step = async (pps: number) => {
      now += 100;
      counts.packets += pps / 10;
      counts.bytes += (pps / 10) * 200;
      await police.tick();
    };
    for (let i = 0; i < 30 && !producer.paused; i++) await step(5_000); // a flood: paused by the police
    assert.equal(producer.paused, true, 'the police paused the flood');
    await hold(producer, 'muted'); // the member mutes itself meanwhile
    for (let i = 0; i < 40; i++) await step(50); // honest rate past the cool-down: the police lets go
    assert.deepEqual(holdsOf(producer), ['muted'], 'the police released its hold');
    assert.equal(producer.paused, true, 'still muted: the police did not unmute it');
    await release(producer, 'muted');
    assert.equal(producer.paused, false);
    police.close();
  });
});
