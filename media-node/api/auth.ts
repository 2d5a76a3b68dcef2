// Caller authentication for the media node's gRPC API: a shared secret sent in call metadata
// as `authorization: Bearer <secret>`. No mediasoup import: the signalling side imports this.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';

export const AUTH_METADATA_KEY = 'authorization';

export function bearerValue(secret: string): string {
  return `Bearer ${secret}`;
}

/** Call metadata that authenticates a caller holding `secret`. */
export function authMetadata(secret: string): Metadata {
  const metadata = new Metadata();
  metadata.set(AUTH_METADATA_KEY, bearerValue(secret));
  return metadata;
}

/** True when the metadata carries exactly `Bearer <secret>`. Constant time in the secret's content. */
export function isAuthorized(metadata: Metadata, secret: string): boolean {
  const values = metadata.get(AUTH_METADATA_KEY);
  if (values.length !== 1) return false;
  const presented = values[0];
  if (typeof presented !== 'string') return false;
  // Hash both sides so the comparison has a fixed length whatever was presented.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(bearerValue(secret)));
}
