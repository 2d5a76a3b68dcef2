// The media half of the join flow (VOICE-PROTOCOL.md §4) over mediasoup-client: Initialized → device.load →
// PrepareForJoinChannel; PreparedForJoinChannel → both transports → produce(microphone) → JoinChannel;
// JoinedChannel → the local producer. VoiceSession drives it from the server's messages and owns its lifecycle.
import type { Device } from 'mediasoup-client';
import type {
  DtlsParameters,
  TransportOptions as MsTransportOptions,
  Producer,
  RtpParameters,
  Transport,
} from 'mediasoup-client/types';
import type {
  StreamMessageRequest,
  StreamMessageResponse_PreparedForJoinChannel,
  TransportOptions,
} from '../../gen/protocol/voice/v1/voice';
import { normalizeId } from '../../protocol/hrpc';
import { createDevice } from './audio-nack';
import { presentsAnnouncedFingerprint, receiveDtlsParameters } from './dtls';
import { asClientError, ClientErrorId, VoiceClientError } from './errors';
import type { Log } from './log';
import { parseJson, type RemoteParticipant } from './participants';
import { type ReceiveStats, audioLevels, mediaPaths, receiveStats, type SendStats, sendStats } from './stats';

/** The protocol never tells a client its producer's server id, so the local Producer gets this one. */
const LOCAL_PRODUCER_ID = 'local-microphone';

export interface JoinFlowOptions {
  microphone: MediaStreamTrack;
  /** Generated once per client (VOICE-PROTOCOL.md §4): its fingerprints are the receive transport's DTLS parameters. */
  certificate: RTCCertificate;
  opusDtx: boolean;
  opusFec?: boolean;
  audioNack?: boolean;
  log: Log;
}

/** What the flow needs from its session. */
export interface JoinFlowHost {
  /** Sends one of the flow's requests on the session's socket. */
  send(request: StreamMessageRequest): void;
  /** Reports a failure; `closeStream` ends the session. */
  fail(error: VoiceClientError, closeStream: boolean): void;
  /** ICE servers and policy for the transports (the app's, the server's relays, the rung). */
  ice(): { iceServers: RTCIceServer[]; iceTransportPolicy: RTCIceTransportPolicy };
  /** How a transport that never connected is described (`direct UDP / TCP…` or `the relay (TURN)`). */
  rungDescription(): string;
}

export class JoinFlow {
  private device?: Device;
  private sendTransport?: Transport;
  private recvTransport?: Transport;
  private producer?: Producer;
  private producerDtls?: DtlsParameters;
  private readonly receiveDtls: DtlsParameters;
  /** JoinedChannel answers the `produce` event; held here between JoinChannel and JoinedChannel. */
  private pendingProduce?: { callback: (data: { id: string }) => void; errback: (error: Error) => void };
  private producing?: Promise<Producer>;
  /** Whether both transports reached "connected" at least once (a failure before that is the rung failing). */
  private readonly mediaConnected = { send: false, recv: false };

  constructor(
    private readonly options: JoinFlowOptions,
    private readonly host: JoinFlowHost,
  ) {
    this.receiveDtls = receiveDtlsParameters(options.certificate);
  }

  /** The receive transport (consumers are created on it), once PreparedForJoinChannel was handled. */
  get receiveTransport(): Transport | undefined {
    return this.recvTransport;
  }

  /** Whether the media never connected (a transport that was due to connect never did). */
  get mediaNeverConnected(): boolean {
    return !this.mediaConnected.send || !this.mediaConnected.recv;
  }

