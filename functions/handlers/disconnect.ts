// $disconnect: best effort on AWS (never guaranteed), so the reaper also finds sessions that never get here.
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { METRIC } from '../../lib/metrics';
import type { WebSocketEvent } from './event';
import { runtime } from './grpc-runtime';
import { withInvocation } from './telemetry';

export function handler(event: WebSocketEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return withInvocation<APIGatewayProxyResult>(event, context, async ({ log, metrics }) => {
    const { connectionId, domainName, stage, disconnectStatusCode } = event.requestContext;
    try {
      // resume.v1: a normal close (1000) is leaving; any other end of the socket suspends a resumable session.
      await (await runtime())
        .core({ domainName, stage }, { log, metrics })
        .disconnect(connectionId, { normalClose: disconnectStatusCode === 1000 });
    } catch (err) {
      log.error('voice.disconnect-failed', { error: (err as Error)?.stack ?? String(err) });
      metrics.count(METRIC.internalErrors);
    }
    return { statusCode: 200, body: '' };
  });
}
