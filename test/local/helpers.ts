// Test helpers for the local gateway: recording handlers, WebSocket client promises, polling.
import { WebSocket, type ClientOptions } from 'ws';
import type { GatewayHandlers, ProxyResult } from '../../local/gateway';
import { silentLogger } from '../../local/gateway';

export interface Recorded {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  connect: any[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  default: any[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  disconnect: any[];
}

/** Handlers that record every event; $connect answers with `connectResult` (default 200 echoing hrpc1 when offered). */
export function recordingHandlers(
  options: {
    connectResult?: (event: { headers: Record<string, string> }) => ProxyResult | undefined;
    onMessage?: (event: {
      body: string;
      isBase64Encoded: boolean;
      requestContext: { connectionId: string };
    }) => Promise<void> | void;
  } = {},
): { handlers: GatewayHandlers; recorded: Recorded } {
  const recorded: Recorded = { connect: [], default: [], disconnect: [] };
  const handlers: GatewayHandlers = {
    connect: async (event) => {
      recorded.connect.push(event);
      if (options.connectResult) return options.connectResult(event);
      const offered =
        headerValue(event.headers, 'sec-websocket-protocol')
          ?.split(',')
          .map((s) => s.trim()) ?? [];
      const chosen = offered.find((p) => p === 'hrpc1.base64' || p === 'hrpc1');
      return { statusCode: 200, headers: chosen ? { 'Sec-WebSocket-Protocol': chosen } : {} };
    },
    default: async (event) => {
      recorded.default.push(event);
      await options.onMessage?.(event);
      return { statusCode: 200 };
    },
    disconnect: async (event) => {
      recorded.disconnect.push(event);
      return { statusCode: 200 };
    },
  };
  return { handlers, recorded };
}

export function headerValue(headers: Record<string, string>, name: string): string | undefined {
  return Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

export interface Rejection {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Opens a client; rejects with a Rejection when the server answers the upgrade with a plain HTTP response. */
export function openWs(url: string, protocols?: string[], options: ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        reject({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) } satisfies Rejection),
      );
    });
    ws.once('error', reject);
  });
}

export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
}

export async function waitUntil(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const quiet = { logger: silentLogger };

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
