// The browser voice SDK for protocol.voice.v1 (see docs/development.md, "Browser client and demo").
export { VoiceClient } from './voice-client';
export type {
  ClientState,
  ConnectOptions,
  MemberStateEvent,
  Participant,
  VoiceClientEvents,
  VoiceClientOptions,
  VoiceErrorEvent,
} from './voice-client';
export { DEFAULT_SPEAKING, SpeakingDetector, type SpeakingOptions } from './speaking';
export type { ReceiveStats, SendStats } from './stats';
export { mediaPathFromStats, type MediaPath, type MediaRung } from './media-path';
export { VoiceClientError, ClientErrorId } from './errors';
export { DEFAULT_KEEPALIVE, KEEPALIVE_FRAME, type KeepalivePolicy, type KeepaliveSocket } from './keepalive';
export { DEFAULT_BACKOFF, backoffDelayMs, type BackoffPolicy } from './backoff';
export { rejoinPolicy, type ReconnectPolicy, type RetryContext } from './reconnect-policy';
export { consoleLogger, type Log, type LogLevel } from './log';
export { CLOSE_WAIT_MS, type Variant } from './hrpc-socket';
export { VOICE_STREAM_PATH, SUBPROTOCOL_BASE64, SUBPROTOCOL_BINARY } from '../../protocol/hrpc';
