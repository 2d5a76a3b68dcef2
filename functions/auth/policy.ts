// Whether a user may join a guild's voice channel. A port: the default reads the grants the verified
// token carried; a Harmony homeserver check (guild membership + channel permissions) can replace it.
import { ErrorId, VoiceError } from '../../protocol/errors';

export interface Principal {
  /** Decimal uint64 user id from the verified token. */
  userId: string;
  /** "<guildId>:<channelId>" grants from the token. */
  grants: string[];
  /** state.v1: "<guildId>:<channelId>" or "<guildId>:*" the token lets the user moderate (TOKEN_MODERATE_CLAIM). */
  moderates?: string[];
}

export interface ChannelPolicy {
  /** Resolves when allowed; rejects with a VoiceError (h.not-joined / h.bad-channel-id) otherwise. */
  authorize(principal: Principal, guildId: bigint, channelId: bigint): Promise<void>;
  /**
   * state.v1: whether the user may server-mute/deafen others in the channel. Resolves when allowed; rejects with
   * a VoiceError (`voice.not-moderator`) otherwise. A Harmony homeserver's permission check can replace it.
   */
  authorizeModeration(principal: Principal, guildId: bigint, channelId: bigint): Promise<void>;
}

export class TokenGrantPolicy implements ChannelPolicy {
  async authorize({ userId, grants }: Principal, guildId: bigint, channelId: bigint): Promise<void> {
    if (grants.includes(`${guildId}:${channelId}`)) return;
    if (!grants.some((g) => g.startsWith(`${guildId}:`))) {
      throw new VoiceError(ErrorId.notJoined, `user ${userId} is not a member of guild ${guildId}`);
    }
    throw new VoiceError(ErrorId.badChannelId, `user ${userId} may not join channel ${channelId} of guild ${guildId}`);
  }

  async authorizeModeration({ moderates = [] }: Principal, guildId: bigint, channelId: bigint): Promise<void> {
    if (moderates.includes(`${guildId}:${channelId}`) || moderates.includes(`${guildId}:*`)) return;
    throw new VoiceError(ErrorId.notModerator, 'you may not server-mute or server-deafen members of this channel');
  }
}
