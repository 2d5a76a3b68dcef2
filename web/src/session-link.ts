// A voice session's link to the server: the socket that carries it now, its keepalive, and — with resume.v1 — the
// credential, the highest history position seen (duplicated replays are dropped), and the move to a new socket
// (Resume, its answer, the requests held meanwhile). The session above it sees decoded messages in arrival order and
// never which socket they came on.
//
// Every frame is handled on one promise chain, in order, because most of the session's steps are asynchronous
// (device.load, consume) and a UserLeft must never overtake the consume of the same user's UserJoined.
import type { RelayServers } from '../../gen/harmonyvoice/ext/v1/relay';
import type { SessionCredential } from '../../gen/harmonyvoice/ext/v1/session';
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';
import type { StreamMessageRequest, StreamMessageResponse } from '../../gen/protocol/voice/v1/voice';
import type { ServerFrame } from '../../protocol/hrpc';
import { asClientError, ClientErrorId, VoiceClientError } from './errors';
import type { HrpcSocket, SocketClose } from './hrpc-socket';
import { type KeepalivePolicy, startKeepalive } from './keepalive';

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

/** The ICE parameters a Resume with `restartIce` is answered with. */
export interface ResumedIce {
  consumerIceParameters: string;
  producerIceParameters: string;
}

/** What the link hands its session, in arrival order (the chain awaits `response`). */
export interface LinkHandler {
  /** A voice.v1 response (plain, or sequenced and not seen before). */
  response(response: StreamMessageResponse): Promise<void>;
  /** An error frame (not one answering a Resume). */
  errorFrame(error: VoiceClientError): void;
  /** state.v1: members' states, after the membership message they came with. */
  memberStates(states: MemberState[]): void;
  /** relay.v1: new RelayServers (an answer to RefreshRelays). */
  relays(relays: RelayServers): void;
  /** resume.v1: the server moved the session to the new socket (before the replays that follow). */
  resumed(): void;
  /** An undecodable frame, or a task of the chain that threw. */
  broken(error: VoiceClientError, closeStream: boolean): void;
  /** The socket carrying the session closed (by either side). */
  closed(close: SocketClose): void;
}

export class SessionLink {
  private chain: Promise<void> = Promise.resolve();
  private stopKeepalive = () => {};
  private stopped = false;
  private credential?: SessionCredential;
  /** The highest history position received (duplicates at or below it are dropped). */
  private lastSeq = 0;
  private endingError = false;
  /** Requests made while a resume is in flight wait here, for the socket that will carry the session. */
  private outbox?: StreamMessageRequest[];
  private pendingResume?: { resolve: (ice?: ResumedIce) => void; reject: (error: VoiceClientError) => void };
  /** The socket a finished move left behind (open in make-before-break), closed by finishMove. */
  private previous?: HrpcSocket;

  constructor(
    private current: HrpcSocket,
    private readonly keepalive: KeepalivePolicy | false,
    private readonly handler: LinkHandler,
  ) {
    this.wire(current);
  }

  get socket(): HrpcSocket {
    return this.current;
  }

  /** The socket's features (extensions granted at its handshake). */
  get features(): string[] {
    return this.current.features;
  }

  /** When the current socket was created (the gateway's maximum connection duration counts from no earlier). */
  get socketOpenedAt(): number {
    return this.current.createdAt;
  }

  /** resume.v1: the server gave a credential and did not end the session. */
  get canResume(): boolean {
    return this.credential !== undefined && !this.endingError;
  }

  /** resume.v1: how long the server keeps this session after its socket is lost. */
  get graceMs(): number | undefined {
    return this.credential?.graceMs;
  }

  /** A resume is in flight (requests are held for the socket it settles on). */
  get moving(): boolean {
    return this.outbox !== undefined;
  }

  startKeepalive(): void {
    this.stopKeepalive();
    this.stopKeepalive = startKeepalive(this.keepalive, this.current);
  }

  /** The socket was lost but the session lives on (resume.v1): no keepalive until it moves. */
  suspend(): void {
    this.stopKeepalive();
  }

  /** Sends a request, or keeps it for the socket a resume in flight will settle on. */
  send(request: StreamMessageRequest): void {
    if (this.outbox) this.outbox.push(request);
    else this.current.send(request);
  }

  /** Sends on the current socket now, even during a move (the join flow's own steps). */
  sendNow(request: StreamMessageRequest): void {
    this.current.send(request);
  }

  sendExt(message: Parameters<HrpcSocket['sendExt']>[0]): void {
    this.current.sendExt(message);
  }

  /** Runs `task` on the chain, after every frame that arrived before. */
  enqueue(task: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(task)
      .catch((err) => this.handler.broken(asClientError(err, ClientErrorId.protocol), true));
  }

  /** Ends the session's use of the link: frames still queued or arriving are ignored, the keepalive stops. */
  stop(): void {
    this.stopped = true;
    this.stopKeepalive();
    this.pendingResume?.reject(new VoiceClientError(ClientErrorId.invalidState, 'the stream closed'));
  }

