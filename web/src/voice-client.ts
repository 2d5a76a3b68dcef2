// VoiceClient: the SDK's public face — options, state, events — over its parts: a VoiceSession per join (the socket
// link, the join flow and the participants: session-link.ts, join-flow.ts, participants.ts), the microphone
// (microphone.ts) and when to try again (reconnect-policy.ts). After an abnormal close it rejoins with jittered
// backoff (state `reconnecting`; other members see a leave and a join) — unless the stream opted in to resume.v1
// (`resume: true`): then it resumes the same session on a new socket (state `resuming`: nobody sees anything, media
// keeps flowing; event `resumed`), falling back to the rejoin only when the server says the session cannot be resumed
// (`voice.resume-refused`) or its grace ran out. Before API Gateway's 2-hour cap, and before the server's bound on its
// token (exp + grace, `voice.token-expired`) when the app gives a token function, it opens a new socket (with a fresh
// token) and resumes on it while the old one still works (make-before-break). Each connect() runs under one
// AbortController: leave() aborts it, and every wait, join, resume and session event of that run stops with it.
import { ErrorId } from '../../protocol/errors';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff';
import { generateDtlsCertificate } from './dtls';
import { asClientError, ClientErrorId, leftError, reconnectsAfter, VoiceClientError } from './errors';
import { askedFeatures } from './extensions';
import type { SocketClose, Variant, WebSocketFactory } from './hrpc-socket';
import { toUint64, type Uint64Input } from './ids';
import { DEFAULT_KEEPALIVE, type KeepalivePolicy } from './keepalive';
import { consoleLog, type Log } from './log';
import type { MediaPath } from './media-path';
import { Microphone } from './microphone';
import { type ReconnectPolicy, type RetryResult, rejoinPolicy, retry } from './reconnect-policy';
import { tokenExpiry } from './renewal';
import { SessionMoves } from './session-moves';
import { DEFAULT_SPEAKING, SpeakingDetector, type SpeakingOptions } from './speaking';
import type { ReceiveStats } from './stats';
import { TypedEmitter } from './typed-emitter';
import { type SessionSink, VoiceSession } from './voice-session';

export interface ConnectOptions {
  /** The WebSocket URL: locally `ws://host:port/protocol.voice.v1.VoiceService/StreamMessage`, on AWS the API's `wss://…/<stage>`. */
  url: string;
  /** The session token, or a function asked for one before every (re)connect (tokens expire). */
  token: string | (() => string | Promise<string>);
  guildId: Uint64Input;
  channelId: Uint64Input;
  /** `base64` (`hrpc1.base64`, works through API Gateway; the default) or `binary` (`hrpc1`). */
  variant?: Variant;
  /** A microphone track to send; by default the SDK asks getUserMedia for one (and stops it on leave). */
  microphone?: MediaStreamTrack;
  /** Opt in to resume.v1 (the session outlives its socket). Default false: plain voice.v1. */
  resume?: boolean;
  /**
   * Ask for consumers.v1 (default true): the server creates consumers resumed, so the SDK sends no ResumeConsumer
   * per member (3 client messages per join whatever the channel size, instead of 3 + one per member, and none when
   * someone else joins). Negotiated with `hrpc1[.base64]+ext.v1` and Hello/Welcome; a server without it is used
   * as plain voice.v1. false: the offer is exactly voice.v1's (unless `resume`).
   */
  consumersResumed?: boolean;
  /**
   * Ask the server for its TURN relays (relay.v1, through the one negotiation `+ext.v1`; granted only where relays
   * are configured). They join `iceServers` as ICE's last resort (not forced); when the media still never connects
   * (`voice.media-unreachable`, or a transport's ICE/DTLS failing before it ever connected) the client tries the
   * next rung once: a new session over the relays only (iceTransportPolicy 'relay'; event `nextRung`). Default false.
   */
  relays?: boolean;
  /**
   * Ask for state.v1 (who is muted/deafened, moderation) through the extension negotiation: `memberState` events,
   * setSelfMuted/setSelfDeafened acting on the media node, moderate(). Default false: plain voice.v1.
   */
  voiceState?: boolean;
}

