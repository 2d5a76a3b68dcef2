// Keeping a quiet call alive. API Gateway closes a WebSocket after 10 minutes without a client message,
// and a voice call can be silent on the signalling socket for hours (the audio flows over WebRTC).
// Browsers cannot send WebSocket ping frames, so the client must send a data frame.
//
// The default frame is the shared codec's KEEPALIVE_FRAME, the text `{"action":"keepalive"}`. On API
// Gateway (route selection expression `$request.body.action`) it matches a `keepalive` route backed by
// a MOCK integration, so it resets the idle timer without invoking any Lambda, while every hRPC frame
// (base64, never a JSON object) still goes to `$default`; the server ignores it should it arrive there.
// The mechanism is injectable so a deployment with other rules can swap it.
//
// At the floor: one keepalive per KEEPALIVE_INTERVAL_MS (9 min = the 10-minute idle timeout less a 60 s margin,
// protocol/hrpc.ts) of client silence — any frame the client sends restarts the wait — and nothing else
// periodic from the client.
import type { StreamMessageRequest } from '../../gen/protocol/voice/v1/voice';
import { KEEPALIVE_FRAME, KEEPALIVE_INTERVAL_MS, type Variant } from '../../protocol/hrpc';

export { KEEPALIVE_FRAME };

export interface KeepaliveSocket {
  readonly variant: Variant;
  /** When the client last sent a frame on this socket (ms, Date.now clock); absent = unknown (count from start). */
  readonly lastSentAt?: number;
  send(request: StreamMessageRequest): void;
  sendWire(payload: string | Uint8Array): void;
}

export interface KeepalivePolicy {
  /** Longest client silence before a keepalive; under the gateway's 10-minute idle limit. */
  intervalMs: number;
  send(socket: KeepaliveSocket): void;
}

export const DEFAULT_KEEPALIVE: KeepalivePolicy = {
  intervalMs: KEEPALIVE_INTERVAL_MS,
  send: (socket) => socket.sendWire(KEEPALIVE_FRAME),
};

/** Starts the timer; returns the function that stops it. */
export function startKeepalive(policy: KeepalivePolicy | false, socket: KeepaliveSocket): () => void {
  if (!policy) return () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastKeepalive = Date.now();
  const quietSince = () => Math.max(lastKeepalive, socket.lastSentAt ?? 0);
  const arm = (delayMs: number) => {
    timer = setTimeout(() => {
      const quietFor = Date.now() - quietSince();
      if (quietFor >= policy.intervalMs) {
        policy.send(socket);
        lastKeepalive = Date.now();
        arm(policy.intervalMs);
      } else {
        arm(policy.intervalMs - quietFor);
      }
    }, delayMs);
  };
  arm(policy.intervalMs);
  return () => clearTimeout(timer);
}
