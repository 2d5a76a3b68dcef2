// Identifiers shaped like API Gateway's: 16 characters of URL-safe base64 ending in '=' (e.g. "VNBZ6cOXoAMCF0g="),
// so handlers that store, log or URL-encode them meet the same characters they will meet on AWS.
import { randomBytes, randomUUID } from 'node:crypto';

export function awsStyleId(): string {
  return randomBytes(11).toString('base64url') + '=';
}

export function lambdaRequestId(): string {
  return randomUUID();
}

/** Common Log Format time, as in requestContext.requestTime: "09/Feb/2019:18:11:43 +0000". */
export function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}
