// Whether a user may join a guild's voice channel. A port: the default reads the grants the verified
// token carried; a Harmony homeserver check (guild membership + channel permissions) can replace it.
import { ErrorId, VoiceError } from '../../protocol/errors';

export interface Principal {
  /** Decimal uint64 user id from the verified token. */
  userId: string;
  /** "<guildId>:<channelId>" grants from the token. */
  grants: string[];
}

export interface ChannelPolicy {
  /** Resolves when allowed; rejects with a VoiceError (h.not-joined / h.bad-channel-id) otherwise. */
  authorize(principal: Principal, guildId: bigint, channelId: bigint): Promise<void>;
}

export class TokenGrantPolicy implements ChannelPolicy {
  async authorize({ userId, grants }: Principal, guildId: bigint, channelId: bigint): Promise<void> {
    if (grants.includes(`${guildId}:${channelId}`)) return;
    if (!grants.some((g) => g.startsWith(`${guildId}:`))) {
      throw new VoiceError(ErrorId.notJoined, `user ${userId} is not a member of guild ${guildId}`);
    }
    throw new VoiceError(ErrorId.badChannelId, `user ${userId} may not join channel ${channelId} of guild ${guildId}`);
  }
}
