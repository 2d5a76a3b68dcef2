// $disconnect: best effort on AWS (never guaranteed), so the reaper also finds sessions that never get here.
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { WebSocketEvent } from './event';
import { log, runtime } from './runtime';

export async function handler(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
  const { connectionId, domainName, stage, disconnectStatusCode } = event.requestContext;
  try {
    // resume.v1: a normal close (1000) is leaving; any other end of the socket suspends a resumable session.
    await (await runtime()).core({ domainName, stage }).disconnect(connectionId, { normalClose: disconnectStatusCode === 1000 });
  } catch (err) {
    log.error('voice.disconnect-failed', { connectionId, error: (err as Error)?.stack ?? String(err) });
  }
  return { statusCode: 200, body: '' };
}
