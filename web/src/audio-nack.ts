// NACK (retransmission) for Opus audio. mediasoup's router offers `nack` feedback for audio/opus, but Chromium does
// not list it among its native Opus capabilities, so the intersection mediasoup-client computes drops it and audio
// travels with no retransmission. With this, the device's native capabilities carry `nack` for Opus: the send
// transport's answer and the producer's parameters get it (the media node asks the browser to resend lost packets),
// and so do the receive capabilities (the node's consumers resend what the browser asks for). Whether it helps is
// measured (`npm run bench:reach`, docs/reachability.md), not assumed.
import { Device } from 'mediasoup-client';
import type { RtpCapabilities } from 'mediasoup-client/types';

interface HandlerFactoryLike {
  name: string;
  getNativeRtpCapabilities(options: unknown): Promise<RtpCapabilities>;
}

/** Adds `nack` to every audio/opus codec of `caps` (in place) and returns it. */
export function withOpusNack(caps: RtpCapabilities): RtpCapabilities {
  for (const codec of caps.codecs ?? []) {
    if (codec.mimeType.toLowerCase() !== 'audio/opus') continue;
    if (!(codec.rtcpFeedback ?? []).some((fb) => fb.type === 'nack' && !fb.parameter))
      codec.rtcpFeedback = [...(codec.rtcpFeedback ?? []), { type: 'nack', parameter: '' }];
  }
  return caps;
}

/** A Device for this browser whose native Opus capabilities include NACK (or the plain one when `nack` is false). */
export async function createDevice(nack: boolean): Promise<Device> {
  const detected = await Device.factory();
  if (!nack) return detected;
  const base = (detected as unknown as { _handlerFactory?: HandlerFactoryLike })._handlerFactory;
  if (!base) return detected; // a mediasoup-client without the hook: plain Opus (no retransmission), still working
  const handlerFactory = {
    ...base,
    getNativeRtpCapabilities: async (options: unknown) => withOpusNack(await base.getNativeRtpCapabilities(options)),
  };
  return new Device({ handlerFactory: handlerFactory as never });
}