  /** Closes the current socket (a clean 1000 is a leave: the server tells the others); resolves once it closed. */
  close(code: number, reason: string): Promise<void> {
    return this.current.close(code, reason);
  }

  /** Lets go of the current socket without reporting its close (the session was abandoned); closes it. */
  abandon(): Promise<void> {
    this.current.detach();
    return this.current.close(1000, 'abandoned');
  }

  /**
   * resume.v1: moves the session to `socket` (a new stream of the same user): sends Resume with the credential and the
   * last position seen, and from then on reads only the new socket. Resolves with the ICE parameters when the server
   * restarted ICE (`restartIce`); call finishMove after using them. Rejects with `voice.resume-refused` (or another
   * error) when the session cannot be resumed: the old socket is put back as it was (it may still be open).
   */
  async moveTo(socket: HrpcSocket, restartIce: boolean, timeoutMs: number): Promise<ResumedIce | undefined> {
    if (!this.credential || !socket.resumable)
      throw new VoiceClientError(RESUME_REFUSED, 'this session cannot be resumed here');
    const old = this.current;
    old.detach();
    this.stopKeepalive();
    this.outbox = [];
    this.current = socket;
    this.wire(socket);
    const answered = new Promise<ResumedIce | undefined>((resolve, reject) => {
      this.pendingResume = { resolve, reject };
    });
    const timer = setTimeout(
      () =>
        this.pendingResume?.reject(
          new VoiceClientError(ClientErrorId.timeout, 'the server did not answer Resume in time'),
        ),
      timeoutMs,
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
    let ice: ResumedIce | undefined;
    try {
      ice = await answered;
    } catch (err) {
      socket.detach();
      this.current = old;
      if (this.stopped) {
        // The session ended meanwhile (leave): the old socket, open in make-before-break, goes too.
        void old.close(1000, 'leave');
        this.outbox = undefined;
        throw err;
      }
      this.wire(old);
      this.flushOutbox();
      throw err;
    } finally {
      clearTimeout(timer);
      this.pendingResume = undefined;
    }
    this.flushOutbox();
    this.previous = old === socket ? undefined : old;
    return ice;
  }

  /** After a move: the old socket (if still open: make-before-break) is closed, the keepalive runs on the new one. */
  finishMove(): void {
    void this.previous?.close(1000, 'resumed elsewhere');
    this.previous = undefined;
    this.startKeepalive();
  }

  private flushOutbox(): void {
    const queued = this.outbox ?? [];
    this.outbox = undefined;
    for (const request of queued) this.current.send(request);
  }

  private wire(socket: HrpcSocket): void {
    socket.onFrame = (frame) => this.enqueue(() => this.onFrame(frame));
    socket.onBadFrame = (err) =>
      this.handler.broken(
        new VoiceClientError(ClientErrorId.protocol, `undecodable server frame: ${err.message}`, { cause: err }),
        false,
      );
    socket.onClose = (close) => this.handler.closed(close);
  }

  private async onFrame(frame: ServerFrame): Promise<void> {
    if (this.stopped) return;
    if (frame.kind === 'error') {
      const error = new VoiceClientError(
        frame.error.identifier || 'hrpc.internal-server-error',
        frame.error.humanMessage || 'the server reported an error',
        { retryAfterSeconds: frame.retryAfterSeconds },
      );
      // Only a refusal or an ending error answers a Resume; any other error frame is an ordinary one.
      if (this.pendingResume && (error.identifier === RESUME_REFUSED || ENDING_ERRORS.has(error.identifier))) {
        this.pendingResume.reject(error);
        return;
      }
      if (ENDING_ERRORS.has(error.identifier)) this.endingError = true;
      this.handler.errorFrame(error);
      return;
    }
    if (frame.kind !== 'ext') return this.handler.response(frame.response);
    // Extension frames (only ever sent to a stream that was granted the extension).
    const ext = frame.message.message;
    if (ext?.$case === 'credential') this.credential = ext.value;
    if (ext?.$case === 'relays') this.handler.relays(ext.value);
    if (ext?.$case === 'resumed') {
      this.credential = ext.value.credential;
      // Before the replays that follow it on this chain: they are ordinary membership messages again.
      this.handler.resumed();
      this.pendingResume?.resolve(ext.value.ice);
    }
    if (ext?.$case !== 'sequenced') return;
    const seq = Number(ext.value.seq);
    if (seq <= this.lastSeq) return; // already seen (a replay overlapping what arrived on the old socket)
    this.lastSeq = seq;
    // state.v1: states are reported after the membership message they came with (the chain keeps the order).
    const states = ext.value.states;
    if (states.length > 0) this.enqueue(() => this.handler.memberStates(states));
    if (ext.value.message) return this.handler.response(ext.value.message);
  }
}
