// One hRPC WebSocket (VOICE-PROTOCOL.md §2) in the browser: opens with [subprotocol, token] (the
// token last, as Harmony does for browsers, which cannot set an Authorization header), sends
// StreamMessageRequests, and turns every incoming frame into a decoded ServerFrame. All framing is
// the shared codec's (protocol/hrpc.ts); this file only adapts it to the DOM WebSocket.
import {
  SUBPROTOCOL_BASE64,
  SUBPROTOCOL_BASE64_EXT,
  SUBPROTOCOL_BASE64_RESUME,
  SUBPROTOCOL_BINARY,
  SUBPROTOCOL_BINARY_EXT,
  SUBPROTOCOL_BINARY_RESUME,
  decodeServerFrame,
  encodeExtRequest,
  encodeRequest,
  fromWire,
  toWire,
  type ServerFrame,
  type Variant,
} from '../../protocol/hrpc';
import type { StreamMessageRequest } from '../../gen/protocol/voice/v1/voice';
import type { ClientMessage } from '../../gen/harmonyvoice/ext/v1/session';
import type { RelayServers } from '../../gen/harmonyvoice/ext/v1/relay';
import { FEATURE } from '../../protocol/extensions';
import { ClientErrorId, VoiceClientError } from './errors';

export type { Variant };

export interface SocketClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

export type WebSocketFactory = (url: string, protocols: string[]) => WebSocket;

export interface OpenOptions {
  url: string;
  token: string;
  variant: Variant;
  timeoutMs: number;
  createWebSocket?: WebSocketFactory;
  /** Offer resume.v1 (`hrpc1[.base64]+resume.v1` before the plain value); a server without it answers the plain one. */
  resume?: boolean;
  /**
   * Ask for these extension features through the one negotiation (`hrpc1[.base64]+ext.v1`, then Hello → Welcome,
   * protocol/extensions.ts) before the socket counts as open; with `resume`, `+resume.v1` is offered after it for
   * servers that predate the negotiation. Empty or absent: the offer is exactly voice.v1's (or resume.v1's).
   */
  extensions?: string[];
  /** Aborting it gives up the opening: the WebSocket is closed and open() rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** How long close() waits for the WebSocket's close event (the closing handshake) before it resolves anyway. */
export const CLOSE_WAIT_MS = 3000;

/** RFC 6455 subprotocols are HTTP tokens; a browser throws SyntaxError for anything else. */
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// WebSocket.readyState values, spelled out so this file also runs where no global WebSocket exists (tests).
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

export class HrpcSocket {
  onFrame: (frame: ServerFrame) => void = () => {};
  /** A frame that could not be decoded (the codec's error). */
  onBadFrame: (error: Error) => void = () => {};
  onClose: (close: SocketClose) => void = () => {};

  private closed = false;
  private wsClosed!: () => void;
  /** Resolves when the WebSocket's close event arrived (its closing handshake is over). */
  private readonly wsClosedPromise = new Promise<void>((resolve) => (this.wsClosed = resolve));
  /** The extension features this stream has (granted by Welcome, or resume.v1 by its own subprotocol value). */
  features: string[] = [];
  /** relay.v1: the RelayServers that followed Welcome (later ones, answers to RefreshRelays, reach onFrame). */
  relays?: RelayServers;
  /** When this client last sent a frame (the keepalive waits for this much silence: web/src/keepalive.ts). */
  lastSentAt = Date.now();

  private constructor(
    private readonly ws: WebSocket,
    readonly variant: Variant,
    /**
     * When the WebSocket was created (ms, Date.now clock): the gateway's maximum connection duration runs from its
     * handshake, never earlier, so a renewal timed from here is never late — not from when the socket was put to
     * use (after Welcome, or after a Resume's answer: seconds later on a loaded server).
     */
    readonly createdAt: number,
  ) {
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      this.wsClosed();
      this.finish({ code: event.code, reason: event.reason, wasClean: event.wasClean });
    };
  }

