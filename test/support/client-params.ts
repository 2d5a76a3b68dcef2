// Client-side mediasoup parameters that a real mediasoup-client Device would send (audio only),
// hand-built so tests and benchmarks can drive the media node and the voice stream without a WebRTC stack.
import { randomBytes } from 'node:crypto';

/** RtpCapabilities as a browser's mediasoup-client Device reports them (audio part). */
export function clientRtpCapabilities(options: { absSendTime?: boolean } = {}): string {
  // Header extension ids are the router's: mediasoup-client's Device takes them from the router.
  const absSendTime = {
    kind: 'audio',
    uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    preferredId: 4,
    preferredEncrypt: false,
    direction: 'sendrecv',
  };
  return JSON.stringify({
    codecs: [
      {
        kind: 'audio',
        mimeType: 'audio/opus',
        preferredPayloadType: 111,
        clockRate: 48000,
        channels: 2,
        parameters: { minptime: 10, useinbandfec: 1 },
        rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
      },
    ],
    headerExtensions: [
      {
        kind: 'audio',
        uri: 'urn:ietf:params:rtp-hdrext:sdes:mid',
        preferredId: 1,
        preferredEncrypt: false,
        direction: 'sendrecv',
      },
      ...(options.absSendTime === false ? [] : [absSendTime]),
      {
        kind: 'audio',
        uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
        preferredId: 6,
        preferredEncrypt: false,
        direction: 'sendrecv',
      },
    ],
  });
}

/** RtpParameters of an Opus producer as mediasoup-client's produce() emits them. */
export function producerRtpParameters(ssrc = randomBytes(4).readUInt32BE() || 1): string {
  return JSON.stringify({
    mid: '0',
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: 111,
        clockRate: 48000,
        channels: 2,
        parameters: { minptime: 10, useinbandfec: 1 },
        rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
      },
    ],
    headerExtensions: [
      { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1, encrypt: false, parameters: {} },
      { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 10, encrypt: false, parameters: {} },
    ],
    encodings: [{ ssrc, dtx: false }],
    rtcp: { cname: 'cname-' + ssrc, reducedSize: true },
  });
}

export function dtlsParameters(): string {
  const value = [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
  return JSON.stringify({ role: 'client', fingerprints: [{ algorithm: 'sha-256', value }] });
}
