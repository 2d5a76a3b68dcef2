// One token prepares sessions in the honest channel and never joins them (each holds transports
// and an admission reservation on the media node). Contained: at most VOICE_USER_MAX_PREPARED are prepared at once
// (the rest refused with `voice.rate-limited`), and their reservations end with the prepare window.
import { DEFAULT_USER_LIMITS } from '../../functions/voice/user-limits';
import { initializedAndPrepareSent } from '../../test/support/floods';
import type { VoiceTestClient } from '../../test/support/voice-client';
import type { Attack } from './attack';

const attack: Attack = {
  name: 'prepare-flood',
  description: 'one token prepares as many sessions as it can in the channel and never joins them',
  async start(target) {
    const token = target.token(target.newUser());
    const opened: VoiceTestClient[] = [];
    let prepared = 0;
    let refused = 0;
    for (let i = 0; i < DEFAULT_USER_LIMITS.maxStreamsPerUser; i++) {
      try {
        const client = await initializedAndPrepareSent({ wsUrl: target.wsUrl, token }, target.guild, target.channel);
        opened.push(client);
        const answer = await client.next(10_000);
        if (answer.kind === 'error' && answer.error.identifier === 'voice.rate-limited') refused++;
        else if (answer.kind === 'response' && answer.response.message?.$case === 'preparedForJoinChannel') prepared++;
      } catch {
        refused++;
      }
    }
    target.note(`${prepared} prepared, ${refused} refused`);
    return {
      tokens: 1,
      async stop() {
        for (const c of opened) c.terminate();
        return {
          contained: prepared <= DEFAULT_USER_LIMITS.maxPreparedPerUser,
          detail: `${prepared} sessions prepared and never joined, ${refused} refused`,
        };
      },
    };
  },
};

export default attack;
