// One voice session: one pass through the join flow of VOICE-PROTOCOL.md §4 (join-flow.ts), then membership
// changes (participants.ts) until the socket closes. Reconnecting is VoiceClient's job: a new session — unless the
// stream opted in to resume.v1: then a lost socket suspends the session (transports, producer and consumers stay) and
// VoiceClient resumes it on a new socket (resumeOn; session-link.ts replaces only the socket).
import type { RelayServers } from '../../gen/harmonyvoice/ext/v1/relay';
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';
import type { StreamMessageResponse, UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { asClientError, ClientErrorId, VoiceClientError } from './errors';
import { FEATURE } from './extensions';
import { HrpcSocket, type SocketClose, type Variant, type WebSocketFactory } from './hrpc-socket';
import { JoinFlow } from './join-flow';
import type { KeepalivePolicy } from './keepalive';
import type { Log } from './log';
import type { MediaPath } from './media-path';
import { Participants, type RemoteParticipant } from './participants';
import { RESUME_REFUSED, SessionLink } from './session-link';
import type { ReceiveStats, SendStats } from './stats';

export { RESUME_REFUSED };
export type { ReceiveStats, RemoteParticipant };

export interface SessionOptions {
  url: string;
  token: string;
  variant: Variant;
  guildId: bigint;
  channelId: bigint;
  microphone: MediaStreamTrack;
  /** Generated once per client (VOICE-PROTOCOL.md §4): its fingerprints are the receive transport's DTLS parameters. */
  certificate: RTCCertificate;
  /** Read when the producer exists, so a mute pressed while joining still applies. */
  muted: () => boolean;
  keepalive: KeepalivePolicy | false;
  /** Opus DTX: in silence the encoder sends one packet per 400 ms instead of 50 per second. */
  opusDtx: boolean;
  /** Opus in-band FEC (VoiceClientOptions.opusFec). */
  opusFec?: boolean;
  /** NACK/retransmission for Opus (VoiceClientOptions.audioNack). */
  audioNack?: boolean;
  /** TURN relays (VoiceClientOptions.iceServers) and whether ICE may use only them. */
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  connectTimeoutMs: number;
  joinTimeoutMs: number;
  createWebSocket?: WebSocketFactory;
  log: Log;
  /** Offer resume.v1 at the handshake. */
  resume?: boolean;
  /** Extension features to negotiate (web/src/extensions.ts); empty or absent: none. */
  extensions?: string[];
  /** The connection ladder's last rung: ICE over the relays only (iceTransportPolicy 'relay'), when the server gave relay.v1 ones. */
  relayOnly?: boolean;
  /** Aborting it while joining gives the join up (the socket closes with 1000, start() rejects with its reason). */
  signal?: AbortSignal;
  /** Told of a close the session started and does not wait for (an aborted join's): resolves when it is over. */
  closing?(closed: Promise<void>): void;
}

/** What a session reports to its owner. */
export interface SessionSink {
  userJoined(userId: bigint): void;
  userLeft(userId: bigint): void;
  track(userId: bigint, track: MediaStreamTrack, consumerId: string): void;
  error(error: VoiceClientError): void;
  /** The socket closed (by either side); `lastError` is the last error frame or local failure, if any. */
  ended(close: SocketClose, lastError: VoiceClientError | undefined): void;
  /** resume.v1: the socket was lost but the session can be resumed (its media is untouched): call resumeOn. */
  suspended(close: SocketClose): void;
  /** state.v1: members' states (a snapshot with JoinedChannel, the joiner's with UserJoined, or one change). */
  memberStates(states: MemberState[]): void;
}

type FlowStep = 'initializing' | 'preparing' | 'joining' | 'joined' | 'suspended' | 'ended';

export class VoiceSession {
  readonly participants = new Participants();
  /** The other members listed by JoinedChannel, in order. */
  initialMembers: bigint[] = [];

  private step: FlowStep = 'initializing';
  private readonly link: SessionLink;
  private readonly flow: JoinFlow;
  /** UserJoined/UserLeft that arrive while JoinedChannel is still being processed. */
  private early: StreamMessageResponse[] = [];
  private lastError?: VoiceClientError;
  private joinSettled!: { resolve: () => void; reject: (error: VoiceClientError) => void };
  private readonly joinedPromise: Promise<void>;
  // relay.v1
  private relayServers?: RelayServers;
  private relayRefresh?: ReturnType<typeof setTimeout>;
  /** consumers.v1 was granted on the stream that created this session's media: its consumers arrive resumed. */
  private readonly consumersResumed: boolean;

  private constructor(
    socket: HrpcSocket,
    private readonly options: SessionOptions,
    private readonly sink: SessionSink,
  ) {
    this.consumersResumed = socket.features.includes(FEATURE.consumers);
    this.joinedPromise = new Promise((resolve, reject) => (this.joinSettled = { resolve, reject }));
    this.joinedPromise.catch(() => {});
    this.link = new SessionLink(socket, options.keepalive, {
      response: (response) => this.onResponse(response),
      errorFrame: (error) => {
        // Before joining, any error means this flow cannot finish; afterwards the server decides
        // whether the stream survives (it closes it when the error is fatal).
        this.fail(error, this.step !== 'joined');
      },
      memberStates: (states) => this.sink.memberStates(states),
      relays: (relays) => this.takeRelays(relays),
      resumed: () => {
        this.step = 'joined';
      },
      broken: (error, closeStream) => this.fail(error, closeStream),
      closed: (close) => this.onSocketClosed(close),
    });
    this.flow = new JoinFlow(options, {
      send: (request) => this.link.sendNow(request),
      fail: (error, closeStream) => this.fail(error, closeStream),
      ice: () => ({
        iceServers: [...(this.options.iceServers ?? []), ...this.relayIceServers],
        iceTransportPolicy: this.rung === 'relay' ? 'relay' : (this.options.iceTransportPolicy ?? 'all'),
      }),
      rungDescription: () =>
        this.rung === 'relay'
          ? 'the relay (TURN)'
          : `direct UDP / TCP${this.relayServers ? ' and the relay as a last resort' : ''}`,
    });
    this.takeRelays(socket.relays);
  }

  /** Opens the socket and runs the join flow; resolves once joined. On failure (or abort) everything is closed. */
  static async start(options: SessionOptions, sink: SessionSink): Promise<VoiceSession> {
    const socket = await HrpcSocket.open({
      url: options.url,
      token: options.token,
      variant: options.variant,
      timeoutMs: options.connectTimeoutMs,
      createWebSocket: options.createWebSocket,
      resume: options.resume,
      extensions: options.extensions,
      signal: options.signal,
    });
    const session = new VoiceSession(socket, options, sink);
    await session.join();
    return session;
  }

  // ---- relay.v1 ----

  /** The TURN relays the server gave this session (relay.v1), with their short-lived credentials. */
  get relayIceServers(): RTCIceServer[] {
    return (this.relayServers?.servers ?? []).map((s) => ({
      urls: [...s.urls],
      username: s.username,
      credential: s.credential,
    }));
  }

  /** Which rung this session's ICE was allowed: `relay` (relays only), or `direct` (UDP / TCP, relays as ICE's last resort). */
  get rung(): 'direct' | 'relay' {
    return this.options.relayOnly && this.relayServers ? 'relay' : 'direct';
  }

  /** Whether the media never connected (a transport that was due to connect never did). */
  get mediaNeverConnected(): boolean {
    return this.flow.mediaNeverConnected;
  }

  /** New RelayServers (after Welcome or a RefreshRelays): kept for ICE restarts, refreshed before they expire. */
  private takeRelays(relays: RelayServers | undefined): void {
    if (!relays) return;
    this.relayServers = relays;
    this.flow.updateIceServers([...(this.options.iceServers ?? []), ...this.relayIceServers]);
    clearTimeout(this.relayRefresh);
    // At least 10 s apart: a server that says "now" cannot make this client ask in a loop.
    this.relayRefresh = setTimeout(
      () => this.link.sendExt({ message: { $case: 'refreshRelays', value: {} } }),
      Math.max(10, relays.refreshInS) * 1000,
    );
  }

  // ---- resume.v1 ----

  /** resume.v1: the server gave this session a credential and the stream selected the extension. */
  get canResume(): boolean {
    return this.link.canResume && this.step !== 'ended';
  }

  /** resume.v1: how long the server keeps this session after its socket is lost. */
  get graceMs(): number | undefined {
    return this.link.graceMs;
  }

  /** When the current socket was created (the gateway's maximum connection duration counts from no earlier). */
  get socketOpenedAt(): number {
    return this.link.socketOpenedAt;
  }

  /**
   * resume.v1: moves the session to `socket` (a new stream of the same user): sends Resume with the credential
   * and the last position seen, restarts ICE when asked (the network changed) with the parameters the server
   * sends, and from then on reads only the new socket; the old one (if still open: make-before-break) is
   * closed. Missed membership messages follow as replays. Rejects with `voice.resume-refused` (or another
   * error) when the session cannot be resumed; the caller then rejoins.
   */
  async resumeOn(socket: HrpcSocket, options: { restartIce?: boolean } = {}): Promise<boolean> {
    const restartIce = options.restartIce ?? this.flow.disconnected;
    const ice = await this.link.moveTo(socket, restartIce, this.options.joinTimeoutMs);
    // relay.v1: the new stream got fresh relays with its own Welcome.
    this.takeRelays(socket.relays);
    if (ice) await this.flow.restartIce(ice);
    this.link.finishMove();
    this.step = 'joined';
    return ice !== undefined;
  }

  /** Ends a suspended session locally (its resume failed): transports, producer and consumers close. */
  abandon(): Promise<void> {
    const closed = this.link.abandon();
    this.teardown();
    return closed;
  }

  // ---- what the client asks ----

  get subprotocol(): string {
    return this.link.socket.subprotocol;
  }

  get joined(): boolean {
    return this.step === 'joined';
  }

  setMuted(muted: boolean): void {
    this.flow.setMuted(muted);
  }

  /** The stream was granted state.v1. */
  get voiceState(): boolean {
    return this.link.features.includes(FEATURE.state);
  }

  /** state.v1: the member's own mute/deafen (false when the stream has no state.v1). */
  setSelfState(change: { selfMuted?: boolean; selfDeafened?: boolean }): boolean {
    if (!this.voiceState || this.link.moving) return false;
    this.link.sendExt({ message: { $case: 'setSelfState', value: change } });
    return true;
  }

  /** state.v1: server-mutes/deafens another member (the server checks the permission). */
  moderate(userId: bigint, change: { serverMuted?: boolean; serverDeafened?: boolean }): boolean {
    if (!this.voiceState || this.link.moving) return false;
    this.link.sendExt({ message: { $case: 'moderate', value: { userId, ...change } } });
    return true;
  }

  /**
   * Ends the session from our side (a clean close is a leave: the server tells the others); its media closes at once
   * (transports, producer, consumers). Resolves when the socket's closing handshake is over.
   */
  close(code = 1000, reason = 'leave'): Promise<void> {
    const closed = this.link.close(code, reason);
    if (this.step !== 'ended') this.teardown();
    return closed;
  }

  /** Each remote member's current received audio level (0..1), from one getStats of the receive transport. */
  audioLevels(): Promise<Map<bigint, number>> {
    return this.flow.audioLevels(this.participants.values());
  }

  /** The rung each transport uses now (undefined for one not connected yet). */
  mediaPaths(): Promise<{ send?: MediaPath; receive?: MediaPath }> {
    return this.flow.mediaPaths();
  }

  /** The producer's outbound-rtp counters (packets sent, NACKs received, packets retransmitted). */
  sendStats(): Promise<SendStats | undefined> {
    return this.flow.sendStats();
  }

  receiveStats(): Promise<ReceiveStats[]> {
    return this.flow.receiveStats(this.participants.values());
  }

  // ---- the join flow ----

  private async join(): Promise<void> {
    const signal = this.options.signal;
    const timer = setTimeout(() => {
      this.fail(
        new VoiceClientError(
          ClientErrorId.timeout,
          `joining did not finish within ${this.options.joinTimeoutMs} ms (stuck at ${this.step})`,
        ),
        true,
      );
    }, this.options.joinTimeoutMs);
    // leave() while joining: give the join up now (the socket closes with 1000: nothing was joined, or a leave).
    const aborted = () => this.joinSettled.reject(signal!.reason);
    signal?.addEventListener('abort', aborted, { once: true });
    this.link.startKeepalive();
    this.link.sendNow({
      message: { $case: 'initialize', value: { guildId: this.options.guildId, channelId: this.options.channelId } },
    });
    try {
      if (signal?.aborted) aborted();
      await this.joinedPromise;
    } catch (err) {
      if (signal?.aborted) this.options.closing?.(this.close(1000, 'leave'));
      else void this.link.close(4000, 'join failed');
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', aborted);
    }
  }

  private async onResponse(response: StreamMessageResponse): Promise<void> {
    const message = response.message;
    this.options.log('debug', 'voice.message', { case: message?.$case, step: this.step });
    if (!message) return; // a newer server's message this client does not know
    try {
      switch (message.$case) {
        case 'initialized': {
          this.expectStep('initializing', message.$case);
          const prepare = await this.flow.initialized(message.value.rtpCapabilities);
          this.step = 'preparing';
          this.link.sendNow(prepare);
          return;
        }
        case 'preparedForJoinChannel':
          this.expectStep('preparing', message.$case);
          this.flow.prepared(message.value);
          this.step = 'joining';
          return;
        case 'joinedChannel':
          this.expectStep('joining', message.$case);
          await this.flow.joined(this.options.muted());
          this.step = 'joined';
          this.initialMembers = message.value.otherUsers.map((u) => u.userId);
          for (const user of message.value.otherUsers) await this.consume(user);
          for (const early of this.early.splice(0)) await this.onMembership(early);
          this.joinSettled.resolve();
          return;
        case 'userJoined':
        case 'userLeft':
          if (this.step !== 'joined') {
            this.early.push(response);
            return;
          }
          return await this.onMembership(response);
      }
    } catch (err) {
      this.fail(asClientError(err, ClientErrorId.media), this.step !== 'joined');
    }
  }

  // ---- membership ----

  private async onMembership(response: StreamMessageResponse): Promise<void> {
    const message = response.message;
    if (message?.$case === 'userJoined') {
      if (!message.value.data) throw new VoiceClientError(ClientErrorId.protocol, 'UserJoined without data');
      this.sink.userJoined(message.value.data.userId);
      await this.consume(message.value.data);
    } else if (message?.$case === 'userLeft') {
      const userId = message.value.userId;
      this.participants.remove(userId);
      this.sink.userLeft(userId);
    }
  }

  private async consume(user: UserConsumerOptions): Promise<void> {
    const result = await this.participants.consume(this.flow.receiveTransport!, user);
    // One unusable member must not end the session for everyone else: report and carry on.
    if ('error' in result) return this.sink.error(result.error);
    const { consumer } = result.participant;
    // The server created the consumer paused; resume only once we are ready to play it. With consumers.v1 it
    // was created resumed (its first packets before this point are dropped, as for a late ResumeConsumer).
    if (!this.consumersResumed)
      this.link.send({ message: { $case: 'resumeConsumer', value: { consumerId: consumer.id } } });
    this.sink.track(user.userId, consumer.track, consumer.id);
  }

  // ---- failure and teardown ----

  private expectStep(step: FlowStep, got: string): void {
    if (this.step !== step) throw new VoiceClientError(ClientErrorId.protocol, `unexpected ${got} while ${this.step}`);
  }

  /** Records and reports an error; `closeStream` ends the session (used when the flow cannot continue). */
  private fail(error: VoiceClientError, closeStream: boolean): void {
    if (this.step === 'ended') return;
    this.lastError = error;
    this.options.log(closeStream ? 'warn' : 'info', 'voice.error', {
      identifier: error.identifier,
      message: error.message,
      step: this.step,
    });
    this.flow.rejectPending(error);
    if (this.step !== 'joined') this.joinSettled.reject(error);
    else this.sink.error(error);
    if (closeStream) void this.link.close(4000, error.identifier.slice(0, 100));
  }

  private onSocketClosed(close: SocketClose): void {
    if (this.step === 'ended' || this.step === 'suspended') return;
    const wasJoined = this.step === 'joined';
    if (wasJoined && close.code !== 1000 && this.canResume) {
      // resume.v1: the server keeps the session for its grace; media keeps flowing. Keep everything.
      this.step = 'suspended';
      this.link.suspend();
      this.options.log('info', 'voice.session-suspended', { code: close.code });
      this.sink.suspended(close);
      return;
    }
    if (!wasJoined) {
      this.joinSettled.reject(
        this.lastError ??
          new VoiceClientError(
            ClientErrorId.connectFailed,
            `the server closed the stream while joining (close ${close.code}${close.reason ? `: ${close.reason}` : ''})`,
          ),
      );
    }
    this.teardown();
    if (wasJoined) this.sink.ended(close, this.lastError);
  }

  private teardown(): void {
    this.step = 'ended';
    clearTimeout(this.relayRefresh);
    this.link.stop();
    this.flow.close();
    this.participants.clear();
  }
}
