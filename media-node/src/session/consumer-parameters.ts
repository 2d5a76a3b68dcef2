// The RtpParameters of a consumer as the node hands them to its receiver (JoinedChannel / UserJoined): rebuilt
// from allow-listed fields of what mediasoup made, compact (defaults left out: mediasoup-client fills them in),
// and bounded (MAX_CONSUMER_RTP_PARAMETERS_BYTES). Nothing a client wrote can be in it: the producer's
// parameters were built by the node (validate.ts), the receiver's capabilities rebuilt, and only the fields
// below are copied, whatever else mediasoup ever adds.
import type { types } from 'mediasoup';
import { MAX_CONSUMER_RTP_PARAMETERS_BYTES } from '../../api/limits';
import { MediaError } from '../../api/errors';
import { OPUS_FMTP, RECEIVABLE_HEADER_EXTENSIONS } from './validate';

const FEEDBACK = new Set(['nack', 'transport-cc']);

/** The consumer's parameters as JSON for its receiver; throws (internal) if they were ever over the bound. */
export function consumerParametersJson(p: types.RtpParameters): string {
  const built = {
    ...(typeof p.mid === 'string' && /^[0-9A-Za-z_-]{1,16}$/.test(p.mid) ? { mid: p.mid } : {}),
    codecs: p.codecs.map((c) => ({
      mimeType: c.mimeType,
      payloadType: c.payloadType,
      clockRate: c.clockRate,
      ...(c.channels !== undefined ? { channels: c.channels } : {}),
      parameters: Object.fromEntries(
        Object.entries(c.parameters ?? {}).filter(
          ([key, value]) => Object.hasOwn(OPUS_FMTP, key) && typeof value === 'number',
        ),
      ),
      rtcpFeedback: (c.rtcpFeedback ?? [])
        .filter((f) => FEEDBACK.has(f.type) && !f.parameter)
        .map((f) => ({ type: f.type })),
    })),
    headerExtensions: (p.headerExtensions ?? [])
      .filter((e) => RECEIVABLE_HEADER_EXTENSIONS.has(e.uri))
      .map((e) => ({ uri: e.uri, id: e.id, ...(e.encrypt ? { encrypt: true } : {}) })),
    encodings: (p.encodings ?? []).map((e) => ({ ssrc: e.ssrc })),
    rtcp: { cname: p.rtcp?.cname, reducedSize: p.rtcp?.reducedSize ?? true },
  };
  const json = JSON.stringify(built);
  if (json.length > MAX_CONSUMER_RTP_PARAMETERS_BYTES) {
    throw new MediaError(
      'internal',
      `consumer parameters of ${json.length} bytes are over the ${MAX_CONSUMER_RTP_PARAMETERS_BYTES}-byte bound`,
    );
  }
  return json;
}