export interface VoiceClientOptions {
  keepalive?: KeepalivePolicy | false;
  backoff?: Partial<BackoffPolicy>;
  /**
   * When to rejoin after a stream ended, and how long to wait first (`nextRetryDelayMs({ attempt, elapsedMs, error })`
   * → ms, or null to give up). Default: `rejoinPolicy(backoff)` (jittered backoff, the server's retry_after, never
   * after an error a retry cannot fix). The resume.v1 resume keeps its own policy (bounded by the server's grace).
   */
  reconnectPolicy?: ReconnectPolicy;
  connectTimeoutMs?: number;
  joinTimeoutMs?: number;
  audioConstraints?: MediaTrackConstraints;
  /**
   * Opus DTX (default true): while the microphone is silent the encoder sends ~2.5 packets/s instead
   * of 50, so a channel's load follows the people talking. Receivers need nothing (the browser plays
   * comfort noise); false sends every 20 ms frame.
   */
  opusDtx?: boolean;
  /**
   * Opus in-band FEC (default true): each packet carries a low-rate copy of the previous frame, which the receiver
   * decodes when that one was lost (the encoder adds it as receiver reports show loss). false only to measure it
   * (bench:reach).
   */
  opusFec?: boolean;
  /**
   * NACK/retransmission for Opus (audio-nack.ts): the media node asks for lost packets again and resends what this
   * browser missed. Default: chosen by measurement (bench:reach, docs/reachability.md).
   */
  audioNack?: boolean;
  /**
   * TURN relays an app got from its own backend (short-lived credentials, never a static password); the server's own
   * come with `relays: true` (relay.v1) and join these. Used as a last resort by ICE, not forced, unless
   * `iceTransportPolicy` is 'relay'.
   */
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  createWebSocket?: WebSocketFactory;
  log?: Log;
  /** The gateway's maximum connection duration (API Gateway: 2 hours); resume.v1 switches sockets before it. */
  maxConnectionMs?: number;
  /** How long before maxConnectionMs the new socket is opened (default min(60 s, a quarter of it)). */
  renewBeforeMs?: number;
  /**
   * resume.v1 with a token function: how long before the token's `exp` the session moves to a new socket opened
   * with a fresh token (default 60 s). The server ends a session at `exp` + its grace (`voice.token-expired`).
   */
  renewBeforeTokenExpiryMs?: number;
  /**
   * resume.v1: restart ICE on every resume after a lost socket, not only when a transport lost connectivity
   * (for networks where a lost socket usually means a new address). Default false.
   */
  restartIceOnResume?: boolean;
  /** Speaking detection from received audio levels (speaking.ts; no signalling); false turns it off. */
  speaking?: Partial<SpeakingOptions> | false;
}

/**
 * `idle` → `connecting` → `joined`; a lost resume.v1 stream: `resuming` (the same session moves to a new socket,
 * nobody sees anything) → `joined`; an ended stream that is joined again: `reconnecting` (others see a leave and a
 * join) → `joined`; `closed` after leave() or when the client gives up (connect() may start again from there).
 */
export type ClientState = 'idle' | 'connecting' | 'joined' | 'resuming' | 'reconnecting' | 'closed';

export interface VoiceErrorEvent {
  /** The server's identifier (`h.*`, `hrpc.*`, `voice.*`) or the SDK's (`client.*`). */
  identifier: string;
  message: string;
  retryAfterSeconds?: number;
}

export interface VoiceClientEvents {
  state: { state: ClientState };
  /** Joined (again, after a reconnect: `reconnected`); `users` are the members already there. */
  joined: { guildId: bigint; channelId: bigint; users: bigint[]; reconnected: boolean };
  userJoined: { userId: bigint };
  userLeft: { userId: bigint };
  /** A remote member's audio, ready to play. */
  track: { userId: bigint; track: MediaStreamTrack; consumerId: string };
  error: VoiceErrorEvent;
  /** The stream closed; `willReconnect` says whether the client is about to rejoin. */
  closed: { code: number; reason: string; willReconnect: boolean; error?: VoiceErrorEvent };
  /**
   * resume.v1: the same session continues on a new socket (no rejoin: others saw nothing, tracks and
   * participants are unchanged). `makeBeforeBreak`: switched before the gateway's cap, the old socket still open.
   */
  resumed: { makeBeforeBreak: boolean; iceRestarted: boolean; afterMs: number };
  reconnecting: { attempt: number; delayMs: number };
  muted: { muted: boolean };
  /** relay.v1: the media did not connect on the direct rungs (`identifier` said so); joining again over the relays only. */
  nextRung: { rung: 'relay'; identifier: string };
  deafened: { deafened: boolean };
  /** state.v1: a member's state (itself included), as the channel's history says, in its order. */
  memberState: MemberStateEvent;
  /** A remote member started or stopped speaking (received audio level with hysteresis: speaking.ts). */
  speakingChanged: { userId: bigint; speaking: boolean };
}

