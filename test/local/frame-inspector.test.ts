// The frame header reader sees every frame however the bytes are chunked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameInspector, type FrameHeader } from '../../local/gateway/frame-inspector';

function frame(opcode: number, payloadLength: number, fin = true): Buffer {
  const ext = payloadLength < 126 ? 0 : payloadLength < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + ext + 4);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | (ext === 0 ? payloadLength : ext === 2 ? 126 : 127);
  if (ext === 2) header.writeUInt16BE(payloadLength, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(payloadLength), 2);
  return Buffer.concat([header, Buffer.alloc(payloadLength, 0x61)]);
}

describe('FrameInspector', () => {
  const stream = Buffer.concat([frame(1, 5), frame(2, 300, false), frame(0, 70_000), frame(9, 0), frame(1, 125)]);
  const expected: FrameHeader[] = [
    { fin: true, opcode: 1, payloadLength: 5 },
    { fin: false, opcode: 2, payloadLength: 300 },
    { fin: true, opcode: 0, payloadLength: 70_000 },
    { fin: true, opcode: 9, payloadLength: 0 },
    { fin: true, opcode: 1, payloadLength: 125 },
  ];

  for (const chunkSize of [1, 3, 7, 64, 1000, stream.length]) {
    it(`reads 16- and 64-bit lengths in chunks of ${chunkSize} bytes`, () => {
      const seen: FrameHeader[] = [];
      const inspector = new FrameInspector((f) => seen.push(f));
      for (let i = 0; i < stream.length; i += chunkSize) inspector.push(stream.subarray(i, i + chunkSize));
      assert.deepEqual(seen, expected);
    });
  }
});
