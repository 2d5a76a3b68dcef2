// $connect: authenticate before the upgrade. Not through the front door (when VOICE_FRONT_DOOR_SECRET is set) → 403;
// no or bad token → 401; no hRPC subprotocol, or no text variant offered where the gateway carries only text
// frames (VOICE_TEXT_FRAMES_ONLY=1: API Gateway; binary values are then never selected) → 400; a user over
// its per-user limits (functions/voice/user-limits.ts: connects a minute, open streams) → 429 `voice.rate-limited`
// with RetryInfo in the details and a Retry-After header; all with an hrpc.v1.Error body. On success the chosen
// subprotocol (never the token) is echoed.
// It never calls a media node: its runtime has no media client, so its bundle carries no gRPC code.
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { Error as HrpcError, RetryInfo } from '../../gen/hrpc/v1/hrpc';
import { METRIC } from '../../lib/metrics';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { parseHandshake } from '../../protocol/hrpc';
import { NO_MEDIA, runtimeWith } from './runtime';
import { cameThroughFrontDoor } from './front-door-check';
import { withInvocation } from './telemetry';
import type { WebSocketEvent } from './event';

const runtime = runtimeWith(NO_MEDIA);

/** An upgrade that did not come through the front door (403, docs/deploy-aws.md "Front door and concurrency"). */
class NotThroughFrontDoor extends VoiceError {
  constructor() {
    super(ErrorId.badStreamingRequest, "connect through the service's published WebSocket URL (its front door)");
  }
}

/** HTTP status of a refused upgrade by identifier (anything else: 400). */
const STATUS: Partial<Record<string, number>> = {
  [ErrorId.blankSession]: 401,
  [ErrorId.rateLimited]: 429,
  [ErrorId.internal]: 500,
};

export function handler(event: WebSocketEvent, context?: Context): Promise<APIGatewayProxyResult> {
  return withInvocation(event, context, async ({ log, metrics }): Promise<APIGatewayProxyResult> => {
    const { connectionId, domainName, stage } = event.requestContext;
    try {
      const frontDoorSecret = process.env.VOICE_FRONT_DOOR_SECRET;
      if (frontDoorSecret && !cameThroughFrontDoor(event.headers ?? {}, frontDoorSecret))
        throw new NotThroughFrontDoor();
      const handshake = parseHandshake(event.headers ?? {}, {
        binaryFrames: process.env.VOICE_TEXT_FRAMES_ONLY !== '1',
      });
      const rt = await runtime();
      const { userId, grants, moderates, expiresAt } = await rt.verify(handshake.token);
      await rt
        .core({ domainName, stage }, { log, metrics })
        .connect(connectionId, { userId, grants, moderates, expiresAt }, handshake.variant, {
          resume: handshake.resume,
          ext: handshake.ext,
        });
      metrics.count(METRIC.connects);
      return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': handshake.subprotocol }, body: '' };
    } catch (err) {
      const error =
        err instanceof VoiceError
          ? err
          : new VoiceError(ErrorId.internal, 'the voice service could not accept this connection');
      const statusCode = err instanceof NotThroughFrontDoor ? 403 : (STATUS[error.identifier] ?? 400);
      const retryAfter = error.options.retryAfterSeconds;
      if (statusCode === 500) {
        log.error('voice.connect-failed', { error: (err as Error)?.stack ?? String(err) });
        metrics.count(METRIC.internalErrors);
      } else {
        log.info('voice.connect-rejected', { identifier: error.identifier, message: error.humanMessage });
      }
      metrics.count(METRIC.connectsRefused, 1, { Identifier: error.identifier });
      return {
        statusCode,
        headers: {
          'Content-Type': 'application/hrpc',
          'Hrpc-Version': '1',
          ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
        },
        body: Buffer.from(
          HrpcError.encode({
            identifier: error.identifier,
            humanMessage: error.humanMessage,
            details: retryAfter !== undefined ? RetryInfo.encode({ retryAfter }).finish() : new Uint8Array(),
          }).finish(),
        ).toString('base64'),
        isBase64Encoded: true,
      };
    }
  });
}
