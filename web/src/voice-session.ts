// One voice session: one pass through the join flow of VOICE-PROTOCOL.md §4, then membership changes
// until the socket closes. Reconnecting is VoiceClient's job: a new session — unless the stream opted in
// to resume.v1: then a lost socket suspends the session (transports, producer and consumers stay) and
// VoiceClient resumes it on a new socket (resumeOn), replacing only the socket.
//
// Server messages are handled strictly in arrival order through one promise chain, because most
// steps are asynchronous (device.load, consume) and a UserLeft must never overtake the consume of
// the same user's UserJoined.
import { mediaPathFromStats, type MediaPath } from './media-path';
import type { Device } from 'mediasoup-client';
import { createDevice } from './audio-nack';
import type {
  Consumer,
  DtlsParameters,
  Producer,
  RtpParameters,
  Transport,
  TransportOptions as MsTransportOptions,
} from 'mediasoup-client/types';
import type { ServerFrame } from '../../protocol/hrpc';
import { normalizeId } from '../../protocol/hrpc';
import type {
  StreamMessageRequest,
  StreamMessageResponse,
  StreamMessageResponse_JoinedChannel,
  StreamMessageResponse_PreparedForJoinChannel,
  TransportOptions,
  UserConsumerOptions,
} from '../../gen/protocol/voice/v1/voice';
import { presentsAnnouncedFingerprint, receiveDtlsParameters } from './dtls';
import { ClientErrorId, VoiceClientError } from './errors';
import { HrpcSocket, type SocketClose, type Variant, type WebSocketFactory } from './hrpc-socket';
import { startKeepalive, type KeepalivePolicy } from './keepalive';
import type { Log } from './log';
import type { SessionCredential } from '../../gen/harmonyvoice/ext/v1/session';
import type { RelayServers } from '../../gen/harmonyvoice/ext/v1/relay';
import { FEATURE } from './extensions';
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';

/** The protocol never tells a client its producer's server id, so the local Producer gets this one. */
const LOCAL_PRODUCER_ID = 'local-microphone';

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
}

/** Server errors after which a session cannot be resumed (the server ended it). */
const ENDING_ERRORS = new Set([
  'voice.session-replaced',
  'voice.media-lost',
  'voice.media-unreachable',
  'voice.timeout',
  'voice.undeliverable',
  'voice.token-expired',
  'hrpc.not-found',
]);
export const RESUME_REFUSED = 'voice.resume-refused';

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

export interface RemoteParticipant {
  userId: bigint;
  consumer: Consumer;
}

export interface ReceiveStats {
  userId: bigint;
  consumerId: string;
  packetsReceived: number;
  bytesReceived: number;
  audioLevel: number;
  totalAudioEnergy: number;
  jitter: number;
  /** Samples the receiver played out / made up because their packets were late or lost (loss concealment). */
  totalSamplesReceived: number;
  concealedSamples: number;
  /** NACKs this receiver sent for the stream (retransmission asked for; 0 where NACK is not negotiated). */
  nackCount: number;
  /** When the last packet arrived and when the stats were taken (ms, same clock): how stale the counter is. */
  lastPacketReceivedTimestamp?: number;
  timestamp?: number;
}

type FlowStep = 'initializing' | 'preparing' | 'joining' | 'joined' | 'suspended' | 'ended';

export class VoiceSession {
  readonly participants = new Map<string, RemoteParticipant>();
  /** The other members listed by JoinedChannel, in order. */
  initialMembers: bigint[] = [];

