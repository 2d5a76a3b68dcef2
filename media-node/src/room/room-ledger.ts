// A room's membership and its one ordered history. Pure bookkeeping (no mediasoup): the Room calls it
// inside its serial queue, so the order of entries IS the order in which the media mesh changed, and the
// consumers each entry carries exist exactly for the members it names. The signalling side delivers the
// history to every member in this order (functions/voice/channel-feed.ts); it never invents a change.
//
// Who is told what: a joiner is told of every member (JoinedChannel), every member that got a consumer of
// the joiner is told of it (UserJoined). When someone leaves, exactly the members that were told of it
// and are still here are told it left (UserLeft). "Told" is tracked per pair, so a member that could not
// consume someone is never told it left either.
import { randomBytes } from 'node:crypto';
import type { ConsumerDelivery } from '../../../gen/medianode/v1/media_node';
import type { MediaLossReason } from '../session/session-media';
import type { VoiceFlags } from './member-states';

/** Why a session left: it left, its seat was taken, or its media died (session/session-media.ts). */
export type LeaveReason = 'left' | 'replaced' | MediaLossReason;

export interface JoinEntry {
  seq: number;
  kind: 'join';
  sessionId: string;
  userId: string;
  /** The joiner's consumers of each member: its JoinedChannel. */
  forJoiner: ConsumerDelivery[];
  /** Each member's consumer of the joiner: one UserJoined each. */
  forMembers: ConsumerDelivery[];
  /** state.v1: every member's state after the join (the joiner's included). */
  states?: MemberStateOf[];
  at: number;
}

/** state.v1: a member's voice state (member-states.ts). */
export interface MemberStateOf extends VoiceFlags {
  sessionId: string;
  userId: string;
}

/** state.v1: a member's voice state changed (told to the member and every member that was told of it). */
export interface StateEntry {
  seq: number;
  kind: 'state';
  sessionId: string;
  userId: string;
  state: VoiceFlags;
  audience: string[];
  /** Who changed it: the member itself or a moderator. */
  actorUserId: string;
  at: number;
}

export interface LeaveEntry {
  seq: number;
  kind: 'leave';
  sessionId: string;
  userId: string;
  /** Sessions still in the room that were told of the leaver: one UserLeft each. */
  audience: string[];
  reason: LeaveReason;
  at: number;
}

export type LedgerEntry = JoinEntry | LeaveEntry | StateEntry;

export interface HistorySlice {
  /** Identifies this room instance: a room re-opened after closing starts a new history at seq 1. */
  instance: string;
  /** The last position written (0 before any). */
  head: number;
  entries: LedgerEntry[];
  /** True when entries after the asked position were already pruned (the caller fell too far behind). */
  truncated: boolean;
}

export interface LedgerOptions {
  /** Entries are kept at least this long (a suspended session's replay window must fit in it). */
  retainMs: number;
  /** ...and at most this many. */
  maxEntries: number;
  now?: () => number;
  instance?: string;
}

export class RoomLedger {
  readonly instance: string;
  private readonly members = new Map<string, { userId: string; toldTo: Set<string> }>();
  private readonly entries: LedgerEntry[] = [];
  private seq = 0;
  private readonly now: () => number;

  constructor(private readonly options: LedgerOptions) {
    this.instance = options.instance ?? randomBytes(6).toString('base64url');
    this.now = options.now ?? Date.now;
  }

  get head(): number {
    return this.seq;
  }

  isMember(sessionId: string): boolean {
    return this.members.has(sessionId);
  }

  memberCount(): number {
    return this.members.size;
  }

  /** The joined session of `userId`, if any (one seat per user per channel). */
  memberOfUser(userId: string): string | undefined {
    for (const [sessionId, member] of this.members) if (member.userId === userId) return sessionId;
    return undefined;
  }

  memberList(): { sessionId: string; userId: string }[] {
    return [...this.members].map(([sessionId, m]) => ({ sessionId, userId: m.userId }));
  }

