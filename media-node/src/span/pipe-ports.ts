// Node-to-node pipe ports (channels that span nodes: mediasoup PipeTransports between media nodes, SRTP).
// One truth for the default range: the media node's default, the fleet's security group rule
// (infra/config.ts) and the local stack's per-node slices all read DEFAULT_PIPE_PORTS. Pure.

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** UDP ports a node's PipeTransports listen on when MEDIA_PIPE_PORTS is not set. */
export const DEFAULT_PIPE_PORTS: PortRange = { min: 45000, max: 45999 };

/** "min-max" (inclusive, 1024..65535, min <= max); throws `config.bad-value: <name> …` otherwise. */
export function parsePortRange(name: string, raw: string): PortRange {
  const match = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(raw);
  const bad = (why: string) =>
    new Error(
      `config.bad-value: ${name} must be "min-max" with 1024 <= min <= max <= 65535 (${why}), got ${JSON.stringify(raw)}`,
    );
  if (!match) throw bad('not two port numbers joined by "-"');
  const min = Number(match[1]);
  const max = Number(match[2]);
  if (min < 1024 || max > 65535) throw bad('out of range');
  if (min > max) throw bad('min is above max');
  return { min, max };
}

export function formatPortRange(range: PortRange): string {
  return `${range.min}-${range.max}`;
}

/** `parts` non-overlapping slices of `range`, in order, as equal as possible (at least one port each). */
export function splitPortRange(range: PortRange, parts: number): PortRange[] {
  const size = range.max - range.min + 1;
  if (!Number.isInteger(parts) || parts < 1 || parts > size) {
    throw new Error(`config.bad-value: cannot split ports ${formatPortRange(range)} into ${parts} slices`);
  }
  const base = Math.floor(size / parts);
  const extra = size % parts;
  const slices: PortRange[] = [];
  let next = range.min;
  for (let i = 0; i < parts; i++) {
    const length = base + (i < extra ? 1 : 0);
    slices.push({ min: next, max: next + length - 1 });
    next += length;
  }
  return slices;
}
