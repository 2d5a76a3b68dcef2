// Simulated media nodes for the deterministic simulation: the real room ledger (media-node/src/room/room-ledger.ts,
// the same module the real Room writes its history with) behind the MediaClient port, with the media
// node's rules (validate before committing, seat per user, idempotent join/leave) and its faults: a call
// that fails before it runs, one whose answer is lost after it ran, one that hangs past its deadline and
// runs later, a node that dies, a session lost on the media side (ICE/DTLS).
import type { ConsumerDelivery } from '../../gen/medianode/v1/media_node';
import type { LostSession, MediaClient, NodeDirectory, Placement, RoomHistory } from '../../functions/voice/ports';
import { MediaError } from '../../functions/voice/ports';
import { RoomLedger } from '../../media-node/src/room/room-ledger';
import { MemberStates, sameFlags } from '../../media-node/src/room/member-states';
import { MediaError as NodeMediaError } from '../../media-node/api/errors';
import type { SweepNodes } from '../../functions/voice/sweep';
import type { MediaNodeRecord } from '../../routing/types';
import { sweepShardOf } from '../../data/tables';
import { candidateRecord, rankCandidates } from '../../routing/candidates';
import type { Scheduler } from './scheduler';

export interface MediaFaults {
  /** Per call: fails (UNAVAILABLE) without running. */
  failBefore: number;
  /** Per call: runs, then the answer is lost (the caller sees a deadline). */
  loseAnswer: number;
  /** Per call: the caller sees a deadline; the node runs the call later. */
  hang: number;
}

interface SimSession {
  userId: string;
  /** consumers.v1: consumers on its receive transport are created resumed. */
  consumersResumed?: boolean;
  joined?: { forJoiner: ConsumerDelivery[]; forMembers: ConsumerDelivery[]; seq: number; replaced: string[] };
}

interface SimRoom {
  ledger: RoomLedger;
  /** state.v1: the real module the node's Room keeps its members' states with. */
  states: MemberStates;
  sessions: Map<string, SimSession>;
}

class SimNode {
  alive = true;
  retired = false;
  readonly rooms = new Map<string, SimRoom>();
  constructor(readonly nodeId: string) {}
}

export class SimMedia implements MediaClient, NodeDirectory, SweepNodes {
  readonly nodes: SimNode[];
  readonly lost: LostSession[] = [];
  /** consumers.v1: ids of consumers created resumed (the node's side of the extension). */
  readonly resumedConsumers = new Set<string>();
  private consumerIds = 0;

  constructor(
    private readonly sim: Scheduler,
    private readonly faults: MediaFaults,
    nodeIds = ['node-1', 'node-2'],
  ) {
    this.nodes = nodeIds.map((id) => new SimNode(id));
  }

  // ---- NodeDirectory ----

  async listNodes(): Promise<MediaNodeRecord[]> {
    await this.sim.point();
    const now = this.sim.time;
    return this.nodes
      .filter((n) => !n.retired)
      .map((n, i) => ({
        nodeId: n.nodeId,
        grpcAddress: `${n.nodeId}:50051`,
        publicAddress: '127.0.0.1',
        capacity: 1000,
        rooms: n.rooms.size + i,
        sessions: 0,
        transports: 0,
        producers: 0,
        consumers: 0,
        cpu: { workers: [], avg: 0, max: 0 },
        state: 'active',
        heartbeatAt: n.alive ? now : now - 60_000,
        expiresAt: Math.floor(now / 1000) + (n.alive ? 15 : -45),
      }));
  }

  async getNode(nodeId: string): Promise<MediaNodeRecord | undefined> {
    return (await this.listNodes()).find((n) => n.nodeId === nodeId);
  }

  /** What the sweep last published (routing/candidates.ts), with the heartbeats it saw then. */
  private published?: MediaNodeRecord[];

  async placementCandidates(): Promise<MediaNodeRecord[] | undefined> {
    await this.sim.point();
    return this.published;
  }