  /** Records a completed media join. `forMembers` names who got a consumer of the joiner. */
  join(
    sessionId: string,
    userId: string,
    forJoiner: ConsumerDelivery[],
    forMembers: ConsumerDelivery[],
    statesOf?: (member: { sessionId: string; userId: string }) => VoiceFlags,
  ): JoinEntry {
    if (this.members.has(sessionId)) throw new Error(`session ${sessionId} is already a member`);
    const toldTo = new Set(forMembers.map((d) => d.receiverSessionId).filter((id) => this.members.has(id)));
    for (const d of forJoiner) this.members.get(d.producerSessionId)?.toldTo.add(sessionId);
    this.members.set(sessionId, { userId, toldTo });
    const states = statesOf && this.memberList().map((m) => ({ ...m, ...statesOf(m) }));
    return this.append({
      kind: 'join',
      sessionId,
      userId,
      forJoiner,
      forMembers,
      ...(states ? { states } : {}),
      at: this.now(),
    }) as JoinEntry;
  }

  /** state.v1: records a member's new voice state; undefined when it is not a member. */
  state(sessionId: string, state: VoiceFlags, actorUserId: string): StateEntry | undefined {
    const member = this.members.get(sessionId);
    if (!member) return undefined;
    // The member itself and every member that was told of it (exactly those that see it).
    const audience = [sessionId, ...[...member.toldTo].filter((id) => this.members.has(id))];
    return this.append({
      kind: 'state',
      sessionId,
      userId: member.userId,
      state: { ...state },
      audience,
      actorUserId,
      at: this.now(),
    }) as StateEntry;
  }

  /** Records that a member left (for any reason); undefined when it was not a member. */
  leave(sessionId: string, reason: LeaveReason): LeaveEntry | undefined {
    const member = this.members.get(sessionId);
    if (!member) return undefined;
    this.members.delete(sessionId);
    for (const other of this.members.values()) other.toldTo.delete(sessionId);
    const audience = [...member.toldTo].filter((id) => this.members.has(id));
    return this.append({
      kind: 'leave',
      sessionId,
      userId: member.userId,
      audience,
      reason,
      at: this.now(),
    }) as LeaveEntry;
  }

  /**
   * Entries after position `after` (exclusive): a page of at most about `maxBytes` (encoded; always at least one
   * entry), so an answer is bounded however far behind the caller is. The caller pages on while the page's last
   * entry is before `head`.
   */
  since(after: number, maxBytes = Number.POSITIVE_INFINITY): HistorySlice {
    this.prune();
    const first = this.entries[0]?.seq ?? this.seq + 1;
    const truncated = after + 1 < first && after < this.seq;
    const entries: LedgerEntry[] = [];
    let bytes = 0;
    for (const entry of this.entries) {
      if (entry.seq <= after) continue;
      bytes += entryBytes(entry);
      if (entries.length > 0 && bytes > maxBytes) break;
      entries.push(entry);
    }
    return { instance: this.instance, head: this.seq, entries, truncated };
  }

  private append(entry: Omit<JoinEntry, 'seq'> | Omit<LeaveEntry, 'seq'> | Omit<StateEntry, 'seq'>): LedgerEntry {
    const full = { ...entry, seq: ++this.seq } as LedgerEntry;
    this.entries.push(full);
    this.prune();
    return full;
  }

  private prune(): void {
    const oldest = this.now() - this.options.retainMs;
    while (this.entries.length > this.options.maxEntries || (this.entries.length > 0 && this.entries[0]!.at < oldest)) {
      this.entries.shift();
    }
  }
}

/** An upper estimate of an entry's encoded size in a History answer (ids and parameters plus framing). */
export function entryBytes(entry: LedgerEntry): number {
  const FRAMING = 32;
  let bytes = FRAMING + entry.sessionId.length + entry.userId.length;
  if (entry.kind === 'join') {
    for (const d of [...entry.forJoiner, ...entry.forMembers]) {
      bytes +=
        FRAMING +
        d.receiverSessionId.length +
        d.producerUserId.length +
        d.producerSessionId.length +
        d.producerId.length +
        d.consumerId.length +
        d.rtpParameters.length;
    }
    for (const m of entry.states ?? []) bytes += FRAMING + m.sessionId.length + m.userId.length;
  } else if (entry.kind === 'state') {
    for (const id of entry.audience) bytes += 4 + id.length;
    bytes += FRAMING + entry.actorUserId.length;
  } else {
    for (const id of entry.audience) bytes += 4 + id.length;
    bytes += entry.reason.length;
  }
  return bytes;
}
