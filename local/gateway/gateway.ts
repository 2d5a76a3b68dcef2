// A local stand-in for an API Gateway WebSocket API: upgrades on the voice stream path run the `$connect`
// handler first (non-2xx refuses the upgrade with that status; its Sec-WebSocket-Protocol header is what
// the 101 echoes), every client message runs `$default` as it arrives, `$disconnect` follows a close,
// and the `@connections` management API is served over HTTP on the same port for the real AWS SDK client.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../../lib/listen';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { ErrorId } from '../../protocol/errors';
import { KEEPALIVE_FRAME, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, VOICE_STREAM_PATH } from '../../protocol/hrpc';
import type { RequestCounter } from '../request-counter';
import { CLOSE, GatewayConnection, type DisconnectStatus } from './connection';
import { handleConnectionsRequest } from './connections-api';
import type { DevIssuer } from '../dev-issuer';
import { handleDevIssuerRequest } from './dev-token';
import { connectEvent, disconnectEvent, messageEvent, type ConnectionFacts } from './events';
import { awsStyleId } from './ids';
import { invoke, resultBody, resultHeader, type LambdaHandler, type ProxyResult } from './lambda';
import { createLogger, type Logger } from '../../lib/log';
import { serveStatic, type StaticMount } from './static-files';

export const WEBSOCKET_PATHS = [VOICE_STREAM_PATH, '/'] as const;

export interface GatewayHandlers {
  connect: LambdaHandler;
  default: LambdaHandler;
  disconnect: LambdaHandler;
}

export interface LocalGatewayOptions {
  handlers: GatewayHandlers;
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  stage?: string;
  apiId?: string;
  /** Behave exactly like API Gateway: binary client frames are refused with close 1003. */
  strict?: boolean;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  maxFrameBytes?: number;
  maxMessageBytes?: number;
  /** Lambda's deadline as context.getRemainingTimeInMillis() reports it. */
  handlerTimeoutMs?: number;
  /**
   * A TCP connection must have sent a complete request (an upgrade or an HTTP request) this soon after it
   * opened, else it is closed — whether it sent nothing at all or a partial handshake — as a public front door
   * does, so idle sockets cannot hold the embedded default open. Default 20 s.
   */
  handshakeTimeoutMs?: number;
  /** Local directories served for plain GETs (the web demo). Never on AWS. */
  staticMounts?: StaticMount[];
  /** Enables GET /dev/token and GET /.well-known/jwks.json (local development only; never on AWS). */
  devIssuer?: DevIssuer;
  /** Enables GET /dev/metrics: this JSON (the local stack's metrics summary). */
  devMetrics?: () => unknown;
  logger?: Logger;
  /** Counts client messages, @connections calls and handler invocations (bench/scale.ts). */
  counter?: RequestCounter;
}

export interface LocalGateway {
  port: number;
  /** http://host:port */
  url: string;
  /** ws://host:port/protocol.voice.v1.VoiceService/StreamMessage */
  wsUrl: string;
  /** The ApiGatewayManagementApiClient endpoint: http://host:port/<stage> */
  connectionsEndpoint: string;
  stage: string;
  strict: boolean;
  /** API Gateway's $disconnect is best effort: set this to lose every $disconnect event (ghost tests). */
  dropDisconnectEvents: boolean;
  /**
   * Refuses @connections posts to `connectionId` larger than `maxBytes` with 413 PayloadTooLargeException, as
   * API Gateway refuses a message over its limit (poison-entry tests: a message one receiver cannot be sent).
   */
  limitPosts(connectionId: string, maxBytes: number): void;
  /** Ids of connections that are open now. */
  connectionIds(): string[];
  /**
   * Drops a connection without a close frame (a network cut: the client sees 1006, $disconnect gets 1006).
   * Tests only. False when no such open connection.
   */
  cut(connectionId: string): boolean;
  /** Resolves when no handler invocation is running. */
  idle(): Promise<void>;
  /** Closes every connection (1001), waits for the $disconnect invocations, and stops listening. */
  close(): Promise<void>;
}