/** state.v1: what a member's state is. Effective mute = selfMuted || serverMuted (the node forwards nothing of it). */
export interface MemberStateEvent {
  userId: bigint;
  selfMuted: boolean;
  selfDeafened: boolean;
  serverMuted: boolean;
  serverDeafened: boolean;
}

/** NACK for Opus by default or not: set from bench:reach's measurement (docs/reachability.md). */
export const DEFAULT_AUDIO_NACK = false;

/** What a session's media never connecting looks like (the server's bound, or the browser's ICE/DTLS failing). */
const MEDIA_NEVER_CONNECTED = new Set<string>(['voice.media-unreachable', ClientErrorId.mediaUnreachable]);

export interface Participant {
  userId: bigint;
  track: MediaStreamTrack;
  consumerId: string;
}

export class VoiceClient extends TypedEmitter<VoiceClientEvents> {
  private readonly options: Required<
    Omit<
      VoiceClientOptions,
      'createWebSocket' | 'backoff' | 'reconnectPolicy' | 'renewBeforeMs' | 'renewBeforeTokenExpiryMs'
    >
  > & {
    backoff: BackoffPolicy;
    reconnectPolicy: ReconnectPolicy;
    createWebSocket?: WebSocketFactory;
    renewBeforeMs?: number;
    renewBeforeTokenExpiryMs?: number;
    restartIceOnResume: boolean;
  };
  /** resume.v1: the resume after a lost socket and the make-before-break renewal (session-moves.ts). */
  private readonly moves: SessionMoves;
  private stateValue: ClientState = 'idle';
  private session?: VoiceSession;
  private target?: {
    url: string;
    token: ConnectOptions['token'];
    guildId: bigint;
    channelId: bigint;
    variant: Variant;
    resume: boolean;
    extensions: string[];
  };
  /** The connection ladder's last rung was taken for this connect(): sessions use the relays only. */
  private relayOnly = false;
  private readonly microphone = new Microphone();
  private certificate?: RTCCertificate;
  private mutedValue = false;
  private deafenedValue = false;
  /**
   * state.v1: this client's own flags before its last change was sent. The server refuses a change only with
   * `voice.state-refused` (unmuting or undeafening itself while a moderator holds it), so that error puts them back.
   */
  private beforeSelfChange?: { muted: boolean; deafened: boolean };
  /** state.v1: every member's state as last told (by decimal user id). */
  private readonly states = new Map<string, MemberStateEvent>();
  private readonly speaking: SpeakingDetector | undefined;
  private speakingTimer?: ReturnType<typeof setInterval>;
  /**
   * One per connect(), aborted by leave() (or when the client closes): every async continuation of that connect —
   * joins, rejoins, resumes, renewals, waits, the session's events — holds its signal, and stops when it is aborted.
   */
  private run?: AbortController;
  /** Per run: its work still settling (sessions starting, rejoin and resume loops, renewals, closes): leave() waits. */
  private readonly inflight = new WeakMap<AbortSignal, Set<Promise<unknown>>>();
  /** What the last leave() waits for (a second leave() returns it). */
  private leaving: Promise<void> = Promise.resolve();

