// A member's producer floods 1000 small RTP packets/s (5× MEDIA_POLICE_PACKETS_PER_SECOND, under
// the bitrate limit) through the real local stack. Contained: the node's police pauses it and nothing more of it
// reaches the other members (bench/abuse/media-flood.ts).
import type { Attack } from './attack';
import { startMediaFlood } from './media-flood';

const attack: Attack = {
  name: 'packet-flood',
  description:
    "a member's WebRTC producer sends 1000 RTP packets/s of 20 payload bytes (~256 kbit/s) into the honest channel",
  start: (target) => startMediaFlood(target, 1000, 20),
};

export default attack;
