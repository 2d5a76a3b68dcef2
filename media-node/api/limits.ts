// Limits of the media node's API that its callers must respect too (one truth for both sides).

/** CreateTransports may lengthen a session's ICE consent timeout (resume.v1's grace) up to this many seconds. */
export const MAX_ICE_CONSENT_TIMEOUT_S = 120;