  private step: FlowStep = 'initializing';
  private chain: Promise<void> = Promise.resolve();
  private device?: Device;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private producer?: Producer;
  private producerDtls?: DtlsParameters;
  private readonly receiveDtls: DtlsParameters;
  /** JoinedChannel answers the `produce` event; held here between JoinChannel and JoinedChannel. */
  private pendingProduce?: { callback: (data: { id: string }) => void; errback: (error: Error) => void };
  private producing?: Promise<Producer>;
  /** UserJoined/UserLeft that arrive while JoinedChannel is still being processed. */
  private early: StreamMessageResponse[] = [];
  private lastError?: VoiceClientError;
  private stopKeepalive = () => {};
  private joinSettled!: { resolve: () => void; reject: (error: VoiceClientError) => void };
  private readonly joinedPromise: Promise<void>;
  // resume.v1
  private credential?: SessionCredential;
  /** The highest history position received (duplicates at or below it are dropped). */
  private lastSeq = 0;
  private endingError = false;
  /** When the current socket was created (the gateway's maximum connection duration counts from no earlier). */
  socketOpenedAt: number;
  /** Requests made while a resume is in flight wait here, for the socket that will carry the session. */
  private outbox?: StreamMessageRequest[];
  private pendingResume?: {
    resolve: (ice?: { consumerIceParameters: string; producerIceParameters: string }) => void;
    reject: (error: VoiceClientError) => void;
  };
  // relay.v1
  private relayServers?: RelayServers;
  private relayRefresh?: ReturnType<typeof setTimeout>;
  /** Whether both transports reached "connected" at least once (a failure before that is the rung failing). */
  private mediaConnected = { send: false, recv: false };
  /** consumers.v1 was granted on the stream that created this session's media: its consumers arrive resumed. */
  private readonly consumersResumed: boolean;

  private constructor(
    private socket: HrpcSocket,
    private readonly options: SessionOptions,
    private readonly sink: SessionSink,
  ) {
    this.receiveDtls = receiveDtlsParameters(options.certificate);
    this.socketOpenedAt = socket.createdAt;
    this.consumersResumed = socket.features.includes(FEATURE.consumers);
    this.joinedPromise = new Promise((resolve, reject) => (this.joinSettled = { resolve, reject }));
    this.joinedPromise.catch(() => {});
    this.wire(socket);
    this.takeRelays(socket.relays);
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
    return !this.mediaConnected.send || !this.mediaConnected.recv;
  }

  /** New RelayServers (after Welcome or a RefreshRelays): kept for ICE restarts, refreshed before they expire. */
  private takeRelays(relays: RelayServers | undefined): void {
    if (!relays) return;
    this.relayServers = relays;
    const iceServers = [...(this.options.iceServers ?? []), ...this.relayIceServers];
    for (const t of [this.sendTransport, this.recvTransport])
      if (t && !t.closed) void t.updateIceServers({ iceServers }).catch(() => undefined);
    clearTimeout(this.relayRefresh);
    // At least 10 s apart: a server that says "now" cannot make this client ask in a loop.
    this.relayRefresh = setTimeout(
      () => this.socket.sendExt({ message: { $case: 'refreshRelays', value: {} } }),
      Math.max(10, relays.refreshInS) * 1000,
    );
  }

  private wire(socket: HrpcSocket): void {
    socket.onFrame = (frame) => this.enqueue(() => this.onFrame(frame));
    socket.onBadFrame = (err) =>
      this.fail(
        new VoiceClientError(ClientErrorId.protocol, `undecodable server frame: ${err.message}`, { cause: err }),
        false,
      );
    socket.onClose = (close) => this.onSocketClosed(close);
  }

  /** resume.v1: the server gave this session a credential and the stream selected the extension. */
  get canResume(): boolean {
    return this.credential !== undefined && !this.endingError && this.step !== 'ended';
  }

