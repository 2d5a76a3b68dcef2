// Whether a user may join a guild's voice channel. A port: the default reads the token's grants;
// a Harmony homeserver check (guild membership + channel permissions) can replace it.
import { ErrorId, VoiceError } from '../../protocol/errors';
import type { TokenClaims } from './token';

export interface ChannelPolicy {
  /** Resolves when allowed; rejects with a VoiceError (h.not-joined / h.bad-channel-id) otherwise. */
  authorize(claims: TokenClaims, guildId: bigint, channelId: bigint): Promise<void>;
}

export class TokenGrantPolicy implements ChannelPolicy {
  async authorize(claims: TokenClaims, guildId: bigint, channelId: bigint): Promise<void> {
    const grants = claims.channels;
    if (grants.includes(`${guildId}:${channelId}`)) return;
    if (!grants.some((g) => g.startsWith(`${guildId}:`))) {
      throw new VoiceError(ErrorId.notJoined, `user ${claims.sub} is not a member of guild ${guildId}`);
    }
    throw new VoiceError(ErrorId.badChannelId, `user ${claims.sub} may not join channel ${channelId} of guild ${guildId}`);
  }
}
