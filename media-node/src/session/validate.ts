// What a client sends about its media is hostile until the node has built its own value from it. Nothing a
// client writes is passed on: mediasoup copies a producer's codec `parameters`, `rtcp.cname`, `msid` and
// encodings into every consumer of it (ortc.js), so the node builds the producer's RtpParameters from an
// allow-list (one Opus codec, numeric fmtp values in range, one encoding, known header extensions, a cname of
// its own, no msid), rebuilds a receiver's RtpCapabilities to what consuming the room's Opus needs, and
// bounds DTLS parameters. Anything else is refused with the reason the caller maps to a voice error
// (`bad-rtp-parameters`, `bad-rtp-capabilities`, `bad-dtls-parameters`) before anything is created.
// The arithmetic of what this bounds (a consumer's parameters, so every server message) is in docs/media-node.md,
// "Parameters are built by the node".
import { randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import { MediaError } from '../../api/errors';

/** Byte bounds of the client's JSON (before parsing). Browsers' real values are a fraction of these. */
export const MAX_RTP_PARAMETERS_JSON = 4096;
export const MAX_RTP_CAPABILITIES_JSON = 16_384;
export const MAX_DTLS_PARAMETERS_JSON = 2048;
/** Entries a client's RtpCapabilities may list at all (a browser's full list is ~30 codecs); only Opus is kept. */
export const MAX_CAPABILITY_CODECS = 64;
export const MAX_CAPABILITY_HEADER_EXTENSIONS = 32;

/**
 * Opus fmtp keys (RFC 7587 §6.1, plus Chrome's `minptime`) a producer or receiver may state, each with its
 * range. Values are integers (a decimal string is read as its number); anything else is refused.
 */
export const OPUS_FMTP: Readonly<Record<string, readonly [min: number, max: number]>> = {
  useinbandfec: [0, 1],
  usedtx: [0, 1],
  stereo: [0, 1],
  'sprop-stereo': [0, 1],
  cbr: [0, 1],
  maxplaybackrate: [8000, 48000],
  'sprop-maxcapturerate': [8000, 48000],
  maxaveragebitrate: [6000, 510000],
  ptime: [3, 120],
  minptime: [3, 120],
  maxptime: [3, 120],
};

/** RTCP feedback an Opus producer or receiver may use (what the room's router offers for Opus). */
const OPUS_RTCP_FEEDBACK = new Set(['nack', 'transport-cc']);

/** Audio RTP header extensions mediasoup supports; any other URI is refused (producer) or dropped (capabilities). */
export const AUDIO_HEADER_EXTENSIONS: ReadonlySet<string> = new Set([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'urn:mediasoup:params:rtp-hdrext:packet-id',
]);

/**
 * The audio header extensions a receiver's capabilities keep (what browsers use for audio); what reaches a
 * consumer is at most these (consumer-parameters.ts).
 */
export const RECEIVABLE_HEADER_EXTENSIONS: ReadonlySet<string> = new Set([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
]);

const HEADER_EXTENSION_DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
/** A media section id as browsers and mediasoup-client make them ("0", "1", ...): short, plain. */
const MID = /^[A-Za-z0-9_-]{1,16}$/;
/** Opus payload types: the dynamic range (RFC 3551), and the lower range Chrome also allocates from (35–63). */
const isDynamicPayloadType = (pt: number) => (pt >= 96 && pt <= 127) || (pt >= 35 && pt <= 63);

const FINGERPRINT_BYTES: Readonly<Record<string, number>> = {
  'sha-1': 20,
  'sha-224': 28,
  'sha-256': 32,
  'sha-384': 48,
  'sha-512': 64,
};
const DTLS_ROLES = new Set(['auto', 'client', 'server']);
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/;
const MAX_FINGERPRINTS = 3;

type Reason = 'bad-rtp-parameters' | 'bad-rtp-capabilities' | 'bad-dtls-parameters';
type Bad = (why: string) => MediaError;

function parseObject(json: string, what: string, reason: Reason, maxBytes: number): Record<string, unknown> {
  if (typeof json !== 'string') throw new MediaError(reason, `${what} must be a JSON string`);
  if (Buffer.byteLength(json) > maxBytes) throw new MediaError(reason, `${what} are over ${maxBytes} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new MediaError(reason, `${what} is not valid JSON`);
  }
  if (!isRecord(value)) throw new MediaError(reason, `${what} must be a JSON object`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[], what: string, bad: Bad): void {
  for (const key of Object.keys(value))
    if (!allowed.includes(key)) throw bad(`${what} has an unexpected field (only ${allowed.join(', ')})`);
}

function integerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The allow-listed Opus fmtp parameters, as integers in range. `strict` (a producer's): anything else is refused;
 * otherwise (a receiver's capabilities, which only say what it can take) anything else is dropped.
 */
function opusParameters(value: unknown, what: string, bad: Bad, strict: boolean): Record<string, number> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw bad(`${what} must be an object`);
  const built: Record<string, number> = {};
  for (const [key, raw] of Object.entries(value)) {
    const range = Object.hasOwn(OPUS_FMTP, key) ? OPUS_FMTP[key] : undefined;
    const n = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : raw;
    if (!range) {
      if (strict) throw bad(`${what}: "${key.slice(0, 32)}" is not an Opus parameter this server accepts`);
    } else if (typeof n !== 'number' || !Number.isInteger(n) || n < range[0] || n > range[1]) {
      if (strict) throw bad(`${what}: ${key} must be an integer from ${range[0]} to ${range[1]}`);
    } else {
      built[key] = n;
    }
  }
  return built;
}

/** The allow-listed RTCP feedback of an Opus codec (at most 8 entries), without duplicates; `strict` as above. */
function opusFeedback(value: unknown, what: string, bad: Bad, strict: boolean): types.RtcpFeedback[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 8) throw bad(`${what} must be an array of at most 8 entries`);
  const types = new Set<string>();
  for (const entry of value as unknown[]) {
    if (!isRecord(entry) || typeof entry.type !== 'string') throw bad(`${what}: every entry needs a type`);
    const allowed = OPUS_RTCP_FEEDBACK.has(entry.type) && (entry.parameter === undefined || entry.parameter === '');
    if (allowed) types.add(entry.type);
    else if (strict) throw bad(`${what}: only nack and transport-cc (without a parameter) are accepted for Opus`);
  }
  return [...types].map((type) => ({ type, parameter: '' }));
}

/**
 * Builds the producer's RtpParameters from a client's: exactly one Opus codec (48 kHz, 2 channels, dynamic
 * payload type — the sender's own label, which the router rewrites for every consumer), allow-listed fmtp
 * with numeric values, allow-listed feedback, exactly one encoding (SSRC, optional dtx), allow-listed
 * header extensions with distinct ids, a cname made here and no msid.
 */
export function parseProducerRtpParameters(json: string): types.RtpParameters {
  const bad: Bad = (why) => new MediaError('bad-rtp-parameters', `rtp parameters: ${why}`);
  const value = parseObject(json, 'rtp parameters', 'bad-rtp-parameters', MAX_RTP_PARAMETERS_JSON);
  // msid: a client's stream/track label; mediasoup-client sends one, and it is never passed on.
  onlyKeys(value, ['mid', 'codecs', 'headerExtensions', 'encodings', 'rtcp', 'msid'], 'rtp parameters', bad);

  if (value.mid !== undefined && !(typeof value.mid === 'string' && MID.test(value.mid)))
    throw bad('mid must be a short plain string');

  const codecs = value.codecs;
  if (!Array.isArray(codecs) || codecs.length !== 1) throw bad('codecs must list exactly one codec (audio/opus)');
  const codec = codecs[0] as unknown;
  if (!isRecord(codec)) throw bad('the codec must be an object');
  onlyKeys(codec, ['mimeType', 'payloadType', 'clockRate', 'channels', 'parameters', 'rtcpFeedback'], 'the codec', bad);
  if (typeof codec.mimeType !== 'string' || codec.mimeType.toLowerCase() !== 'audio/opus')
    throw bad('only audio/opus is accepted');
  if (!integerIn(codec.payloadType, 0, 127) || !isDynamicPayloadType(codec.payloadType)) {
    throw bad('payloadType must be a dynamic payload type (96–127 or 35–63)');
  }
  if (codec.clockRate !== 48000) throw bad('audio/opus must have clockRate 48000');
  if (codec.channels !== undefined && codec.channels !== 2) throw bad('audio/opus must have channels 2');

  const encodings = value.encodings;
  if (!Array.isArray(encodings) || encodings.length !== 1) throw bad('encodings must list exactly one encoding');
  const encoding = encodings[0] as unknown;
  if (!isRecord(encoding)) throw bad('the encoding must be an object');
  onlyKeys(encoding, ['ssrc', 'dtx'], 'the encoding', bad);
  if (!integerIn(encoding.ssrc, 1, 0xffffffff)) throw bad('the encoding needs an integer ssrc from 1 to 2^32-1');
  if (encoding.dtx !== undefined && typeof encoding.dtx !== 'boolean') throw bad('dtx must be a boolean');

  const headerExtensions = value.headerExtensions ?? [];
  if (!Array.isArray(headerExtensions) || headerExtensions.length > AUDIO_HEADER_EXTENSIONS.size) {
    throw bad(`headerExtensions must be an array of at most ${AUDIO_HEADER_EXTENSIONS.size} entries`);
  }
  const ids = new Set<number>();
  const uris = new Set<string>();
  const builtExtensions: types.RtpHeaderExtensionParameters[] = [];
  for (const ext of headerExtensions as unknown[]) {
    if (!isRecord(ext)) throw bad('every header extension must be an object');
    onlyKeys(ext, ['uri', 'id', 'encrypt', 'parameters'], 'a header extension', bad);
    if (typeof ext.uri !== 'string' || !AUDIO_HEADER_EXTENSIONS.has(ext.uri))
      throw bad('a header extension has a URI this server does not accept');
    if (!integerIn(ext.id, 1, 255)) throw bad(`header extension ${ext.uri} needs an integer id from 1 to 255`);
    if (ids.has(ext.id) || uris.has(ext.uri)) throw bad('header extension ids and URIs must be distinct');
    if (ext.encrypt !== undefined && typeof ext.encrypt !== 'boolean') throw bad('encrypt must be a boolean');
    if (ext.parameters !== undefined && !(isRecord(ext.parameters) && Object.keys(ext.parameters).length === 0)) {
      throw bad('header extension parameters must be empty');
    }
    ids.add(ext.id);
    uris.add(ext.uri);
    builtExtensions.push({
      uri: ext.uri as types.RtpHeaderExtensionUri,
      id: ext.id,
      encrypt: ext.encrypt === true,
      parameters: {},
    });
  }

  const rtcp = value.rtcp ?? {};
  if (!isRecord(rtcp)) throw bad('rtcp must be an object');
  onlyKeys(rtcp, ['cname', 'reducedSize', 'mux'], 'rtcp', bad);
  if (rtcp.cname !== undefined && (typeof rtcp.cname !== 'string' || rtcp.cname.length > 64))
    throw bad('rtcp.cname must be a short string');
  if (rtcp.reducedSize !== undefined && typeof rtcp.reducedSize !== 'boolean')
    throw bad('rtcp.reducedSize must be a boolean');
  if (rtcp.mux !== undefined && typeof rtcp.mux !== 'boolean') throw bad('rtcp.mux must be a boolean');

  return {
    ...(value.mid !== undefined ? { mid: value.mid as string } : {}),
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: codec.payloadType,
        clockRate: 48000,
        channels: 2,
        parameters: opusParameters(codec.parameters, 'codec parameters', bad, true),
        rtcpFeedback: opusFeedback(codec.rtcpFeedback, 'codec rtcpFeedback', bad, true),
      },
    ],
    headerExtensions: builtExtensions,
    encodings: [{ ssrc: encoding.ssrc, ...(encoding.dtx !== undefined ? { dtx: encoding.dtx } : {}) }],
    // The client's cname is never used: every consumer of this producer carries the one made here.
    rtcp: { cname: serverCname(), reducedSize: rtcp.reducedSize !== false },
  };
}

/** A cname of the node's own (RTCP SDES; receivers group a sender's streams by it). */
export function serverCname(): string {
  return randomBytes(9).toString('base64url');
}

/**
 * A receiver's RtpCapabilities, bounded (size, codec and header extension counts, at most 8 feedback entries per
 * Opus codec) and rebuilt to what consuming the room's Opus uses: its Opus codecs (allow-listed fmtp and feedback)
 * and its audio header extensions with allow-listed URIs; everything else is dropped (capabilities only say what a
 * receiver can take). It must be able to receive Opus at 48 kHz.
 */
export function parseRtpCapabilities(json: string): types.RtpCapabilities {
  const bad: Bad = (why) => new MediaError('bad-rtp-capabilities', `rtp capabilities: ${why}`);
  const value = parseObject(json, 'rtp capabilities', 'bad-rtp-capabilities', MAX_RTP_CAPABILITIES_JSON);
  const codecs = value.codecs;
  if (!Array.isArray(codecs) || codecs.length > MAX_CAPABILITY_CODECS)
    throw bad(`codecs must be an array of at most ${MAX_CAPABILITY_CODECS}`);
  const builtCodecs: types.RtpCodecCapability[] = [];
  for (const codec of codecs as unknown[]) {
    if (!isRecord(codec) || typeof codec.mimeType !== 'string' || typeof codec.clockRate !== 'number') {
      throw bad('every codec needs mimeType and clockRate');
    }
    if (codec.mimeType.toLowerCase() !== 'audio/opus' || codec.clockRate !== 48000) continue; // not used for the room's audio
    if (!integerIn(codec.preferredPayloadType, 0, 127))
      throw bad('audio/opus needs an integer preferredPayloadType from 0 to 127');
    if (codec.channels !== undefined && !integerIn(codec.channels, 1, 2))
      throw bad('audio/opus channels must be 1 or 2');
    if (builtCodecs.length >= 2) throw bad('at most two audio/opus codecs');
    builtCodecs.push({
      kind: 'audio',
      mimeType: 'audio/opus',
      preferredPayloadType: codec.preferredPayloadType,
      clockRate: 48000,
      channels: (codec.channels as number | undefined) ?? 1,
      parameters: opusParameters(codec.parameters, 'audio/opus parameters', bad, false),
      rtcpFeedback: opusFeedback(codec.rtcpFeedback, 'audio/opus rtcpFeedback', bad, false),
    });
  }
  if (builtCodecs.length === 0) throw bad('cannot receive audio/opus at 48000 Hz');

  const headerExtensions = value.headerExtensions ?? [];
  if (!Array.isArray(headerExtensions) || headerExtensions.length > MAX_CAPABILITY_HEADER_EXTENSIONS) {
    throw bad(`headerExtensions must be an array of at most ${MAX_CAPABILITY_HEADER_EXTENSIONS}`);
  }
  const builtExtensions: types.RtpHeaderExtension[] = [];
  for (const ext of headerExtensions as unknown[]) {
    if (!isRecord(ext) || typeof ext.uri !== 'string') throw bad('every header extension needs a uri');
    if ((ext.kind !== undefined && ext.kind !== 'audio') || !RECEIVABLE_HEADER_EXTENSIONS.has(ext.uri)) continue;
    if (!integerIn(ext.preferredId, 1, 255))
      throw bad(`header extension ${ext.uri} needs an integer preferredId from 1 to 255`);
    if (builtExtensions.some((b) => b.uri === ext.uri)) continue;
    const direction =
      typeof ext.direction === 'string' && HEADER_EXTENSION_DIRECTIONS.has(ext.direction) ? ext.direction : 'sendrecv';
    builtExtensions.push({
      kind: 'audio',
      uri: ext.uri as types.RtpHeaderExtensionUri,
      preferredId: ext.preferredId,
      preferredEncrypt: ext.preferredEncrypt === true,
      direction: direction as types.RtpHeaderExtensionDirection,
    });
  }
  return { codecs: builtCodecs, headerExtensions: builtExtensions };
}

/** DtlsParameters rebuilt: a role, one to three fingerprints with allow-listed algorithms and hex digests of their length. */
export function parseDtlsParameters(json: string, what: string): types.DtlsParameters {
  const bad: Bad = (why) => new MediaError('bad-dtls-parameters', `${what}: ${why}`);
  const value = parseObject(json, what, 'bad-dtls-parameters', MAX_DTLS_PARAMETERS_JSON);
  onlyKeys(value, ['role', 'fingerprints'], what, bad);
  if (value.role !== undefined && !(typeof value.role === 'string' && DTLS_ROLES.has(value.role))) {
    throw bad('role must be "auto", "client" or "server"');
  }
  const fingerprints = value.fingerprints;
  if (!Array.isArray(fingerprints) || fingerprints.length === 0 || fingerprints.length > MAX_FINGERPRINTS) {
    throw bad(`fingerprints must be an array of 1 to ${MAX_FINGERPRINTS}`);
  }
  const built = (fingerprints as unknown[]).map((fingerprint) => {
    if (!isRecord(fingerprint)) throw bad('every fingerprint must be an object');
    onlyKeys(fingerprint, ['algorithm', 'value'], 'a fingerprint', bad);
    const { algorithm, value: digest } = fingerprint;
    const bytes =
      typeof algorithm === 'string' && Object.hasOwn(FINGERPRINT_BYTES, algorithm)
        ? FINGERPRINT_BYTES[algorithm]
        : undefined;
    if (bytes === undefined) throw bad('unsupported fingerprint algorithm (sha-1, sha-224, sha-256, sha-384, sha-512)');
    if (typeof digest !== 'string' || !FINGERPRINT_VALUE.test(digest) || digest.length !== bytes * 3 - 1) {
      throw bad(`a ${algorithm} fingerprint value must be ${bytes} colon-separated hex bytes`);
    }
    return { algorithm: algorithm as types.FingerprintAlgorithm, value: digest };
  });
  return { ...(value.role !== undefined ? { role: value.role as types.DtlsRole } : {}), fingerprints: built };
}
