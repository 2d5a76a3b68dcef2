// $connect: authenticate before the upgrade. No or bad token → 401; no hRPC subprotocol → 400; both with an
// hrpc.v1.Error body. On success the chosen subprotocol (hrpc1 or hrpc1.base64, never the token) is echoed.
import type { APIGatewayProxyResult } from 'aws-lambda';
import { Error as HrpcError } from '../../gen/hrpc/v1/hrpc';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { parseHandshake } from '../../protocol/hrpc';
import { log, runtime } from './runtime';
import type { WebSocketEvent } from './event';

export async function handler(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
  const { connectionId, domainName, stage } = event.requestContext;
  try {
    const rt = await runtime();
    const handshake = parseHandshake(event.headers ?? {});
    const claims = rt.verify(handshake.token);
    await rt.core({ domainName, stage }).connect(connectionId, { userId: claims.sub, grants: claims.channels }, handshake.variant, { resume: handshake.resume });
    return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': handshake.subprotocol }, body: '' };
  } catch (err) {
    const error = err instanceof VoiceError ? err : new VoiceError(ErrorId.internal, 'the voice service could not accept this connection');
    const statusCode = error.identifier === ErrorId.blankSession ? 401 : error.identifier === ErrorId.internal ? 500 : 400;
    if (statusCode === 500) log.error('voice.connect-failed', { connectionId, error: (err as Error)?.stack ?? String(err) });
    else log.info('voice.connect-rejected', { connectionId, identifier: error.identifier, message: error.humanMessage });
    return {
      statusCode,
      headers: { 'Content-Type': 'application/hrpc', 'Hrpc-Version': '1' },
      body: Buffer.from(HrpcError.encode({ identifier: error.identifier, humanMessage: error.humanMessage, details: new Uint8Array() }).finish()).toString('base64'),
      isBase64Encoded: true,
    };
  }
}
