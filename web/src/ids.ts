// Harmony ids are uint64: accepted as bigint or decimal string, never as a JS number (which
// would silently round ids above 2^53).
import { VoiceClientError, ClientErrorId } from './errors';

const DECIMAL_U64 = /^(0|[1-9][0-9]{0,19})$/;

export type Uint64Input = bigint | string;

export function toUint64(value: Uint64Input, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value >= 0n && value < 1n << 64n) return value;
  } else if (typeof value === 'string' && DECIMAL_U64.test(value.trim())) {
    const parsed = BigInt(value.trim());
    if (parsed < 1n << 64n) return parsed;
  }
  throw new VoiceClientError(
    ClientErrorId.badArgument,
    `${what} must be a uint64 as a bigint or a decimal string, got ${String(value)}`,
  );
}
