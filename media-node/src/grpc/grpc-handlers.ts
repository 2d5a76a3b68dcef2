// What the node's two gRPC services (the API for the signalling side, MediaNodeSpan between nodes) share:
// the shared-secret check on every call, MediaError → gRPC status, and the unary handler around a promise.
import type { handleUnaryCall, Metadata, ServerWritableStream, StatusObject } from '@grpc/grpc-js';
import { isAuthorized, type SecretRing } from '../../api/auth';
import { MediaError } from '../../api/errors';

export interface GrpcHandlers {
  /** `unary('Method', async (request) => response)`: refused unauthenticated, failures mapped to a status. */
  unary<Req, Res>(method: string, handle: (request: Req) => Promise<Res>): handleUnaryCall<Req, Res>;
  /** For a server stream: true when the caller may open it; otherwise the stream is failed (unauthenticated). */
  admitStream(method: string, call: ServerWritableStream<unknown, unknown>): boolean;
  toStatus(method: string, error: unknown): Partial<StatusObject>;
}

/**
 * `secrets` (the ring of this API: every secret it accepts now) undefined only when the node runs with
 * MEDIA_GRPC_INSECURE=1. `onFailure` sees every failed call (metrics, logs) with the MediaError it is answered with.
 */
export function grpcHandlers(
  secrets: SecretRing | undefined,
  onFailure: (method: string, failure: MediaError, error: unknown) => void,
): GrpcHandlers {
  const authorized = (metadata: Metadata) => secrets === undefined || isAuthorized(metadata, secrets.accepted());
  const unauthenticated = () => new MediaError('unauthenticated', 'missing or wrong shared secret');
  const toStatus = (method: string, error: unknown): Partial<StatusObject> => {
    const failure =
      error instanceof MediaError
        ? error
        : new MediaError('internal', error instanceof Error ? error.message : String(error));
    onFailure(method, failure, error);
    return { code: failure.code, details: failure.details };
  };
  return {
    toStatus,
    unary: (method, handle) => (call, callback) => {
      if (!authorized(call.metadata)) {
        callback(toStatus(method, unauthenticated()));
        return;
      }
      handle(call.request).then(
        (response) => callback(null, response),
        (error) => callback(toStatus(method, error)),
      );
    },
    admitStream: (method, call) => {
      if (authorized(call.metadata)) return true;
      call.emit('error', toStatus(method, unauthenticated()));
      return false;
    },
  };
}
