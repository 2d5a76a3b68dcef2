// The events API Gateway WebSocket APIs hand to Lambda proxy integrations, built the same way here.
// Field names and shapes follow @types/aws-lambda (APIGatewayProxyWebsocketEventV2, the REST-style
// headers/multiValueHeaders of $connect) and the events AWS documents for $connect, $default and $disconnect.
import type { APIGatewayEventIdentity, APIGatewayEventWebsocketRequestContextV2 } from 'aws-lambda';
import { awsStyleId, clfTime } from './ids';

/** What the gateway knows about an API and one of its connections. */
export interface ConnectionFacts {
  connectionId: string;
  /** Epoch ms. */
  connectedAt: number;
  sourceIp: string;
  userAgent: string | null;
  domainName: string;
  stage: string;
  apiId: string;
}

export type WebSocketIdentity = Pick<
  APIGatewayEventIdentity,
  | 'accessKey'
  | 'accountId'
  | 'caller'
  | 'cognitoAuthenticationProvider'
  | 'cognitoAuthenticationType'
  | 'cognitoIdentityId'
  | 'cognitoIdentityPoolId'
  | 'principalOrgId'
  | 'sourceIp'
  | 'user'
  | 'userAgent'
  | 'userArn'
>;

type BaseRequestContext = Omit<APIGatewayEventWebsocketRequestContextV2, 'messageId'> & { identity: WebSocketIdentity };

export interface ConnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  requestContext: BaseRequestContext & { routeKey: '$connect'; eventType: 'CONNECT' };
  isBase64Encoded: false;
}

export interface MessageEvent {
  requestContext: BaseRequestContext & { routeKey: '$default'; eventType: 'MESSAGE'; messageId: string };
  body: string;
  isBase64Encoded: boolean;
}

export interface DisconnectEvent {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  requestContext: BaseRequestContext & {
    routeKey: '$disconnect';
    eventType: 'DISCONNECT';
    disconnectStatusCode: number;
    disconnectReason: string;
  };
  isBase64Encoded: false;
}

export type GatewayEvent = ConnectEvent | MessageEvent | DisconnectEvent;

export interface UpgradeRequestFacts {
  /** `IncomingMessage.rawHeaders`: alternating names (original case) and values. */
  rawHeaders: string[];
  /** Path and query of the upgrade request, e.g. "/protocol.voice.v1.VoiceService/StreamMessage?x=1". */
  url: string;
  localPort: number;
}

export function connectEvent(facts: ConnectionFacts, request: UpgradeRequestFacts, now = Date.now()): ConnectEvent {
  // API Gateway passes the client's headers and adds its own forwarding ones.
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2)
    pairs.push([request.rawHeaders[i]!, request.rawHeaders[i + 1]!]);
  pairs.push(
    ['X-Amzn-Trace-Id', `Root=1-${Math.floor(now / 1000).toString(16)}-${awsStyleId().slice(0, 12)}`],
    ['X-Forwarded-For', facts.sourceIp],
    ['X-Forwarded-Port', String(request.localPort)],
    ['X-Forwarded-Proto', 'http'],
  );
  const { headers, multiValueHeaders } = headerMaps(pairs);
  const event: ConnectEvent = {
    headers,
    multiValueHeaders,
    requestContext: { ...baseContext(facts, now), routeKey: '$connect', eventType: 'CONNECT' },
    isBase64Encoded: false,
  };
  const query = queryMaps(request.url);
  if (query) Object.assign(event, query);
  return event;
}

/** A text frame's body is its text; a binary frame's body is base64 with isBase64Encoded, as AWS represents binary. */
export function messageEvent(facts: ConnectionFacts, payload: string | Buffer, now = Date.now()): MessageEvent {
  const binary = typeof payload !== 'string';
  return {
    requestContext: { ...baseContext(facts, now), routeKey: '$default', eventType: 'MESSAGE', messageId: awsStyleId() },
    body: binary ? payload.toString('base64') : payload,
    isBase64Encoded: binary,
  };
}

export function disconnectEvent(
  facts: ConnectionFacts,
  status: { code: number; reason: string },
  now = Date.now(),
): DisconnectEvent {
  // AWS sends these four headers on $disconnect, not the client's.
  const { headers, multiValueHeaders } = headerMaps([
    ['Host', facts.domainName],
    ['x-api-key', ''],
    ['X-Forwarded-For', ''],
    ['x-restapi', ''],
  ]);
  return {
    headers,
    multiValueHeaders,
    requestContext: {
      ...baseContext(facts, now),
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: status.code,
      disconnectReason: status.reason,
    },
    isBase64Encoded: false,
  };
}

function baseContext(facts: ConnectionFacts, now: number): Omit<BaseRequestContext, 'routeKey' | 'eventType'> {
  const requestId = awsStyleId();
  return {
    extendedRequestId: requestId,
    requestTime: clfTime(new Date(now)),
    messageDirection: 'IN',
    stage: facts.stage,
    connectedAt: facts.connectedAt,
    requestTimeEpoch: now,
    identity: identityOf(facts),
    requestId,
    domainName: facts.domainName,
    connectionId: facts.connectionId,
    apiId: facts.apiId,
  };
}

function identityOf(facts: ConnectionFacts): WebSocketIdentity {
  return {
    accessKey: null,
    accountId: null,
    caller: null,
    cognitoAuthenticationProvider: null,
    cognitoAuthenticationType: null,
    cognitoIdentityId: null,
    cognitoIdentityPoolId: null,
    principalOrgId: null,
    sourceIp: facts.sourceIp,
    user: null,
    userAgent: facts.userAgent,
    userArn: null,
  };
}

/** `headers` keeps the last value of a repeated header; `multiValueHeaders` keeps them all (as API Gateway does). */
function headerMaps(pairs: Array<[string, string]>) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of pairs) {
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  return { headers, multiValueHeaders };
}

function queryMaps(url: string) {
  const search = new URL(url, 'http://gateway.invalid').searchParams;
  if ([...search.keys()].length === 0) return undefined;
  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [name, value] of search) {
    queryStringParameters[name] = value;
    (multiValueQueryStringParameters[name] ??= []).push(value);
  }
  return { queryStringParameters, multiValueQueryStringParameters };
}