  constructor(options: VoiceClientOptions = {}) {
    super();
    this.options = {
      keepalive: options.keepalive ?? DEFAULT_KEEPALIVE,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      reconnectPolicy: options.reconnectPolicy ?? rejoinPolicy({ ...DEFAULT_BACKOFF, ...options.backoff }),
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      joinTimeoutMs: options.joinTimeoutMs ?? 20_000,
      audioConstraints: options.audioConstraints ?? {
        echoCancellation: true,
        noiseSuppression: true,
        autoGainControl: true,
      },
      opusDtx: options.opusDtx ?? true,
      opusFec: options.opusFec ?? true,
      audioNack: options.audioNack ?? DEFAULT_AUDIO_NACK,
      iceServers: options.iceServers ?? [],
      iceTransportPolicy: options.iceTransportPolicy ?? 'all',
      createWebSocket: options.createWebSocket,
      log: options.log ?? consoleLog,
      maxConnectionMs: options.maxConnectionMs ?? 2 * 60 * 60_000,
      renewBeforeMs: options.renewBeforeMs,
      renewBeforeTokenExpiryMs: options.renewBeforeTokenExpiryMs,
      restartIceOnResume: options.restartIceOnResume ?? false,
      speaking: options.speaking ?? {},
    };
    this.speaking =
      options.speaking === false ? undefined : new SpeakingDetector({ ...DEFAULT_SPEAKING, ...options.speaking });
    const client = this;
    this.moves = new SessionMoves(this.options, {
      get target() {
        return client.target;
      },
      get session() {
        return client.session;
      },
      get joined() {
        return client.stateValue === 'joined';
      },
      resuming: () => this.setState('resuming'),
      resumed: (event) => {
        this.setState('joined');
        this.emit('resumed', event);
      },
      attempt: (event) => this.emit('reconnecting', event),
      cannotResume: (signal, session, error) => {
        // The rejoin (others will see a leave and a join).
        void session.abandon();
        this.session = undefined;
        this.emit('closed', {
          code: 1006,
          reason: 'session could not be resumed',
          willReconnect: true,
          error: error && toEvent(error),
        });
        void this.reconnect(signal, undefined);
      },
      track: (signal, work) => void this.track(signal, work),
    });
  }

  get deafened(): boolean {
    return this.deafenedValue;
  }

  /** state.v1: every member's state as the server last said (itself included); empty without state.v1. */
  get memberStates(): MemberStateEvent[] {
    return [...this.states.values()];
  }

  /** state.v1 was granted to the live stream. */
  get voiceState(): boolean {
    return this.session?.voiceState ?? false;
  }

  /** Whether a remote member is speaking now (speakingChanged's last word). */
  isSpeaking(userId: Uint64Input): boolean {
    return this.speaking?.isSpeaking(toUint64(userId, 'userId').toString()) ?? false;
  }

  /** Mutes the microphone; with state.v1 the media node stops forwarding it too and everyone sees it. */
  setSelfMuted(muted: boolean): void {
    this.setMuted(muted);
  }

  /**
   * Stops playing everyone (local tracks disabled); with state.v1 the node stops forwarding to this member too and
   * everyone sees it.
   */
  setSelfDeafened(deafened: boolean): void {
    if (deafened === this.deafenedValue) return;
    this.beforeSelfChange = { muted: this.mutedValue, deafened: this.deafenedValue };
    this.applyDeafened(deafened);
    this.session?.setSelfState({ selfDeafened: deafened });
  }

  private applyDeafened(deafened: boolean): void {
    this.deafenedValue = deafened;
    for (const p of this.session?.participants.values() ?? []) p.consumer.track.enabled = !deafened;
    this.emit('deafened', { deafened });
  }

  /** The server refused this client's last change of its own state (`voice.state-refused`): back to what it was. */
  private undoRefusedSelfChange(): void {
    const before = this.beforeSelfChange;
    this.beforeSelfChange = undefined;
    if (!before) return;
    if (before.muted !== this.mutedValue) this.applyMuted(before.muted);
    if (before.deafened !== this.deafenedValue) this.applyDeafened(before.deafened);
  }

  /**
   * state.v1: server-mutes/deafens another member (a moderator only: the server answers an `error` event
   * `voice.not-moderator` otherwise, changing nothing). The change arrives as a `memberState` event.
   */
  moderate(userId: Uint64Input, change: { serverMuted?: boolean; serverDeafened?: boolean }): boolean {
    return this.session?.moderate(toUint64(userId, 'userId'), change) ?? false;
  }

  get state(): ClientState {
    return this.stateValue;
  }

  get muted(): boolean {
    return this.mutedValue;
  }

  /** The subprotocol of the live stream (`hrpc1.base64` or `hrpc1`), while joined. */
  get subprotocol(): string | undefined {
    return this.session?.subprotocol;
  }

