// Error identifiers the voice service sends in hrpc.v1.Error frames.
// `hrpc.*` are hRPC's reserved transport errors, `h.*` Harmony's, `voice.*` this project's own
// (documented in docs/errors.md; test/project/docs-errors.test.ts keeps the table complete).
export const ErrorId = {
  internal: 'hrpc.internal-server-error',
  resourceExhausted: 'hrpc.resource-exhausted',
  notImplemented: 'hrpc.not-implemented',
  notFound: 'hrpc.not-found',
  unavailable: 'hrpc.unavailable',
  badStreamingRequest: 'hrpc.http.bad-streaming-request',
  blankSession: 'h.blank-session',
  badGuildId: 'h.bad-guild-id',
  badChannelId: 'h.bad-channel-id',
  notJoined: 'h.not-joined',
  outOfOrder: 'voice.out-of-order',
  badRtpCapabilities: 'voice.bad-rtp-capabilities',
  badRtpParameters: 'voice.bad-rtp-parameters',
  badDtlsParameters: 'voice.bad-dtls-parameters',
  unknownConsumer: 'voice.unknown-consumer',
  consumerNotYours: 'voice.consumer-not-yours',
  frameTooLarge: 'voice.frame-too-large',
  replaced: 'voice.session-replaced',
  timeout: 'voice.timeout',
  mediaLost: 'voice.media-lost',
  /** The session's media never connected (ICE/DTLS) within the media node's bound after joining: every path is blocked. */
  mediaUnreachable: 'voice.media-unreachable',
  channelFull: 'voice.channel-full',
  rateLimited: 'voice.rate-limited',
  /** The media node's police paused the member's producer (non-fatal), or ended the session after repeated offences (fatal). */
  producerPoliced: 'voice.producer-policed',
  /** A membership message could not be posted to this stream (over the message budget, refused by the gateway): it alone ends. */
  undeliverable: 'voice.undeliverable',
  /** resume.v1: the session cannot be resumed (unknown, ended, grace over, wrong credential or user); nothing changed. */
  resumeRefused: 'voice.resume-refused',
  /**
   * The session reached its token's `exp` plus the grace (VOICE_TOKEN_GRACE_SECONDS) and was ended: reconnect with a
   * fresh token (resume.v1 streams renew before that by resuming on a new socket with a fresh token).
   */
  tokenExpired: 'voice.token-expired',
  /** state.v1: a voice-state change the member may not make (unmuting itself while server muted); nothing changed. */
  stateRefused: 'voice.state-refused',
  /** state.v1: a Moderate without the permission (ChannelPolicy, by default the token's moderation claim); nothing changed. */
  notModerator: 'voice.not-moderator',
  /** state.v1: a Moderate naming a user who is not in the channel; nothing changed. */
  unknownMember: 'voice.unknown-member',
} as const;
export type ErrorIdentifier = (typeof ErrorId)[keyof typeof ErrorId];

/** A protocol-level failure: becomes an hrpc.v1.Error frame. `fatal` closes the stream after sending. */
export class VoiceError extends Error {
  constructor(
    readonly identifier: ErrorIdentifier,
    readonly humanMessage: string,
    readonly options: { fatal?: boolean; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    // `cause` (for logs only) keeps what the client must not see: internal ids, transport details.
    super(`${identifier}: ${humanMessage}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VoiceError';
  }
  get fatal(): boolean {
    return this.options.fatal ?? false;
  }
}
