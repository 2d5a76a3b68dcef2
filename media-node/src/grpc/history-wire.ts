// A ledger entry (room-ledger.ts) as the History answer carries it (proto/medianode/v1/media_node.proto).
import { HistoryEntry_Kind, type HistoryEntry, type MemberStateInfo } from '../../../gen/medianode/v1/media_node';
import type { LedgerEntry, MemberStateOf } from '../room/room-ledger';

const NONE = {
  forJoiner: [],
  forMembers: [],
  audience: [],
  reason: '',
  state: undefined,
  stateAudience: [],
  states: [],
  actorUserId: '',
};

export function historyEntryOf(e: LedgerEntry): HistoryEntry {
  const base = { ...NONE, seq: e.seq, sessionId: e.sessionId, userId: e.userId };
  switch (e.kind) {
    case 'join':
      return {
        ...base,
        kind: HistoryEntry_Kind.KIND_JOIN,
        forJoiner: e.forJoiner,
        forMembers: e.forMembers,
        states: (e.states ?? []).map(stateInfo),
      };
    case 'leave':
      return { ...base, kind: HistoryEntry_Kind.KIND_LEAVE, audience: e.audience, reason: e.reason };
    case 'state':
      return {
        ...base,
        kind: HistoryEntry_Kind.KIND_STATE,
        state: stateInfo({ sessionId: e.sessionId, userId: e.userId, ...e.state }),
        stateAudience: e.audience,
        actorUserId: e.actorUserId,
      };
  }
}

function stateInfo(m: MemberStateOf): MemberStateInfo {
  return {
    sessionId: m.sessionId,
    userId: m.userId,
    selfMuted: m.selfMuted,
    selfDeafened: m.selfDeafened,
    serverMuted: m.serverMuted,
    serverDeafened: m.serverDeafened,
  };
}
