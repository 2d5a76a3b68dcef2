// The media node (media-node/main.ts, unchanged) plus one diagnostic for tests: every change of a WebRTC
// transport's ICE selected tuple — the client address mediasoup sends to, which an ICE restart from a new port
// must move — is printed as a JSON line {"msg":"test.ice-selected-tuple", …} on stdout, next to the node's own
// logs. Hooked through mediasoup's observer API, so nothing in the node knows about it. Start a local stack
// with `mediaNode: { command: ICE_TUPLE_NODE_COMMAND, onLine }` and parse the lines with `parseTupleLine`.
import * as mediasoup from 'mediasoup';
import { fileURLToPath } from 'node:url';

export const ICE_TUPLE_MSG = 'test.ice-selected-tuple';

export interface SelectedTupleLine {
  msg: typeof ICE_TUPLE_MSG;
  transportId: string;
  sessionId: string;
  role: string;
  /** Absent when the transport lost its tuple (ICE disconnected). */
  remoteIp?: string;
  remotePort?: number;
  protocol?: string;
  at: number;
}

export const ICE_TUPLE_NODE_COMMAND = [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url)];

export function parseTupleLine(line: string): SelectedTupleLine | undefined {
  if (!line.includes(ICE_TUPLE_MSG)) return undefined;
  try {
    const value = JSON.parse(line) as SelectedTupleLine;
    return value.msg === ICE_TUPLE_MSG ? value : undefined;
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mediasoup.observer.on('newworker', (worker) => {
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        if (transport.type !== 'webrtc') return;
        const appData = transport.appData as { sessionId?: string; role?: string };
        (transport as mediasoup.types.WebRtcTransport).observer.on(
          'iceselectedtuplechange',
          (tuple?: mediasoup.types.TransportTuple) => {
            const line: SelectedTupleLine = {
              msg: ICE_TUPLE_MSG,
              transportId: transport.id,
              sessionId: appData.sessionId ?? '',
              role: appData.role ?? '',
              remoteIp: tuple?.remoteIp,
              remotePort: tuple?.remotePort,
              protocol: tuple?.protocol,
              at: Date.now(),
            };
            process.stdout.write(JSON.stringify(line) + '\n');
          },
        );
      });
    });
  });
  await import('../../media-node/main');
}
