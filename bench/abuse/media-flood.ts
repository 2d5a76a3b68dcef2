// What the packet-flood and bitrate-flood attacks share (not an attack: no `.attack.ts`): a member of the honest
// channel whose real WebRTC producer (msc-node: ICE, DTLS, SRTP, as test/signalling/producer-police.test.ts does)
// floods RTP through the real local stack, and a witness — an honest member that joined first and consumes the
// flooder — counting what of the flood reaches it. The media node's police (media-node/src/session/producer-police.ts,
// docs/media-node.md "Producer policing") should pause the producer (`voice.producer-policed`, non-fatal), keep it paused
// while it goes on flooding, and end the session (fatal) at MEDIA_POLICE_MAX_OFFENCES. Contained: the flooder was
// paused, and from half a second after the pause the witness received (nearly) nothing of it. The honest members'
// own audio is the harness's packets ratio.
import { joinWithMedia, type MediaJoined } from '../../test/support/media-voice-client';
import type { AbuseTarget, RunningAttack } from './attack';

/** Packets of the flood the witness may still receive after the pause (in flight at the moment of the pause). */
const STRAGGLERS = 25;
/** After the pause, packets already sent or forwarded may still arrive for this long. */
const SETTLE_MS = 500;

export async function startMediaFlood(
  target: AbuseTarget,
  packetsPerSecond: number,
  payloadBytes: number,
): Promise<RunningAttack> {
  const witness = await joinWithMedia(
    { wsUrl: target.wsUrl, token: target.token(target.newUser()) },
    target.guild,
    target.channel,
  );
  const flooderUser = target.newUser();
  const flooder = await joinWithMedia(
    { wsUrl: target.wsUrl, token: target.token(flooderUser) },
    target.guild,
    target.channel,
  );
  // The witness consumes the flooder (its UserJoined; honest members' joins come later, from the harness).
  for (;;) {
    const joined = await witness.client.expect('userJoined', 10_000);
    if (joined.data?.userId === flooderUser) {
      await witness.consume(joined.data);
      break;
    }
  }
  const arrivals: number[] = [];
  const unsubscribe = witness.onRtp((user, at) => {
    if (user === String(flooderUser)) arrivals.push(at);
  });
  const started = Date.now();
  const stopFlood = flooder.sendAt(packetsPerSecond, payloadBytes);
  const told: { identifier: string; at: number }[] = [];
  let listening = true;
  const listen = (async () => {
    while (listening && flooder.client.closed === undefined) {
      const error = await flooder.client.nextError(1_000).catch(() => undefined);
      if (error) told.push({ identifier: error.identifier, at: Date.now() });
    }
  })();
  target.note(
    `flooding ${packetsPerSecond} packets/s of ${payloadBytes} payload bytes (~${Math.round((packetsPerSecond * (payloadBytes + 12) * 8) / 1000)} kbit/s of RTP)`,
  );
  return {
    tokens: 1,
    async stop() {
      stopFlood();
      listening = false;
      await listen;
      unsubscribe();
      const closeAll = (m: MediaJoined) => {
        for (const t of m.transports) t.close();
        m.client.terminate();
      };
      const endedByNode = flooder.client.closed !== undefined;
      closeAll(flooder);
      closeAll(witness);
      // Every error frame the flooder was sent (the fatal one may come just before the close the loop stops at).
      const errors = flooder.client.errors().map((e) => e.identifier);
      const policed = errors.filter((identifier) => identifier === 'voice.producer-policed').length;
      const others = errors.filter((identifier) => identifier !== 'voice.producer-policed');
      const pausedAt = told.find((t) => t.identifier === 'voice.producer-policed')?.at;
      if (pausedAt === undefined) {
        return {
          contained: false,
          detail: `never policed; the witness received ${arrivals.length} packets of the flood in ${((Date.now() - started) / 1000).toFixed(1)} s${others.length ? `; told ${others.join(', ')}` : ''}`,
        };
      }
      const before = arrivals.filter((at) => at < pausedAt).length;
      const after = arrivals.filter((at) => at >= pausedAt + SETTLE_MS).length;
      const contained = after <= STRAGGLERS;
      return {
        contained,
        detail:
          `paused after ${((pausedAt - started) / 1000).toFixed(1)} s (voice.producer-policed), told ${policed}× in all, ` +
          `session ${endedByNode ? 'ended by the node' : 'not ended within the phase'}; ` +
          `the witness received ${before} packets of the flood before the pause, ${after} from ${SETTLE_MS} ms after it${others.length ? `; also told ${others.join(', ')}` : ''}`,
      };
    },
  };
}
