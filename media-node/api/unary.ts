// Promise-returning, authenticated unary calls over a grpc-js client: what the media node's API client and
// its node-to-node span client share (one deadline per call, the shared secret on every call).
import { Metadata, type CallOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { authMetadata } from './auth';

export type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

export interface CallerOptions {
  /** Shared secret (or a getter: the current one of a rotating ring); omit only against a node started with MEDIA_GRPC_INSECURE=1. */
  secret?: string | (() => string);
  /** Per-call deadline in milliseconds (default 10 000). */
  timeoutMs?: number;
}

/** `metadata()` for streams, and `call(client.method)` → `(request) => Promise<response>` (rejects with the ServiceError). */
export function unaryCaller(client: Client, options: CallerOptions) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { secret } = options;
  const metadata = () =>
    secret === undefined ? new Metadata() : authMetadata(typeof secret === 'function' ? secret() : secret);
  const call =
    <Req, Res>(method: Unary<Req, Res>) =>
    (request: Req) =>
      new Promise<Res>((resolve, reject) => {
        method.call(client, request, metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
          error ? reject(error) : resolve(response),
        );
      });
  return { call, metadata };
}
