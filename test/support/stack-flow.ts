// Drives a test client through the voice flow (VOICE-PROTOCOL.md §3) with hand-built client parameters.
import type { StreamMessageResponse_JoinedChannel } from '../../gen/protocol/voice/v1/voice';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from './client-params';
import { VoiceTestClient, type ClientOptions } from './voice-client';

export async function initialize(client: VoiceTestClient, guildId: bigint, channelId: bigint, timeoutMs?: number) {
  client.send({ $case: 'initialize', value: { guildId, channelId } });
  return client.expect('initialized', timeoutMs);
}

export async function prepare(client: VoiceTestClient, timeoutMs?: number) {
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
  return client.expect('preparedForJoinChannel', timeoutMs);
}

export function sendJoin(client: VoiceTestClient): void {
  client.send({
    $case: 'joinChannel',
    value: {
      rtpParamaters: producerRtpParameters(),
      producerDtlsParamaters: dtlsParameters(),
      consumerDtlsParamaters: dtlsParameters(),
    },
  });
}

/** Connect + Initialize + Prepare + Join; returns the client and its JoinedChannel. */
export async function joinedClient(
  options: ClientOptions,
  guildId: bigint,
  channelId: bigint,
  stepTimeoutMs?: number,
): Promise<{ client: VoiceTestClient; joined: StreamMessageResponse_JoinedChannel }> {
  const client = await VoiceTestClient.connect(options);
  await initialize(client, guildId, channelId, stepTimeoutMs);
  await prepare(client, stepTimeoutMs);
  sendJoin(client);
  // A concurrent joiner's UserJoined may overtake our JoinedChannel (messages have no global order on AWS).
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.kind === 'response' && frame.response.message?.$case === 'joinedChannel') {
      return { client, joined: frame.response.message.value };
    }
    if (frame.kind === 'response' && frame.response.message?.$case === 'userJoined') continue;
    if (frame.kind === 'ext') continue; // resume.v1: the session's credential
    throw new Error(
      `expected joinedChannel, got ${JSON.stringify(frame, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`,
    );
  }
}