const DEFAULTS = {
  host: '127.0.0.1',
  stage: 'local',
  apiId: 'localvoice',
  idleTimeoutMs: 10 * 60_000,
  maxConnectionMs: 2 * 60 * 60_000,
  handlerTimeoutMs: 29_000,
  handshakeTimeoutMs: 20_000,
  shutdownGraceMs: 2_000,
};

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const host = options.host ?? DEFAULTS.host;
  const stage = options.stage ?? DEFAULTS.stage;
  const apiId = options.apiId ?? DEFAULTS.apiId;
  const strict = options.strict ?? false;
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs;
  const maxConnectionMs = options.maxConnectionMs ?? DEFAULTS.maxConnectionMs;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? DEFAULTS.handlerTimeoutMs;
  const log = (options.logger ?? createLogger()).child({ component: 'local-gateway' });
  const handlers = options.handlers;

  const connections = new Map<string, GatewayConnection>();
  const postLimits = new Map<string, number>();
  const pendingSockets = new Set<Duplex>();
  const inFlight = new Set<Promise<unknown>>();
  let closing = false;

  // Subprotocol chosen by $connect for this upgrade request, read back when `ws` writes the 101.
  const chosenSubprotocol = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (_offered, req) => chosenSubprotocol.get(req) ?? false,
  });

  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  };

  // Node's own headersTimeout only starts with a request's first byte and is checked every 30 s (a partial
  // handshake lived ~64 s, a silent socket forever): one timer per TCP connection until its first complete request.
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
  const server: Server = createServer(
    {
      headersTimeout: handshakeTimeoutMs,
      requestTimeout: handshakeTimeoutMs + 10_000,
      connectionsCheckingInterval: 5_000,
    },
    (req, res) => void onRequest(req, res),
  );
  const handshakeTimers = new WeakMap<object, NodeJS.Timeout>();
  const handshakeDone = (socket: object) => clearTimeout(handshakeTimers.get(socket));
  server.on('connection', (socket) => {
    const timer = setTimeout(() => {
      log.info('http.handshake-timeout', {
        timeoutMs: handshakeTimeoutMs,
        remoteAddress: socket.remoteAddress ?? null,
      });
      socket.destroy();
    }, handshakeTimeoutMs);
    timer.unref();
    handshakeTimers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage) => handshakeDone(req.socket));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    handshakeDone(req.socket);
    void track(onUpgrade(req, socket, head));
  });
  // A request Node's HTTP parser refuses (e.g. a 100 KB token in a header) gets an HTTP status and an
  // hrpc.v1.Error body, as API Gateway answers oversized handshakes, instead of a reset.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    log.info('http.client-error', { status, code: err.code ?? null });
    if (!socket.writable) return socket.destroy();
    rejectUpgrade(
      socket,
      status,
      hrpcErrorHeaders(),
      hrpcErrorBody(
        status === 431
          ? 'the request headers are too large (is the session token bigger than a session token can be?)'
          : 'the request could not be parsed as HTTP',
      ),
    );
  });

  const { port } = await listen(server, options.port ?? 0, host);
  const url = `http://${host}:${port}`;
  const domainName = `${host}:${port}`;

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (
        handleConnectionsRequest(req, res, {
          stage,
          maxPostBytes: maxMessageBytes,
          postLimitOf: (id) => postLimits.get(id),
          lookup: (id) => {
            const connection = connections.get(id);
            return connection?.open ? connection : undefined;
          },
          onAction: (action, connectionId, bytes) => {
            if (action === 'gone') options.counter?.countGateway('gone');
            else if (action !== 'too-large') options.counter?.countGateway(action);
            log[action === 'gone' || action === 'too-large' ? 'info' : 'debug'](`connections.${action}`, {
              connectionId,
              bytes,
            });
          },
        })
      )
        return;
      const path = new URL(req.url ?? '/', url).pathname;
      if (path === VOICE_STREAM_PATH) {
        return sendHrpcError(res, 400, 'expected a WebSocket upgrade (GET with Upgrade: websocket)');
      }
      if (options.devIssuer && (await handleDevIssuerRequest(req, res, options.devIssuer))) return;
      if (options.devMetrics && path === '/dev/metrics' && req.method === 'GET') {
        const text = JSON.stringify(options.devMetrics(), null, 2);
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        return void res.end(text);
      }
      if (options.staticMounts && (await serveStatic(req, res, options.staticMounts))) return;
      const body = `not found: ${path}\n`;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } catch (err) {
      log.error('http.error', { path: req.url, error: err as Error });
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const path = new URL(req.url ?? '/', url).pathname;
    if (!(WEBSOCKET_PATHS as readonly string[]).includes(path)) {
      log.info('connect.bad-path', { path });
      return rejectUpgrade(
        socket,
        400,
        hrpcErrorHeaders(),
        hrpcErrorBody(`no WebSocket endpoint at ${path}: use ${VOICE_STREAM_PATH}`),
      );
    }
    const problem = handshakeProblem(req);
    if (problem) return rejectUpgrade(socket, 400, { 'Content-Type': 'text/plain' }, Buffer.from(problem));
    if (closing)
      return rejectUpgrade(socket, 503, { 'Content-Type': 'text/plain' }, Buffer.from('gateway shutting down'));

    let connectionId = awsStyleId();
    while (connections.has(connectionId)) connectionId = awsStyleId();
    const facts: ConnectionFacts = {
      connectionId,
      connectedAt: Date.now(),
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      userAgent: req.headers['user-agent'] ?? null,
      domainName,
      stage,
      apiId,
    };
    const clog = log.child({ connectionId });
    pendingSockets.add(socket);
    const event = connectEvent(facts, { rawHeaders: req.rawHeaders, url: req.url ?? '/', localPort: port });
    options.counter?.countGateway('connect');
    const outcome = await invoke(handlers.connect, event, 'connect', handlerTimeoutMs);
    pendingSockets.delete(socket);

    let result: ProxyResult;
    if (!outcome.ok) {
      clog.error('connect.handler-error', { requestId: outcome.requestId, error: outcome.error });
      return rejectUpgrade(
        socket,
        502,
        { 'Content-Type': 'application/json' },
        Buffer.from('{"message": "Internal server error"}'),
      );
    } else if (!outcome.result) {
      clog.warn('connect.no-status', {
        requestId: outcome.requestId,
        note: 'the $connect handler returned no statusCode; accepting as 200',
      });
      result = { statusCode: 200 };
    } else {
      result = outcome.result;
    }
    if (result.statusCode < 200 || result.statusCode > 299) {
      clog.info('connect.rejected', { status: result.statusCode, durationMs: outcome.durationMs });
      return rejectUpgrade(socket, result.statusCode, responseHeaders(result), resultBody(result));
    }
    const subprotocol = resultHeader(result, 'Sec-WebSocket-Protocol');
    if (socket.destroyed || !socket.writable || closing) {
      // The client left while $connect ran: the handler already recorded a connection that must be cleaned up.
      clog.info('connect.abandoned', { durationMs: outcome.durationMs });
      socket.destroy();
      return void track(runDisconnect(facts, { code: 1006, reason: 'Client left during $connect' }));
    }
    if (subprotocol) chosenSubprotocol.set(req, subprotocol);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new GatewayConnection(
        facts,
        ws,
        socket,
        {
          strict,
          maxFrameBytes,
          idleTimeoutMs,
          maxConnectionMs,
          subprotocol: ws.protocol || undefined,
        },
        {
          onMessage: (conn, payload) => void track(runDefault(conn, payload)),
          onClosed: (conn, status) => {
            connections.delete(conn.id);
            clog.info('disconnect', { code: status.code, reason: status.reason });
            void track(runDisconnect(conn.facts, status));
          },
          onViolation: (_conn, status) => clog.info('connection.limit', { code: status.code, reason: status.reason }),
        },
      );
      connections.set(connectionId, connection);
      clog.info('connect.accepted', {
        subprotocol: ws.protocol || null,
        durationMs: outcome.durationMs,
        sourceIp: facts.sourceIp,
      });
    });
  }

  async function runDefault(connection: GatewayConnection, payload: string | Buffer): Promise<void> {
    options.counter?.countGateway('messagesIn');
    // On AWS the keepalive route is a mock integration: a billed message, no invocation.
    options.counter?.countGateway(payload === KEEPALIVE_FRAME ? 'keepalives' : 'default');
    const event = messageEvent(connection.facts, payload);
    const outcome = await invoke(handlers.default, event, 'default', handlerTimeoutMs);
    const fields = { connectionId: connection.id, requestId: outcome.requestId, durationMs: outcome.durationMs };
    if (outcome.ok) return log.debug('message', { ...fields, bytes: event.body.length });
    log.error('message.handler-error', { ...fields, error: outcome.error });
    // What API Gateway tells the client when the integration fails.
    connection.sendText(
      JSON.stringify({
        message: 'Internal server error',
        connectionId: connection.id,
        requestId: event.requestContext.requestId,
      }),
    );
  }

  async function runDisconnect(facts: ConnectionFacts, status: DisconnectStatus): Promise<void> {
    if (gateway.dropDisconnectEvents) {
      log.info('disconnect.dropped', { connectionId: facts.connectionId, note: 'dropDisconnectEvents is set' });
      return;
    }
    options.counter?.countGateway('disconnect');
    const outcome = await invoke(handlers.disconnect, disconnectEvent(facts, status), 'disconnect', handlerTimeoutMs);
    if (!outcome.ok)
      log.error('disconnect.handler-error', {
        connectionId: facts.connectionId,
        requestId: outcome.requestId,
        error: outcome.error,
      });
  }

  async function idle(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  const gateway: LocalGateway = {
    port,
    url,
    wsUrl: `ws://${host}:${port}${VOICE_STREAM_PATH}`,
    connectionsEndpoint: `${url}/${stage}`,
    stage,
    strict,
    dropDisconnectEvents: false,
    limitPosts(connectionId, maxBytes) {
      postLimits.set(connectionId, maxBytes);
    },
    connectionIds: () => [...connections.values()].filter((c) => c.open).map((c) => c.id),
    cut(connectionId) {
      const connection = connections.get(connectionId);
      if (!connection?.open) return false;
      connection.terminate();
      return true;
    },
    idle,
    async close() {
      if (closing) return;
      closing = true;
      const open = [...connections.values()];
      for (const connection of open) connection.closeBy(CLOSE.shutdown);
      for (const socket of pendingSockets) socket.destroy();
      const grace = setTimeout(() => open.forEach((c) => c.terminate()), DEFAULTS.shutdownGraceMs);
      let giveUp: NodeJS.Timeout | undefined;
      await Promise.race([
        idleAndClosed(open),
        new Promise<void>((resolve) => (giveUp = setTimeout(resolve, DEFAULTS.shutdownGraceMs + 3_000))),
      ]);
      clearTimeout(grace);
      clearTimeout(giveUp);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      wss.close();
      log.info('gateway.closed', { port });
    },
  };

  async function idleAndClosed(open: GatewayConnection[]): Promise<void> {
    while (open.some((c) => connections.has(c.id))) await delay(10);
    await idle();
  }

  log.info('gateway.listening', {
    url,
    wsUrl: gateway.wsUrl,
    connectionsEndpoint: gateway.connectionsEndpoint,
    strict,
  });
  return gateway;
}

