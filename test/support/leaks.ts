// "Error messages carry no internal ids": what a client-visible human message must never contain.
// Every VoiceTestClient checks each error frame it receives against these (see voice-client.ts), so every
// signalling suite enforces it, and a file fails in its `after` hook when one leaked.
import assert from 'node:assert/strict';

const PATTERNS: ReadonlyArray<readonly [string, RegExp]> = [
  // API Gateway connection ids (= media session ids): 16 characters of URL-safe base64 ending in '='.
  ['a connection or session id', /(?:^|[^A-Za-z0-9_-])[A-Za-z0-9_-]{15}=(?![A-Za-z0-9_=-])/],
  // Media node ids and gRPC addresses: host:port (local ids are <hostname>:<port>, EC2 ones i-…).
  ['a node id or address', /\b[\w.-]+:\d{2,5}\b|\bi-[0-9a-f]{8,17}\b/],
  // grpc-js and socket error texts.
  [
    'gRPC or socket internals',
    /\b\d{1,2} (?:UNAVAILABLE|DEADLINE_EXCEEDED|INTERNAL|UNKNOWN|CANCELLED)\b|No connection established|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Received RST_STREAM/,
  ],
  // mediasoup object ids (UUIDs) of transports, producers, routers.
  ['a mediasoup object id', /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/i],
];

/** The kinds of internal ids found in `message` (empty: clean). */
export function internalIdsIn(message: string): string[] {
  return PATTERNS.filter(([, re]) => re.test(message)).map(([kind]) => kind);
}

const leaks: string[] = [];

/** Records a client-visible error message that carries an internal id. */
export function checkClientMessage(identifier: string, message: string): void {
  const kinds = internalIdsIn(message);
  if (kinds.length > 0) leaks.push(`${identifier}: "${message}" carries ${kinds.join(', ')}`);
}

export function assertNoLeaks(): void {
  assert.deepEqual(leaks, [], `client-visible error messages with internal ids:\n${leaks.join('\n')}`);
}
