// The hRPC v1 WebSocket codec (VOICE-PROTOCOL.md §2): one module for the server, the client SDK and tests.
// Client frames are a bare StreamMessageRequest; server frames are an opcode byte (0x00 response,
// 0x01 hrpc.v1.Error) and a protobuf message. The `hrpc1.base64` variant carries the same bytes as
// standard base64 in text frames (API Gateway rejects binary client frames).
import { Error as HrpcErrorMessage, RetryInfo } from '../gen/hrpc/v1/hrpc';
import { StreamMessageRequest, StreamMessageResponse } from '../gen/protocol/voice/v1/voice';
import {
  ClientMessage as ExtClientMessage,
  ServerMessage as ExtServerMessage,
} from '../gen/harmonyvoice/ext/v1/session';
import { ErrorId, VoiceError } from './errors';
import { SUBPROTOCOL_BASE64, SUBPROTOCOL_BASE64_EXT, SUBPROTOCOL_BINARY, SUBPROTOCOL_BINARY_EXT } from './extensions';

export { SUBPROTOCOL_BASE64, SUBPROTOCOL_BASE64_EXT, SUBPROTOCOL_BINARY, SUBPROTOCOL_BINARY_EXT };

export const VOICE_STREAM_PATH = '/protocol.voice.v1.VoiceService/StreamMessage';
export type Variant = 'binary' | 'base64';
/**
 * harmony-voice's resume extension (proto/harmonyvoice/ext/v1/session.proto): a client opts in by offering one
 * of these before the plain value (and the token); the server selects it only when it supports it. Either is
 * the same variant as its plain value plus the extension's 0x02 frames.
 */
export const EXT_RESUME = 'resume.v1';
export const SUBPROTOCOL_BINARY_RESUME = `${SUBPROTOCOL_BINARY}+${EXT_RESUME}`;
export const SUBPROTOCOL_BASE64_RESUME = `${SUBPROTOCOL_BASE64}+${EXT_RESUME}`;
/** API Gateway WebSocket limits; the local gateway enforces them and the server never exceeds them. */
export const MAX_FRAME_BYTES = 32 * 1024;
export const MAX_MESSAGE_BYTES = 128 * 1024;

/**
 * Keeps an idle stream alive through API Gateway's 10-minute idle timeout. Browsers cannot send WebSocket
 * pings, so clients send this text frame after KEEPALIVE_INTERVAL_MS without any client frame. It is not base64
 * (so it can never be mistaken for a message); API Gateway routes it by `$request.body.action` to a mock
 * integration (no Lambda runs), and the server ignores it if it reaches $default anyway.
 */
export const KEEPALIVE_FRAME = '{"action":"keepalive"}';
/** API Gateway closes a WebSocket after this long without a client message (a fixed, documented quota). */
export const GATEWAY_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
/**
 * How much earlier than the idle timeout the keepalive goes out: covers the client's timer firing late (a
 * background tab's timers are aligned to 1 s; a page with live WebRTC is exempt from Chrome's 1-minute intensive
 * throttling), the frame's network delay (well under a second) and clock differences — 60 s is many times each.
 */
export const KEEPALIVE_MARGIN_MS = 60 * 1000;
/** 9 minutes of client silence: the fewest keepalives that never meet the idle timeout (one per 9 min, not per 5). */
export const KEEPALIVE_INTERVAL_MS = GATEWAY_IDLE_TIMEOUT_MS - KEEPALIVE_MARGIN_MS;

export const OPCODE_RESPONSE = 0x00;
export const OPCODE_ERROR = 0x01;
/** Extension frames, both ways, only on a stream that selected a `+resume.v1` or `+ext.v1` subprotocol. */
export const OPCODE_EXT = 0x02;

export type ServerFrame =
  | { kind: 'response'; response: StreamMessageResponse }
  | { kind: 'error'; error: HrpcErrorMessage; retryAfterSeconds?: number }
  | { kind: 'ext'; message: ExtServerMessage };

export type ClientFrame =
  | { kind: 'request'; request: StreamMessageRequest }
  | { kind: 'ext'; message: ExtClientMessage };

export function variantOf(subprotocol: string): Variant {
  return subprotocol === SUBPROTOCOL_BASE64 ||
    subprotocol === SUBPROTOCOL_BASE64_RESUME ||
    subprotocol === SUBPROTOCOL_BASE64_EXT
    ? 'base64'
    : 'binary';
}

// ---- client → server ----

