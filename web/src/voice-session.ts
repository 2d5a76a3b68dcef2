// One voice session: one WebSocket, one pass through the join flow of VOICE-PROTOCOL.md §4, then
// membership changes until the socket closes. Reconnecting is VoiceClient's job: a new session.
//
// Server messages are handled strictly in arrival order through one promise chain, because most
// steps are asynchronous (device.load, consume) and a UserLeft must never overtake the consume of
// the same user's UserJoined.
import { Device } from 'mediasoup-client';
import type { Consumer, DtlsParameters, Producer, RtpParameters, Transport, TransportOptions as MsTransportOptions } from 'mediasoup-client/types';
import type { ServerFrame } from '../../protocol/hrpc';
import { normalizeId } from '../../protocol/hrpc';
import type {
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
  connectTimeoutMs: number;
  joinTimeoutMs: number;
  createWebSocket?: WebSocketFactory;
  log: Log;
}

/** What a session reports to its owner. */
export interface SessionSink {
  userJoined(userId: bigint): void;
  userLeft(userId: bigint): void;
  track(userId: bigint, track: MediaStreamTrack, consumerId: string): void;
  error(error: VoiceClientError): void;
  /** The socket closed (by either side); `lastError` is the last error frame or local failure, if any. */
  ended(close: SocketClose, lastError: VoiceClientError | undefined): void;
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
}