  async publishCandidates(nodes: MediaNodeRecord[], nowMs: number, staleAfterMs: number): Promise<void> {
    await this.sim.point();
    this.published = rankCandidates(nodes, nowMs, staleAfterMs).map(candidateRecord);
  }

  async listLostSessions(shard: number, limit: number): Promise<LostSession[]> {
    await this.sim.point();
    return this.lost.filter((l) => sweepShardOf(l.sessionId) === shard).slice(0, limit);
  }

  async retireNode(node: MediaNodeRecord): Promise<void> {
    await this.sim.point();
    const n = this.node(node.nodeId);
    if (!n.alive) n.retired = true;
  }

  async deleteLostSession(lost: LostSession): Promise<void> {
    await this.sim.point();
    const i = this.lost.findIndex((l) => l.sessionId === lost.sessionId && l.roomId === lost.roomId);
    if (i >= 0) this.lost.splice(i, 1);
  }

  // ---- faults the world injects ----

  kill(nodeId: string): void {
    const node = this.node(nodeId);
    node.alive = false;
    node.rooms.clear();
  }

  /** A joined session dies on the media side (ICE consent lost): written to the history, reported lost. */
  loseSession(): string | undefined {
    const candidates = this.nodes
      .filter((n) => n.alive)
      .flatMap((n) =>
        [...n.rooms].flatMap(([roomId, room]) =>
          [...room.sessions]
            .filter(([, s]) => s.joined)
            .map(([sessionId, s]) => ({ roomId, room, sessionId, userId: s.userId })),
        ),
      );
    if (candidates.length === 0) return undefined;
    const victim = this.sim.pick(candidates);
    victim.room.ledger.leave(victim.sessionId, 'ice-failed');
    victim.room.states.forget(victim.sessionId);
    victim.room.sessions.delete(victim.sessionId);
    const host = this.nodes.find((n) => n.rooms.get(victim.roomId) === victim.room)!;
    this.lost.push({
      roomId: victim.roomId,
      sessionId: victim.sessionId,
      userId: victim.userId,
      reason: 'ice-failed',
      nodeId: host.nodeId,
    });
    return victim.sessionId;
  }

  /**
   * A client went away: its media stops, and some time later (ICE consent) the node reports its session lost —
   * unless a Leave removed it first. The only way a vanished member is found when $disconnect never comes.
   */
  vanish(sessionId: string): void {
    this.sim.spawn(`media-consent-lost ${sessionId}`, async () => {
      for (let k = this.sim.int(5, 60); k > 0; k--) await this.sim.point();
      for (const node of this.nodes) {
        if (!node.alive) continue;
        for (const [roomId, room] of node.rooms) {
          const session = room.sessions.get(sessionId);
          if (!session) continue;
          room.sessions.delete(sessionId);
          room.states.forget(sessionId);
          if (room.ledger.leave(sessionId, 'ice-failed'))
            this.lost.push({ roomId, sessionId, userId: session.userId, reason: 'ice-failed', nodeId: node.nodeId });
        }
      }
    });
  }

  /** The real membership: joined sessions per room of live nodes. */
  members(): Map<string, { sessionId: string; userId: string }[]> {
    const result = new Map<string, { sessionId: string; userId: string }[]>();
    for (const node of this.nodes) {
      if (!node.alive) continue;
      for (const [roomId, room] of node.rooms) result.set(`${node.nodeId}/${roomId}`, room.ledger.memberList());
    }
    return result;
  }

  // ---- MediaClient ----

  openRoom(node: Placement, roomId: string): Promise<{ rtpCapabilities: string }> {
    return this.call(node, (n) => {
      if (!n.rooms.has(roomId)) {
        n.rooms.set(roomId, {
          ledger: new RoomLedger({ retainMs: 600_000, maxEntries: 10_000, now: this.sim.clock.now }),
          sessions: new Map(),
          states: new MemberStates(),
        });
      }
      return { rtpCapabilities: '{"codecs":[]}' };
    });
  }