export function encodeRequest(request: StreamMessageRequest): Uint8Array {
  return StreamMessageRequest.encode(request).finish();
}

/** Decodes one client frame. Every malformed input becomes a VoiceError, never another exception. */
export function decodeRequest(bytes: Uint8Array): StreamMessageRequest {
  if (bytes.length === 0)
    throw new VoiceError(ErrorId.badStreamingRequest, 'empty frame: expected one StreamMessageRequest');
  if (bytes.length > MAX_FRAME_BYTES) {
    throw new VoiceError(ErrorId.frameTooLarge, `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`);
  }
  let request: StreamMessageRequest;
  try {
    request = StreamMessageRequest.decode(bytes);
  } catch (err) {
    throw new VoiceError(ErrorId.badStreamingRequest, `undecodable StreamMessageRequest: ${(err as Error).message}`);
  }
  if (!request.message) {
    throw new VoiceError(
      ErrorId.badStreamingRequest,
      'StreamMessageRequest carries no message (no known oneof field set)',
    );
  }
  return request;
}

/** The extension's client frame: 0x02 + harmonyvoice.ext.v1.ClientMessage. */
export function encodeExtRequest(message: ExtClientMessage): Uint8Array {
  return withOpcode(OPCODE_EXT, ExtClientMessage.encode(message).finish());
}

/**
 * Decodes one client frame of a stream; `ext` says whether the stream opted in to the extension. On a
 * stock stream this is exactly decodeRequest (a 0x02 frame is the bad streaming request it always was).
 */
export function decodeClientFrame(bytes: Uint8Array, ext: boolean): ClientFrame {
  if (ext && bytes.length > 0 && bytes[0] === OPCODE_EXT) {
    let message: ExtClientMessage;
    try {
      message = ExtClientMessage.decode(bytes.subarray(1));
    } catch (err) {
      throw new VoiceError(
        ErrorId.badStreamingRequest,
        `undecodable extension ClientMessage: ${(err as Error).message}`,
      );
    }
    if (!message.message)
      throw new VoiceError(ErrorId.badStreamingRequest, 'extension ClientMessage carries no message');
    return { kind: 'ext', message };
  }
  return { kind: 'request', request: decodeRequest(bytes) };
}

// ---- server → client ----

/** The extension's server frame: 0x02 + harmonyvoice.ext.v1.ServerMessage (never sent to a stock stream). */
export function encodeExtFrame(message: ExtServerMessage): Uint8Array {
  return withOpcode(OPCODE_EXT, ExtServerMessage.encode(message).finish());
}

export function encodeResponseFrame(response: StreamMessageResponse): Uint8Array {
  return withOpcode(OPCODE_RESPONSE, StreamMessageResponse.encode(response).finish());
}

export function encodeErrorFrame(identifier: string, humanMessage: string, retryAfterSeconds?: number): Uint8Array {
  const details =
    retryAfterSeconds === undefined ? new Uint8Array() : RetryInfo.encode({ retryAfter: retryAfterSeconds }).finish();
  return withOpcode(OPCODE_ERROR, HrpcErrorMessage.encode({ identifier, humanMessage, details }).finish());
}

export function errorFrameOf(error: VoiceError): Uint8Array {
  return encodeErrorFrame(error.identifier, error.humanMessage, error.options.retryAfterSeconds);
}

