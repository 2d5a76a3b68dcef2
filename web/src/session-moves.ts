// Moving a resume.v1 session between sockets, the SDK's side of resume.v1: after a lost socket, resume the same
// session on a new one (the client is `resuming`; resumePolicy, within the server's grace), and before the gateway's
// maximum connection duration or the token's `exp`, a make-before-break renewal while the old socket still works.
// SocketSwitch (renewal.ts) keeps the two from racing. Every step holds the AbortSignal of its connect()'s run.
import type { BackoffPolicy } from './backoff';
import type { VoiceClientError } from './errors';
import { HrpcSocket, type SocketClose, type Variant, type WebSocketFactory } from './hrpc-socket';
import type { Log } from './log';
import { type RetryResult, resumePolicy, resumeRetryable, retry } from './reconnect-policy';
import { renewalDelayMs, SocketSwitch, tokenExpiry } from './renewal';
import type { VoiceSession } from './voice-session';

/** Where the session's sockets go (the client's connect() target). */
export interface MoveTarget {
  url: string;
  token: string | (() => string | Promise<string>);
  variant: Variant;
  resume: boolean;
  extensions: string[];
}

export interface SessionMovesOptions {
  backoff: BackoffPolicy;
  connectTimeoutMs: number;
  createWebSocket?: WebSocketFactory;
  restartIceOnResume: boolean;
  maxConnectionMs: number;
  renewBeforeMs?: number;
  renewBeforeTokenExpiryMs?: number;
  log: Log;
}

/** What the moves need from their client. */
export interface SessionMovesHost {
  readonly target: MoveTarget | undefined;
  readonly session: VoiceSession | undefined;
  /** The client is joined (no renewal otherwise). */
  readonly joined: boolean;
  /** A resume started (state `resuming`). */
  resuming(): void;
  /** The session moved (state `joined` again, event `resumed`). */
  resumed(event: { makeBeforeBreak: boolean; iceRestarted: boolean; afterMs: number }): void;
  /** A resume attempt is about to start (event `reconnecting`). */
  attempt(event: { attempt: number; delayMs: number }): void;
  /** The session cannot be resumed (refused, or the grace ran out): the client rejoins. */
  cannotResume(signal: AbortSignal, session: VoiceSession, error: VoiceClientError | undefined): void;
  /** Keeps work of the run in its in-flight set (leave() waits for it). */
  track(signal: AbortSignal, work: Promise<unknown>): void;
}

export class SessionMoves {
  /** `exp` of the token the session's current socket was opened with (renewal before it). */
  tokenExpiresAt?: number;
  /** The same of the socket a move is taking the session to (it becomes the session's once moved). */
  private pendingTokenExpiresAt?: number;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private readonly switching = new SocketSwitch();

  constructor(
    private readonly options: SessionMovesOptions,
    private readonly host: SessionMovesHost,
  ) {}

  /** No renewal is due any more (the session ended, or the client left). */
  cancel(): void {
    clearTimeout(this.renewTimer);
  }

  /** The session's socket was lost (suspended): resume it, unless a renewal under way moved it already. */
  lost(signal: AbortSignal, close: SocketClose): void {
    this.cancel();
    const lostAt = Date.now();
    this.host.track(
      signal,
      this.switching.movedByRenewal().then((moved) => {
        if (signal.aborted) return;
        this.options.log('info', 'voice.stream-lost', {
          code: close.code,
          reason: close.reason,
          resuming: !moved,
          movedByRenewal: moved,
        });
        if (!moved) return this.resume(signal, lostAt);
      }),
    );
  }

