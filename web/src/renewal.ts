// When a resume.v1 session moves to a new socket before it must (make-before-break): before the gateway's maximum
// connection duration, and before the server ends the session at its token's `exp` + grace (`voice.token-expired`,
// README "Tokens") — renewing with a fresh token from the app's token function. Pure: VoiceClient schedules it.

/** `exp` (epoch seconds) of a JWT, read without verifying (the server verifies); undefined when it has none. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))) as { exp?: unknown };
    return typeof json.exp === 'number' && Number.isFinite(json.exp) ? json.exp : undefined;
  } catch {
    return undefined;
  }
}

export interface RenewalInput {
  now: number;
  /** When the current socket opened (ms). */
  socketOpenedAt: number;
  maxConnectionMs: number;
  /** Before the connection cap (default min(60 s, a quarter of it)). */
  renewBeforeMs?: number;
  /** `exp` of the token the current socket was opened with (s), when the app can give a fresh one (a token function). */
  tokenExpiresAt?: number;
  /** Before the token's `exp` (default 60 s, never more than half of what is left: a short token still renews). */
  renewBeforeTokenExpiryMs?: number;
}

/** Milliseconds from `now` until the session should move to a new socket (0 = now). */
export function renewalDelayMs(input: RenewalInput): number {
  const before = input.renewBeforeMs ?? Math.min(60_000, input.maxConnectionMs / 4);
  let due = input.socketOpenedAt + input.maxConnectionMs - before;
  if (input.tokenExpiresAt !== undefined) {
    const expiresAt = input.tokenExpiresAt * 1000;
    const margin = Math.min(input.renewBeforeTokenExpiryMs ?? 60_000, Math.max(0, (expiresAt - input.socketOpenedAt) / 2));
    due = Math.min(due, expiresAt - margin);
  }
  return Math.max(0, due - input.now);
}
