// Limits of the media node's API that its callers must respect too (one truth for both sides).

/** CreateTransports may lengthen a session's ICE consent timeout (resume.v1's grace) up to this many seconds. */
export const MAX_ICE_CONSENT_TIMEOUT_S = 120;

/**
 * The most bytes of one consumer's RtpParameters JSON the node ever hands out (media-node/src/session/consumer-parameters.ts
 * builds it from allow-listed fields; its worst case is ~740 bytes). Every JoinedChannel/UserJoined is bounded
 * by it: see docs/media-node.md, "Parameters are built by the node".
 */
export const MAX_CONSUMER_RTP_PARAMETERS_BYTES = 768;

/**
 * The encoded bytes of one UserConsumerOptions inside JoinedChannel at most: user_id (tag + 10-byte varint),
 * producer_id and consumer_id (tag + length + 36-byte UUID each), rtp_parameters (tag + 2-byte length + the
 * bound above), and the repeated field's own tag + 2-byte length.
 */
export const MAX_USER_CONSUMER_OPTIONS_BYTES = 11 + 2 * (2 + 36) + (3 + MAX_CONSUMER_RTP_PARAMETERS_BYTES) + 3;