  createTransports(node: Placement, req: Parameters<MediaClient['createTransports']>[1]) {
    return this.call(node, (n) => {
      const room = this.room(n, req.roomId);
      if (!room.sessions.has(req.sessionId))
        room.sessions.set(req.sessionId, {
          userId: req.userId,
          ...(req.consumersResumed ? { consumersResumed: true } : {}),
        });
      const t = (role: string) => ({
        id: `${req.sessionId}-${role}`,
        iceParameters: '{}',
        iceCandidates: [],
        dtlsParameters: '{}',
      });
      return { consumerTransport: t('c'), producerTransport: t('p') };
    });
  }

  join(node: Placement, req: Parameters<MediaClient['join']>[1]) {
    return this.call(node, (n) => {
      const room = this.room(n, req.roomId);
      const joiner = room.sessions.get(req.sessionId);
      if (!joiner) throw new MediaError('not-prepared', 'session has no transports');
      const result = (j: NonNullable<SimSession['joined']>) => ({ ...j, roomInstance: room.ledger.instance });
      if (joiner.joined) return result(joiner.joined);
      if (req.rtpParameters.includes('"codecs":[]'))
        throw new MediaError('bad-rtp-parameters', 'producer rejected: no codecs');
      const previous = room.ledger.memberOfUser(joiner.userId);
      if (req.maxMembers && room.ledger.memberCount() - (previous ? 1 : 0) >= req.maxMembers) {
        throw new MediaError('channel-full', 'the channel is full');
      }
      const members = room.ledger.memberList().filter((m) => m.sessionId !== previous);
      const delivery = (receiver: string, producer: { sessionId: string; userId: string }): ConsumerDelivery => {
        const consumerId = `c${++this.consumerIds}`;
        if (room.sessions.get(receiver)?.consumersResumed) this.resumedConsumers.add(consumerId);
        return {
          receiverSessionId: receiver,
          producerSessionId: producer.sessionId,
          producerUserId: producer.userId,
          producerId: `p-${producer.sessionId}`,
          consumerId,
          rtpParameters: '{}',
        };
      };
      const forJoiner = members.map((m) => delivery(req.sessionId, m));
      const forMembers = members.map((m) => delivery(m.sessionId, { sessionId: req.sessionId, userId: joiner.userId }));
      const replaced: string[] = [];
      if (previous) {
        room.ledger.leave(previous, 'replaced');
        room.sessions.delete(previous);
        room.states.forget(previous);
        replaced.push(previous);
      }
      const entry = room.ledger.join(req.sessionId, joiner.userId, forJoiner, forMembers, (m) =>
        room.states.of(m.sessionId, m.userId),
      );
      joiner.joined = { forJoiner, forMembers, seq: entry.seq, replaced };
      return result(joiner.joined);
    });
  }

  resumeConsumer(node: Placement, req: { roomId: string; sessionId: string; consumerId: string }): Promise<void> {
    return this.call(node, (n) => {
      const session = this.room(n, req.roomId).sessions.get(req.sessionId);
      if (!session) throw new MediaError('unknown-session', 'session is not in the room');
      if (!session.joined?.forJoiner.some((d) => d.consumerId === req.consumerId)) {
        throw new MediaError('unknown-consumer', 'no such consumer');
      }
    });
  }

  leave(node: Placement, req: { roomId: string; sessionId: string }) {
    return this.call(node, (n) => {
      const room = n.rooms.get(req.roomId);
      if (!room) return { wasPresent: false, announced: false };
      const wasPresent = room.sessions.delete(req.sessionId);
      room.states.forget(req.sessionId);
      const entry = room.ledger.leave(req.sessionId, 'left');
      return { wasPresent, announced: entry !== undefined };
    });
  }

  restartIce(node: Placement, req: { roomId: string; sessionId: string }) {
    return this.call(node, (n) => {
      const session = this.room(n, req.roomId).sessions.get(req.sessionId);
      if (!session?.joined) throw new MediaError('unknown-session', 'session is not in the room');
      return { consumerIceParameters: '{"restarted":true}', producerIceParameters: '{"restarted":true}' };
    });
  }

