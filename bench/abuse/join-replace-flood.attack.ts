// One token churns joins into the honest channel, each new stream taking the seat of its previous
// one (same-user replacement: every member is told a leave and a join, and consumes the new producer). Contained:
// at most VOICE_USER_JOINS_PER_MINUTE joins and VOICE_USER_REPLACEMENTS_PER_MINUTE replacements a calendar minute
// get through; the rest are refused (`voice.rate-limited`, or 429 at `$connect`) and change nothing.
import { DEFAULT_USER_LIMITS } from '../../functions/voice/user-limits';
import { initializedAndPrepareSent } from '../../test/support/floods';
import { sendJoin } from '../../test/support/stack-flow';
import type { VoiceTestClient } from '../../test/support/voice-client';
import type { Attack } from './attack';

const attack: Attack = {
  name: 'join-replace-flood',
  description: 'one token joins the channel again and again from new streams, replacing its own session each time',
  async start(target) {
    const token = target.token(target.newUser());
    const opened: VoiceTestClient[] = [];
    const started = Date.now();
    let joined = 0;
    let refused = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        try {
          const client = await initializedAndPrepareSent({ wsUrl: target.wsUrl, token }, target.guild, target.channel);
          opened.push(client);
          const prepared = await client.next(10_000);
          if (prepared.kind === 'error') {
            refused++;
            client.terminate();
            continue;
          }
          sendJoin(client);
          for (;;) {
            const frame = await client.next(10_000);
            if (frame.kind === 'error') {
              refused++;
              client.terminate();
              break;
            }
            if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel') {
              joined++;
              break;
            }
          }
        } catch {
          refused++; // a refused connect (429) or a stream ended under it
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    })();
    return {
      tokens: 1,
      async stop() {
        stopped = true;
        await loop;
        for (const c of opened) c.terminate();
        const minutes = Math.floor((Date.now() - started) / 60_000) + 2;
        const contained = joined <= minutes * DEFAULT_USER_LIMITS.joinsPerUserPerMinute;
        return { contained, detail: `${joined} joins (each replacing the last) got through, ${refused} refused` };
      },
    };
  },
};

export default attack;
