// Five members join the honest channel with producer parameters whose Opus codec parameters are
// padded with junk keys to ~19 KB (valid JSON). On main they were accepted, every other member's consumer carried
// the padding, and the next JoinedChannel passed the message budget (the feed stalled). Contained: every such join
// is refused (voice.bad-rtp-parameters), so none of it reaches anyone. The attackers retry every second.
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../../test/support/client-params';
import { VoiceTestClient } from '../../test/support/voice-client';
import type { Attack } from './attack';

const ATTACKERS = 5;

export function paddedRtpParameters(): string {
  const value = JSON.parse(producerRtpParameters()) as { codecs: { parameters: Record<string, unknown> }[] };
  for (let i = 0; i < 190; i++) value.codecs[0]!.parameters[`x-junk-${i}`] = 'A'.repeat(90);
  return JSON.stringify(value);
}

const attack: Attack = {
  name: 'padded-parameters',
  description: `${ATTACKERS} members join with ~19 KB padded Opus parameters, retrying every second`,
  async start(target) {
    let stopped = false;
    let refused = 0;
    let accepted = 0;
    let otherwise = 0;
    const open = new Set<VoiceTestClient>();
    const users = Array.from({ length: ATTACKERS }, () => target.newUser());
    const padded = paddedRtpParameters();

    async function attempt(user: bigint): Promise<'refused' | 'accepted' | 'other'> {
      const client = await VoiceTestClient.connect({ wsUrl: target.wsUrl, token: target.token(user) });
      open.add(client);
      client.send({ $case: 'initialize', value: { guildId: target.guild, channelId: target.channel } });
      await client.expect('initialized', 10_000);
      client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
      await client.expect('preparedForJoinChannel', 10_000);
      client.send({
        $case: 'joinChannel',
        value: {
          rtpParamaters: padded,
          producerDtlsParamaters: dtlsParameters(),
          consumerDtlsParamaters: dtlsParameters(),
        },
      });
      for (;;) {
        const frame = await client.next(15_000);
        if (frame.kind === 'error') {
          client.close();
          open.delete(client);
          return frame.error.identifier === 'voice.bad-rtp-parameters' ? 'refused' : 'other';
        }
        // Accepted: the attacker stays in the channel with its padded producer (until stopped).
        if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel') return 'accepted';
      }
    }

    const loops = users.map(async (user) => {
      while (!stopped) {
        const outcome = await attempt(user).catch(() => 'other' as const);
        if (outcome === 'refused') refused++;
        else if (outcome === 'accepted') {
          accepted++;
          return; // joined: it stays
        } else otherwise++;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    });
    // Running once every attacker made its first attempt.
    while (refused + accepted + otherwise < ATTACKERS) await new Promise((r) => setTimeout(r, 50));
    target.note(`first attempts: ${refused} refused, ${accepted} accepted`);
    return {
      tokens: ATTACKERS,
      async stop() {
        stopped = true;
        await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 20_000))]);
        for (const client of open) client.terminate();
        return {
          contained: accepted === 0,
          detail: `${refused} joins refused (voice.bad-rtp-parameters), ${accepted} accepted, ${otherwise} other outcomes`,
        };
      },
    };
  },
};

export default attack;