  /**
   * resume.v1: moves the session to `socket` (a new stream of the same user): sends Resume with the credential
   * and the last position seen, restarts ICE when asked (the network changed) with the parameters the server
   * sends, and from then on reads only the new socket; the old one (if still open: make-before-break) is
   * closed. Missed membership messages follow as replays. Rejects with `voice.resume-refused` (or another
   * error) when the session cannot be resumed; the caller then rejoins.
   */
  async resumeOn(socket: HrpcSocket, options: { restartIce?: boolean } = {}): Promise<boolean> {
    if (!this.credential || !socket.resumable)
      throw new VoiceClientError(RESUME_REFUSED, 'this session cannot be resumed here');
    const old = this.socket;
    old.detach();
    this.stopKeepalive();
    this.outbox = [];
    this.socket = socket;
    this.wire(socket);
    const restartIce =
      options.restartIce ??
      [this.sendTransport, this.recvTransport].some((t) => t && t.connectionState !== 'connected');
    const answered = new Promise<{ consumerIceParameters: string; producerIceParameters: string } | undefined>(
      (resolve, reject) => {
        this.pendingResume = { resolve, reject };
      },
    );
    const timer = setTimeout(
      () =>
        this.pendingResume?.reject(
          new VoiceClientError(ClientErrorId.timeout, 'the server did not answer Resume in time'),
        ),
      this.options.joinTimeoutMs,
    );
    socket.sendExt({
      message: {
        $case: 'resume',
        value: {
          sessionId: this.credential.sessionId,
          credential: this.credential.credential,
          lastSeq: BigInt(this.lastSeq),
          restartIce,
        },
      },
    });
    let ice: Awaited<typeof answered>;
    try {
      ice = await answered;
    } catch (err) {
      // The new socket is of no use to this session; put the old one back as it was (it may still be open).
      socket.detach();
      this.socket = old;
      this.wire(old);
      this.flushOutbox();
      throw err;
    } finally {
      clearTimeout(timer);
      this.pendingResume = undefined;
    }
    this.flushOutbox();
    // relay.v1: the new stream got fresh relays with its own Welcome.
    this.takeRelays(socket.relays);
    if (ice) {
      await this.sendTransport?.restartIce({
        iceParameters: parseJson(ice.producerIceParameters, 'Resumed.ice.producer_ice_parameters'),
      });
      await this.recvTransport?.restartIce({
        iceParameters: parseJson(ice.consumerIceParameters, 'Resumed.ice.consumer_ice_parameters'),
      });
    }
    if (old !== socket) old.close(1000, 'resumed elsewhere');
    this.step = 'joined';
    this.socketOpenedAt = socket.createdAt;
    this.stopKeepalive = startKeepalive(this.options.keepalive, socket);
    return ice !== undefined;
  }

  /** resume.v1: how long the server keeps this session after its socket is lost. */
  get graceMs(): number | undefined {
    return this.credential?.graceMs;
  }

  private flushOutbox(): void {
    const queued = this.outbox ?? [];
    this.outbox = undefined;
    for (const request of queued) this.socket.send(request);
  }

  /** Sends a request, or keeps it for the socket a resume in flight will settle on. */
  private sendRequest(request: StreamMessageRequest): void {
    if (this.outbox) this.outbox.push(request);
    else this.socket.send(request);
  }

  /** Ends a suspended session locally (its resume failed): transports, producer and consumers close. */
  abandon(): void {
    this.socket.detach();
    this.socket.close(1000, 'abandoned');
    this.teardown();
  }

  /** Opens the socket and runs the join flow; resolves once joined. On failure everything is closed. */
  static async start(options: SessionOptions, sink: SessionSink): Promise<VoiceSession> {
    const socket = await HrpcSocket.open({
      url: options.url,
      token: options.token,
      variant: options.variant,
      timeoutMs: options.connectTimeoutMs,
      createWebSocket: options.createWebSocket,
      resume: options.resume,
      extensions: options.extensions,
    });
    const session = new VoiceSession(socket, options, sink);
    await session.join();
    return session;
  }

  get subprotocol(): string {
    return this.socket.subprotocol;
  }

  get joined(): boolean {
    return this.step === 'joined';
  }

  setMuted(muted: boolean): void {
    if (!this.producer || this.producer.closed) return;
    if (muted) this.producer.pause();
    else this.producer.resume();
  }

  /** The stream was granted state.v1. */
  get voiceState(): boolean {
    return this.socket.features.includes(FEATURE.state);
  }

  /** state.v1: the member's own mute/deafen (false when the stream has no state.v1). */
  setSelfState(change: { selfMuted?: boolean; selfDeafened?: boolean }): boolean {
    if (!this.voiceState || this.outbox) return false;
    this.socket.sendExt({ message: { $case: 'setSelfState', value: change } });
    return true;
  }

