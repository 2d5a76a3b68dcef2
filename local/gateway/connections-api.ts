// The `@connections` management API (POST send / GET info / DELETE close) as API Gateway serves it,
// down to what @aws-sdk/client-apigatewaymanagementapi parses: restJson1 bodies with lowercase member
// names, ISO-8601 timestamps, and errors named by the `x-amzn-errortype` header (GoneException → 410).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { awsStyleId } from './ids';

/** A connection as the management API sees it; only connections that finished $connect and are still open. */
export interface ManagedConnection {
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string | null;
  /** Resolves once the frame is handed to the socket. */
  send(data: Buffer): Promise<void>;
  /** Closes the connection; $disconnect follows. */
  disconnect(): void;
}

export interface ConnectionsApiOptions {
  stage: string;
  /** API Gateway's limit on posted data: 128 KB. */
  maxPostBytes: number;
  lookup(connectionId: string): ManagedConnection | undefined;
  /** A lower post limit for one connection (tests: a message that connection cannot be sent, as over API Gateway's limit). */
  postLimitOf?(connectionId: string): number | undefined;
  onAction?(action: 'post' | 'get' | 'delete' | 'gone' | 'too-large', connectionId: string, bytes?: number): void;
}

const PATH = /^\/(?:([^/]+)\/)?@connections\/([^/?]+)(?:\?.*)?$/;

/** Handles the request when it targets `@connections`; returns false to let other routes try. */
export function handleConnectionsRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: ConnectionsApiOptions,
): boolean {
  const match = PATH.exec(req.url ?? '');
  if (!match) return false;
  const [, stage, rawId] = match;
  void respond(req, res, options, stage, rawId!).catch((err: Error) => {
    if (!res.headersSent) sendError(res, 500, 'InternalServerErrorException', err.message);
    else res.destroy(err);
  });
  return true;
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  options: ConnectionsApiOptions,
  stage: string | undefined,
  rawId: string,
): Promise<void> {
  const body = await readBody(req, options.maxPostBytes);
  if (stage !== undefined && stage !== options.stage) {
    return sendError(
      res,
      404,
      'NotFoundException',
      `no stage named ${stage} (this gateway serves stage ${options.stage})`,
    );
  }
  // The management API is SigV4-signed on AWS; an unsigned call would be refused there, so it is here.
  if (!req.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
    return sendError(res, 403, 'ForbiddenException', 'Missing Authentication Token');
  }
  let connectionId: string;
  try {
    connectionId = decodeURIComponent(rawId);
  } catch {
    return sendError(res, 400, 'BadRequestException', 'connection id is not valid percent-encoding');
  }
  const method = req.method ?? 'GET';
  if (!['POST', 'GET', 'DELETE'].includes(method)) {
    return sendError(res, 405, 'MethodNotAllowedException', `${method} is not a @connections operation`);
  }
  if (method === 'POST' && body === 'too-large') {
    options.onAction?.('too-large', connectionId);
    return sendError(
      res,
      413,
      'PayloadTooLargeException',
      `Message too long: the limit is ${options.maxPostBytes} bytes`,
    );
  }
  const limit = options.postLimitOf?.(connectionId);
  if (method === 'POST' && limit !== undefined && (body as Buffer).length > limit) {
    options.onAction?.('too-large', connectionId, (body as Buffer).length);
    return sendError(
      res,
      413,
      'PayloadTooLargeException',
      `Message too long: the limit is ${options.maxPostBytes} bytes`,
    );
  }
  const connection = options.lookup(connectionId);
  if (!connection) {
    options.onAction?.('gone', connectionId);
    return sendError(res, 410, 'GoneException', `connection ${connectionId} is gone`);
  }
  switch (method) {
    case 'POST': {
      const data = body as Buffer;
      await connection.send(data);
      options.onAction?.('post', connectionId, data.length);
      return send(res, 200);
    }
    case 'GET':
      options.onAction?.('get', connectionId);
      return send(res, 200, {
        connectedAt: new Date(connection.connectedAt).toISOString(),
        identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent ?? '' },
        lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
      });
    default:
      connection.disconnect();
      options.onAction?.('delete', connectionId);
      return send(res, 204);
  }
}

/** The whole body, or 'too-large' once it passes the limit (the rest is drained, not kept). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(length > limit ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, json?: unknown): void {
  const body = json === undefined ? '' : JSON.stringify(json);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': awsStyleId(),
  });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, errorType: string, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': awsStyleId(),
    'x-amzn-errortype': errorType,
  });
  res.end(body);
}
