// A Node hRPC client of the voice stream for integration tests and the signalling benchmark: it speaks
// the wire protocol through the shared codec and records every frame it receives, in order.
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';
import { after } from 'node:test';
import WebSocket from 'ws';
import type { ClientMessage, SessionCredential } from '../../gen/harmonyvoice/ext/v1/session';
import type { StreamMessageRequest, StreamMessageResponse } from '../../gen/protocol/voice/v1/voice';
import {
  decodeServerFrame,
  encodeExtRequest,
  encodeRequest,
  fromWire,
  SUBPROTOCOL_BASE64,
  SUBPROTOCOL_BASE64_EXT,
  SUBPROTOCOL_BASE64_RESUME,
  SUBPROTOCOL_BINARY,
  SUBPROTOCOL_BINARY_EXT,
  SUBPROTOCOL_BINARY_RESUME,
  toWire,
  VOICE_STREAM_PATH,
  type ServerFrame,
  type Variant,
} from '../../protocol/hrpc';
import { assertNoLeaks, checkClientMessage } from './leaks';

// Every suite that talks to the service through this client also proves that no error frame it got
// named an internal id (node ids, connection ids, gRPC internals).
if (process.env.NODE_TEST_CONTEXT) after(assertNoLeaks); // not in the benchmark (no test runner there)

type ResponseCase = NonNullable<StreamMessageResponse['message']>['$case'];
type ResponseOf<C extends ResponseCase> = Extract<NonNullable<StreamMessageResponse['message']>, { $case: C }>['value'];

export interface ClientOptions {
  wsUrl: string;
  token?: string;
  variant?: Variant;
  /** Send the token as the Authorization header instead of the last subprotocol. */
  tokenInHeader?: boolean;
  /** Opt in to resume.v1 (offer the combined subprotocol first). */
  resume?: boolean;
  /**
   * Negotiate these extension features: offer `hrpc1[.base64]+ext.v1` first, send Hello as the first message and
   * wait for Welcome before connect() resolves (`granted`). An empty list still negotiates (asks for nothing).
   */
  features?: string[];
}

