// The media node's police through the real local stack (API Gateway, handlers, dynalite, the reaper's sweep, a
// real media node process): a member whose WebRTC producer (msc-node: ICE, DTLS, SRTP) floods at ~1 Mbit/s is
// told `voice.producer-policed` (non-fatal) when the node pauses it, then, still flooding after the cool-down,
// told it again fatally and closed; the other member sees it leave and keeps its own stream.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { joinWithMedia, type MediaJoined } from '../support/media-voice-client';
import { devToken } from '../support/tokens';

const GUILD = 18n;
let stack: LocalStack;
const open: MediaJoined[] = [];

before(async () => {
  // The node's default limits; its timings shortened (judged over 2 s, sampled every 250 ms, paused 4 s per
  // offence, the second offence ends the session) and the reaper sweeping every second, so the test takes seconds.
  stack = await startLocalStack({
    port: 0,
    reaperIntervalMs: 1_000,
    mediaNode: {
      forwardLogs: false,
      env: {
        MEDIA_POLICE_WINDOW_MS: '2000',
        MEDIA_POLICE_SAMPLE_MS: '250',
        MEDIA_POLICE_COOLDOWN_MS: '4000',
        MEDIA_POLICE_MAX_OFFENCES: '2',
      },
    },
  });
});
after(async () => {
  for (const member of open) {
    for (const t of member.transports) t.close();
    member.client.terminate();
  }
  await stack?.close();
});

test('a flooding member is told voice.producer-policed (non-fatal) when paused, then ended (fatal); the other member sees it leave', async () => {
  const options = (user: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [1n]) });
  const honest = await joinWithMedia(options(1n), GUILD, 1n);
  open.push(honest);
  const flooder = await joinWithMedia(options(2n), GUILD, 1n);
  open.push(flooder);
  const joined = await honest.client.expect('userJoined');
  assert.equal(joined.data?.userId, 2n);
  await honest.consume(joined.data!);
  const stopHonest = honest.speak();
  const stopFlood = flooder.sendAt(100, 1200); // ~1 Mbit/s: under the packet rate, over the bitrate

  try {
    const paused = await flooder.client.nextError(15_000);
    assert.equal(paused.identifier, 'voice.producer-policed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(flooder.client.closed, undefined, 'a pause does not close the stream');
    // Nothing of the paused flooder reaches the other member any more.
    const heard = honest.received.get('2') ?? 0;
    assert.ok(heard > 0, 'the flood reached the other member before the pause');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(honest.received.get('2') ?? 0, heard, 'no packet of the paused producer forwarded');

    const ended = await flooder.client.nextError(15_000);
    assert.equal(ended.identifier, 'voice.producer-policed');
    await flooder.client.waitClosed(5_000);
    assert.equal((await honest.client.expect('userLeft', 10_000)).userId, 2n);
    assert.deepEqual(honest.client.errors(), [], 'the honest member is told nothing but the leave');
    assert.equal(honest.client.closed, undefined, 'the honest stream stays open');
  } finally {
    stopFlood();
    stopHonest();
  }
});
