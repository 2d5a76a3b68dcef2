// A poison entry. Six members join the honest channel normally, then a seventh prepares with
// RtpCapabilities whose Opus codec lists ~19 KB of junk RTCP feedback (one frame, valid JSON) and joins. On main
// the junk was copied into each of its consumers, its JoinedChannel (six or more others) passed the server-message
// budget, the size check threw inside the channel's feed, and the feed retried that entry forever: no join or leave
// in the channel was announced again. Contained: the poisoner gets an answer (refused, or a bounded JoinedChannel)
// and the channel's feed goes on (the harness sees every honest join announced).
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../../test/support/client-params';
import { VoiceTestClient } from '../../test/support/voice-client';
import type { Attack } from './attack';

const HELPERS = 6;

export function paddedCapabilities(): string {
  const caps = JSON.parse(clientRtpCapabilities()) as { codecs: { rtcpFeedback: unknown[] }[] };
  for (let i = 0; i < 150; i++) caps.codecs[0]!.rtcpFeedback.push({ type: `x-junk-${i}`, parameter: 'A'.repeat(90) });
  return JSON.stringify(caps);
}

const attack: Attack = {
  name: 'poison-entry',
  description: `${HELPERS} members join normally, then one with ~19 KB of junk in its capabilities' Opus feedback`,
  async start(target) {
    const open: VoiceTestClient[] = [];
    const join = (user: bigint, rtpCapabilities: string) =>
      attempt(user, rtpCapabilities).catch((error: Error) => ({ outcome: `failed: ${error.message}` }));
    const attempt = async (user: bigint, rtpCapabilities: string): Promise<{ outcome: string }> => {
      const client = await VoiceTestClient.connect({ wsUrl: target.wsUrl, token: target.token(user) });
      open.push(client);
      client.send({ $case: 'initialize', value: { guildId: target.guild, channelId: target.channel } });
      await client.expect('initialized', 10_000);
      client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities } });
      const prepared = await client.next(10_000);
      if (prepared.kind === 'error') return { outcome: `prepare refused (${prepared.error.identifier})` };
      client.send({
        $case: 'joinChannel',
        value: {
          rtpParamaters: producerRtpParameters(),
          producerDtlsParamaters: dtlsParameters(),
          consumerDtlsParamaters: dtlsParameters(),
        },
      });
      try {
        for (;;) {
          const frame = await client.next(15_000);
          if (frame.kind === 'error') return { outcome: `join refused (${frame.error.identifier})` };
          if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel')
            return { outcome: 'joined' };
        }
      } catch {
        return { outcome: 'no JoinedChannel within 15 s' };
      }
    };
    for (let i = 0; i < HELPERS; i++) await join(target.newUser(), clientRtpCapabilities());
    const poisoner = await join(target.newUser(), paddedCapabilities());
    target.note(`poisoner: ${poisoner.outcome}`);
    const contained = poisoner.outcome !== 'no JoinedChannel within 15 s';
    return {
      tokens: HELPERS + 1,
      async stop() {
        for (const client of open) client.terminate();
        return { contained, detail: `the poisoner's join: ${poisoner.outcome}` };
      },
    };
  },
};

export default attack;
