// Delivers a channel's one ordered history (the media room's ledger) to its members: JoinedChannel,
// UserJoined and UserLeft are sent only here, only for history entries, each entry once, in order.
//
// Why this holds on AWS, where $default, $disconnect and the reaper of one channel run in different
// containers at once: only the holder of the channel's delivery lease (a conditional write in the state
// table) posts membership messages, and it awaits every post of an entry before it starts the next, so
// two entries can never race to the same receiver. The cursor (how far the history was delivered) is
// written with the lease, so no entry is sent twice. An invocation that adds an entry while someone else
// holds the lease marks the feed "wanted"; the holder cannot let go of a wanted feed without delivering
// again, and if the holder let go between the two (its last history read may predate the entry), the marking
// invocation takes the lease itself, so no entry is left behind (no lost wake-up). A holder that dies leaves an expired lease that the
// sweep takes over (`listStalledFeeds`).
import { randomBytes } from 'node:crypto';
//
// resume.v1 (session-resume.ts): receivers that opted in get each membership message with its history position
// (a Sequenced extension frame). A suspended session (its socket gone) is skipped: the history keeps what it
// misses. A resumed one is replayed what came after the position it last saw — here, under the lease, so
// nothing the feed sends can interleave with the replay — and only then gets new entries again.
import type { StreamMessageResponse, UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { encodeExtFrame, encodeResponseFrame } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import type { Races } from './races';
import {
  socketOf,
  UndeliverableError,
  type Clock,
  type ConnectionRecord,
  type ConsumerDelivery,
  type FeedCursor,
  type Gateway,
  type HistoryEntry,
  type MediaClient,
  type MemberVoiceState,
  type Placement,
  type StateStore,
} from './ports';
import { wireMemberState } from './member-state';
import { stateRule } from './protocol-table';

export interface ChannelFeedDeps {
  store: StateStore;
  media: MediaClient;
  gateway: Gateway;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  /** Where expected races are logged and counted. */
  races: Races;
  /** How long a delivery lease lasts (a holder that dies blocks the channel's feed at most this long). */
  leaseMs: number;
  /** Feed items are garbage after this many seconds without a delivery. */
  ttlSeconds: number;
  /** The byte budget check of one API Gateway message. */
  assertFits(frame: Uint8Array): void;
}

export interface DrainResult {
  /** Receivers a post found gone (410), with the socket that was gone: the caller ends or suspends their sessions. */
  gone: { sessionId: string; socket: string }[];
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
   * lease (which then delivers it before letting go). `refuse` is called (under the lease, before the next
   * entry) for a receiver an entry cannot be posted to at all: the caller ends it; everyone else is served.
   */
  async drain(
    channelKey: string,
    node: Placement,
    replayFor?: string,
    refuse?: (receiver: ConnectionRecord) => Promise<void>,
  ): Promise<DrainResult> {
    const { store, clock } = this.deps;
    const owner = randomBytes(9).toString('base64url');
    const gone = new Map<string, string>();
    const undeliverable = new Map<string, string>();
    const skip: Skipped = { gone, undeliverable, refuse: refuse ?? (async () => undefined) };
    const list = (map: Map<string, string>) => [...map].map(([sessionId, socket]) => ({ sessionId, socket }));
    const result = (extra: { error?: unknown } = {}): DrainResult => ({
      gone: list(gone),
      delivered,
      subjects,
      ...extra,
    });
    const subjects: DrainResult['subjects'] = [];
    let delivered = 0;
    const expiresAt = () => Math.ceil(clock.now() / 1000) + this.deps.ttlSeconds;
    const acquired = await store.acquireFeed(
      channelKey,
      owner,
      clock.now() + this.deps.leaseMs,
      expiresAt(),
      replayFor,
    );
    if (!acquired) {
      this.deps.log.debug('voice.feed-busy', { channelKey });
      return { gone: [], delivered: 0, subjects: [] };
    }
    const { replay: waiting, ...start } = acquired;
    let cursor: FeedCursor = { ...start, node };
    try {
      let replays = waiting?.length ? await store.takeReplays(channelKey, owner) : [];
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const next = await this.deliverPending(channelKey, node, owner, cursor, skip, subjects, replays, (c) => {
          cursor = c;
        });
        delivered += next.delivered;
        cursor = next.cursor;
        if (next.lost) return result();
        if (next.more) {
          // The node's History answer is bounded: the rest of the history comes in the next page (the cursor
          // and the lease are written first, as between entries).
          if (!(await store.checkpointFeed(channelKey, owner, cursor, clock.now() + this.deps.leaseMs))) {
            this.deps.log.warn('voice.feed-lease-lost', { channelKey, delivered: cursor.delivered });
            return result();
          }
          replays = [];
          continue;
        }
        const released = await store.releaseFeed(channelKey, owner, cursor, clock.now() + this.deps.leaseMs);
        if (released !== 'wanted') return result();
        replays = await store.takeReplays(channelKey, owner);
      }
      this.deps.log.warn('voice.feed-rounds-exhausted', { channelKey, rounds: MAX_ROUNDS });
      return result();
    } catch (error) {
      // Keep the lease but let it run out now: the sweep finds the feed stalled and delivers from here.
      // What was delivered so far stays delivered (and its subjects are reported).
      await store.checkpointFeed(channelKey, owner, cursor, 0).catch(() => undefined);
      return result({ error });
    }
  }

  private async deliverPending(
    channelKey: string,
    node: Placement,
    owner: string,
    start: FeedCursor,
    skip: Skipped,
    subjects: DrainResult['subjects'],
    replays: string[],
    progress: (cursor: FeedCursor) => void,
  ): Promise<{ cursor: FeedCursor; delivered: number; lost: boolean; more?: boolean }> {
    let history = await this.deps.media.history(node, { roomId: channelKey, after: start.delivered });
    if (!history.exists) return { cursor: start, delivered: 0, lost: false };
    if (history.roomInstance !== start.roomInstance && start.delivered > 0) {
      // A new room instance (the old one closed empty, or the node restarted): its history starts at 1.
      history = await this.deps.media.history(node, { roomId: channelKey, after: 0 });
      if (!history.exists) return { cursor: start, delivered: 0, lost: false };
    }
    let cursor: FeedCursor = {
      roomInstance: history.roomInstance,
      delivered: history.roomInstance === start.roomInstance ? start.delivered : 0,
      node,
    };
    if (history.truncated) {
      // Entries were pruned before anyone delivered them: members' views may now be wrong. A bug or a
      // feed stalled for longer than the node keeps history; loud, because nothing can repair it here.
      this.deps.log.error('voice.history-truncated', {
        channelKey,
        nodeId: node.nodeId,
        delivered: cursor.delivered,
        head: history.head,
      });
    }
    const entries = history.entries.filter((e) => e.seq > cursor.delivered).sort((a, b) => a.seq - b.seq);
    if (entries.length === 0 && replays.length === 0) return { cursor, delivered: 0, lost: false };

    const receivers = new Set<string>(replays);
    for (const entry of entries) for (const id of [entry.sessionId, ...audienceOf(entry)]) receivers.add(id);
    const records = new Map((await this.deps.store.getConnections([...receivers])).map((r) => [r.connectionId, r]));
    // Resumed sessions first: what they missed up to the cursor, then they are ordinary receivers again.
    for (const id of replays) {
      const record = records.get(id);
      if (record?.state !== 'joined' || record.replayFrom === undefined) continue;
      const replayed = await this.replay(channelKey, node, record, cursor.delivered, skip);
      if (replayed) records.set(id, replayed);
      else records.delete(id);
    }

    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      await this.announce(channelKey, entry, records, skip);
      const subject = records.get(entry.sessionId);
      if (subject) subjects.push({ entry, record: subject });
      cursor = { roomInstance: history.roomInstance, delivered: entry.seq, node };
      progress(cursor);
      if (i < entries.length - 1) {
        const kept = await this.deps.store.checkpointFeed(
          channelKey,
          owner,
          cursor,
          this.deps.clock.now() + this.deps.leaseMs,
        );
        if (!kept) {
          this.deps.log.warn('voice.feed-lease-lost', { channelKey, delivered: cursor.delivered });
          return { cursor, delivered: i + 1, lost: true };
        }
      }
    }
    // A page of the history (the node bounds its answer): more follows when it ended before the head.
    const last = entries.at(-1)?.seq ?? cursor.delivered;
    return { cursor, delivered: entries.length, lost: false, more: entries.length > 0 && last < history.head };
  }

  /**
   * resume.v1: posts to a resumed session, in order, every entry in (its last seen position, `upTo`] that
   * concerns it, then clears its replay mark. Returns the record as it is now (undefined when it changed
   * meanwhile: suspended again or ended; a later resume names its own position).
   */
  private async replay(
    channelKey: string,
    node: Placement,
    record: ConnectionRecord,
    upTo: number,
    skip: Skipped,
  ): Promise<ConnectionRecord | undefined> {
    const from = record.replayFrom ?? upTo;
    const only = new Map([[record.connectionId, record]]);
    let count = 0;
    // Page by page (the node bounds each History answer) up to `upTo`.
    for (let after = from; after < upTo; ) {
      const history = await this.deps.media.history(node, { roomId: channelKey, after });
      if (history.truncated) {
        this.deps.log.error('voice.history-truncated', {
          channelKey,
          nodeId: node.nodeId,
          delivered: after,
          head: history.head,
          replay: true,
        });
      }
      const page = history.entries.filter((e) => e.seq > after && e.seq <= upTo).sort((a, b) => a.seq - b.seq);
      if (page.length === 0) break;
      for (const entry of page) {
        if (!audienceOf(entry).includes(record.connectionId)) continue;
        await this.announce(channelKey, entry, only, skip, record.connectionId);
        count++;
      }
      after = page.at(-1)!.seq;
    }
    this.deps.log.info('voice.session-replayed', {
      channelKey,
      connectionId: record.connectionId,
      userId: record.userId,
      from,
      upTo,
      entries: count,
    });
    const result = await this.deps.store.tryTransition(record, {
      state: 'joined',
      replayFrom: undefined,
      deadline: undefined,
    });
    if (result.ok) return result.record;
    this.deps.races.lost('replay-overtaken', { channelKey, connectionId: record.connectionId });
    return undefined;
  }

  /**
   * Posts one entry to everyone it concerns (only to `onlyTo` when given), all awaited (so the next entry
   * cannot overtake it). A receiver this entry cannot be posted to at all (its frame is over the message
   * budget, or the gateway refuses it for good) is marked undeliverable and skipped from then on; the entry
   * still counts as delivered for everyone else, so one receiver can never stall the channel.
   */
  private async announce(
    channelKey: string,
    entry: HistoryEntry,
    records: Map<string, ConnectionRecord>,
    skip: Skipped,
    onlyTo?: string,
  ): Promise<void> {
    const { gone, undeliverable, refuse: end } = skip;
    // state.v1: `states` go only to receivers granted it; a state entry is only for them (response unset).
    const posts: { to: string; response?: StreamMessageResponse; states?: MemberVoiceState[] }[] = [];
    if (entry.kind === 'join') {
      posts.push({
        to: entry.sessionId,
        response: {
          message: { $case: 'joinedChannel', value: { otherUsers: entry.forJoiner.map(userConsumerOptions) } },
        },
        states: entry.states,
      });
      const joiner = entry.states?.filter((m) => m.sessionId === entry.sessionId);
      for (const d of entry.forMembers) {
        posts.push({
          to: d.receiverSessionId,
          response: { message: { $case: 'userJoined', value: { data: userConsumerOptions(d) } } },
          states: joiner,
        });
      }
    } else if (entry.kind === 'state') {
      for (const to of entry.audience)
        posts.push({ to, states: [{ ...entry.state, sessionId: entry.sessionId, userId: entry.userId }] });
    } else {
      const userId = BigInt(entry.userId);
      for (const to of entry.audience)
        posts.push({ to, response: { message: { $case: 'userLeft', value: { userId } } } });
    }
    const targeted = posts.filter((p) => onlyTo === undefined || p.to === onlyTo);
    if (targeted.length > 0) this.deps.metrics?.count(METRIC.fanOutSize, targeted.length);
    await Promise.all(
      targeted.map(async ({ to, response, states }) => {
        const receiver = records.get(to);
        // A state change is told only to streams granted state.v1 (a stock voice.v1 stream never sees one).
        if (!response && !receiver?.voiceState) return;
        // Ended already (its own end removed it from the room; nothing to tell), or its socket found gone earlier
        // (a resumed session has a new socket: that one is not gone), or an earlier entry could not reach it.
        if (!receiver || gone.get(to) === socketOf(receiver) || undeliverable.get(to) === socketOf(receiver)) return;
        // resume.v1: no socket now (suspended, or a resume in flight), or its replay is still to come: the
        // history keeps this entry for its replay.
        if (stateRule(receiver.state).socket !== 'own' || (receiver.replayFrom !== undefined && onlyTo === undefined))
          return;
        const socket = socketOf(receiver);
        const refuse = async (err: unknown) => {
          // This receiver cannot be told what happened: its view would be wrong from now on. It alone is ended,
          // before the next entry (none reaches it); the entry counts as delivered for everyone else.
          this.deps.log.warn('voice.undeliverable', {
            channelKey,
            connectionId: to,
            userId: receiver.userId,
            kind: response?.message?.$case ?? entry.kind,
            seq: entry.seq,
            error: String(err),
          });
          undeliverable.set(to, socket);
          await end(receiver);
        };
        let frame: Uint8Array;
        try {
          // resume.v1 and state.v1 streams get the history position (Sequenced); state.v1 ones the states with it.
          frame =
            receiver.resume || receiver.voiceState
              ? encodeExtFrame({
                  message: {
                    $case: 'sequenced',
                    value: {
                      seq: BigInt(entry.seq),
                      message: response,
                      states: receiver.voiceState ? (states ?? []).map(wireMemberState) : [],
                    },
                  },
                })
              : encodeResponseFrame(response!);
          this.deps.assertFits(frame);
        } catch (err) {
          return refuse(err);
        }
        for (let attempt = 1; ; attempt++) {
          try {
            if ((await this.deps.gateway.send(socket, frame, receiver.variant)) === 'gone') {
              gone.set(to, socket);
              this.deps.metrics?.count(METRIC.deliveriesGone);
            }
            return;
          } catch (err) {
            if (err instanceof UndeliverableError) return refuse(err);
            if (attempt >= SEND_ATTEMPTS) {
              // A receiver that cannot be told what happened has a wrong view from now on: end it.
              this.deps.log.warn('voice.delivery-failed', {
                channelKey,
                connectionId: to,
                userId: receiver.userId,
                kind: response?.message?.$case ?? entry.kind,
                seq: entry.seq,
                error: String(err),
              });
              gone.set(to, socket);
              return;
            }
          }
        }
      }),
    );
  }
}

/** Receivers the rest of a drain skips, by session id → the socket that failed; and how a refused one is ended. */
interface Skipped {
  gone: Map<string, string>;
  undeliverable: Map<string, string>;
  refuse: (receiver: ConnectionRecord) => Promise<void>;
}

function audienceOf(entry: HistoryEntry): string[] {
  return entry.kind === 'join'
    ? [entry.sessionId, ...entry.forMembers.map((d) => d.receiverSessionId)]
    : entry.audience;
}

export function userConsumerOptions(d: ConsumerDelivery): UserConsumerOptions {
  return {
    userId: BigInt(d.producerUserId),
    producerId: d.producerId,
    consumerId: d.consumerId,
    rtpParameters: d.rtpParameters,
  };
}
