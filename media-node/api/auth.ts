// Caller authentication for the media node's gRPC APIs: a shared secret sent in call metadata as
// `authorization: Bearer <secret>`. Two APIs, two secrets (docs/deploy-aws.md "Media node secrets"): the API the signalling
// side calls (MediaNodeService) and the node-to-node API (MediaNodeSpan); a node holding only one cannot use
// the other. Each is rotatable without downtime: a server accepts every secret of its `SecretRing` (the current
// one and, during a rotation, the previous and the pending one) while callers send the current one.
// No mediasoup import: the signalling side imports this.
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';

export const AUTH_METADATA_KEY = 'authorization';

/** The secrets one API accepts, and the one its callers send. */
export interface SecretRing {
  /** What outgoing calls present (Secrets Manager's AWSCURRENT). */
  current(): string;
  /** What incoming calls may present: current first, then previous / pending (a rotation in progress). */
  accepted(): readonly string[];
}

/** A fixed ring: `current` plus any still-accepted previous secrets (empty ones ignored). */
export function staticRing(current: string, ...others: (string | undefined)[]): SecretRing {
  if (!current) throw new Error('config.missing-secret: a secret ring needs a current secret');
  const accepted = [current, ...others.filter((s): s is string => !!s && s !== current)];
  return { current: () => current, accepted: () => accepted };
}

export function bearerValue(secret: string): string {
  return `Bearer ${secret}`;
}

/** Call metadata that authenticates a caller holding `secret`. */
export function authMetadata(secret: string): Metadata {
  const metadata = new Metadata();
  metadata.set(AUTH_METADATA_KEY, bearerValue(secret));
  return metadata;
}

/**
 * True when the metadata carries exactly `Bearer <s>` for one of `secrets` (a string or a ring's accepted
 * list). Constant time in the secrets' content: every accepted secret is compared, whatever matched.
 */
export function isAuthorized(metadata: Metadata, secrets: string | readonly string[]): boolean {
  const values = metadata.get(AUTH_METADATA_KEY);
  if (values.length !== 1) return false;
  const presented = values[0];
  if (typeof presented !== 'string') return false;
  // Hash both sides so the comparison has a fixed length whatever was presented.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const mine = digest(presented);
  let ok = false;
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    if (timingSafeEqual(mine, digest(bearerValue(secret)))) ok = true;
  }
  return ok;
}
