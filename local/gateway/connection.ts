// One accepted WebSocket connection with API Gateway's rules: frame and message size limits (1009),
// binary frames refused in strict mode (1003), idle and maximum-duration timeouts (1001), and the
// status a $disconnect event reports.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ManagedConnection } from './connections-api';
import type { ConnectionFacts } from './events';
import { FrameInspector, OPCODE_BINARY, OPCODE_CONTINUATION, OPCODE_TEXT } from './frame-inspector';
import { variantOf } from '../../protocol/hrpc';

export interface ConnectionRules {
  strict: boolean;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  /** The negotiated subprotocol; `hrpc1` clients get posts as binary frames, everyone else as text. */
  subprotocol: string | undefined;
}

export interface ConnectionListener {
  /** A complete client message: text as a string, binary (non-strict only) as bytes. */
  onMessage(connection: GatewayConnection, payload: string | Buffer): void;
  /** Called once, when the socket is gone (or was never usable), with the status for $disconnect. */
  onClosed(connection: GatewayConnection, status: DisconnectStatus): void;
  onViolation(connection: GatewayConnection, status: DisconnectStatus): void;
}

export interface DisconnectStatus {
  code: number;
  reason: string;
}

export const CLOSE = {
  normal: { code: 1000, reason: 'Connection Closed Normally' },
  idle: { code: 1001, reason: 'Going away: idle timeout' },
  maxDuration: { code: 1001, reason: 'Going away: maximum connection duration' },
  shutdown: { code: 1001, reason: 'Going away: gateway shutting down' },
  unsupportedData: { code: 1003, reason: 'Unsupported data: binary frames are not accepted' },
  tooBig: { code: 1009, reason: 'Message too big' },
} as const satisfies Record<string, DisconnectStatus>;

export class GatewayConnection implements ManagedConnection {
  readonly connectedAt: number;
  readonly sourceIp: string;
  readonly userAgent: string | null;
  lastActiveAt: number;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private serverClose: DisconnectStatus | undefined;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly durationTimer: NodeJS.Timeout;

  constructor(
    readonly facts: ConnectionFacts,
    private readonly ws: WebSocket,
    socket: Duplex,
    private readonly rules: ConnectionRules,
    private readonly listener: ConnectionListener,
  ) {
    this.connectedAt = facts.connectedAt;
    this.sourceIp = facts.sourceIp;
    this.userAgent = facts.userAgent;
    this.lastActiveAt = Date.now();
    this.idleTimer = setTimeout(() => this.closeBy(CLOSE.idle), rules.idleTimeoutMs);
    this.durationTimer = setTimeout(() => this.closeBy(CLOSE.maxDuration), rules.maxConnectionMs);

    const inspector = new FrameInspector((frame) => {
      if (this.state !== 'open') return;
      const data =
        frame.opcode === OPCODE_TEXT || frame.opcode === OPCODE_BINARY || frame.opcode === OPCODE_CONTINUATION;
      if (!data) return;
      if (frame.opcode === OPCODE_BINARY && rules.strict) return this.violate(CLOSE.unsupportedData);
      if (frame.payloadLength > rules.maxFrameBytes) return this.violate(CLOSE.tooBig);
    });
    // Ahead of `ws`'s own listener, so a violating frame is seen before `ws` can deliver its message;
    // `ws` re-emits the upgrade's head bytes as 'data', so this sees the stream from its first byte.
    socket.prependListener('data', (chunk: Buffer) => inspector.push(chunk));

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.state !== 'open') return;
      if (isBinary && rules.strict) return this.violate(CLOSE.unsupportedData);
      this.touch();
      listener.onMessage(this, isBinary ? data : data.toString('utf8'));
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // `ws` closes the socket itself (1009 past the message limit, 1002/1007 for protocol errors).
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.serverClose ??= CLOSE.tooBig;
      else this.serverClose ??= { code: 1002, reason: `Protocol error: ${err.message}` };
      this.state = this.state === 'closed' ? 'closed' : 'closing';
    });
    ws.on('close', (code: number, reason: Buffer) => this.finish(code, reason.toString('utf8')));
  }

  get id(): string {
    return this.facts.connectionId;
  }

  get open(): boolean {
    return this.state === 'open';
  }

  get subprotocol(): string | undefined {
    return this.rules.subprotocol;
  }

  send(data: Buffer): Promise<void> {
    this.touch();
    return new Promise((resolve, reject) => {
      // Binary for the binary variant's values (`hrpc1`, `hrpc1+resume.v1`, `hrpc1+ext.v1`), text otherwise.
      const binary = this.rules.subprotocol !== undefined && variantOf(this.rules.subprotocol) === 'binary';
      this.ws.send(data, { binary }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends a text frame whatever the subprotocol (API Gateway's own error messages are text). */
  sendText(text: string): void {
    if (this.state === 'open') this.ws.send(text);
  }

  disconnect(): void {
    this.closeBy(CLOSE.normal);
  }

  closeBy(status: DisconnectStatus): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.serverClose = status;
    this.ws.close(status.code, closeReasonText(status));
  }

  /** Drops the TCP connection without a close handshake (shutdown after a grace period). */
  terminate(): void {
    this.ws.terminate();
  }

  private violate(status: DisconnectStatus): void {
    this.listener.onViolation(this, status);
    this.closeBy(status);
  }

  private touch(): void {
    this.lastActiveAt = Date.now();
    this.idleTimer.refresh();
  }

  private finish(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.idleTimer);
    clearTimeout(this.durationTimer);
    this.listener.onClosed(this, this.serverClose ?? clientCloseStatus(code, reason));
  }
}

function clientCloseStatus(code: number, reason: string): DisconnectStatus {
  if (code === 1005) return { code, reason: 'Client-side close frame status not set' };
  if (code === 1006) return { code, reason: 'Connection closed abnormally (no close frame)' };
  if (reason) return { code, reason };
  return code === 1000 ? CLOSE.normal : { code, reason: `Client closed with status ${code}` };
}

/** The close frame's reason, kept short: a close frame's payload is limited to 125 bytes. */
function closeReasonText(status: DisconnectStatus): string {
  const short = status.reason.split(':')[0] ?? '';
  return status.code === 1000 ? '' : short.slice(0, 120);
}
