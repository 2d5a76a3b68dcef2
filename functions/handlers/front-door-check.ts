// $connect behind the front door (infra/signalling/front-door.ts): CloudFront adds a secret origin header to every
// request it forwards; with VOICE_FRONT_DOOR_SECRET set, $connect refuses upgrades without it (403) before any token
// work, so connecting to the API's own execute-api endpoint does not get around the per-IP limits. Unset (locally,
// or without the front door): no check.
import { createHash, timingSafeEqual } from 'node:crypto';

/** The origin header CloudFront sets (it replaces any viewer header of the same name). */
export const FRONT_DOOR_HEADER = 'x-harmony-front-door';

/** True when `headers` carry the front door's secret (header names in any case; constant time in the value). */
export function cameThroughFrontDoor(headers: Record<string, string | undefined>, secret: string): boolean {
  const presented = Object.entries(headers).find(([name]) => name.toLowerCase() === FRONT_DOOR_HEADER)?.[1];
  if (typeof presented !== 'string') return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(secret));
}