  /** Initialized: loads the device with the router's capabilities; returns PrepareForJoinChannel. */
  async initialized(rtpCapabilities: string): Promise<StreamMessageRequest> {
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
    return {
      message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: JSON.stringify(device.rtpCapabilities) } },
    };
  }

  /** PreparedForJoinChannel: both transports, and the producer started (its `produce` event sends JoinChannel). */
  prepared(prepared: StreamMessageResponse_PreparedForJoinChannel): void {
    const device = this.device!;
    // relay.v1: the server's relays join the app's; ICE uses them as its last resort, or only them on the ladder's last rung.
    const ice = this.host.ice();
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
      this.host.fail(error, false);
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
          this.host.fail(
            new VoiceClientError(
              ClientErrorId.mediaUnreachable,
              `the ${transport.direction} media transport never connected over ${this.host.rungDescription()} (ICE/DTLS failed)`,
            ),
            true,
          );
        } else {
          this.host.fail(
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
    // Not awaited here: it settles only after JoinedChannel, which the session's same chain must process.
    this.producing = send.produce({
      track: this.options.microphone,
      stopTracks: false,
      // Muting sends no RTP at all (not 50 packets/s of silence): the sender goes inactive.
      zeroRtpOnPause: true,
      disableTrackOnPause: true,
      codecOptions: { opusStereo: false, opusFec: this.options.opusFec ?? true, opusDtx: this.options.opusDtx },
      appData: { source: 'microphone' },
    });
    this.producing.catch((err) => this.host.fail(asClientError(err, ClientErrorId.media), true));
  }

  private sendJoinChannel(rtpParameters: RtpParameters): void {
    if (!this.producerDtls) {
      this.host.fail(
        new VoiceClientError(ClientErrorId.media, 'the send transport produced before revealing its DTLS parameters'),
        true,
      );
      return;
    }
    this.host.send({
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

  /** JoinedChannel: the server created the producer; the local one now exists (paused when `muted`). */
  async joined(muted: boolean): Promise<void> {
    const pending = this.pendingProduce;
    if (!pending)
      throw new VoiceClientError(ClientErrorId.protocol, 'JoinedChannel arrived before JoinChannel was sent');
    this.pendingProduce = undefined;
    pending.callback({ id: LOCAL_PRODUCER_ID });
    this.producer = await this.producing!;
    if (muted) this.producer.pause();
  }

  /** The JoinChannel in flight fails with `error` (an error frame, or the stream closing). */
  rejectPending(error: VoiceClientError): void {
    this.pendingProduce?.errback(error);
    this.pendingProduce = undefined;
  }

  setMuted(muted: boolean): void {
    if (!this.producer || this.producer.closed) return;
    if (muted) this.producer.pause();
    else this.producer.resume();
  }

  /** New ICE servers for both transports (relay.v1 refreshed its credentials). */
  updateIceServers(iceServers: RTCIceServer[]): void {
    for (const t of [this.sendTransport, this.recvTransport])
      if (t && !t.closed) void t.updateIceServers({ iceServers }).catch(() => undefined);
  }

  /** Whether a transport is not connected now (a resume then restarts ICE). */
  get disconnected(): boolean {
    return [this.sendTransport, this.recvTransport].some((t) => t && t.connectionState !== 'connected');
  }

  /** resume.v1: the server restarted ICE on its side; both transports take its new parameters. */
  async restartIce(ice: { consumerIceParameters: string; producerIceParameters: string }): Promise<void> {
    await this.sendTransport?.restartIce({
      iceParameters: parseJson(ice.producerIceParameters, 'Resumed.ice.producer_ice_parameters'),
    });
    await this.recvTransport?.restartIce({
      iceParameters: parseJson(ice.consumerIceParameters, 'Resumed.ice.consumer_ice_parameters'),
    });
  }

  /** Closes both transports (and with them the producer and every consumer). */
  close(): void {
    this.rejectPending(new VoiceClientError(ClientErrorId.invalidState, 'the stream closed'));
    this.sendTransport?.close();
    this.recvTransport?.close();
  }

  mediaPaths() {
    return mediaPaths(this.sendTransport, this.recvTransport);
  }

  sendStats(): Promise<SendStats | undefined> {
    return sendStats(this.producer);
  }

  receiveStats(participants: Iterable<RemoteParticipant>): Promise<ReceiveStats[]> {
    return receiveStats(participants);
  }

  audioLevels(participants: Iterable<RemoteParticipant>): Promise<Map<bigint, number>> {
    return audioLevels(this.recvTransport, participants);
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
