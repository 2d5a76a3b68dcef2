// The remote members of a voice session and their consumers: one entry per member, created when its consumer is
// (JoinedChannel's list, then each UserJoined), replaced when the same user is seen again, removed on UserLeft.
import type { Consumer, Transport } from 'mediasoup-client/types';
import type { UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { normalizeId } from '../../protocol/hrpc';
import { asClientError, ClientErrorId, VoiceClientError } from './errors';

export interface RemoteParticipant {
  userId: bigint;
  consumer: Consumer;
}

export class Participants {
  private readonly byUser = new Map<string, RemoteParticipant>();

  values(): IterableIterator<RemoteParticipant> {
    return this.byUser.values();
  }

  get(userId: bigint): RemoteParticipant | undefined {
    return this.byUser.get(userId.toString());
  }

  /**
   * Creates the member's consumer on `transport` (a member seen again — a same-user rejoin replaced its old stream —
   * gets the new one). Resolves undefined when this member cannot be received (the error is reported by the caller:
   * one unusable member must not end the session for everyone else).
   */
  async consume(
    transport: Transport,
    user: UserConsumerOptions,
  ): Promise<{ participant: RemoteParticipant } | { error: VoiceClientError }> {
    const key = user.userId.toString();
    this.byUser.get(key)?.consumer.close();
    this.byUser.delete(key);
    let consumer: Consumer;
    try {
      consumer = await transport.consume({
        id: normalizeId(user.consumerId),
        producerId: normalizeId(user.producerId),
        kind: 'audio',
        rtpParameters: parseJson(user.rtpParameters, 'UserConsumerOptions.rtp_parameters'),
        appData: { userId: key },
      });
    } catch (err) {
      return { error: asClientError(err, ClientErrorId.media, `cannot receive user ${key}: `) };
    }
    const participant = { userId: user.userId, consumer };
    this.byUser.set(key, participant);
    return { participant };
  }

  /** UserLeft: the member's consumer closes. */
  remove(userId: bigint): void {
    this.byUser.get(userId.toString())?.consumer.close();
    this.byUser.delete(userId.toString());
  }

  clear(): void {
    this.byUser.clear();
  }
}

/** `text` parsed as JSON; a `client.protocol` error naming `what` (the parser's error as `cause`) when it is not. */
export function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new VoiceClientError(ClientErrorId.protocol, `${what} is not valid JSON`, { cause: err });
  }
}