  /** Make-before-break: before the gateway's maximum connection duration, move the session to a new socket. */
  schedule(signal: AbortSignal): void {
    this.cancel();
    if (signal.aborted) return;
    const { target, session } = this.host;
    if (!target?.resume || !session?.canResume) {
      // The credential may arrive just after JoinedChannel: look again shortly.
      if (target?.resume && session) this.renewTimer = setTimeout(() => this.schedule(signal), 200);
      return;
    }
    // Only a token function can give a fresh token: a fixed token renews nothing (the session then ends at its exp + grace).
    const dueIn = renewalDelayMs({
      now: Date.now(),
      socketOpenedAt: session.socketOpenedAt,
      maxConnectionMs: this.options.maxConnectionMs,
      renewBeforeMs: this.options.renewBeforeMs,
      renewBeforeTokenExpiryMs: this.options.renewBeforeTokenExpiryMs,
      tokenExpiresAt: typeof target.token === 'function' ? this.tokenExpiresAt : undefined,
    });
    this.renewTimer = setTimeout(() => this.host.track(signal, this.renew(signal)), dueIn);
  }

  /**
   * The socket was lost while joined: resume the same session on a new socket, with backoff, for as long as the
   * server keeps it (its grace). A refusal (or the grace running out) falls back to the rejoin.
   */
  private async resume(signal: AbortSignal, lostAt: number): Promise<void> {
    const session = this.host.session;
    if (!session) return;
    this.host.resuming();
    let result: RetryResult<boolean>;
    try {
      result = await retry(
        resumePolicy(this.options.backoff, session.graceMs ?? 30_000),
        async (signal) => {
          let socket: HrpcSocket | undefined;
          try {
            socket = await this.openSocket(signal);
            return await session.resumeOn(socket, this.options.restartIceOnResume ? { restartIce: true } : {});
          } catch (err) {
            // Not 1000: had the server moved the session onto this socket after all, 1000 would end it (leave).
            if (!signal.aborted) void socket?.close(4001, 'resume failed');
            throw err;
          }
        },
        {
          signal,
          since: lostAt,
          onAttempt: (attempt, delayMs) => this.host.attempt({ attempt, delayMs }),
          onFailure: (error) => {
            if (resumeRetryable(error))
              this.options.log('info', 'voice.resume-retry', { identifier: error.identifier, message: error.message });
          },
        },
      );
    } catch {
      return; // left meanwhile (the signal's abort): leave() closed everything
    }
    if (result.ok) {
      this.tokenExpiresAt = this.pendingTokenExpiresAt;
      this.host.resumed({ makeBeforeBreak: false, iceRestarted: result.value, afterMs: Date.now() - lostAt });
      this.schedule(signal);
      return;
    }
    this.options.log('info', 'voice.resume-gave-up', { identifier: result.error?.identifier });
    this.host.cannotResume(signal, session, result.error);
  }

  private async renew(signal: AbortSignal): Promise<void> {
    const session = this.host.session;
    if (signal.aborted || !session || !this.host.joined) return;
    const started = Date.now();
    await this.switching.renew(async () => {
      let socket: HrpcSocket | undefined;
      try {
        socket = await this.openSocket(signal);
        const iceRestarted = await session.resumeOn(socket, { restartIce: false });
        this.tokenExpiresAt = this.pendingTokenExpiresAt;
        this.host.resumed({ makeBeforeBreak: true, iceRestarted, afterMs: Date.now() - started });
        return true;
      } catch (err) {
        if (signal.aborted) return false; // left meanwhile: leave() closed both sockets
        // The old socket may still work; when it is (or was meanwhile) lost, the ordinary resume takes over.
        void socket?.close(4001, 'renewal failed');
        this.options.log('warn', 'voice.renewal-failed', { message: (err as Error).message });
        return false;
      }
    });
    if (!signal.aborted && this.host.joined) this.schedule(signal);
  }

  /** Opens a new socket for the target, offering resume.v1 (closed again when `signal` aborts). */
  private async openSocket(signal: AbortSignal): Promise<HrpcSocket> {
    const target = this.host.target!;
    const token = typeof target.token === 'function' ? await target.token() : target.token;
    const socket = await HrpcSocket.open({
      url: target.url,
      token,
      variant: target.variant,
      timeoutMs: this.options.connectTimeoutMs,
      createWebSocket: this.options.createWebSocket,
      resume: true,
      extensions: target.extensions,
      signal,
    });
    if (signal.aborted) {
      void socket.close(1000, 'leave');
      throw signal.reason;
    }
    this.pendingTokenExpiresAt = tokenExpiry(token);
    return socket;
  }
}
