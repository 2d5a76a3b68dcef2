// Just enough of the DOM WebSocket for the SDK's HrpcSocket, driven by the test (accept, refuse), and an opener
// that hands HrpcSocket one of these. Shared by the SDK's browser-less tests.
import { HrpcSocket } from '../../web/src/hrpc-socket';

export class FakeWebSocket {
  readyState = 0;
  protocol = '';
  binaryType = 'blob';
  sent: Array<string | Uint8Array> = [];
  closedWith?: { code?: number; reason?: string };
  onopen: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string | Uint8Array) {
    this.sent.push(data);
  }
  close(code?: number, reason?: string) {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  accept(protocol: string) {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.();
  }
  refuse() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '', wasClean: false });
  }
}

/** Opens an HrpcSocket over a FakeWebSocket; `ws()` is that socket once HrpcSocket made it. */
export function openHrpcSocket(options: {
  variant: 'base64' | 'binary';
  token?: string;
  resume?: boolean;
  url?: string;
  extensions?: string[];
}) {
  let ws!: FakeWebSocket;
  const opening = HrpcSocket.open({
    url: options.url ?? 'ws://voice.test/protocol.voice.v1.VoiceService/StreamMessage',
    token: options.token ?? 'tok.en-1',
    variant: options.variant,
    timeoutMs: 1000,
    ...(options.resume === undefined ? {} : { resume: options.resume }),
    ...(options.extensions === undefined ? {} : { extensions: options.extensions }),
    createWebSocket: (url, protocols) => (ws = new FakeWebSocket(url, protocols)) as unknown as WebSocket,
  });
  return { opening, ws: () => ws };
}
