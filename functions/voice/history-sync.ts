// Streams follow the history: delivers a channel's pending history through its feed (channel-feed.ts), ends the
// receivers a post found gone or could not reach, and brings the streams the entries were about in line with it
// (a join whose own invocation lost the node's answer becomes `joined`; a session that left the room without its
// stream ending is ended). A delivery that stopped on a failure leaves the feed stalled; the sweep finishes it.
import type { Logger } from '../../lib/log';
import type { ChannelFeed } from './channel-feed';
import { endError } from './end-reasons';
import type { ConnectionRecord, Placement, StateStore } from './ports';
import type { Races } from './races';
import { logIds, placementOf, roomOf } from './records';
import type { EndClaim, SessionEnd } from './session-end';

export interface HistorySyncDeps {
  store: StateStore;
  feed: ChannelFeed;
  log: Logger;
  races: Races;
  ends: SessionEnd;
}

export class HistorySync {
  constructor(private readonly deps: HistorySyncDeps) {}

  /**
   * Delivers the channel's pending history, ends every receiver a post found gone, and brings the streams
   * the entries were about in line with the history. Throws (after doing all that) when delivery stopped
   * on a failure: the feed is then stalled and the sweep finishes it.
   */
  async announce(conn: ConnectionRecord | { channelKey: string; node: Placement }, replayFor?: string): Promise<void> {
    const channelKey = 'channelKey' in conn ? conn.channelKey : roomOf(conn);
    const node = 'node' in conn ? conn.node : placementOf(conn);
    if (!node) return;
    const { ends, store } = this.deps;
    // A receiver an entry cannot be posted to is claimed, told and cut off inside the delivery (so no later entry
    // reaches it), and its leave is carried out once the delivery is done.
    const refused: EndClaim[] = [];
    const { gone, subjects, error } = await this.deps.feed.drain(channelKey, node, replayFor, async (receiver) => {
      const claim = await ends.claim(receiver, 'undeliverable', endError('undeliverable'));
      if (claim) refused.push(claim);
    });
    for (const { sessionId, socket } of gone) await ends.socketGone(sessionId, socket);
    for (const claim of refused) await ends.finish(claim, 'undeliverable');
    // The history is the truth; streams follow it.
    for (const { entry, record } of subjects) {
      if (entry.kind === 'join' && record.state === 'prepared') {
        // Its join happened on the node though its own invocation lost the answer (and put the stream back).
        const result = await store.tryTransition(record, { state: 'joined', deadline: undefined });
        if (result.ok) this.deps.races.lost('join-answer-lost', { ...logIds(record), seq: entry.seq });
      } else if (entry.kind === 'leave' && record.state !== 'closing') {
        // (Also when a post found its socket gone: that only suspends a resumable session, and this one has
        // left the room. Ending twice is harmless: the first claim wins.)
        // Its session left the room without this stream ending: replaced, or lost on the media side.
        if (entry.reason === 'replaced') await ends.end(record, 'replaced', endError('replaced'));
        else await ends.end(record, 'media-lost', endError('media-lost', { mediaReason: entry.reason }));
      }
    }
    if (error) throw error;
  }

  /** announce(), with a failure left to the sweep (the feed is left stalled): false when it failed. */
  async tryAnnounce(conn: ConnectionRecord, replayFor?: string): Promise<boolean> {
    try {
      await this.announce(conn, replayFor);
      return true;
    } catch (err) {
      this.deps.log.warn('voice.announce-deferred', { ...logIds(conn), error: (err as Error).message });
      return false;
    }
  }

  /**
   * The sweep's part of the feed: a channel whose delivering invocation died (or failed) is finished from its
   * cursor on the node holding the room — or let go when that node is dead (its room, and everyone in it, is
   * gone: nobody is left to tell). False when the feed was not stalled (any more).
   */
  async finishFeed(channelKey: string, isAlive: (nodeId: string) => boolean, now: number): Promise<boolean> {
    const { store, log } = this.deps;
    const stalled = await store.getStalledFeed(channelKey, now);
    if (!stalled) return false;
    const node = stalled.node ?? (await store.getPlacement(channelKey));
    if (!node || !isAlive(node.nodeId)) {
      await store.dropStalledFeed(channelKey, now);
      log.info('voice.feed-dropped', { channelKey, nodeId: node?.nodeId, why: 'its media node is gone' });
      return true;
    }
    log.info('voice.feed-resumed', { channelKey, nodeId: node.nodeId });
    await this.announce({ channelKey, node: { nodeId: node.nodeId, grpcAddress: node.grpcAddress } });
    return true;
  }
}
