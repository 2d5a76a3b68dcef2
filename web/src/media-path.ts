// Which rung of the connection ladder a transport uses: read from its getStats() — the selected
// candidate pair's local candidate (type and protocol; a relay candidate's relayProtocol is how the browser
// reaches the TURN server).
export type MediaRung = 'udp' | 'tcp' | 'relay-udp' | 'relay-tcp' | 'relay-tls';

export interface MediaPath {
  rung: MediaRung;
  /** RTCIceCandidateType of the local candidate: host, srflx, prflx or relay. */
  localCandidateType: string;
  /** udp or tcp: how the pair's packets travel (for relay: between the relay and the media server). */
  protocol: string;
  /** For a relay candidate: udp, tcp or tls to the TURN server. */
  relayProtocol?: string;
  /** Remote (media server) port of the pair. */
  remotePort?: number;
}

type Stat = Record<string, unknown> & { id: string; type: string };

/** The selected pair's path from a transport's (or RTCPeerConnection's) stats report; undefined before one is selected. */
export function mediaPathFromStats(report: { forEach(cb: (s: Stat) => void): void }): MediaPath | undefined {
  const byId = new Map<string, Stat>();
  report.forEach((s) => byId.set(s.id, s));
  let pair: Stat | undefined;
  for (const s of byId.values()) {
    if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string')
      pair = byId.get(s.selectedCandidatePairId);
  }
  // Some reports carry the choice only on the pair itself.
  pair ??= [...byId.values()].find(
    (s) => s.type === 'candidate-pair' && (s.selected === true || (s.nominated === true && s.state === 'succeeded')),
  );
  if (!pair) return undefined;
  const local = byId.get(String(pair.localCandidateId));
  const remote = byId.get(String(pair.remoteCandidateId));
  if (!local) return undefined;
  const localCandidateType = String(local.candidateType ?? '');
  const protocol = String(local.protocol ?? '');
  const relayProtocol = typeof local.relayProtocol === 'string' ? local.relayProtocol : undefined;
  const rung: MediaRung =
    localCandidateType === 'relay'
      ? (`relay-${relayProtocol ?? 'udp'}` as MediaRung)
      : protocol === 'tcp'
        ? 'tcp'
        : 'udp';
  return {
    rung,
    localCandidateType,
    protocol,
    ...(relayProtocol ? { relayProtocol } : {}),
    ...(remote?.port !== undefined ? { remotePort: Number(remote.port) } : {}),
  };
}