/** The checks `ws` would make, done before $connect runs so that malformed upgrades never reach the handler. */
function handshakeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'WebSocket upgrades use GET';
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  const key = req.headers['sec-websocket-key'];
  if (!key || !/^[+/0-9A-Za-z]{22}==$/.test(key)) return 'Missing or invalid Sec-WebSocket-Key header';
  if (req.headers['sec-websocket-version'] !== '13') return 'Missing or invalid Sec-WebSocket-Version header';
  return undefined;
}

function hrpcErrorHeaders(): Record<string, string> {
  return { 'Content-Type': 'application/hrpc', 'Hrpc-Version': '1' };
}

function hrpcErrorBody(humanMessage: string): Buffer {
  return Buffer.from(
    HrpcError.encode({ identifier: ErrorId.badStreamingRequest, humanMessage, details: new Uint8Array() }).finish(),
  );
}

function sendHrpcError(res: ServerResponse, status: number, humanMessage: string): void {
  const body = hrpcErrorBody(humanMessage);
  res.writeHead(status, { ...hrpcErrorHeaders(), 'Content-Length': body.length });
  res.end(body);
}

function responseHeaders(result: ProxyResult): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) headers[k] = v.join(',');
  return headers;
}

/** Answers an upgrade request with a plain HTTP response and closes the socket. */
function rejectUpgrade(socket: Duplex, status: number, headers: Record<string, string>, body: Buffer): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'connection' || /[\r\n]/.test(name + value)) continue;
    lines.push(`${name}: ${value}`);
  }
  lines.push(`Content-Length: ${body.length}`, '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), body]));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
