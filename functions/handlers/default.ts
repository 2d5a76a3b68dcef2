// $default: one client frame. Text frames (hrpc1.base64) arrive as the body; binary frames (hrpc1, local
// non-strict mode only — API Gateway refuses them) arrive base64-encoded with isBase64Encoded.
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { METRIC } from '../../lib/metrics';
import type { WebSocketEvent } from './event';
import { runtime } from './runtime';
import { withInvocation } from './telemetry';

export function handler(event: WebSocketEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return withInvocation<APIGatewayProxyResult>(event, context, async ({ log, metrics }) => {
    const { connectionId, domainName, stage } = event.requestContext;
    try {
      const body = event.body ?? '';
      const payload = event.isBase64Encoded ? new Uint8Array(Buffer.from(body, 'base64')) : body;
      await (await runtime()).core({ domainName, stage }, { log, metrics }).receive(connectionId, payload);
    } catch (err) {
      // receive() never throws; this is configuration failure (no runtime), logged for the operator.
      log.error('voice.default-failed', { error: (err as Error)?.stack ?? String(err) });
      metrics.count(METRIC.internalErrors);
    }
    return { statusCode: 200, body: '' };
  });
}
