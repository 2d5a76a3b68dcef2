// Errors the SDK reports. Server errors keep the identifier of their 0x01 frame (`hrpc.*`, `h.*`,
// `voice.*`); failures detected in the browser use the `client.*` identifiers below.
export const ClientErrorId = {
  /** The WebSocket never opened: refused at the handshake (missing, bad or expired token) or unreachable. */
  connectFailed: 'client.connect-failed',
  /** The token cannot travel as a WebSocket subprotocol (characters outside RFC 6455 token chars). */
  badToken: 'client.bad-token',
  /** A guild/channel id or option is malformed. */
  badArgument: 'client.bad-argument',
  /** getUserMedia was refused or no microphone exists. */
  microphoneDenied: 'client.microphone-denied',
  microphoneUnavailable: 'client.microphone-unavailable',
  /** The browser cannot do what the server asks (no Opus, no WebRTC, no matching handler). */
  unsupported: 'client.unsupported',
  /** The server sent something this client cannot use (bad JSON, unexpected message). */
  protocol: 'client.protocol',
  /** A WebRTC step failed (transport, producer, consumer). */
  media: 'client.media',
  /** A media transport never connected (ICE/DTLS failed on the rung tried): the network blocks that path. */
  mediaUnreachable: 'client.media-unreachable',
  /** The join flow did not finish in time. */
  timeout: 'client.timeout',
  /** connect() was called while a session is active, or the operation was aborted by leave(). */
  invalidState: 'client.invalid-state',
} as const;

/**
 * An error the SDK reports. Where it wraps another (a DOMException from getUserMedia, a mediasoup-client error, a
 * socket's failure), that one is its standard `cause` (ES2022 `Error.cause`), so the original reason and stack stay
 * inspectable.
 */
export class VoiceClientError extends Error {
  constructor(
    /** A server identifier (`h.*`, `hrpc.*`, `voice.*`) or a `client.*` one. */
    readonly identifier: string,
    message: string,
    readonly options: { retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VoiceClientError';
  }

  /** Whether joining again may succeed (false for the identifiers of NON_RETRYABLE). */
  get retryable(): boolean {
    return !NON_RETRYABLE.has(this.identifier);
  }
}

/**
 * `err` as a VoiceClientError: itself when it is one, else a new one with `identifier` whose `cause` is `err`
 * (its message after `prefix`).
 */
export function asClientError(err: unknown, identifier: string, prefix = ''): VoiceClientError {
  if (err instanceof VoiceClientError) return err;
  return new VoiceClientError(identifier, `${prefix}${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** The reason a leave() gives the work it cancels (connect() rejects with it). */
export function leftError(): VoiceClientError {
  return new VoiceClientError(ClientErrorId.invalidState, 'left before joining');
}

/** Identifiers after which reconnecting cannot help: the server will refuse the same request again. */
export const NON_RETRYABLE = new Set<string>([
  'h.blank-session',
  'h.bad-guild-id',
  'h.bad-channel-id',
  'h.not-joined',
  'voice.session-replaced',
  // The node stopped this client's producer for sending far beyond voice (a broken sender): joining again would do the same.
  'voice.producer-policed',
  // The same network blocks the same paths again: the user must change network first (the message says so).
  'voice.media-unreachable',
  'voice.bad-rtp-capabilities',
  'voice.bad-rtp-parameters',
  'voice.bad-dtls-parameters',
  ClientErrorId.badToken,
  ClientErrorId.badArgument,
  ClientErrorId.microphoneDenied,
  ClientErrorId.microphoneUnavailable,
  ClientErrorId.unsupported,
]);

/**
 * Whether a stream that ended should be joined again: not after an error the server would answer the same way
 * (NON_RETRYABLE), not after a normal close (1000) without one.
 */
export function reconnectsAfter(closeCode: number, lastError: { identifier: string } | undefined): boolean {
  return lastError ? !NON_RETRYABLE.has(lastError.identifier) : closeCode !== 1000;
}