  /** Resolves once the server accepted the upgrade in the requested variant. */
  static open(options: OpenOptions): Promise<HrpcSocket> {
    const subprotocol = options.variant === 'binary' ? SUBPROTOCOL_BINARY : SUBPROTOCOL_BASE64;
    const extended = options.variant === 'binary' ? SUBPROTOCOL_BINARY_RESUME : SUBPROTOCOL_BASE64_RESUME;
    const negotiating = options.variant === 'binary' ? SUBPROTOCOL_BINARY_EXT : SUBPROTOCOL_BASE64_EXT;
    const asked = options.extensions ?? [];
    const offered = [...(asked.length > 0 ? [negotiating] : []), ...(options.resume ? [extended] : []), subprotocol];
    if (!TOKEN_CHARS.test(options.token)) {
      return Promise.reject(
        new VoiceClientError(
          ClientErrorId.badToken,
          'the session token is empty or contains characters that cannot be sent as a WebSocket subprotocol',
        ),
      );
    }
    let ws: WebSocket;
    const createdAt = Date.now();
    try {
      ws = (options.createWebSocket ?? ((url, protocols) => new WebSocket(url, protocols)))(options.url, [
        ...offered,
        options.token,
      ]);
    } catch (err) {
      return Promise.reject(
        new VoiceClientError(
          ClientErrorId.connectFailed,
          `cannot open a WebSocket to ${options.url}: ${(err as Error).message}`,
          { cause: err },
        ),
      );
    }
    ws.binaryType = 'arraybuffer';
    const signal = options.signal;
    if (signal?.aborted) {
      ws.close(1000, 'leave');
      return Promise.reject(signal.reason);
    }
    let opened: HrpcSocket | undefined;
    let onAbort = () => {};
    const opening = new Promise<HrpcSocket>((resolve, reject) => {
      onAbort = () => {
        clearTimeout(timer);
        if (opened) {
          opened.detach();
          void opened.close(1000, 'leave');
        } else {
          ws.close(1000, 'leave');
        }
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => {
        ws.close();
        reject(
          new VoiceClientError(
            ClientErrorId.connectFailed,
            `the voice server did not answer within ${options.timeoutMs} ms`,
          ),
        );
      }, options.timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        if (!offered.includes(ws.protocol)) {
          ws.close(1002, 'subprotocol mismatch');
          reject(
            new VoiceClientError(
              ClientErrorId.protocol,
              `the server answered subprotocol "${ws.protocol}" instead of "${subprotocol}"`,
            ),
          );
          return;
        }
        const socket = new HrpcSocket(ws, options.variant, createdAt);
        opened = socket;
        if (ws.protocol === extended) socket.features = [FEATURE.resume];
        if (ws.protocol !== negotiating) return resolve(socket);
        // The negotiation: Hello first, and nothing else until Welcome names what this stream has.
        const helloTimer = setTimeout(() => {
          void socket.close(4000, 'no Welcome');
          reject(
            new VoiceClientError(
              ClientErrorId.connectFailed,
              `the voice server did not answer Hello within ${options.timeoutMs} ms`,
            ),
          );
        }, options.timeoutMs);
        let welcomed = false;
        socket.onFrame = (frame) => {
          const message = frame.kind === 'ext' ? frame.message.message : undefined;
          // relay.v1 granted: its RelayServers follow Welcome at once; the socket opens with them.
          if (welcomed && message?.$case === 'relays') {
            clearTimeout(helloTimer);
            socket.onFrame = () => {};
            socket.onClose = () => {};
            socket.relays = message.value;
            resolve(socket);
            return;
          }
          if (welcomed || message?.$case !== 'welcome') {
            clearTimeout(helloTimer);
            socket.onFrame = () => {};
            socket.onClose = () => {};
            void socket.close(1002, 'expected Welcome');
            reject(
              new VoiceClientError(
                ClientErrorId.protocol,
                welcomed
                  ? 'the server granted relay.v1 but sent no RelayServers after Welcome'
                  : 'the server did not answer Hello with Welcome',
              ),
            );
            return;
          }
          welcomed = true;
          socket.features = message.value.features.filter((f) => asked.includes(f));
          if (socket.features.includes(FEATURE.relay)) return;
          clearTimeout(helloTimer);
          socket.onFrame = () => {};
          socket.onClose = () => {};
          resolve(socket);
        };
        socket.onClose = (close) => {
          clearTimeout(helloTimer);
          reject(
            new VoiceClientError(
              ClientErrorId.connectFailed,
              `the voice server closed the stream before Welcome (close ${close.code})`,
            ),
          );
        };
        ws.send(toWire(encodeExtRequest({ message: { $case: 'hello', value: { features: asked } } }), options.variant));
      };
      // Browsers hide why a handshake failed (always 1006): a refused token and an unreachable host look alike.
      ws.onclose = (event) => {
        clearTimeout(timer);
        reject(
          new VoiceClientError(
            ClientErrorId.connectFailed,
            `the voice server refused or dropped the connection before it opened (close ${event.code}); a missing, invalid or expired token is refused at connect`,
          ),
        );
      };
    });
    // Once settled (opened or refused), an abort is the owner's business.
    const settle = () => signal?.removeEventListener('abort', onAbort);
    opening.then(settle, settle);
    return opening;
  }

