// Failure reasons of the media node's internal API. Every failed call is a gRPC status whose
// `details` is "<reason>: <human message>", so callers map the reason (not the prose) to their
// own error identifiers. No mediasoup import here: the signalling side imports this module.
import { status } from '@grpc/grpc-js';

export const MEDIA_ERROR_REASONS = [
  'bad-dtls-parameters',
  'bad-rtp-parameters',
  'bad-rtp-capabilities',
  'cannot-consume',
  'unknown-room',
  'unknown-session',
  'unknown-consumer',
  'consumer-not-yours',
  'not-prepared',
  'channel-full',
  'draining',
  'over-capacity',
  'unauthenticated',
  'internal',
  'state-refused',
  'unknown-member',
] as const;
export type MediaErrorReason = (typeof MEDIA_ERROR_REASONS)[number];

/** The gRPC status code each reason is sent with. */
export const MEDIA_ERROR_STATUS: Record<MediaErrorReason, status> = {
  'bad-dtls-parameters': status.INVALID_ARGUMENT,
  'bad-rtp-parameters': status.INVALID_ARGUMENT,
  'bad-rtp-capabilities': status.INVALID_ARGUMENT,
  'cannot-consume': status.FAILED_PRECONDITION,
  'unknown-room': status.NOT_FOUND,
  'unknown-session': status.NOT_FOUND,
  'unknown-consumer': status.NOT_FOUND,
  'consumer-not-yours': status.PERMISSION_DENIED,
  'not-prepared': status.FAILED_PRECONDITION,
  'channel-full': status.RESOURCE_EXHAUSTED,
  draining: status.UNAVAILABLE,
  // Not UNAVAILABLE: the client must not retry it at once (media-node/src/load/admission.ts).
  'over-capacity': status.RESOURCE_EXHAUSTED,
  unauthenticated: status.UNAUTHENTICATED,
  internal: status.INTERNAL,
  // state.v1 (MemberStates): a change the actor may not make; a moderation target not in the room.
  'state-refused': status.FAILED_PRECONDITION,
  'unknown-member': status.NOT_FOUND,
};

/** A failure the node reports to its caller. */
export class MediaError extends Error {
  constructor(
    readonly reason: MediaErrorReason,
    readonly humanMessage: string,
  ) {
    super(`${reason}: ${humanMessage}`);
    this.name = 'MediaError';
  }
  get code(): status {
    return MEDIA_ERROR_STATUS[this.reason];
  }
  /** The gRPC status `details` string. */
  get details(): string {
    return formatMediaError(this.reason, this.humanMessage);
  }
}

export function formatMediaError(reason: MediaErrorReason, message: string): string {
  return `${reason}: ${message}`;
}

export function isMediaErrorReason(value: string): value is MediaErrorReason {
  return (MEDIA_ERROR_REASONS as readonly string[]).includes(value);
}

/**
 * Parses a status `details` string. Anything that does not start with a known reason
 * (a transport failure, a deadline) comes back as `internal` with the whole text as message.
 */
export function parseMediaError(details: string | undefined): { reason: MediaErrorReason; message: string } {
  const text = details ?? '';
  const colon = text.indexOf(': ');
  const head = colon >= 0 ? text.slice(0, colon) : text;
  if (isMediaErrorReason(head)) return { reason: head, message: colon >= 0 ? text.slice(colon + 2) : '' };
  return { reason: 'internal', message: text };
}
