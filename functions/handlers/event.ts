// The parts of API Gateway's WebSocket proxy events the handlers read (AWS sends more).
export interface WebSocketEvent {
  requestContext: {
    connectionId: string;
    routeKey: string;
    /** API Gateway's id of this request (the logs' correlation_id). */
    requestId?: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    domainName: string;
    stage: string;
    /** $disconnect only: the close status (1000 = a normal close by the client; 1006 = no close frame). */
    disconnectStatusCode?: number;
  };
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
}