  /** state.v1: server-mutes/deafens another member (the server checks the permission). */
  moderate(userId: bigint, change: { serverMuted?: boolean; serverDeafened?: boolean }): boolean {
    if (!this.voiceState || this.outbox) return false;
    this.socket.sendExt({ message: { $case: 'moderate', value: { userId, ...change } } });
    return true;
  }

  /** Each remote member's current received audio level (0..1), from one getStats of the receive transport. */
  async audioLevels(): Promise<Map<bigint, number>> {
    const levels = new Map<bigint, number>();
    if (!this.recvTransport || this.recvTransport.closed) return levels;
    const byTrack = new Map([...this.participants.values()].map((p) => [p.consumer.track.id, p.userId]));
    const report = await this.recvTransport.getStats();
    report.forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      const user = byTrack.get(String(s.trackIdentifier));
      if (user !== undefined) levels.set(user, Number(s.audioLevel ?? 0));
    });
    return levels;
  }

  /** Ends the session from our side (a clean close is a leave: the server tells the others). */
  close(code = 1000, reason = 'leave'): void {
    this.socket.close(code, reason);
  }

  /** The rung each transport uses now (undefined for one not connected yet). */
  async mediaPaths(): Promise<{ send?: MediaPath; receive?: MediaPath }> {
    const path = async (t: { closed: boolean; getStats(): Promise<RTCStatsReport> } | undefined) =>
      t && !t.closed
        ? mediaPathFromStats((await t.getStats()) as unknown as Parameters<typeof mediaPathFromStats>[0])
        : undefined;
    const [send, receive] = await Promise.all([path(this.sendTransport), path(this.recvTransport)]);
    return { ...(send ? { send } : {}), ...(receive ? { receive } : {}) };
  }

  /** The producer's outbound-rtp counters (packets sent, NACKs received, packets retransmitted). */
  async sendStats(): Promise<{ packetsSent: number; nackCount: number; retransmittedPacketsSent: number } | undefined> {
    if (!this.producer || this.producer.closed) return undefined;
    let out: { packetsSent: number; nackCount: number; retransmittedPacketsSent: number } | undefined;
    (await this.producer.getStats()).forEach((s: Record<string, unknown>) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out = {
          packetsSent: Number(s.packetsSent ?? 0),
          nackCount: Number(s.nackCount ?? 0),
          retransmittedPacketsSent: Number(s.retransmittedPacketsSent ?? 0),
        };
      }
    });
    return out;
  }

  async receiveStats(): Promise<ReceiveStats[]> {
    const out: ReceiveStats[] = [];
    for (const { userId, consumer } of this.participants.values()) {
      if (consumer.closed) continue;
      const report = await consumer.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
        out.push({
          userId,
          consumerId: consumer.id,
          packetsReceived: Number(s.packetsReceived ?? 0),
          bytesReceived: Number(s.bytesReceived ?? 0),
          audioLevel: Number(s.audioLevel ?? 0),
          totalAudioEnergy: Number(s.totalAudioEnergy ?? 0),
          jitter: Number(s.jitter ?? 0),
          totalSamplesReceived: Number(s.totalSamplesReceived ?? 0),
          concealedSamples: Number(s.concealedSamples ?? 0),
          nackCount: Number(s.nackCount ?? 0),
          ...(s.lastPacketReceivedTimestamp !== undefined
            ? { lastPacketReceivedTimestamp: Number(s.lastPacketReceivedTimestamp) }
            : {}),
          ...(s.timestamp !== undefined ? { timestamp: Number(s.timestamp) } : {}),
        });
      });
    }
    return out;
  }

  // ---- the join flow ----

  private async join(): Promise<void> {
    const timer = setTimeout(() => {
      this.fail(
        new VoiceClientError(
          ClientErrorId.timeout,
          `joining did not finish within ${this.options.joinTimeoutMs} ms (stuck at ${this.step})`,
        ),
        true,
      );
    }, this.options.joinTimeoutMs);
    this.stopKeepalive = startKeepalive(this.options.keepalive, this.socket);
    this.socket.send({
      message: { $case: 'initialize', value: { guildId: this.options.guildId, channelId: this.options.channelId } },
    });
    try {
      await this.joinedPromise;
    } catch (err) {
      this.socket.close(4000, 'join failed');
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async onFrame(frame: ServerFrame): Promise<void> {
    if (this.step === 'ended') return;
    if (frame.kind === 'error') {
      const error = new VoiceClientError(
        frame.error.identifier || 'hrpc.internal-server-error',
        frame.error.humanMessage || 'the server reported an error',
        {
          retryAfterSeconds: frame.retryAfterSeconds,
        },
      );
      // Only a refusal or an ending error answers a Resume; any other error frame is an ordinary one.
      if (this.pendingResume && (error.identifier === RESUME_REFUSED || ENDING_ERRORS.has(error.identifier))) {
        this.pendingResume.reject(error);
        return;
      }
      if (ENDING_ERRORS.has(error.identifier)) this.endingError = true;
      // Before joining, any error means this flow cannot finish; afterwards the server decides
      // whether the stream survives (it closes it when the error is fatal).
      this.fail(error, this.step !== 'joined');
      return;
    }
    let response: StreamMessageResponse;
    if (frame.kind === 'ext') {
      // resume.v1 (only ever sent to a stream that selected it)
      const ext = frame.message.message;
      if (ext?.$case === 'credential') this.credential = ext.value;
      if (ext?.$case === 'relays') this.takeRelays(ext.value);
      if (ext?.$case === 'resumed') {
        this.credential = ext.value.credential;
        // Before the replays that follow it on this chain: they are ordinary membership messages again.
        this.step = 'joined';
        this.pendingResume?.resolve(ext.value.ice);
      }
      if (ext?.$case !== 'sequenced') return;
      const seq = Number(ext.value.seq);
      if (seq <= this.lastSeq) return; // already seen (a replay overlapping what arrived on the old socket)
      this.lastSeq = seq;
      // state.v1: states are reported after the membership message they came with (the chain keeps the order).
      const states = ext.value.states;
      if (states.length > 0) this.enqueue(async () => this.sink.memberStates(states));
      if (!ext.value.message) return;
      response = ext.value.message;
    } else {
      response = frame.response;
    }
    const message = response.message;
    this.options.log('debug', 'voice.message', { case: message?.$case, step: this.step });
    if (!message) return; // a newer server's message this client does not know
    try {
      switch (message.$case) {
        case 'initialized':
          this.expectStep('initializing', message.$case);
          return await this.onInitialized(message.value.rtpCapabilities);
        case 'preparedForJoinChannel':
          this.expectStep('preparing', message.$case);
          return await this.onPrepared(message.value);
        case 'joinedChannel':
          this.expectStep('joining', message.$case);
          return await this.onJoined(message.value);
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

  private async onInitialized(rtpCapabilities: string): Promise<void> {
    const device = await createDevice(this.options.audioNack ?? false);
    try {
      await device.load({ routerRtpCapabilities: parseJson(rtpCapabilities, 'Initialized.rtp_capabilities') });
    } catch (err) {
      throw new VoiceClientError(
        ClientErrorId.unsupported,
        `this browser cannot use the server's codecs: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!device.canProduce('audio'))
      throw new VoiceClientError(ClientErrorId.unsupported, "this browser cannot send audio with the server's codecs");
    this.device = device;
    this.step = 'preparing';
    this.socket.send({
      message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify(device.rtpCapabilities) } },
    });
  }

  private async onPrepared(prepared: StreamMessageResponse_PreparedForJoinChannel): Promise<void> {
    const device = this.device!;
    // relay.v1: the server's relays join the app's; ICE uses them as its last resort, or only them on the ladder's last rung.
    const ice = {
      iceServers: [...(this.options.iceServers ?? []), ...this.relayIceServers],
      iceTransportPolicy: this.rung === 'relay' ? ('relay' as const) : (this.options.iceTransportPolicy ?? 'all'),
    };
    const recv = device.createRecvTransport({
      ...transportOptions(prepared.consumerTransportOptions, 'consumer_transport_options'),
      ...ice,
      additionalSettings: { certificates: [this.options.certificate] },
    });
    this.recvTransport = recv;
    // The server connected this transport with `receiveDtls` at JoinChannel; just check the browser
    // really uses the announced certificate, or DTLS would fail later with no explanation.
    recv.on('connect', ({ dtlsParameters }, callback, errback) => {
      if (presentsAnnouncedFingerprint(this.receiveDtls, dtlsParameters)) return callback();
      const error = new VoiceClientError(
        ClientErrorId.media,
        'the receive transport does not use the announced DTLS certificate',
      );
      errback(error);
      this.fail(error, false);
    });

    const send = device.createSendTransport({
      ...transportOptions(prepared.producerTransportOptions, 'producer_transport_options'),
      ...ice,
    });
    this.sendTransport = send;
    for (const transport of [send, recv]) {
      transport.on('connectionstatechange', (state) => {
        this.options.log('debug', 'voice.transport-state', { direction: transport.direction, state });
        if (state === 'connected') this.mediaConnected[transport.direction] = true;
        if (state !== 'failed') return;
        if (!this.mediaConnected[transport.direction]) {
          // It never connected: this rung does not get through this network (the ladder may try the next one).
          const rung =
            this.rung === 'relay'
              ? 'the relay (TURN)'
              : `direct UDP / TCP${this.relayServers ? ' and the relay as a last resort' : ''}`;
          this.fail(
            new VoiceClientError(
              ClientErrorId.mediaUnreachable,
              `the ${transport.direction} media transport never connected over ${rung} (ICE/DTLS failed)`,
            ),
            true,
          );
        } else {
          this.fail(
            new VoiceClientError(ClientErrorId.media, `the ${transport.direction} media transport failed (ICE/DTLS)`),
            true,
          );
        }
      });
    }

    // produce() fires `connect` (our DTLS parameters) and then `produce` (the RTP parameters) and
    // resolves only after `produce` is called back. JoinChannel needs both, so:
    //   connect → remember the parameters and call back at once (the server connects the transport
    //             when JoinChannel arrives; the browser's DTLS retransmits until then);
    //   produce → send JoinChannel, and call back only when JoinedChannel arrives (or errback on an
    //             error frame), so a local Producer exists only if the server created its producer.
    send.on('connect', ({ dtlsParameters }, callback) => {
      this.producerDtls = dtlsParameters;
      callback();
    });
    send.on('produce', ({ rtpParameters }, callback, errback) => {
      this.pendingProduce = { callback, errback };
      this.sendJoinChannel(rtpParameters);
    });
    this.step = 'joining';
    // Not awaited here: it settles only after JoinedChannel, which this same chain must process.
    this.producing = send.produce({
      track: this.options.microphone,
      stopTracks: false,
      // Muting sends no RTP at all (not 50 packets/s of silence): the sender goes inactive.
      zeroRtpOnPause: true,
      disableTrackOnPause: true,
      codecOptions: { opusStereo: false, opusFec: this.options.opusFec ?? true, opusDtx: this.options.opusDtx },
      appData: { source: 'microphone' },
    });
    this.producing.catch((err) => this.fail(asClientError(err, ClientErrorId.media), true));
  }

  private sendJoinChannel(rtpParameters: RtpParameters): void {
    if (!this.producerDtls) {
      this.fail(
        new VoiceClientError(ClientErrorId.media, 'the send transport produced before revealing its DTLS parameters'),
        true,
      );
      return;
    }
    this.socket.send({
      message: {
        $case: 'joinChannel',
        value: {
          rtpParamaters: JSON.stringify(rtpParameters),
          producerDtlsParamaters: JSON.stringify(this.producerDtls),
          consumerDtlsParamaters: JSON.stringify(this.receiveDtls),
        },
      },
    });
  }

  private async onJoined(joined: StreamMessageResponse_JoinedChannel): Promise<void> {
    const pending = this.pendingProduce;
    if (!pending)
      throw new VoiceClientError(ClientErrorId.protocol, 'JoinedChannel arrived before JoinChannel was sent');
    this.pendingProduce = undefined;
    pending.callback({ id: LOCAL_PRODUCER_ID });
    this.producer = await this.producing!;
    if (this.options.muted()) this.producer.pause();

    this.step = 'joined';
    this.initialMembers = joined.otherUsers.map((u) => u.userId);
    for (const user of joined.otherUsers) await this.consume(user);
    const early = this.early;
    this.early = [];
    for (const message of early) await this.onMembership(message);
    this.joinSettled.resolve();
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
      const participant = this.participants.get(userId.toString());
      participant?.consumer.close();
      this.participants.delete(userId.toString());
      this.sink.userLeft(userId);
    }
  }

  private async consume(user: UserConsumerOptions): Promise<void> {
    const key = user.userId.toString();
    // A user seen again (same-user rejoin replaced the old stream): the new consumer wins.
    this.participants.get(key)?.consumer.close();
    this.participants.delete(key);
    let consumer: Consumer;
    try {
      consumer = await this.recvTransport!.consume({
        id: normalizeId(user.consumerId),
        producerId: normalizeId(user.producerId),
        kind: 'audio',
        rtpParameters: parseJson(user.rtpParameters, 'UserConsumerOptions.rtp_parameters'),
        appData: { userId: key },
      });
    } catch (err) {
      // One unusable member must not end the session for everyone else: report and carry on.
      this.sink.error(asClientError(err, ClientErrorId.media, `cannot receive user ${key}: `));
      return;
    }
    this.participants.set(key, { userId: user.userId, consumer });
    // The server created the consumer paused; resume only once we are ready to play it. With consumers.v1 it
    // was created resumed (its first packets before this point are dropped, as for a late ResumeConsumer).
    if (!this.consumersResumed)
      this.sendRequest({ message: { $case: 'resumeConsumer', value: { consumerId: consumer.id } } });
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
    if (this.pendingProduce) {
      this.pendingProduce.errback(error);
      this.pendingProduce = undefined;
    }
    if (this.step !== 'joined') this.joinSettled.reject(error);
    else this.sink.error(error);
    if (closeStream) this.socket.close(4000, error.identifier.slice(0, 100));
  }

  private onSocketClosed(close: SocketClose): void {
    if (this.step === 'ended' || this.step === 'suspended') return;
    const wasJoined = this.step === 'joined';
    if (wasJoined && close.code !== 1000 && this.canResume) {
      // resume.v1: the server keeps the session for its grace; media keeps flowing. Keep everything.
      this.step = 'suspended';
      this.stopKeepalive();
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
    this.stopKeepalive();
    this.pendingProduce?.errback(new VoiceClientError(ClientErrorId.invalidState, 'the stream closed'));
    this.pendingProduce = undefined;
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.participants.clear();
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err) => this.fail(asClientError(err, ClientErrorId.protocol), true));
  }
}

function transportOptions(options: TransportOptions | undefined, what: string): MsTransportOptions {
  if (!options) throw new VoiceClientError(ClientErrorId.protocol, `PreparedForJoinChannel has no ${what}`);
  return {
    id: normalizeId(options.id),
    iceParameters: parseJson(options.iceParameters, `${what}.ice_parameters`),
    iceCandidates: options.iceCandidates.map((c, i) => parseJson(c, `${what}.ice_candidates[${i}]`)),
    dtlsParameters: parseJson(options.dtlsParameters, `${what}.dtls_parameters`),
  };
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new VoiceClientError(ClientErrorId.protocol, `${what} is not valid JSON`);
  }
}

function asClientError(err: unknown, identifier: string, prefix = ''): VoiceClientError {
  if (err instanceof VoiceClientError) return err;
  return new VoiceClientError(identifier, `${prefix}${(err as Error)?.message ?? String(err)}`, { cause: err });
}
