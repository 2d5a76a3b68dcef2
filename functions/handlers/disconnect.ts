// $disconnect: best effort on AWS (never guaranteed), so the reaper also finds sessions that never get here.
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { WebSocketEvent } from './event';
import { log, runtime } from './grpc-runtime';

export async function handler(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
  const { connectionId, domainName, stage } = event.requestContext;
  try {
    await (await runtime()).core({ domainName, stage }).disconnect(connectionId);
  } catch (err) {
    log.error('voice.disconnect-failed', { connectionId, error: (err as Error)?.stack ?? String(err) });
  }
  return { statusCode: 200, body: '' };
}