export function decodeServerFrame(bytes: Uint8Array): ServerFrame {
  if (bytes.length === 0) throw new Error('empty server frame');
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case OPCODE_RESPONSE:
      return { kind: 'response', response: StreamMessageResponse.decode(body) };
    case OPCODE_ERROR: {
      const error = HrpcErrorMessage.decode(body);
      const retryAfterSeconds = error.details.length > 0 ? RetryInfo.decode(error.details).retryAfter : undefined;
      return { kind: 'error', error, retryAfterSeconds };
    }
    case OPCODE_EXT:
      return { kind: 'ext', message: ExtServerMessage.decode(body) };
    default:
      throw new Error(`unknown server frame opcode 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  }
}

function withOpcode(opcode: number, body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(body.length + 1);
  frame[0] = opcode;
  frame.set(body, 1);
  return frame;
}

// ---- variants: bytes ↔ what travels in the WebSocket frame ----

/** Bytes → frame payload for the variant: the bytes themselves, or base64 text. */
export function toWire(bytes: Uint8Array, variant: Variant): Uint8Array | string {
  return variant === 'base64' ? bytesToBase64(bytes) : bytes;
}

/** Frame payload → bytes. A text frame on the binary variant (or the reverse) is a client error. */
export function fromWire(payload: Uint8Array | string, variant: Variant): Uint8Array {
  if (variant === 'binary') {
    if (typeof payload === 'string')
      throw new VoiceError(ErrorId.badStreamingRequest, 'text frame on the binary hrpc1 subprotocol');
    return payload;
  }
  if (typeof payload !== 'string')
    throw new VoiceError(ErrorId.badStreamingRequest, 'binary frame on the hrpc1.base64 subprotocol');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0) {
    throw new VoiceError(ErrorId.badStreamingRequest, 'text frame is not standard base64');
  }
  return base64ToBytes(payload);
}

// atob/btoa exist in browsers and Node ≥ 16, so this module runs in both without Buffer.
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// ---- handshake ----

export interface Handshake {
  /** The subprotocol to answer with: `hrpc1`, `hrpc1.base64`, or a `+resume.v1` / `+ext.v1` form (never the token). */
  subprotocol: string;
  variant: Variant;
  /** The client opted in to the resume extension (and the server selected it); absent for stock offers. */
  resume?: true;
  /** The negotiating value (`+ext.v1`) was selected: features are asked and granted by Hello/Welcome. */
  ext?: true;
  /** The session token: the raw Authorization header, else the last Sec-WebSocket-Protocol value. */
  token: string | undefined;
}

export interface HandshakeOptions {
  /**
   * false behind a gateway that carries only text frames (API Gateway closes binary client frames with 1003):
   * only text variants are ever selected, and an offer with no text variant (binary `hrpc1` alone, or with
   * any of its extension values) is refused before the upgrade instead of failing on the first frame.
   */
  binaryFrames?: boolean;
}

/** The server's preference: negotiation first, then resume.v1's own values, then the stock ones; text first in each. */
const SELECTION_ORDER = [
  SUBPROTOCOL_BASE64_EXT,
  SUBPROTOCOL_BINARY_EXT,
  SUBPROTOCOL_BASE64_RESUME,
  SUBPROTOCOL_BINARY_RESUME,
  SUBPROTOCOL_BASE64,
  SUBPROTOCOL_BINARY,
];

/**
 * Reads subprotocol and token from the upgrade request's headers (names in any case).
 * Throws a VoiceError when no hRPC subprotocol is offered, or none in text frames where binary frames are not carried.
 */
export function parseHandshake(headers: Record<string, string | undefined>, options: HandshakeOptions = {}): Handshake {
  const header = (name: string) => {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
    return undefined;
  };
  const offered = (header('sec-websocket-protocol') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  // Where frames are text-only, a binary value is never selected, whatever else it carries.
  const selectable =
    options.binaryFrames === false ? SELECTION_ORDER.filter((p) => variantOf(p) === 'base64') : SELECTION_ORDER;
  const subprotocol = selectable.find((p) => offered.includes(p));
  if (!subprotocol) {
    if (SELECTION_ORDER.some((p) => offered.includes(p))) {
      throw new VoiceError(
        ErrorId.badStreamingRequest,
        `this endpoint carries text frames only: offer subprotocol ${SUBPROTOCOL_BASE64} (binary ${SUBPROTOCOL_BINARY} frames would be refused)`,
      );
    }
    throw new VoiceError(
      ErrorId.badStreamingRequest,
      `no hRPC subprotocol offered (expected ${SUBPROTOCOL_BINARY} or ${SUBPROTOCOL_BASE64})`,
    );
  }
  const authorization = header('authorization')?.trim();
  const last = offered[offered.length - 1];
  const tokenFromProtocol = last && !SELECTION_ORDER.includes(last) ? last : undefined;
  const resume = subprotocol === SUBPROTOCOL_BASE64_RESUME || subprotocol === SUBPROTOCOL_BINARY_RESUME;
  const ext = subprotocol === SUBPROTOCOL_BASE64_EXT || subprotocol === SUBPROTOCOL_BINARY_EXT;
  return {
    subprotocol,
    variant: variantOf(subprotocol),
    ...(resume ? { resume } : {}),
    ...(ext ? { ext } : {}),
    token: authorization || tokenFromProtocol,
  };
}

/** VOICE-PROTOCOL.md §3.7: accept raw ids and ids wrapped once in JSON quotes. */
export function normalizeId(id: string): string {
  const trimmed = id.trim();
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    try {
      const inner = JSON.parse(trimmed);
      if (typeof inner === 'string') return inner;
    } catch {
      /* not JSON: keep as is */
    }
  }
  return trimmed;
}
