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
  'unknown-room': { id: ErrorId.mediaLost, fatal: true },
  'unknown-session': { id: ErrorId.mediaLost, fatal: true },
  draining: { id: ErrorId.unavailable },
};

/** A worker over its admission threshold: load falls as people stop talking or leave, so retry later. */
export const OVER_CAPACITY_RETRY_AFTER_SECONDS = 5;

export function mediaErrorToVoiceError(err: unknown): VoiceError {
  if (err instanceof VoiceError) return err;
  if (err instanceof MediaError) {
    if (err.reason === 'over-capacity') {
      return new VoiceError(ErrorId.unavailable, `media server at capacity: ${err.message}`, { retryAfterSeconds: OVER_CAPACITY_RETRY_AFTER_SECONDS });
    }
    if (err.unavailable) return new VoiceError(ErrorId.unavailable, `media server unavailable: ${err.message}`, { retryAfterSeconds: 2 });
    const mapped = BY_REASON[err.reason];
    if (mapped) return new VoiceError(mapped.id, err.message, { fatal: mapped.fatal });
  }
  throw err;
}
