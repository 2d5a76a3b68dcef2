// $default: one client frame. Text frames (hrpc1.base64) arrive as the body; binary frames (hrpc1, local
// non-strict mode only — API Gateway refuses them) arrive base64-encoded with isBase64Encoded.
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { WebSocketEvent } from './event';
import { log, runtime } from './runtime';

export async function handler(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
  const { connectionId, domainName, stage } = event.requestContext;
  try {
    const body = event.body ?? '';
    const payload = event.isBase64Encoded ? new Uint8Array(Buffer.from(body, 'base64')) : body;
    await (await runtime()).core({ domainName, stage }).receive(connectionId, payload);
  } catch (err) {
    // receive() never throws; this is configuration failure (no runtime), logged for the operator.
    log.error('voice.default-failed', { connectionId, error: (err as Error)?.stack ?? String(err) });
  }
  return { statusCode: 200, body: '' };
}
