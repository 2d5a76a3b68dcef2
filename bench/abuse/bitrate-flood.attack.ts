// A member's producer floods ~1 Mbit/s of RTP (100 packets/s of 1200 payload bytes: under the
// packet-rate limit, over MEDIA_POLICE_BITS_PER_SECOND) through the real local stack. Contained: the node's police
// pauses it and nothing more of it reaches the other members (bench/abuse/media-flood.ts).
import type { Attack } from './attack';
import { startMediaFlood } from './media-flood';

const attack: Attack = {
  name: 'bitrate-flood',
  description:
    "a member's WebRTC producer sends 100 RTP packets/s of 1200 payload bytes (~970 kbit/s) into the honest channel",
  start: (target) => startMediaFlood(target, 100, 1200),
};

export default attack;