  /** state.v1, with the node's rules (Room.setMemberState): the caller a member, the actor's rights, a change = one entry. */
  setMemberState(node: Placement, req: Parameters<MediaClient['setMemberState']>[1]) {
    return this.call(node, (n) => {
      const room = this.room(n, req.roomId);
      const caller = room.sessions.get(req.sessionId);
      if (!caller || !room.ledger.isMember(req.sessionId))
        throw new MediaError('unknown-session', 'session is not a member');
      const targetId = req.targetUserId ? room.ledger.memberOfUser(req.targetUserId) : req.sessionId;
      const target = targetId && room.sessions.get(targetId);
      if (!targetId || !target) throw new MediaError('unknown-member', 'user is not a member');
      const { targetUserId, roomId: _r, sessionId: _s, stamp, ...change } = req;
      let applied: ReturnType<MemberStates['apply']>;
      try {
        applied = room.states.apply(targetId, target.userId, change, targetUserId ? 'moderator' : 'self', stamp);
      } catch (err) {
        // The node's refusal, as the gRPC adapter hands it to the core.
        if (err instanceof NodeMediaError) throw new MediaError(err.reason, err.humanMessage);
        throw err;
      }
      const { before, after } = applied;
      const changed = !sameFlags(before, after);
      const entry = changed ? room.ledger.state(targetId, after, caller.userId) : undefined;
      return { changed, seq: entry?.seq ?? 0, state: { ...after, sessionId: targetId, userId: target.userId } };
    });
  }

  /** The real states (node/room → session → flags), for the simulation's invariant. */
  statesOf(
    nodeId: string,
    roomId: string,
  ): Map<string, { userId: string; flags: ReturnType<MemberStates['of']> }> | undefined {
    const room = this.nodes.find((n) => n.nodeId === nodeId && n.alive)?.rooms.get(roomId);
    if (!room) return undefined;
    return new Map(
      room.ledger
        .memberList()
        .map((m) => [m.sessionId, { userId: m.userId, flags: room.states.of(m.sessionId, m.userId) }]),
    );
  }

  history(node: Placement, req: { roomId: string; after: number }): Promise<RoomHistory> {
    return this.call(node, (n) => {
      const room = n.rooms.get(req.roomId);
      if (!room) return { exists: false, roomInstance: '', head: 0, entries: [], truncated: false };
      const slice = room.ledger.since(req.after);
      return {
        exists: true,
        roomInstance: slice.instance,
        head: slice.head,
        truncated: slice.truncated,
        entries: slice.entries,
      };
    });
  }

  // ---- the call model ----

  private async call<T>(
    placement: Placement,
    run: (node: SimNode) => T,
    options: { faultFree?: boolean } = {},
  ): Promise<T> {
    await this.sim.point();
    const node = this.node(placement.nodeId);
    const unavailable = () => new MediaError('internal', 'deadline exceeded', true);
    if (!node.alive) throw new MediaError('unreachable', 'connection refused', true);
    if (!options.faultFree) {
      if (this.sim.chance(this.faults.failBefore)) throw unavailable();
      if (this.sim.chance(this.faults.hang)) {
        // The node is stuck; it carries the call out later, after the caller gave up.
        this.sim.spawn('media-late-call', async () => {
          await this.sim.point();
          if (node.alive) {
            try {
              run(node);
            } catch {
              // the late call failed on the node: nobody is listening
            }
          }
        });
        await this.sim.point();
        throw unavailable();
      }
    }
    const result = run(node);
    if (!options.faultFree && this.sim.chance(this.faults.loseAnswer)) throw unavailable();
    await this.sim.point();
    return result;
  }

  private node(nodeId: string): SimNode {
    const node = this.nodes.find((n) => n.nodeId === nodeId);
    if (!node) throw new Error(`unknown node ${nodeId}`);
    return node;
  }

  private room(node: SimNode, roomId: string): SimRoom {
    const room = node.rooms.get(roomId);
    if (!room) throw new MediaError('unknown-room', 'room is not open on this node');
    return room;
  }
}
