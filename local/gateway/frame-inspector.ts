// Reads WebSocket frame headers (RFC 6455 §5.2) from the raw client byte stream, beside `ws`, which only
// reports whole messages. API Gateway limits single frames (32 KB) as well as messages (128 KB) and
// rejects binary frames in its strict behaviour; both must be seen per frame, as the header arrives.
export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;

export interface FrameHeader {
  fin: boolean;
  opcode: number;
  payloadLength: number;
}

export class FrameInspector {
  private header = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly onFrame: (frame: FrameHeader) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const need = headerLength(this.header);
      const take = Math.min(need - this.header.length, chunk.length - offset);
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.header.length < 2 || this.header.length < headerLength(this.header)) continue;
      const frame = parseHeader(this.header);
      this.header = Buffer.alloc(0);
      this.skip = frame.payloadLength;
      this.onFrame(frame);
    }
  }
}

/** Bytes the header needs, as far as the bytes so far tell: 2, then 2 + extended length + mask key. */
function headerLength(header: Buffer): number {
  if (header.length < 2) return 2;
  const len7 = header[1]! & 0x7f;
  const masked = (header[1]! & 0x80) !== 0;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
}

function parseHeader(header: Buffer): FrameHeader {
  const len7 = header[1]! & 0x7f;
  const payloadLength = len7 === 126 ? header.readUInt16BE(2) : len7 === 127 ? Number(header.readBigUInt64BE(2)) : len7;
  return { fin: (header[0]! & 0x80) !== 0, opcode: header[0]! & 0x0f, payloadLength };
}
