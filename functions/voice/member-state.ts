// state.v1 in the voice core (proto/harmonyvoice/ext/v1/state.proto, docs/protocol.md "Voice state (state.v1)"): a member
// sets its own mute/deafen (SetSelfState), a moderator server-mutes/deafens another member (Moderate). The media
// node holding the room is the one truth: it checks what the actor may change (a server-muted member cannot
// unmute itself), pauses the media to match (a muted member's producer, a deafened member's consumers) and writes
// each change to the room's history, which the channel's feed delivers like membership messages
// (channel-feed.ts): one order for every member, each change once, replayed after a resume. This module only
// checks the stream and the moderator's permission (ChannelPolicy), asks the node, and logs who did what.
// Pure protocol logic over the ports: no AWS, gRPC or WebSocket knowledge.
import type { Moderate, SetSelfState } from '../../gen/harmonyvoice/ext/v1/state';
import type { MemberState as WireMemberState } from '../../gen/harmonyvoice/ext/v1/state';
import { ErrorId, VoiceError } from '../../protocol/errors';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { mediaErrorToVoiceError } from './media-errors';
import type { ConnectionRecord, MediaClient, MemberVoiceState, VoiceFlags } from './ports';
import { requireStep, STEPS } from './protocol-table';
import { logIds } from './records';

export interface MemberStateDeps {
  media: Pick<MediaClient, 'setMemberState'>;
  clock: { now(): number };
  policy: ChannelPolicy;
  log: Logger;
  /** Delivers the channel's pending history (the change just written) to its members. */
  announce(conn: ConnectionRecord): Promise<void>;
}

export class MemberStateControl {
  constructor(private readonly deps: MemberStateDeps) {}

  /** SetSelfState: the member's own flags. Throws a VoiceError (nothing changed) when refused. */
  async setSelf(conn: ConnectionRecord, request: SetSelfState): Promise<void> {
    this.requireJoined(conn);
    const change = definedOnly({ selfMuted: request.selfMuted, selfDeafened: request.selfDeafened });
    const result = await this.callNode(conn, change);
    this.deps.log.info('voice.state-set', { ...logIds(conn), ...change, changed: result.changed, seq: result.seq });
  }

  /** Moderate: another member's server flags, if the policy lets this user moderate the channel. */
  async moderate(conn: ConnectionRecord, request: Moderate): Promise<void> {
    this.requireJoined(conn);
    const target = request.userId;
    if (target === 0n) throw new VoiceError(ErrorId.unknownMember, 'user_id 0 is not a user');
    const change = definedOnly({ serverMuted: request.serverMuted, serverDeafened: request.serverDeafened });
    try {
      await this.deps.policy.authorizeModeration(
        { userId: conn.userId, grants: conn.grants, moderates: conn.moderates },
        BigInt(conn.guildId!),
        BigInt(conn.channelId!),
      );
    } catch (err) {
      this.deps.log.info('voice.moderation-refused', { ...logIds(conn), targetUserId: target.toString(), ...change });
      throw err;
    }
    const result = await this.callNode(conn, { ...change, targetUserId: target.toString() });
    // Who did what (no tokens): the moderator, the member, the flags asked and what the member's state is now.
    this.deps.log.info('voice.moderated', {
      ...logIds(conn),
      moderatorUserId: conn.userId,
      targetUserId: target.toString(),
      ...change,
      changed: result.changed,
      seq: result.seq,
      state: flagsOf(result.state),
    });
  }

  private requireJoined(conn: ConnectionRecord): void {
    if (!conn.voiceState)
      throw new VoiceError(ErrorId.badStreamingRequest, 'this stream was not granted state.v1 (ask for it in Hello)');
    requireStep(STEPS.memberState, conn.state);
  }

  /**
   * Asks the node, then delivers the channel's pending history — also when nothing changed now: a request the node
   * ran late (its caller gave up on it) may have written an entry nobody delivered yet. A call that found no node
   * (unavailable, deadline) is asked once more (absolute values: idempotent; the stamp makes the late original a
   * no-op if it runs after the retry).
   */
  private async callNode(conn: ConnectionRecord, change: Partial<VoiceFlags> & { targetUserId?: string }) {
    if (!conn.nodeId || !conn.nodeAddress) throw new Error(`connection ${conn.connectionId} has no media node`);
    const node = { nodeId: conn.nodeId, grpcAddress: conn.nodeAddress };
    const ask = () =>
      this.deps.media
        .setMemberState(node, {
          roomId: `${conn.guildId}:${conn.channelId}`,
          sessionId: conn.connectionId,
          ...change,
          stamp: this.deps.clock.now(),
        })
        .catch((err) => {
          throw mediaErrorToVoiceError(err);
        });
    try {
      let result: Awaited<ReturnType<MediaClient['setMemberState']>>;
      try {
        result = await ask();
      } catch (err) {
        if (!(err instanceof VoiceError && err.identifier === ErrorId.unavailable)) throw err;
        result = await ask();
      }
      return result;
    } finally {
      await this.deps.announce(conn);
    }
  }
}

/** A member's state as a state.v1 client gets it. */
export function wireMemberState(m: MemberVoiceState | (VoiceFlags & { userId: string })): WireMemberState {
  return {
    userId: BigInt(m.userId),
    selfMuted: m.selfMuted,
    selfDeafened: m.selfDeafened,
    serverMuted: m.serverMuted,
    serverDeafened: m.serverDeafened,
  };
}

function flagsOf(s: VoiceFlags): VoiceFlags {
  return {
    selfMuted: s.selfMuted,
    selfDeafened: s.selfDeafened,
    serverMuted: s.serverMuted,
    serverDeafened: s.serverDeafened,
  };
}

function definedOnly<T extends Record<string, boolean | undefined>>(value: T): Partial<Record<keyof T, boolean>> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<
    Record<keyof T, boolean>
  >;
}
