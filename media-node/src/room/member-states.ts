// state.v1 on the media node: who in a room is muted and deafened (proto/harmonyvoice/ext/v1/state.proto), the
// one truth the room's history reports and the media follows. Pure bookkeeping: the Room calls it inside its
// serial queue, writes each change to its ledger in that order, and pauses the media (MediaHolds) to match.
//   self flags    belong to a session (a new session of the user starts unmuted; its client says otherwise)
//   server flags  belong to the user in this room, while the room is open: a server-muted member that rejoins
//                 (or whose seat another stream of the same user takes) is still server muted
// A member may change its own self flags, except un-muting itself while server muted (`state-refused`);
// server flags are changed only by moderation (the signalling side checked the moderator's permission).
import { MediaError } from '../../api/errors';
import { hold, release, type Pausable } from '../session/media-holds';

export interface VoiceFlags {
  selfMuted: boolean;
  selfDeafened: boolean;
  serverMuted: boolean;
  serverDeafened: boolean;
}

export type FlagChange = Partial<VoiceFlags>;

export const UNMUTED: VoiceFlags = { selfMuted: false, selfDeafened: false, serverMuted: false, serverDeafened: false };

/** The member's producer must be paused (nothing of it forwarded). */
export function isMuted(flags: VoiceFlags): boolean {
  return flags.selfMuted || flags.serverMuted;
}

/** The member's consumers must be paused (nothing forwarded to it). */
export function isDeafened(flags: VoiceFlags): boolean {
  return flags.selfDeafened || flags.serverDeafened;
}

export function sameFlags(a: VoiceFlags, b: VoiceFlags): boolean {
  return (
    a.selfMuted === b.selfMuted &&
    a.selfDeafened === b.selfDeafened &&
    a.serverMuted === b.serverMuted &&
    a.serverDeafened === b.serverDeafened
  );
}

export class MemberStates {
  private readonly self = new Map<string, Pick<VoiceFlags, 'selfMuted' | 'selfDeafened'>>();
  private readonly server = new Map<string, Pick<VoiceFlags, 'serverMuted' | 'serverDeafened'>>();
  /** The stamp of the last change applied, per session (self flags) and per user (server flags). */
  private readonly stamps = new Map<string, number>();

  of(sessionId: string, userId: string): VoiceFlags {
    return { ...UNMUTED, ...this.self.get(sessionId), ...this.server.get(userId) };
  }

  /**
   * Applies a change by the member itself (`self`: only self flags) or by a moderator (only server flags).
   * Throws MediaError `state-refused` (nothing changed) for what the actor may not change.
   */
  apply(
    sessionId: string,
    userId: string,
    change: FlagChange,
    by: 'self' | 'moderator',
    stamp = 0,
  ): { before: VoiceFlags; after: VoiceFlags } {
    const before = this.of(sessionId, userId);
    // A request older than the last one applied to these flags (a call the node ran late) changes nothing.
    const key = by === 'self' ? `s:${sessionId}` : `u:${userId}`;
    if (stamp > 0 && stamp < (this.stamps.get(key) ?? 0)) return { before, after: before };
    const selfKeys = change.selfMuted !== undefined || change.selfDeafened !== undefined;
    const serverKeys = change.serverMuted !== undefined || change.serverDeafened !== undefined;
    if (by === 'self' && serverKeys)
      throw new MediaError('state-refused', 'a member cannot change its own server mute or deafen');
    if (by === 'moderator' && selfKeys)
      throw new MediaError('state-refused', "a moderator cannot change a member's own mute or deafen");
    if (by === 'self' && change.selfMuted === false && before.serverMuted) {
      throw new MediaError('state-refused', 'a server-muted member cannot unmute itself');
    }
    if (by === 'self' && change.selfDeafened === false && before.serverDeafened) {
      throw new MediaError('state-refused', 'a server-deafened member cannot undeafen itself');
    }
    if (stamp > 0) this.stamps.set(key, stamp);
    if (by === 'self') {
      this.self.set(sessionId, {
        selfMuted: change.selfMuted ?? before.selfMuted,
        selfDeafened: change.selfDeafened ?? before.selfDeafened,
      });
    } else {
      this.server.set(userId, {
        serverMuted: change.serverMuted ?? before.serverMuted,
        serverDeafened: change.serverDeafened ?? before.serverDeafened,
      });
    }
    return { before, after: this.of(sessionId, userId) };
  }

  /** The session left: its self flags go (the user's server flags stay while the room is open). */
  forget(sessionId: string): void {
    this.self.delete(sessionId);
    this.stamps.delete(`s:${sessionId}`);
  }
}

/** What of a member's media a change acts on (its producer's mediasoup object, its consumers). */
export interface MemberMedia {
  /** Undefined when its producer is on another node (a remote part): not paused there yet (docs/protocol.md "Voice state"). */
  producer?: Pausable;
  consumers: Pausable[];
}

/** Brings the member's media in line with its new state; the failures (objects closed meanwhile) are returned. */
export async function applyToMedia(media: MemberMedia, before: VoiceFlags, after: VoiceFlags): Promise<unknown[]> {
  const calls: Promise<unknown>[] = [];
  if (isMuted(before) !== isMuted(after) && media.producer) {
    calls.push(isMuted(after) ? hold(media.producer, 'muted') : release(media.producer, 'muted'));
  }
  if (isDeafened(before) !== isDeafened(after)) {
    for (const c of media.consumers) calls.push(isDeafened(after) ? hold(c, 'deafened') : release(c, 'deafened'));
  }
  const results = await Promise.allSettled(calls);
  return results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
}
