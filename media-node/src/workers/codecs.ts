import type { types } from 'mediasoup';

/** Every room's router: Opus, 48 kHz, stereo. mediasoup adds the feedback (nack, transport-cc) and header extensions. */
export const ROOM_MEDIA_CODECS: types.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 } },
];