  /** The microphone track being sent (for a local level meter), once connect() acquired it. */
  get localTrack(): MediaStreamTrack | undefined {
    return this.microphone.track;
  }

  get participants(): Participant[] {
    return [...(this.session?.participants.values() ?? [])].map(({ userId, consumer }) => ({
      userId,
      track: consumer.track,
      consumerId: consumer.id,
    }));
  }

  /** Resolves once joined; rejects with a VoiceClientError (also emitted as `error`). */
  async connect(options: ConnectOptions): Promise<void> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'closed') {
      throw new VoiceClientError(ClientErrorId.invalidState, `connect() while ${this.stateValue}; leave() first`);
    }
    const run = new AbortController();
    this.run = run;
    const signal = run.signal;
    try {
      this.target = {
        url: options.url,
        token: options.token,
        guildId: toUint64(options.guildId, 'guildId'),
        channelId: toUint64(options.channelId, 'channelId'),
        variant: options.variant ?? 'base64',
        resume: options.resume ?? false,
        extensions: askedFeatures({
          resume: options.resume ?? false,
          consumersResumed: options.consumersResumed ?? true,
          relays: options.relays ?? false,
          voiceState: options.voiceState ?? false,
        }),
      };
      this.relayOnly = false;
      this.setState('connecting');
      await this.track(
        signal,
        (async () => {
          this.certificate ??= await generateDtlsCertificate();
          await this.microphone.acquire(options.microphone, this.options.audioConstraints, signal);
          await this.startSession(signal, false);
        })(),
      );
    } catch (err) {
      const error = asClientError(err, ClientErrorId.media);
      if (!signal.aborted) {
        this.emitError(error);
        this.finish({ code: 1006, reason: error.identifier, wasClean: false }, error);
      }
      throw error;
    }
  }

  setMuted(muted: boolean): void {
    if (muted === this.mutedValue) return;
    this.beforeSelfChange = { muted: this.mutedValue, deafened: this.deafenedValue };
    this.applyMuted(muted);
    this.session?.setSelfState({ selfMuted: muted });
  }

  private applyMuted(muted: boolean): void {
    this.mutedValue = muted;
    this.session?.setMuted(muted);
    this.emit('muted', { muted });
  }

  mute(): void {
    this.setMuted(true);
  }

  unmute(): void {
    this.setMuted(false);
  }

  /**
   * Leaves the channel: closes the stream cleanly (the server tells the others) and stops reconnecting; everything
   * under way (a join, a rejoin's wait, a resume) is cancelled. The state is `closed` at once; the promise resolves
   * when the leave is done: the sockets' closing handshakes are over (each bounded by CLOSE_WAIT_MS) and the media
   * (transports, producer, consumers, an SDK-acquired microphone) is closed. It never rejects.
   */
  leave(): Promise<void> {
    if (this.stateValue === 'idle' || this.stateValue === 'closed') return this.leaving;
    const run = this.run;
    run?.abort(leftError());
    this.moves.cancel();
    const session = this.session;
    this.session = undefined;
    const closing = session?.close(1000, 'leave');
    this.finish({ code: 1000, reason: 'leave', wasClean: true }, undefined);
    this.leaving = (async () => {
      await closing;
      // Work that unwinds may start closes of its own (an aborted join closes its socket): wait until none is left.
      const work = run ? this.inflight.get(run.signal) : undefined;
      while (work && work.size > 0) await Promise.all([...work]);
    })();
    return this.leaving;
  }

  /** Which rung of the connection ladder (udp / tcp / relay-tls …) the send and receive transports use now. */
  async getMediaPaths(): Promise<{ send?: MediaPath; receive?: MediaPath }> {
    return (await this.session?.mediaPaths()) ?? {};
  }

  /** The microphone producer's outbound-rtp counters (packets, NACKs received, retransmissions). */
  async getSendStats(): Promise<
    { packetsSent: number; nackCount: number; retransmittedPacketsSent: number } | undefined
  > {
    return this.session?.sendStats();
  }

  /** Per remote member: inbound-rtp counters of its consumer (packets, audio level, ...). */
  async getReceiveStats(): Promise<ReceiveStats[]> {
    return (await this.session?.receiveStats()) ?? [];
  }

  // ---- sessions and reconnecting ----

  /** Keeps `work` in its run's in-flight set (the run of `signal`) until it settles: leave() waits for it. */
  private track<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
    let set = this.inflight.get(signal);
    if (!set) this.inflight.set(signal, (set = new Set()));
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    set.add(settled);
    void settled.then(() => set.delete(settled));
    return work;
  }

  private async startSession(signal: AbortSignal, reconnected: boolean): Promise<void> {
    const target = this.target!;
    const token = typeof target.token === 'function' ? await target.token() : target.token;
    signal.throwIfAborted();
    this.moves.tokenExpiresAt = tokenExpiry(token);
    const session = await VoiceSession.start(
      {
        url: target.url,
        token,
        variant: target.variant,
        guildId: target.guildId,
        channelId: target.channelId,
        microphone: this.microphone.track!,
        certificate: this.certificate!,
        muted: () => this.mutedValue,
        keepalive: this.options.keepalive,
        opusDtx: this.options.opusDtx,
        opusFec: this.options.opusFec,
        audioNack: this.options.audioNack,
        iceServers: this.options.iceServers,
        iceTransportPolicy: this.options.iceTransportPolicy,
        connectTimeoutMs: this.options.connectTimeoutMs,
        joinTimeoutMs: this.options.joinTimeoutMs,
        createWebSocket: this.options.createWebSocket,
        log: this.options.log,
        resume: target.resume,
        extensions: target.extensions,
        relayOnly: this.relayOnly,
        signal,
        closing: (closed) => void this.track(signal, closed),
      },
      this.sinkFor(signal),
    );
    if (signal.aborted) {
      void this.track(signal, session.close(1000, 'leave'));
      throw signal.reason;
    }
    this.session = session;
    this.setState('joined');
    this.moves.schedule(signal);
    // A new session starts unmuted on the server: say what this member is (a mute pressed while joining, a rejoin).
    if (this.mutedValue || this.deafenedValue)
      session.setSelfState({ selfMuted: this.mutedValue, selfDeafened: this.deafenedValue });
    this.startSpeakingDetection(signal);
    // Members in JoinedChannel plus any whose UserJoined raced it (handled before the join completed).
    const users = new Map(session.initialMembers.map((id) => [id.toString(), id]));
    for (const p of this.participants) users.set(p.userId.toString(), p.userId);
    this.emit('joined', {
      guildId: target.guildId,
      channelId: target.channelId,
      users: [...users.values()],
      reconnected,
    });
    // Tracks of the members already present were delivered before `joined`; repeat them now that
    // the app can tell which session they belong to.
    for (const p of this.participants)
      this.emit('track', { userId: p.userId, track: p.track, consumerId: p.consumerId });
  }

  /** The session's events, for as long as `signal` (its connect()'s run) is not aborted. */
  private sinkFor(signal: AbortSignal): SessionSink {
    const live = () => !signal.aborted;
    return {
      userJoined: (userId) => live() && this.stateValue === 'joined' && this.emit('userJoined', { userId }),
      userLeft: (userId) => {
        if (!live() || this.stateValue !== 'joined') return;
        this.states.delete(userId.toString());
        if (this.speaking?.forget(userId.toString())) this.emit('speakingChanged', { userId, speaking: false });
        this.emit('userLeft', { userId });
      },
      memberStates: (states) => {
        if (!live()) return;
        for (const { userId, selfMuted, selfDeafened, serverMuted, serverDeafened } of states) {
          const event = { userId, selfMuted, selfDeafened, serverMuted, serverDeafened };
          this.states.set(userId.toString(), event);
          this.emit('memberState', event);
        }
      },
      // Initial members' tracks are emitted after `joined` (see startSession); later ones at once.
      track: (userId, track, consumerId) => {
        if (this.deafenedValue) track.enabled = false;
        if (live() && this.stateValue === 'joined') this.emit('track', { userId, track, consumerId });
      },
      error: (error) => {
        if (!live()) return;
        if (error.identifier === ErrorId.stateRefused) this.undoRefusedSelfChange();
        this.emitError(error);
      },
      suspended: (close) => {
        if (live()) this.moves.lost(signal, close);
      },
      ended: (close, lastError) => {
        if (!live()) return;
        this.moves.cancel();
        const ended = this.session;
        this.session = undefined;
        // The connection ladder: media that never connected directly, with relays at hand, gets one more try over them.
        if (
          lastError &&
          MEDIA_NEVER_CONNECTED.has(lastError.identifier) &&
          ended?.rung === 'direct' &&
          ended.relayIceServers.length > 0 &&
          ended.mediaNeverConnected
        ) {
          this.relayOnly = true;
          this.options.log('info', 'voice.next-rung', {
            rung: 'relay',
            identifier: lastError.identifier,
            message: lastError.message,
          });
          this.emit('closed', {
            code: close.code,
            reason: close.reason,
            willReconnect: true,
            error: toEvent(lastError),
          });
          this.emit('nextRung', { rung: 'relay', identifier: lastError.identifier });
          void this.reconnect(signal, undefined);
          return;
        }
        const willReconnect = reconnectsAfter(close.code, lastError);
        this.options.log('info', 'voice.stream-closed', {
          code: close.code,
          reason: close.reason,
          willReconnect,
          identifier: lastError?.identifier,
        });
        if (!willReconnect) {
          this.finish(close, lastError);
          return;
        }
        this.emit('closed', {
          code: close.code,
          reason: close.reason,
          willReconnect: true,
          error: lastError && toEvent(lastError),
        });
        void this.reconnect(signal, lastError);
      },
    };
  }

  // ---- speaking (no signalling: received audio levels, speaking.ts) ----

  private startSpeakingDetection(signal: AbortSignal): void {
    clearInterval(this.speakingTimer);
    const detector = this.speaking;
    if (!detector) return;
    let busy = false;
    this.speakingTimer = setInterval(
      async () => {
        if (signal.aborted) return clearInterval(this.speakingTimer);
        if (busy || !this.session) return;
        busy = true;
        try {
          const levels = await this.session.audioLevels();
          const now = Date.now();
          for (const [userId, level] of levels) {
            const changed = detector.update(userId.toString(), level, now);
            if (changed !== undefined) this.emit('speakingChanged', { userId, speaking: changed });
          }
        } catch {
          // a transport closing meanwhile: the next tick sees the new one
        } finally {
          busy = false;
        }
      },
      { ...DEFAULT_SPEAKING, ...(this.options.speaking || {}) }.intervalMs,
    );
  }

  /** The stream ended and may be joined again: rejoin with the rejoin policy (state `reconnecting`). */
  private async reconnect(signal: AbortSignal, cause: VoiceClientError | undefined): Promise<void> {
    this.setState('reconnecting');
    const rejoining = retry(this.options.reconnectPolicy, (signal) => this.startSession(signal, true), {
      signal,
      error: cause,
      wrapAs: ClientErrorId.media,
      onAttempt: (attempt, delayMs) => this.emit('reconnecting', { attempt, delayMs }),
      onFailure: (error) => this.emitError(error),
    });
    let result: RetryResult<void>;
    try {
      result = await this.track(signal, rejoining);
    } catch {
      return; // left meanwhile
    }
    if (!result.ok) this.finish({ code: 1006, reason: 'reconnect failed', wasClean: false }, result.error);
  }

  /** The client is closed (left, or the stream ended for good): the run stops, its microphone and state go. */
  private finish(close: SocketClose, error: VoiceClientError | undefined): void {
    this.run?.abort(new VoiceClientError(ClientErrorId.invalidState, 'the client closed'));
    this.session = undefined;
    this.moves.cancel();
    clearInterval(this.speakingTimer);
    this.states.clear();
    for (const key of this.speaking?.keys() ?? []) this.speaking?.forget(key);
    this.microphone.release();
    this.setState('closed');
    this.emit('closed', {
      code: close.code,
      reason: close.reason,
      willReconnect: false,
      error: error && toEvent(error),
    });
  }

  private emitError(error: VoiceClientError): void {
    this.emit('error', toEvent(error));
  }

  private setState(state: ClientState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.emit('state', { state });
  }
}

function toEvent(error: VoiceClientError): VoiceErrorEvent {
  return { identifier: error.identifier, message: error.message, retryAfterSeconds: error.options.retryAfterSeconds };
}
