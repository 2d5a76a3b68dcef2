// One token floods `$connect` — connects and closes as fast as it can, and holds as many streams
// open as it is given. Contained: at most VOICE_USER_CONNECTS_PER_MINUTE connects accepted per calendar minute,
// at most VOICE_USER_MAX_STREAMS open at once, the rest refused with 429 `voice.rate-limited` (functions/voice/user-limits.ts).
import { DEFAULT_USER_LIMITS } from '../../functions/voice/user-limits';
import { tryConnect } from '../../test/support/floods';
import type { VoiceTestClient } from '../../test/support/voice-client';
import type { Attack } from './attack';

const attack: Attack = {
  name: 'connect-flood',
  description: 'one token connects (and closes) as fast as it can, holding every stream it may keep open',
  async start(target) {
    const token = target.token(target.newUser());
    const held: VoiceTestClient[] = [];
    const started = Date.now();
    let accepted = 0;
    let refused = 0;
    let other = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const outcome = await tryConnect({ wsUrl: target.wsUrl, token }).catch(() => undefined);
        if (outcome && 'accepted' in outcome) {
          accepted++;
          // Hold the first streams, close the rest at once (each a new connect).
          if (held.length < DEFAULT_USER_LIMITS.maxStreamsPerUser + 1) held.push(outcome.accepted);
          else outcome.accepted.close();
        } else if (outcome?.refused.statusCode === 429 && outcome.refused.identifier === 'voice.rate-limited')
          refused++;
        else other++;
      }
    })();
    return {
      tokens: 1,
      async stop() {
        stopped = true;
        await loop;
        const minutes = Math.floor((Date.now() - started) / 60_000) + 2; // calendar minutes touched, at most
        const openAtOnce = held.filter((c) => c.closed === undefined).length;
        for (const c of held) c.terminate();
        const contained =
          refused > 0 &&
          accepted <= minutes * DEFAULT_USER_LIMITS.connectsPerUserPerMinute &&
          openAtOnce <= DEFAULT_USER_LIMITS.maxStreamsPerUser;
        return {
          contained,
          detail: `${accepted} connects accepted (${openAtOnce} held open at the end), ${refused} refused 429 voice.rate-limited, ${other} other`,
        };
      },
    };
  },
};

export default attack;
