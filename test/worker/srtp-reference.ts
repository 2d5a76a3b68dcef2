// A small, independent SRTP/SRTCP implementation (RFC 3711 AES-CM + HMAC-SHA1,
// RFC 7714 AES-GCM) on node:crypto, for the four suites mediasoup offers. It
// exists to check the worker's libsrtp-3-over-libsrtp2 adapter against code
// that shares nothing with libsrtp (werift only covers two of the suites).
// Test-only: no MKI, key derivation rate 0, one SSRC per context.
import crypto from 'node:crypto';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32' | 'AEAD_AES_128_GCM' | 'AEAD_AES_256_GCM';

export const SUITES: Record<SrtpSuite, { keyLen: number; saltLen: number; gcm: boolean; rtpTagLen: number }> = {
  AES_CM_128_HMAC_SHA1_80: { keyLen: 16, saltLen: 14, gcm: false, rtpTagLen: 10 },
  AES_CM_128_HMAC_SHA1_32: { keyLen: 16, saltLen: 14, gcm: false, rtpTagLen: 4 },
  AEAD_AES_128_GCM: { keyLen: 16, saltLen: 12, gcm: true, rtpTagLen: 16 },
  AEAD_AES_256_GCM: { keyLen: 32, saltLen: 12, gcm: true, rtpTagLen: 16 },
};
// RFC 3711 §4.1.2 and RFC 5764 §4.1.2: SRTCP always carries an 80-bit tag (also for *_32).
const SRTCP_CM_TAG_LEN = 10;
const GCM_TAG_LEN = 16;

function aesEcbCtr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const cipher = crypto.createCipheriv(`aes-${key.length * 8}-ctr`, key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** RFC 3711 §4.3.3 AES-CM PRF (kdr = 0); the master salt is zero-padded to 14 bytes (as libsrtp does for GCM). */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const x = Buffer.alloc(16);
  masterSalt.copy(x, 0, 0, Math.min(14, masterSalt.length));
  x[7] = (x[7] ?? 0) ^ label;
  return aesEcbCtr(masterKey, x, Buffer.alloc(length));
}

interface SessionKeys {
  encKey: Buffer;
  salt: Buffer;
  authKey: Buffer;
}

function sessionKeys(suite: SrtpSuite, master: Buffer, rtcp: boolean): SessionKeys {
  const { keyLen, saltLen, gcm } = SUITES[suite];
  const key = master.subarray(0, keyLen);
  const salt = master.subarray(keyLen, keyLen + saltLen);
  const base = rtcp ? 3 : 0;
  return {
    encKey: deriveKey(key, salt, base, keyLen),
    authKey: gcm ? Buffer.alloc(0) : deriveKey(key, salt, base + 1, 20),
    salt: deriveKey(key, salt, base + 2, saltLen),
  };
}

function rtpHeaderLength(packet: Buffer): number {
  const csrcCount = (packet[0] ?? 0) & 0x0f;
  let length = 12 + 4 * csrcCount;
  if (((packet[0] ?? 0) & 0x10) !== 0) length += 4 + 4 * packet.readUInt16BE(length + 2);
  return length;
}

function cmIv(salt: Buffer, ssrc: number, index: bigint): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  const mix = Buffer.alloc(16);
  mix.writeUInt32BE(ssrc, 4);
  mix.writeUIntBE(Number(index), 8, 6);
  for (let i = 0; i < 16; i++) iv[i] = (iv[i] ?? 0) ^ (mix[i] ?? 0);
  return iv;
}

function gcmIv(salt: Buffer, ssrc: number, high: number, low: number, lowBytes: 2 | 4): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc, 2);
  if (lowBytes === 2) {
    iv.writeUInt32BE(high, 6); // ROC
    iv.writeUInt16BE(low, 10); // SEQ
  } else {
    iv.writeUInt32BE(low, 8); // SRTCP index
  }
  for (let i = 0; i < 12; i++) iv[i] = (iv[i] ?? 0) ^ (salt[i] ?? 0);
  return iv;
}

function hmacTag(key: Buffer, length: number, ...parts: Buffer[]): Buffer {
  const mac = crypto.createHmac('sha1', key);
  for (const part of parts) mac.update(part);
  return mac.digest().subarray(0, length);
}

function gcm(mode: 'encrypt' | 'decrypt', key: Buffer, iv: Buffer, aad: Buffer, data: Buffer, tag?: Buffer): Buffer {
  const algorithm = `aes-${key.length * 8}-gcm` as crypto.CipherGCMTypes;
  if (mode === 'encrypt') {
    const cipher = crypto.createCipheriv(algorithm, key, iv, { authTagLength: GCM_TAG_LEN }).setAAD(aad);
    return Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
  }
  const decipher = crypto.createDecipheriv(algorithm, key, iv, { authTagLength: GCM_TAG_LEN }).setAAD(aad);
  decipher.setAuthTag(tag ?? Buffer.alloc(0));
  return Buffer.concat([decipher.update(data), decipher.final()]); // throws on a bad tag
}

/** One direction of one SRTP session (sequence numbers are assumed not to wrap: ROC 0). */
export class SrtpContext {
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private srtcpIndex = 0;

