// Media-node failures → voice error identifiers. The node reports a stable reason (media-node/api/errors.ts);
// the client hears a fixed human message per reason. The node's own text (which names rooms, sessions and
// nodes) and gRPC transport details never reach a client: the gRPC adapter logs them (`media.call-failed`,
// with the connection id as correlation id) and they stay on the VoiceError as `cause` for the logs.
import { ErrorId, VoiceError, type ErrorIdentifier } from '../../protocol/errors';
import { MediaError } from './ports';

interface Mapping {
  readonly id: ErrorIdentifier;
  readonly message: string;
  readonly fatal?: boolean;
}

/** One truth for what a client is told per media-node reason. */
export const MEDIA_REASON_MESSAGES: Readonly<Record<string, Mapping>> = {
  'bad-dtls-parameters': { id: ErrorId.badDtlsParameters, message: 'the media server rejected dtls_parameters' },
  'bad-rtp-parameters': { id: ErrorId.badRtpParameters, message: 'the media server rejected rtp_parameters' },
  'bad-rtp-capabilities': { id: ErrorId.badRtpCapabilities, message: 'the media server rejected rtp_capabilities' },
  'cannot-consume': {
    id: ErrorId.badRtpCapabilities,
    message: 'rtp_capabilities cannot receive the audio of this channel',
  },
  'unknown-consumer': {
    id: ErrorId.unknownConsumer,
    message: 'no consumer with that consumer_id exists in this channel',
  },
  'consumer-not-yours': { id: ErrorId.consumerNotYours, message: 'that consumer_id belongs to another stream' },
  'not-prepared': { id: ErrorId.outOfOrder, message: 'the media session is not prepared for that message yet' },
  'channel-full': { id: ErrorId.channelFull, message: 'the channel is full' },
  'over-capacity': {
    id: ErrorId.unavailable,
    message: 'the media server carrying this channel is at capacity; retry shortly',
  },
  'unknown-room': {
    id: ErrorId.mediaLost,
    message: 'the media server no longer hosts this channel; reconnect to rejoin',
    fatal: true,
  },
  'unknown-session': {
    id: ErrorId.mediaLost,
    message: 'the media server no longer has this session; reconnect to rejoin',
    fatal: true,
  },
  draining: { id: ErrorId.unavailable, message: 'the media server is shutting down; retry shortly' },
  // state.v1 (member-state.ts): nothing changed.
  'state-refused': {
    id: ErrorId.stateRefused,
    message: 'a server-muted (or server-deafened) member cannot unmute (or undeafen) itself',
  },
  'unknown-member': { id: ErrorId.unknownMember, message: 'that user is not a member of this voice channel' },
};

/** What a client hears when no media server answers (transport failures, deadlines). */
export const MEDIA_UNAVAILABLE_MESSAGE = 'the media server is unavailable; retry shortly';
/** A worker over its admission threshold: load falls as people stop talking or leave, so retry later. */
export const OVER_CAPACITY_RETRY_AFTER_SECONDS = 5;

/** What a stream whose session the media node lost (ICE/DTLS failed or closed, worker died, drained) is told (fatal). */
export function mediaLostError(reason: string): VoiceError {
  if (reason === 'policed') {
    return new VoiceError(
      ErrorId.producerPoliced,
      "your audio kept exceeding the media server's packet-rate or bitrate limit; the stream is closed",
      { fatal: true },
    );
  }
  if (reason === 'media-unreachable') {
    return new VoiceError(
      ErrorId.mediaUnreachable,
      'your audio never connected to the media server: this network blocks every path to it (UDP, TCP, TCP 443 and the relay); ' +
        'try another network (a phone hotspot), or ask its administrator to allow UDP or TCP port 443',
      { fatal: true },
    );
  }
  return new VoiceError(ErrorId.mediaLost, `media session lost (${reason}); reconnect to rejoin`, { fatal: true });
}

/** What a stream is told for a media node's notice (non-fatal: the session goes on); undefined for a reason it does not know. */
export function mediaNoticeError(reason: string): VoiceError | undefined {
  if (reason !== 'policed') return undefined;
  return new VoiceError(
    ErrorId.producerPoliced,
    "your audio exceeded the media server's packet-rate or bitrate limit and is paused for a cool-down; it resumes once you send at a voice rate, and repeated offences close the stream",
  );
}

export function mediaErrorToVoiceError(err: unknown): VoiceError {
  if (err instanceof VoiceError) return err;
  if (err instanceof MediaError) {
    const mapped = MEDIA_REASON_MESSAGES[err.reason];
    if (err.reason === 'over-capacity') {
      return new VoiceError(ErrorId.unavailable, mapped?.message ?? MEDIA_UNAVAILABLE_MESSAGE, {
        retryAfterSeconds: OVER_CAPACITY_RETRY_AFTER_SECONDS,
        cause: err,
      });
    }
    if (err.unavailable) {
      return new VoiceError(
        ErrorId.unavailable,
        mapped?.id === ErrorId.unavailable ? mapped.message : MEDIA_UNAVAILABLE_MESSAGE,
        { retryAfterSeconds: 2, cause: err },
      );
    }
    if (mapped) return new VoiceError(mapped.id, mapped.message, { fatal: mapped.fatal, cause: err });
  }
  throw err;
}
