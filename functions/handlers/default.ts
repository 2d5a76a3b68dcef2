// $default: one client frame. Text frames (hrpc1.base64) arrive as the body; binary frames (hrpc1, local
// non-strict mode only — API Gateway refuses them) arrive base64-encoded with isBase64Encoded.
// Each connection is rate limited first (message-rate-limit.ts): over the limit, the frame is dropped.
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { METRIC } from '../../lib/metrics';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { errorFrameOf, KEEPALIVE_FRAME } from '../../protocol/hrpc';
import type { WebSocketEvent } from './event';
import { runtime } from './grpc-runtime';
import { MessageRateLimiter, rateLimitFromEnv, type RateLimitSettings } from './message-rate-limit';
import { withInvocation } from './telemetry';

let limiter: { key: string; limiter: MessageRateLimiter } | undefined;

function limiterFor(env: NodeJS.ProcessEnv): MessageRateLimiter {
  const settings: RateLimitSettings = rateLimitFromEnv(env);
  const key = `${settings.burst}/${settings.ratePerSecond}`;
  if (limiter?.key !== key) limiter = { key, limiter: new MessageRateLimiter(settings) };
  return limiter.limiter;
}

export function handler(event: WebSocketEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return withInvocation<APIGatewayProxyResult>(event, context, async ({ log, metrics }) => {
    const { connectionId, domainName, stage } = event.requestContext;
    try {
      const body = event.body ?? '';
      if (!event.isBase64Encoded && body === KEEPALIVE_FRAME) return { statusCode: 200, body: '' };
      const verdict = limiterFor(process.env).take(connectionId, Date.now());
      const rt = await runtime();
      if (!verdict.allowed) {
        log.warn('voice.rate-limited', { dropped: verdict.dropped });
        if (verdict.tell) {
          const error = new VoiceError(
            ErrorId.rateLimited,
            'too many messages on this stream; this one was dropped, slow down',
            { retryAfterSeconds: verdict.retryAfterSeconds },
          );
          await rt
            .gateway({ domainName, stage })
            .send(connectionId, errorFrameOf(error), event.isBase64Encoded ? 'binary' : 'base64');
        }
        return { statusCode: 200, body: '' };
      }
      const payload = event.isBase64Encoded ? new Uint8Array(Buffer.from(body, 'base64')) : body;
      await rt.core({ domainName, stage }, { log, metrics }).receive(connectionId, payload);
    } catch (err) {
      // receive() never throws; this is configuration failure (no runtime), logged for the operator.
      log.error('voice.default-failed', { error: (err as Error)?.stack ?? String(err) });
      metrics.count(METRIC.internalErrors);
    }
    return { statusCode: 200, body: '' };
  });
}
