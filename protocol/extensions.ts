// harmony-voice's extensions of voice.v1 and the ONE way a client asks for them (VOICE-PROTOCOL.md §5,
// proto/harmonyvoice/ext/v1/negotiation.proto, docs/protocol.md "Extensions"): one extension-capable subprotocol value
// per variant, then Hello{features} → Welcome{granted} as the first extension frames. A client asks for any
// subset without a subprotocol value per combination; future extensions are new feature names.
// The older `+resume.v1` values keep meaning exactly what they meant (resume.v1 alone, no Hello).

export const SUBPROTOCOL_BINARY = 'hrpc1';
export const SUBPROTOCOL_BASE64 = 'hrpc1.base64';
/** The negotiating suffix: `hrpc1+ext.v1`, `hrpc1.base64+ext.v1`. */
export const EXT_NEGOTIATION = 'ext.v1';
export const SUBPROTOCOL_BINARY_EXT = `${SUBPROTOCOL_BINARY}+${EXT_NEGOTIATION}`;
export const SUBPROTOCOL_BASE64_EXT = `${SUBPROTOCOL_BASE64}+${EXT_NEGOTIATION}`;

/** Feature names a Hello may ask for. */
export const FEATURE = {
  /** The session outlives its WebSocket (proto/harmonyvoice/ext/v1/session.proto). */
  resume: 'resume.v1',
  /** Consumers are created resumed: no ResumeConsumer per consumer (no new message). */
  consumers: 'consumers.v1',
  /** TURN relays with short-lived credentials (proto/harmonyvoice/ext/v1/relay.proto); granted only where relays are configured. */
  relay: 'relay.v1',
  /** Who is muted and deafened, and moderation (proto/harmonyvoice/ext/v1/state.proto). */
  state: 'state.v1',
} as const;
export type Feature = (typeof FEATURE)[keyof typeof FEATURE];
export const KNOWN_FEATURES: readonly Feature[] = [FEATURE.resume, FEATURE.consumers, FEATURE.relay, FEATURE.state];

/** Bounds of a Hello (anything a client sends is hostile until checked). */
export const MAX_HELLO_FEATURES = 16;
export const MAX_FEATURE_NAME_BYTES = 64;

/**
 * The granted subset of what a Hello asked for: the known, enabled names, each once, in the client's order.
 * Anything else (unknown names, duplicates) is left out, never an error: a newer client meets an older server.
 */
export function grantFeatures(asked: readonly string[], enabled: readonly string[] = KNOWN_FEATURES): Feature[] {
  const granted: Feature[] = [];
  for (const name of asked) {
    if (
      (KNOWN_FEATURES as readonly string[]).includes(name) &&
      enabled.includes(name) &&
      !granted.includes(name as Feature)
    )
      granted.push(name as Feature);
  }
  return granted;
}