  constructor(
    readonly suite: SrtpSuite,
    masterKeyAndSalt: Buffer,
  ) {
    const { keyLen, saltLen } = SUITES[suite];
    if (masterKeyAndSalt.length !== keyLen + saltLen)
      throw new Error(`${suite}: key+salt must be ${keyLen + saltLen} bytes`);
    this.rtp = sessionKeys(suite, masterKeyAndSalt, false);
    this.rtcp = sessionKeys(suite, masterKeyAndSalt, true);
  }

  protectRtp(packet: Buffer): Buffer {
    const { gcm: isGcm, rtpTagLen } = SUITES[this.suite];
    const headerLen = rtpHeaderLength(packet);
    const header = packet.subarray(0, headerLen);
    const payload = packet.subarray(headerLen);
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    if (isGcm)
      return Buffer.concat([
        header,
        gcm('encrypt', this.rtp.encKey, gcmIv(this.rtp.salt, ssrc, 0, seq, 2), header, payload),
      ]);
    const encrypted = Buffer.concat([
      header,
      aesEcbCtr(this.rtp.encKey, cmIv(this.rtp.salt, ssrc, BigInt(seq)), payload),
    ]);
    return Buffer.concat([encrypted, hmacTag(this.rtp.authKey, rtpTagLen, encrypted, Buffer.alloc(4))]);
  }

  unprotectRtp(packet: Buffer): Buffer {
    const { gcm: isGcm, rtpTagLen } = SUITES[this.suite];
    const headerLen = rtpHeaderLength(packet);
    const header = packet.subarray(0, headerLen);
    const ssrc = packet.readUInt32BE(8);
    const seq = packet.readUInt16BE(2);
    const body = packet.subarray(headerLen, packet.length - rtpTagLen);
    const tag = packet.subarray(packet.length - rtpTagLen);
    if (isGcm)
      return Buffer.concat([
        header,
        gcm('decrypt', this.rtp.encKey, gcmIv(this.rtp.salt, ssrc, 0, seq, 2), header, body, tag),
      ]);
    const expected = hmacTag(
      this.rtp.authKey,
      rtpTagLen,
      packet.subarray(0, packet.length - rtpTagLen),
      Buffer.alloc(4),
    );
    if (!crypto.timingSafeEqual(expected, tag)) throw new Error('SRTP authentication failed');
    return Buffer.concat([header, aesEcbCtr(this.rtp.encKey, cmIv(this.rtp.salt, ssrc, BigInt(seq)), body)]);
  }

  protectRtcp(packet: Buffer): Buffer {
    const index = ++this.srtcpIndex;
    const eIndex = Buffer.alloc(4);
    eIndex.writeUInt32BE((0x80000000 | index) >>> 0);
    const header = packet.subarray(0, 8);
    const ssrc = packet.readUInt32BE(4);
    if (SUITES[this.suite].gcm) {
      const aad = Buffer.concat([header, eIndex]);
      const sealed = gcm(
        'encrypt',
        this.rtcp.encKey,
        gcmIv(this.rtcp.salt, ssrc, 0, index, 4),
        aad,
        packet.subarray(8),
      );
      return Buffer.concat([header, sealed, eIndex]);
    }
    const encrypted = Buffer.concat([
      header,
      aesEcbCtr(this.rtcp.encKey, cmIv(this.rtcp.salt, ssrc, BigInt(index)), packet.subarray(8)),
      eIndex,
    ]);
    return Buffer.concat([encrypted, hmacTag(this.rtcp.authKey, SRTCP_CM_TAG_LEN, encrypted)]);
  }

  unprotectRtcp(packet: Buffer): Buffer {
    const isGcm = SUITES[this.suite].gcm;
    const tagLen = isGcm ? 0 : SRTCP_CM_TAG_LEN; // GCM's tag sits before the E|index word
    const eIndex = packet.subarray(packet.length - tagLen - 4, packet.length - tagLen);
    const word = eIndex.readUInt32BE(0);
    if ((word & 0x80000000) === 0) throw new Error('unencrypted SRTCP is not expected here');
    const index = word & 0x7fffffff;
    const header = packet.subarray(0, 8);
    const ssrc = packet.readUInt32BE(4);
    if (isGcm) {
      const sealed = packet.subarray(8, packet.length - 4);
      const body = sealed.subarray(0, sealed.length - GCM_TAG_LEN);
      const tag = sealed.subarray(sealed.length - GCM_TAG_LEN);
      const aad = Buffer.concat([header, eIndex]);
      return Buffer.concat([
        header,
        gcm('decrypt', this.rtcp.encKey, gcmIv(this.rtcp.salt, ssrc, 0, index, 4), aad, body, tag),
      ]);
    }
    const authenticated = packet.subarray(0, packet.length - tagLen);
    const expected = hmacTag(this.rtcp.authKey, tagLen, authenticated);
    if (!crypto.timingSafeEqual(expected, packet.subarray(packet.length - tagLen)))
      throw new Error('SRTCP authentication failed');
    const body = packet.subarray(8, packet.length - tagLen - 4);
    return Buffer.concat([header, aesEcbCtr(this.rtcp.encKey, cmIv(this.rtcp.salt, ssrc, BigInt(index)), body)]);
  }
}
