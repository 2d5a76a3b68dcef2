// Media-node failures → voice error identifiers. The node reports a stable reason (media-node/api/errors.ts).
import { ErrorId, VoiceError } from '../../protocol/errors';
import { MediaError } from './ports';

const BY_REASON: Record<string, { id: (typeof ErrorId)[keyof typeof ErrorId]; fatal?: boolean }> = {
  'bad-dtls-parameters': { id: ErrorId.badDtlsParameters },
  'bad-rtp-parameters': { id: ErrorId.badRtpParameters },
  'bad-rtp-capabilities': { id: ErrorId.badRtpCapabilities },
  'cannot-consume': { id: ErrorId.badRtpCapabilities },
  'unknown-consumer': { id: ErrorId.unknownConsumer },
  'consumer-not-yours': { id: ErrorId.consumerNotYours },
  'not-prepared': { id: ErrorId.outOfOrder },
  'channel-full': { id: ErrorId.channelFull },
  'unknown-room': { id: ErrorId.mediaLost, fatal: true },
  'unknown-session': { id: ErrorId.mediaLost, fatal: true },
  draining: { id: ErrorId.unavailable },
};

export function mediaErrorToVoiceError(err: unknown): VoiceError {
  if (err instanceof VoiceError) return err;
  if (err instanceof MediaError) {
    if (err.unavailable) return new VoiceError(ErrorId.unavailable, `media server unavailable: ${err.message}`, { retryAfterSeconds: 2 });
    const mapped = BY_REASON[err.reason];
    if (mapped) return new VoiceError(mapped.id, err.message, { fatal: mapped.fatal });
  }
  throw err;
}
