// The voice core's windows and bounds (VOICE_* settings: docs/configuration.md). Which window applies in which
// connection state is the protocol table's (protocol-table.ts).

export interface VoiceLimits {
  /** A client must send Initialize this soon after connecting, PrepareForJoinChannel after Initialized, ... */
  initializeWithinMs: number;
  prepareWithinMs: number;
  joinWithinMs: number;
  /** How long a claimed ("…ing") step may take before the sweep treats it as stuck. */
  stepWithinMs: number;
  /** API Gateway closes connections after 2 hours; records outlive that a little, for cleanup. */
  connectionTtlSeconds: number;
  /** A node whose heartbeat is older than this is dead: its channels are re-placed. */
  nodeStaleAfterMs: number;
  maxMembersPerChannel: number;
  /** How long a channel's delivery lease lasts (ChannelFeed). */
  feedLeaseMs: number;
  /**
   * resume.v1: how long a session whose socket went away waits for a resume. Its transports are created with an
   * ICE consent timeout of at least this (CreateTransports `min_ice_consent_timeout_s`, capped at 120 s by the
   * node), so its media survives the grace even when the client's network changed.
   */
  resumeGraceMs: number;
  /**
   * How long a stream may outlive its token's `exp` (VOICE_TOKEN_GRACE_SECONDS): the record expires then and the
   * sweep ends the session with `voice.token-expired`. resume.v1 clients renew before it by resuming on a new
   * socket with a fresh token (the SDK does, web/src/voice-client.ts).
   */
  tokenGraceSeconds: number;
}

export const DEFAULT_LIMITS: VoiceLimits = {
  initializeWithinMs: 30_000,
  prepareWithinMs: 30_000,
  joinWithinMs: 60_000,
  stepWithinMs: 30_000,
  connectionTtlSeconds: 2 * 3600 + 600,
  nodeStaleAfterMs: 15_000,
  maxMembersPerChannel: 100,
  feedLeaseMs: 15_000,
  resumeGraceMs: 30_000,
  tokenGraceSeconds: 120,
};

/** How long a prepared session may wait to join: the prepare step, the JoinChannel window, the join step. */
export function preparedForMs(limits: VoiceLimits): number {
  return limits.stepWithinMs + limits.joinWithinMs + limits.stepWithinMs;
}
