// Which media node hosts a channel's room: the channel's placement (one item per channel in the state table,
// written with a condition so two concurrent first joins agree), re-placed only off a node that is dead,
// draining or unreachable, never while members may still be on it (that would split the channel).
// Reads are O(1) whatever the fleet size: the channel's placement, the published candidate list
// (routing/candidates.ts) and, for a placement on a node that list does not name, that one node's record. Only
// when no candidate list exists (or it names no live node) does it list the registry.
import { ErrorId, VoiceError } from '../../protocol/errors';
import { isNodeAlive, pickNode } from '../../routing/placement';
import type { Logger } from '../../lib/log';
import { mediaErrorToVoiceError } from './media-errors';
import { MediaError, type Clock, type MediaClient, type NodeDirectory, type Placement, type StateStore } from './ports';
import type { MediaNodeRecord } from '../../routing/types';

export interface ChannelPlacementDeps {
  store: Pick<StateStore, 'getPlacement' | 'refreshPlacement' | 'placeChannel'>;
  nodes: NodeDirectory;
  media: Pick<MediaClient, 'openRoom'>;
  clock: Clock;
  log: Logger;
  /** An opened room waits this long for its first session (the client's window for its next step). */
  holdMs: number;
  /** A placement expires this long after the last Initialize (refreshed once half used up). */
  placementLifetimeSeconds: number;
  nodeStaleAfterMs: number;
}

export class ChannelPlacement {
  constructor(private readonly deps: ChannelPlacementDeps) {}

  /** Finds the channel's media node (placing it, or re-placing it off a dead node) and opens its room. */
  async open(roomId: string): Promise<{ placement: Placement; rtpCapabilities: string }> {
    const excluded = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const placement = await this.locate(roomId, excluded);
      try {
        const { rtpCapabilities } = await this.deps.media.openRoom(placement, roomId, this.deps.holdMs);
        return { placement, rtpCapabilities };
      } catch (err) {
        // A draining node refuses only rooms it does not have, and an unreachable one (nothing listening: dead
        // or restarting) has no rooms left: nobody is in the channel there, so place it elsewhere. Any other
        // failure (a deadline, an error) may be transient while members are on that node, and moving the
        // channel would split it over two nodes: the client retries instead.
        if (!(err instanceof MediaError && (err.reason === 'draining' || err.reason === 'unreachable')))
          throw mediaErrorToVoiceError(err);
        this.deps.log.info('voice.node-refused-room', { roomId, nodeId: placement.nodeId, reason: err.reason });
        excluded.add(placement.nodeId);
      }
    }
    throw new VoiceError(ErrorId.unavailable, 'no media node accepted this channel', { retryAfterSeconds: 5 });
  }

  /** Whether the node is alive by the registry (one read); unknown (the registry could not be read) counts as alive. */
  async isAlive(nodeId: string): Promise<boolean> {
    let node: Awaited<ReturnType<NodeDirectory['getNode']>>;
    try {
      node = await this.deps.nodes.getNode(nodeId);
    } catch {
      return true; // Assume alive when unknown, so the sweep retries rather than forgets.
    }
    return node !== undefined && isNodeAlive(node, this.deps.clock.now(), this.deps.nodeStaleAfterMs);
  }

  /**
   * The channel's media node. A placement lives as long as someone could still be in the channel: it
   * expires 2 connection lifetimes after the last Initialize (refreshed once it is half used up), so
   * channels nobody uses leave nothing behind, and a channel in use is never split over two nodes.
   */
  private async locate(roomId: string, excluded: Set<string>): Promise<Placement> {
    const now = this.deps.clock.now();
    const lifetime = this.deps.placementLifetimeSeconds;
    const expiresAt = Math.ceil(now / 1000) + lifetime;
    const existing = await this.deps.store.getPlacement(roomId);
    const expired = existing?.expiresAt !== undefined && existing.expiresAt * 1000 <= now;
    // The placement's node, judged from its own fresh record (one read): moving a channel off a node that is in
    // fact alive would split it, so a published list (up to one sweep old) never decides that.
    const current =
      existing && !expired && !excluded.has(existing.nodeId)
        ? await this.deps.nodes.getNode(existing.nodeId)
        : undefined;
    if (
      existing &&
      !expired &&
      current &&
      !excluded.has(existing.nodeId) &&
      isNodeAlive(current, now, this.deps.nodeStaleAfterMs)
    ) {
      if (existing.expiresAt === undefined || existing.expiresAt - now / 1000 < lifetime / 2) {
        await this.deps.store.refreshPlacement(roomId, existing.nodeId, expiresAt);
      }
      return { nodeId: current.nodeId, grpcAddress: current.grpcAddress };
    }
    const choose = (nodes: readonly MediaNodeRecord[]) =>
      pickNode(
        nodes.filter((n) => !excluded.has(n.nodeId)),
        now,
        { staleAfterMs: this.deps.nodeStaleAfterMs },
      );
    const published = await this.deps.nodes.placementCandidates();
    let candidate = choose(published ?? []);
    if (!candidate) {
      // No list yet (no sweep ran), or nothing live on it (the reaper is down): the full registry, slower but right.
      this.deps.log.info('voice.placement-listed-fleet', { roomId, published: published !== undefined });
      candidate = choose(await this.deps.nodes.listNodes());
    }
    if (!candidate) throw new VoiceError(ErrorId.unavailable, 'no media node is available', { retryAfterSeconds: 5 });
    const placed = await this.deps.store.placeChannel(
      roomId,
      { nodeId: candidate.nodeId, grpcAddress: candidate.grpcAddress },
      expiresAt,
      existing?.nodeId,
    );
    if (placed.nodeId !== candidate.nodeId) {
      // Someone else placed it concurrently: use theirs (placements carry the node's address).
      return placed;
    }
    this.deps.log.info('voice.channel-placed', { roomId, nodeId: placed.nodeId, replacing: existing?.nodeId });
    return placed;
  }
}