type FlowStep = 'initializing' | 'preparing' | 'joining' | 'joined' | 'ended';

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

  private constructor(
    private readonly socket: HrpcSocket,
    private readonly options: SessionOptions,
    private readonly sink: SessionSink,
  ) {
    this.receiveDtls = receiveDtlsParameters(options.certificate);
    this.joinedPromise = new Promise((resolve, reject) => (this.joinSettled = { resolve, reject }));
    this.joinedPromise.catch(() => {});
    socket.onFrame = (frame) => this.enqueue(() => this.onFrame(frame));
    socket.onBadFrame = (err) => this.fail(new VoiceClientError(ClientErrorId.protocol, `undecodable server frame: ${err.message}`, { cause: err }), false);
    socket.onClose = (close) => this.onSocketClosed(close);
  }

  /** Opens the socket and runs the join flow; resolves once joined. On failure everything is closed. */
  static async start(options: SessionOptions, sink: SessionSink): Promise<VoiceSession> {
    const socket = await HrpcSocket.open({
      url: options.url, token: options.token, variant: options.variant,
      timeoutMs: options.connectTimeoutMs, createWebSocket: options.createWebSocket,
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

  /** Ends the session from our side (a clean close is a leave: the server tells the others). */
  close(code = 1000, reason = 'leave'): void {
    this.socket.close(code, reason);
  }

  async receiveStats(): Promise<ReceiveStats[]> {
    const out: ReceiveStats[] = [];
    for (const { userId, consumer } of this.participants.values()) {
      if (consumer.closed) continue;
      const report = await consumer.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
        out.push({
          userId, consumerId: consumer.id,
          packetsReceived: Number(s.packetsReceived ?? 0), bytesReceived: Number(s.bytesReceived ?? 0),
          audioLevel: Number(s.audioLevel ?? 0), totalAudioEnergy: Number(s.totalAudioEnergy ?? 0), jitter: Number(s.jitter ?? 0),
        });
      });
    }
    return out;
  }

  // ---- the join flow ----

  private async join(): Promise<void> {
    const timer = setTimeout(() => {
      this.fail(new VoiceClientError(ClientErrorId.timeout, `joining did not finish within ${this.options.joinTimeoutMs} ms (stuck at ${this.step})`), true);
    }, this.options.joinTimeoutMs);
    this.stopKeepalive = startKeepalive(this.options.keepalive, this.socket);
    this.socket.send({ message: { $case: 'initialize', value: { guildId: this.options.guildId, channelId: this.options.channelId } } });
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
      const error = new VoiceClientError(frame.error.identifier || 'hrpc.internal-server-error', frame.error.humanMessage || 'the server reported an error', {
        retryAfterSeconds: frame.retryAfterSeconds,
      });
      // Before joining, any error means this flow cannot finish; afterwards the server decides
      // whether the stream survives (it closes it when the error is fatal).
      this.fail(error, this.step !== 'joined');
      return;
    }
    if (frame.kind === 'ext') return; // resume.v1 frames are handled by the resuming client (never sent to a stock stream)
    const message = frame.response.message;
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
            this.early.push(frame.response);
            return;
          }
          return await this.onMembership(frame.response);
      }
    } catch (err) {
      this.fail(asClientError(err, ClientErrorId.media), this.step !== 'joined');
    }
  }

  private async onInitialized(rtpCapabilities: string): Promise<void> {
    const device = await Device.factory();
    try {
      await device.load({ routerRtpCapabilities: parseJson(rtpCapabilities, 'Initialized.rtp_capabilities') });
    } catch (err) {
      throw new VoiceClientError(ClientErrorId.unsupported, `this browser cannot use the server's codecs: ${(err as Error).message}`, { cause: err });
    }
    if (!device.canProduce('audio')) throw new VoiceClientError(ClientErrorId.unsupported, 'this browser cannot send audio with the server\'s codecs');
    this.device = device;
    this.step = 'preparing';
    this.socket.send({ message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify(device.rtpCapabilities) } } });
  }

  private async onPrepared(prepared: StreamMessageResponse_PreparedForJoinChannel): Promise<void> {
    const device = this.device!;
    const recv = device.createRecvTransport({
      ...transportOptions(prepared.consumerTransportOptions, 'consumer_transport_options'),
      additionalSettings: { certificates: [this.options.certificate] },
    });
    this.recvTransport = recv;
    // The server connected this transport with `receiveDtls` at JoinChannel; just check the browser
    // really uses the announced certificate, or DTLS would fail later with no explanation.
    recv.on('connect', ({ dtlsParameters }, callback, errback) => {
      if (presentsAnnouncedFingerprint(this.receiveDtls, dtlsParameters)) return callback();
      const error = new VoiceClientError(ClientErrorId.media, 'the receive transport does not use the announced DTLS certificate');
      errback(error);
      this.fail(error, false);
    });

    const send = device.createSendTransport(transportOptions(prepared.producerTransportOptions, 'producer_transport_options'));
    this.sendTransport = send;
    for (const transport of [send, recv]) {
      transport.on('connectionstatechange', (state) => {
        this.options.log('debug', 'voice.transport-state', { direction: transport.direction, state });
        if (state === 'failed') this.fail(new VoiceClientError(ClientErrorId.media, `the ${transport.direction} media transport failed (ICE/DTLS)`), true);
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
      codecOptions: { opusStereo: false, opusFec: true, opusDtx: false },
      appData: { source: 'microphone' },
    });
    this.producing.catch((err) => this.fail(asClientError(err, ClientErrorId.media), true));
  }

  private sendJoinChannel(rtpParameters: RtpParameters): void {
    if (!this.producerDtls) {
      this.fail(new VoiceClientError(ClientErrorId.media, 'the send transport produced before revealing its DTLS parameters'), true);
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
    if (!pending) throw new VoiceClientError(ClientErrorId.protocol, 'JoinedChannel arrived before JoinChannel was sent');
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
    // The server created the consumer paused; resume only once we are ready to play it.
    this.socket.send({ message: { $case: 'resumeConsumer', value: { consumerId: consumer.id } } });
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
    this.options.log(closeStream ? 'warn' : 'info', 'voice.error', { identifier: error.identifier, message: error.message, step: this.step });
    if (this.pendingProduce) {
      this.pendingProduce.errback(error);
      this.pendingProduce = undefined;
    }
    if (this.step !== 'joined') this.joinSettled.reject(error);
    else this.sink.error(error);
    if (closeStream) this.socket.close(4000, error.identifier.slice(0, 100));
  }

  private onSocketClosed(close: SocketClose): void {
    if (this.step === 'ended') return;
    const wasJoined = this.step === 'joined';
    if (!wasJoined) {
      this.joinSettled.reject(this.lastError ?? new VoiceClientError(ClientErrorId.connectFailed, `the server closed the stream while joining (close ${close.code}${close.reason ? `: ${close.reason}` : ''})`));
    }
    this.step = 'ended';
    this.stopKeepalive();
    this.pendingProduce?.errback(new VoiceClientError(ClientErrorId.invalidState, 'the stream closed'));
    this.pendingProduce = undefined;
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.participants.clear();
    if (wasJoined) this.sink.ended(close, this.lastError);
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
