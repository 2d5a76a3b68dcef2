// Delivers a channel's one ordered history (the media room's ledger) to its members: JoinedChannel,
// UserJoined and UserLeft are sent only here, only for history entries, each entry once, in order.
//
// Why this holds on AWS, where $default, $disconnect and the reaper of one channel run in different
// containers at once: only the holder of the channel's delivery lease (a conditional write in the state
// table) posts membership messages, and it awaits every post of an entry before it starts the next, so
// two entries can never race to the same receiver. The cursor (how far the history was delivered) is
// written with the lease, so no entry is sent twice. An invocation that adds an entry while someone else
// holds the lease marks the feed "wanted"; the holder cannot let go of a wanted feed without delivering
// again, so no entry is left behind (no lost wake-up). A holder that dies leaves an expired lease that the
// sweep takes over (`listStalledFeeds`).
import { randomBytes } from 'node:crypto';
import type { StreamMessageResponse, UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { encodeResponseFrame } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import type { Clock, ConnectionRecord, ConsumerDelivery, FeedCursor, Gateway, HistoryEntry, MediaClient, Placement, StateStore } from './ports';

export interface ChannelFeedDeps {
  store: StateStore;
  media: MediaClient;
  gateway: Gateway;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  /** How long a delivery lease lasts (a holder that dies blocks the channel's feed at most this long). */
  leaseMs: number;
  /** Feed items are garbage after this many seconds without a delivery. */
  ttlSeconds: number;
  /** The byte budget check of one API Gateway message. */
  assertFits(frame: Uint8Array): void;
}

export interface DrainResult {
  /** Receivers a post found gone (410): the caller ends their sessions. */
  gone: string[];
  /** Entries this call delivered. */
  delivered: number;
  /**
   * The streams the delivered entries were about, as their records were when read: the history is the
   * truth, so the caller brings streams in line with it (a join whose own invocation lost the node's answer
   * is joined; a stream whose session left the room — replaced, lost on the media side — ends).
   */
  subjects: { entry: HistoryEntry; record: ConnectionRecord }[];
  /** Set when delivery stopped on a failure: the feed is left stalled, for the sweep to finish. */
  error?: unknown;
}

const MAX_ROUNDS = 50;
const SEND_ATTEMPTS = 3;

export class ChannelFeed {
  constructor(private readonly deps: ChannelFeedDeps) {}

  /**
   * Delivers everything pending in the channel's history, or leaves it to the invocation that holds the
   * lease (which then delivers it before letting go).
   */
  async drain(channelKey: string, node: Placement): Promise<DrainResult> {
    const { store, clock } = this.deps;
    const owner = randomBytes(9).toString('base64url');
    const gone = new Set<string>();
    const subjects: DrainResult['subjects'] = [];
    let delivered = 0;
    const expiresAt = () => Math.ceil(clock.now() / 1000) + this.deps.ttlSeconds;
    const acquired = await store.acquireFeed(channelKey, owner, clock.now() + this.deps.leaseMs, expiresAt());
    if (!acquired) {
      this.deps.log.debug('voice.feed-busy', { channelKey });
      return { gone: [], delivered: 0, subjects: [] };
    }
    let cursor: FeedCursor = { ...acquired, node };
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const next = await this.deliverPending(channelKey, node, owner, cursor, gone, subjects, (c) => { cursor = c; });
        delivered += next.delivered;
        cursor = next.cursor;
        if (next.lost) return { gone: [...gone], delivered, subjects };
        const released = await store.releaseFeed(channelKey, owner, cursor, clock.now() + this.deps.leaseMs);
        if (released !== 'wanted') return { gone: [...gone], delivered, subjects };
      }
      this.deps.log.warn('voice.feed-rounds-exhausted', { channelKey, rounds: MAX_ROUNDS });
      return { gone: [...gone], delivered, subjects };
    } catch (error) {
      // Keep the lease but let it run out now: the sweep finds the feed stalled and delivers from here.
      // What was delivered so far stays delivered (and its subjects are reported).
      await store.checkpointFeed(channelKey, owner, cursor, 0).catch(() => undefined);
      return { gone: [...gone], delivered, subjects, error };
    }
  }

  private async deliverPending(
    channelKey: string, node: Placement, owner: string, start: FeedCursor, gone: Set<string>, subjects: DrainResult['subjects'],
    progress: (cursor: FeedCursor) => void,
  ): Promise<{ cursor: FeedCursor; delivered: number; lost: boolean }> {
    let history = await this.deps.media.history(node, { roomId: channelKey, after: start.delivered });
    if (!history.exists) return { cursor: start, delivered: 0, lost: false };
    if (history.roomInstance !== start.roomInstance && start.delivered > 0) {
      // A new room instance (the old one closed empty, or the node restarted): its history starts at 1.
      history = await this.deps.media.history(node, { roomId: channelKey, after: 0 });
      if (!history.exists) return { cursor: start, delivered: 0, lost: false };
    }
    let cursor: FeedCursor = { roomInstance: history.roomInstance, delivered: history.roomInstance === start.roomInstance ? start.delivered : 0, node };
    if (history.truncated) {
      // Entries were pruned before anyone delivered them: members' views may now be wrong. A bug or a
      // feed stalled for longer than the node keeps history; loud, because nothing can repair it here.
      this.deps.log.error('voice.history-truncated', { channelKey, nodeId: node.nodeId, delivered: cursor.delivered, head: history.head });
    }
    const entries = history.entries.filter((e) => e.seq > cursor.delivered).sort((a, b) => a.seq - b.seq);
    if (entries.length === 0) return { cursor, delivered: 0, lost: false };

    const receivers = new Set<string>();
    for (const entry of entries) for (const id of [entry.sessionId, ...audienceOf(entry)]) receivers.add(id);
    const records = new Map((await this.deps.store.getConnections([...receivers])).map((r) => [r.connectionId, r]));

    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      await this.announce(channelKey, entry, records, gone);
      const subject = records.get(entry.sessionId);
      if (subject) subjects.push({ entry, record: subject });
      cursor = { roomInstance: history.roomInstance, delivered: entry.seq, node };
      progress(cursor);
      if (i < entries.length - 1) {
        const kept = await this.deps.store.checkpointFeed(channelKey, owner, cursor, this.deps.clock.now() + this.deps.leaseMs);
        if (!kept) {
          this.deps.log.warn('voice.feed-lease-lost', { channelKey, delivered: cursor.delivered });
          return { cursor, delivered: i + 1, lost: true };
        }
      }
    }
    return { cursor, delivered: entries.length, lost: false };
  }

  /** Posts one entry to everyone it concerns, all awaited (so the next entry cannot overtake it). */
  private async announce(channelKey: string, entry: HistoryEntry, records: Map<string, ConnectionRecord>, gone: Set<string>): Promise<void> {
    const posts: { to: string; response: StreamMessageResponse }[] = [];
    if (entry.kind === 'join') {
      posts.push({ to: entry.sessionId, response: { message: { $case: 'joinedChannel', value: { otherUsers: entry.forJoiner.map(userConsumerOptions) } } } });
      for (const d of entry.forMembers) {
        posts.push({ to: d.receiverSessionId, response: { message: { $case: 'userJoined', value: { data: userConsumerOptions(d) } } } });
      }
    } else {
      const userId = BigInt(entry.userId);
      for (const to of entry.audience) posts.push({ to, response: { message: { $case: 'userLeft', value: { userId } } } });
    }
    if (posts.length > 0) this.deps.metrics?.count(METRIC.fanOutSize, posts.length);
    await Promise.all(posts.map(async ({ to, response }) => {
      const receiver = records.get(to);
      // Ended already (its own end removed it from the room; nothing to tell), or found gone earlier.
      if (!receiver || gone.has(to)) return;
      const frame = encodeResponseFrame(response);
      this.deps.assertFits(frame);
      for (let attempt = 1; ; attempt++) {
        try {
          if ((await this.deps.gateway.send(to, frame, receiver.variant)) === 'gone') {
            gone.add(to);
            this.deps.metrics?.count(METRIC.deliveriesGone);
          }
          return;
        } catch (err) {
          if (attempt >= SEND_ATTEMPTS) {
            // A receiver that cannot be told what happened has a wrong view from now on: end it.
            this.deps.log.warn('voice.delivery-failed', {
              channelKey, connectionId: to, userId: receiver.userId, kind: response.message?.$case, seq: entry.seq, error: String(err),
            });
            gone.add(to);
            return;
          }
        }
      }
    }));
  }
}

function audienceOf(entry: HistoryEntry): string[] {
  return entry.kind === 'join' ? [entry.sessionId, ...entry.forMembers.map((d) => d.receiverSessionId)] : entry.audience;
}

export function userConsumerOptions(d: ConsumerDelivery): UserConsumerOptions {
  return { userId: BigInt(d.producerUserId), producerId: d.producerId, consumerId: d.consumerId, rtpParameters: d.rtpParameters };
}
