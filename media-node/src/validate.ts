// Parses the JSON blobs callers pass through from clients and rejects malformed ones with the
// reason the caller maps to a voice error, before anything is created on the worker.
import type { types } from 'mediasoup';
import { MediaError } from '../api/errors';

const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);
const DTLS_ROLES = new Set(['auto', 'client', 'server']);
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/;

function parseObject(json: string, what: string, reason: MediaError['reason']): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new MediaError(reason, `${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MediaError(reason, `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function parseDtlsParameters(json: string, what: string): types.DtlsParameters {
  const value = parseObject(json, what, 'bad-dtls-parameters');
  const bad = (why: string) => new MediaError('bad-dtls-parameters', `${what}: ${why}`);
  if (value.role !== undefined && !(typeof value.role === 'string' && DTLS_ROLES.has(value.role))) {
    throw bad('role must be "auto", "client" or "server"');
  }
  const fingerprints = value.fingerprints;
  if (!Array.isArray(fingerprints) || fingerprints.length === 0) throw bad('fingerprints must be a non-empty array');
  for (const fingerprint of fingerprints as unknown[]) {
    const { algorithm, value: digest } = (fingerprint ?? {}) as Record<string, unknown>;
    if (typeof algorithm !== 'string' || !FINGERPRINT_ALGORITHMS.has(algorithm)) {
      throw bad(`unsupported fingerprint algorithm ${JSON.stringify(algorithm)}`);
    }
    if (typeof digest !== 'string' || !FINGERPRINT_VALUE.test(digest)) throw bad('fingerprint value must be colon-separated hex');
  }
  return value as types.DtlsParameters;
}

/** Shape check only; mediasoup's produce() validates the rest against the router. */
export function parseProducerRtpParameters(json: string): types.RtpParameters {
  const value = parseObject(json, 'rtp parameters', 'bad-rtp-parameters');
  const bad = (why: string) => new MediaError('bad-rtp-parameters', `rtp parameters: ${why}`);
  const codecs = value.codecs;
  if (!Array.isArray(codecs) || codecs.length === 0) throw bad('codecs must be a non-empty array');
  for (const codec of codecs as unknown[]) {
    const { mimeType, payloadType, clockRate } = (codec ?? {}) as Record<string, unknown>;
    if (typeof mimeType !== 'string' || typeof payloadType !== 'number' || typeof clockRate !== 'number') {
      throw bad('every codec needs mimeType, payloadType and clockRate');
    }
  }
  const media = (codecs as { mimeType: string }[]).filter((c) => !/\/(rtx|red|ulpfec|flexfec)$/i.test(c.mimeType));
  if (!media.every((c) => c.mimeType.toLowerCase().startsWith('audio/'))) throw bad('only audio is accepted');
  if (value.encodings !== undefined && !Array.isArray(value.encodings)) throw bad('encodings must be an array');
  return value as unknown as types.RtpParameters;
}

/** The client's device capabilities: must be able to receive the room's Opus. */
export function parseRtpCapabilities(json: string): types.RtpCapabilities {
  const value = parseObject(json, 'rtp capabilities', 'bad-rtp-capabilities');
  const bad = (why: string) => new MediaError('bad-rtp-capabilities', `rtp capabilities: ${why}`);
  const codecs = value.codecs;
  if (!Array.isArray(codecs)) throw bad('codecs must be an array');
  for (const codec of codecs as unknown[]) {
    const { mimeType, clockRate } = (codec ?? {}) as Record<string, unknown>;
    if (typeof mimeType !== 'string' || typeof clockRate !== 'number') throw bad('every codec needs mimeType and clockRate');
  }
  const opus = (codecs as { mimeType: string; clockRate: number }[]).some(
    (c) => c.mimeType.toLowerCase() === 'audio/opus' && c.clockRate === 48000,
  );
  if (!opus) throw bad('cannot receive audio/opus at 48000 Hz');
  if (value.headerExtensions !== undefined && !Array.isArray(value.headerExtensions)) {
    throw bad('headerExtensions must be an array');
  }
  return value as unknown as types.RtpCapabilities;
}