export class VoiceTestClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  /** resume.v1: the history position of each membership frame (index in `frames` → seq). */
  readonly seqs = new Map<number, number>();
  /** resume.v1: the highest seq received, and the latest credential (SessionCredential or Resumed). */
  lastSeq = 0;
  credential: SessionCredential | undefined;
  /** state.v1: every Sequenced that carried states, in order (`with`: the membership message it came with, if any). */
  readonly stateLog: { seq: number; states: MemberState[]; with?: string; at: number }[] = [];
  /** Extension frames of any kind received (a stock voice.v1 stream must never get one). */
  extFrames = 0;
  /** The features Welcome granted (negotiating clients only). */
  granted: string[] = [];
  /** Frames are ignored from now on (a resuming client stops reading its old socket). */
  deaf = false;
  private readonly waiters: (() => void)[] = [];
  private cursor = 0;

  private constructor(
    private readonly ws: WebSocket,
    readonly variant: Variant,
  ) {
    ws.on('message', (data, isBinary) => {
      if (this.deaf) return;
      const payload = isBinary ? new Uint8Array(data as Buffer) : (data as Buffer).toString('utf8');
      const frame = decodeServerFrame(fromWire(payload, variant));
      if (frame.kind === 'ext') this.extFrames++;
      // resume.v1: a Sequenced membership message is kept as the response it carries, with its seq.
      if (frame.kind === 'ext' && frame.message.message?.$case === 'sequenced') {
        const { seq, message, states } = frame.message.message.value;
        this.lastSeq = Math.max(this.lastSeq, Number(seq));
        // state.v1: the states a Sequenced carries (with a membership message, or alone: a change).
        if (states.length > 0 || !message)
          this.stateLog.push({ seq: Number(seq), states, with: message?.message?.$case, at: performance.now() });
        if (!message) {
          this.wake();
          return;
        }
        this.seqs.set(this.frames.length, Number(seq));
        this.frames.push({ kind: 'response', response: message });
      } else {
        if (frame.kind === 'error') checkClientMessage(frame.error.identifier, frame.error.humanMessage);
        if (frame.kind === 'ext' && frame.message.message?.$case === 'credential')
          this.credential = frame.message.message.value;
        if (frame.kind === 'ext' && frame.message.message?.$case === 'resumed')
          this.credential = frame.message.message.value.credential;
        this.frames.push(frame);
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** Opens the stream; rejects with the HTTP status when the upgrade is refused. */
  static connect(options: ClientOptions): Promise<VoiceTestClient> {
    const variant = options.variant ?? 'base64';
    const protocols = [variant === 'base64' ? SUBPROTOCOL_BASE64 : SUBPROTOCOL_BINARY];
    if (options.resume) protocols.unshift(variant === 'base64' ? SUBPROTOCOL_BASE64_RESUME : SUBPROTOCOL_BINARY_RESUME);
    if (options.features) protocols.unshift(variant === 'base64' ? SUBPROTOCOL_BASE64_EXT : SUBPROTOCOL_BINARY_EXT);
    if (options.token && !options.tokenInHeader) protocols.push(options.token);
    const headers = options.token && options.tokenInHeader ? { Authorization: options.token } : undefined;
    const url = options.wsUrl.endsWith(VOICE_STREAM_PATH)
      ? options.wsUrl
      : `${options.wsUrl.replace(/\/$/, '')}${VOICE_STREAM_PATH}`;
    const ws = new WebSocket(url, protocols, { headers });
    const opened = new Promise<VoiceTestClient>((resolve, reject) => {
      ws.once('open', () => resolve(new VoiceTestClient(ws, variant)));
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          reject(
            Object.assign(new Error(`upgrade refused: ${res.statusCode}`), {
              statusCode: res.statusCode,
              body: Buffer.concat(chunks),
            }),
          ),
        );
      });
      ws.once('error', reject);
    });
    if (!options.features) return opened;
    return opened.then(async (client) => {
      if (client.protocol !== (variant === 'base64' ? SUBPROTOCOL_BASE64_EXT : SUBPROTOCOL_BINARY_EXT)) return client;
      client.sendExt({ $case: 'hello', value: { features: options.features! } });
      const welcome = await client.nextExt();
      if (welcome.$case !== 'welcome') throw new Error(`expected Welcome, got ${welcome.$case}`);
      client.granted = welcome.value.features;
      return client;
    });
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  send(message: StreamMessageRequest['message']): void {
    this.ws.send(toWire(encodeRequest({ message }), this.variant));
  }

  /** resume.v1: sends an extension frame (0x02 + ClientMessage). */
  sendExt(message: ClientMessage['message']): void {
    this.ws.send(toWire(encodeExtRequest({ message }), this.variant));
  }

  /** The next unread extension frame of a kind (other frames before it are skipped, still kept in `frames`). */
  async nextExt(timeoutMs = 5_000): Promise<NonNullable<Extract<ServerFrame, { kind: 'ext' }>['message']['message']>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (frame.kind === 'ext' && frame.message.message) return frame.message.message;
      if (frame.kind === 'error') throw new Error(`expected an extension frame, got ${describe(frame)}`);
    }
  }

  sendRaw(payload: Uint8Array | string): void {
    this.ws.send(payload);
  }

  /** The next unread frame (any kind), waiting up to timeoutMs. */
  async next(timeoutMs = 5_000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.cursor >= this.frames.length) {
      if (this.closed)
        throw new Error(`stream closed (${this.closed.code} ${this.closed.reason}) while waiting for a frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames[this.cursor++]!;
  }

  /** The next unread frame, which must be the given response. */
  async expect<C extends ResponseCase>(kind: C, timeoutMs?: number): Promise<ResponseOf<C>> {
    const frame = await this.next(timeoutMs);
    if (frame.kind !== 'response' || frame.response.message?.$case !== kind) {
      throw new Error(`expected ${kind}, got ${describe(frame)}`);
    }
    return frame.response.message.value as ResponseOf<C>;
  }

  /** The next unread frame, which must be an error; returns its identifier and message. */
  async expectError(timeoutMs?: number): Promise<{ identifier: string; humanMessage: string }> {
    const frame = await this.next(timeoutMs);
    if (frame.kind !== 'error') throw new Error(`expected an error frame, got ${describe(frame)}`);
    return frame.error;
  }

  /** Reads on until an error frame arrives (responses before it are skipped, still kept in `frames`). */
  async nextError(timeoutMs = 5_000): Promise<{ identifier: string; humanMessage: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (frame.kind === 'error') return frame.error;
    }
  }

  /** Resolves when the server has closed the stream. */
  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`stream still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }

  /** Every response of a kind received so far (read or not). */
  all<C extends ResponseCase>(kind: C): ResponseOf<C>[] {
    return this.frames.flatMap((f) =>
      f.kind === 'response' && f.response.message?.$case === kind ? [f.response.message.value as ResponseOf<C>] : [],
    );
  }

  errors(): { identifier: string; humanMessage: string }[] {
    return this.frames.flatMap((f) => (f.kind === 'error' ? [f.error] : []));
  }

  /** Drops the socket without a close handshake (like a client vanishing). */
  terminate(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close();
  }

  /**
   * Stops reading the socket until release(): what the server sends meanwhile waits in it, as on a slow path
   * (API Gateway orders nothing between connections: one client may get its messages long after another).
   */
  hold(): void {
    this.ws.pause();
  }

  release(): void {
    this.ws.resume();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export function describe(frame: ServerFrame): string {
  if (frame.kind === 'ext') return `extension ${frame.message.message?.$case}`;
  return frame.kind === 'error'
    ? `error ${frame.error.identifier} (${frame.error.humanMessage})`
    : `response ${frame.response.message?.$case}`;
}