  /** The subprotocol the server answered (`hrpc1`, `hrpc1.base64`, or one of their `+resume.v1` / `+ext.v1` forms). */
  get subprotocol(): string {
    return this.ws.protocol;
  }

  /** The stream has resume.v1 (its own subprotocol value, or granted by the negotiation). */
  get resumable(): boolean {
    return this.features.includes(FEATURE.resume);
  }

  /** An extension frame (0x02 + ClientMessage); only on a stream that has resume.v1, relay.v1 (RefreshRelays) or state.v1. */
  sendExt(message: ClientMessage): void {
    if (!this.resumable && !this.features.includes(FEATURE.relay) && !this.features.includes(FEATURE.state)) return;
    this.sendWire(toWire(encodeExtRequest(message), this.variant));
  }

  /** Stops delivering this socket's frames and close to its owner (a resumed session moved to another socket). */
  detach(): void {
    this.onFrame = () => {};
    this.onBadFrame = () => {};
    this.onClose = () => {};
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === OPEN;
  }

  send(request: StreamMessageRequest): void {
    this.sendWire(toWire(encodeRequest(request), this.variant));
  }

  /** A pre-encoded payload (keepalive strategies use it). Dropped silently when the socket is gone. */
  sendWire(payload: string | Uint8Array): void {
    if (!this.isOpen) return;
    this.ws.send(payload);
    this.lastSentAt = Date.now();
  }

  /**
   * Closes the stream. Its owner hears of it at once (onClose: the session is over for us now); the promise resolves
   * when the WebSocket's closing handshake is over (its close event), or after CLOSE_WAIT_MS without one.
   */
  close(code = 1000, reason = ''): Promise<void> {
    if (this.ws.readyState === CONNECTING || this.ws.readyState === OPEN) this.ws.close(code, reason);
    else if (this.ws.readyState === CLOSED) this.wsClosed();
    this.finish({ code, reason, wasClean: true });
    return this.whenClosed();
  }

  /** Resolves when the WebSocket's close event arrived, or after CLOSE_WAIT_MS. */
  whenClosed(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      this.wsClosedPromise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private receive(data: unknown): void {
    let frame: ServerFrame;
    try {
      const payload = typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer);
      frame = decodeServerFrame(fromWire(payload, this.variant));
    } catch (err) {
      this.onBadFrame(err as Error);
      return;
    }
    this.onFrame(frame);
  }

  private finish(close: SocketClose): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.onmessage = null;
    this.onClose(close);
  }
}
