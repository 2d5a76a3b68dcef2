// When a resume.v1 session moves to a new socket before it must (make-before-break): before the gateway's maximum
// connection duration, and before the server ends the session at its token's `exp` + grace (`voice.token-expired`,
// docs/configuration.md "Session tokens and your identity provider") — renewing with a fresh token from the app's token function. Pure: session-moves.ts schedules it.

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
    const margin = Math.min(
      input.renewBeforeTokenExpiryMs ?? 60_000,
      Math.max(0, (expiresAt - input.socketOpenedAt) / 2),
    );
    due = Math.min(due, expiresAt - margin);
  }
  return Math.max(0, due - input.now);
}

/**
 * At most one move of a session between sockets at a time. A make-before-break renewal opens its socket (and, with
 * `+ext.v1`, waits for Welcome) before it sends Resume; if the gateway closes the old socket meanwhile, the session
 * is suspended, and a resume started then would present the same credential as the renewal: whichever the server
 * takes second is refused (`bad-credential`, the first one rotated it), and a client giving up on that refusal
 * abandons the socket that now carries its session (CI: the others saw it leave and join again). So a lost stream
 * first waits for the renewal under way: only when that did not move the session does the resume start.
 */
export class SocketSwitch {
  private renewing?: Promise<boolean>;

  /** Runs a renewal (`run` resolves whether it moved the session; it must not reject). */
  async renew(run: () => Promise<boolean>): Promise<boolean> {
    const renewing = run();
    this.renewing = renewing;
    try {
      return await renewing;
    } finally {
      if (this.renewing === renewing) this.renewing = undefined;
    }
  }

  /** The stream was lost: resolves true when a renewal under way moved the session (nothing left to do). */
  async movedByRenewal(): Promise<boolean> {
    return this.renewing ? this.renewing : false;
  }
}
