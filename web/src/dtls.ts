// The receive transport's DTLS parameters, known before any consumer exists (VOICE-PROTOCOL.md §4).
// mediasoup-client reveals a transport's DtlsParameters only when its first consume() runs, but
// JoinChannel must carry them up front. So the certificate is generated here and handed to the
// receive transport's RTCPeerConnection (additionalSettings.certificates); its fingerprints are then
// exactly what the browser will present in the DTLS handshake.
import type { DtlsFingerprint, DtlsParameters, FingerprintAlgorithm } from 'mediasoup-client/types';

const ALGORITHMS: ReadonlySet<string> = new Set<FingerprintAlgorithm>([
  'sha-1',
  'sha-224',
  'sha-256',
  'sha-384',
  'sha-512',
]);

export function generateDtlsCertificate(): Promise<RTCCertificate> {
  return RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams);
}

/**
 * `{ role: 'client', fingerprints }` for the receive transport. mediasoup's worker compares the
 * fingerprint string byte for byte against uppercase hex with colons, so it is normalized to that
 * (Chromium already reports it so; other engines may not).
 */
export function receiveDtlsParameters(certificate: RTCCertificate): DtlsParameters {
  return { role: 'client', fingerprints: normalizeFingerprints(certificate.getFingerprints()) };
}

export function normalizeFingerprints(
  fingerprints: readonly RTCDtlsFingerprint[] | readonly DtlsFingerprint[],
): DtlsFingerprint[] {
  const out: DtlsFingerprint[] = [];
  for (const { algorithm, value } of fingerprints) {
    const name = (algorithm ?? '').toLowerCase();
    if (!ALGORITHMS.has(name) || !value) continue;
    out.push({ algorithm: name as FingerprintAlgorithm, value: value.toUpperCase() });
  }
  return out;
}

/** True when the transport presents a fingerprint we announced (the certificate really was used). */
export function presentsAnnouncedFingerprint(announced: DtlsParameters, actual: DtlsParameters): boolean {
  const actualSet = new Set(normalizeFingerprints(actual.fingerprints).map((f) => `${f.algorithm} ${f.value}`));
  return normalizeFingerprints(announced.fingerprints).some((f) => actualSet.has(`${f.algorithm} ${f.value}`));
}
