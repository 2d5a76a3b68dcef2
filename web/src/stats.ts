// Statistics of a voice session, read from the browser's getStats: per remote member (inbound-rtp of its consumer),
// of the microphone producer (outbound-rtp), the media path each transport uses, and received audio levels.
import type { Producer, Transport } from 'mediasoup-client/types';
import { type MediaPath, mediaPathFromStats } from './media-path';
import type { RemoteParticipant } from './participants';

export interface ReceiveStats {
  userId: bigint;
  consumerId: string;
  packetsReceived: number;
  bytesReceived: number;
  audioLevel: number;
  totalAudioEnergy: number;
  jitter: number;
  /** Samples the receiver played out / made up because their packets were late or lost (loss concealment). */
  totalSamplesReceived: number;
  concealedSamples: number;
  /** NACKs this receiver sent for the stream (retransmission asked for; 0 where NACK is not negotiated). */
  nackCount: number;
  /** When the last packet arrived and when the stats were taken (ms, same clock): how stale the counter is. */
  lastPacketReceivedTimestamp?: number;
  timestamp?: number;
}

export interface SendStats {
  packetsSent: number;
  nackCount: number;
  retransmittedPacketsSent: number;
}

/** Each remote member's current received audio level (0..1), from one getStats of the receive transport. */
export async function audioLevels(
  recv: Transport | undefined,
  participants: Iterable<RemoteParticipant>,
): Promise<Map<bigint, number>> {
  const levels = new Map<bigint, number>();
  if (!recv || recv.closed) return levels;
  const byTrack = new Map([...participants].map((p) => [p.consumer.track.id, p.userId]));
  const report = await recv.getStats();
  report.forEach((s: Record<string, unknown>) => {
    if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
    const user = byTrack.get(String(s.trackIdentifier));
    if (user !== undefined) levels.set(user, Number(s.audioLevel ?? 0));
  });
  return levels;
}

/** The rung each transport uses now (absent for one not connected yet). */
export async function mediaPaths(
  send: Transport | undefined,
  recv: Transport | undefined,
): Promise<{ send?: MediaPath; receive?: MediaPath }> {
  const path = async (t: { closed: boolean; getStats(): Promise<RTCStatsReport> } | undefined) =>
    t && !t.closed
      ? mediaPathFromStats((await t.getStats()) as unknown as Parameters<typeof mediaPathFromStats>[0])
      : undefined;
  const [sendPath, receive] = await Promise.all([path(send), path(recv)]);
  return { ...(sendPath ? { send: sendPath } : {}), ...(receive ? { receive } : {}) };
}

/** The producer's outbound-rtp counters (packets sent, NACKs received, packets retransmitted). */
export async function sendStats(producer: Producer | undefined): Promise<SendStats | undefined> {
  if (!producer || producer.closed) return undefined;
  let out: SendStats | undefined;
  (await producer.getStats()).forEach((s: Record<string, unknown>) => {
    if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      out = {
        packetsSent: Number(s.packetsSent ?? 0),
        nackCount: Number(s.nackCount ?? 0),
        retransmittedPacketsSent: Number(s.retransmittedPacketsSent ?? 0),
      };
    }
  });
  return out;
}

/** Per remote member: inbound-rtp counters of its consumer. */
export async function receiveStats(participants: Iterable<RemoteParticipant>): Promise<ReceiveStats[]> {
  const out: ReceiveStats[] = [];
  for (const { userId, consumer } of participants) {
    if (consumer.closed) continue;
    const report = await consumer.getStats();
    report.forEach((s: Record<string, unknown>) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      out.push({
        userId,
        consumerId: consumer.id,
        packetsReceived: Number(s.packetsReceived ?? 0),
        bytesReceived: Number(s.bytesReceived ?? 0),
        audioLevel: Number(s.audioLevel ?? 0),
        totalAudioEnergy: Number(s.totalAudioEnergy ?? 0),
        jitter: Number(s.jitter ?? 0),
        totalSamplesReceived: Number(s.totalSamplesReceived ?? 0),
        concealedSamples: Number(s.concealedSamples ?? 0),
        nackCount: Number(s.nackCount ?? 0),
        ...(s.lastPacketReceivedTimestamp !== undefined
          ? { lastPacketReceivedTimestamp: Number(s.lastPacketReceivedTimestamp) }
          : {}),
        ...(s.timestamp !== undefined ? { timestamp: Number(s.timestamp) } : {}),
      });
    });
  }
  return out;
}
