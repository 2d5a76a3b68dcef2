// One simulated world: the real VoiceCore (and its ChannelFeed) over the in-memory store, simulated media
// nodes (sim-media.ts) and a simulated API Gateway, driven by simulated clients that join, leave, close
// right after any message, duplicate messages, send invalid joins and open several streams as one user,
// while $disconnect is best effort and the reaper sweeps concurrently. Every effect waits at a scheduling
// point, so the scheduler's seed decides every interleaving, including the order in which two posts to
// one client arrive. After the run, `check()` states the invariant:
//   - each member's view (JoinedChannel + UserJoined − UserLeft, as received) equals the channel's real
//     membership (the media room's members), for every client still connected and joined;
//   - no UserJoined/UserLeft twice, none about oneself, no UserLeft about someone not in the view;
//   - no leftovers (no record of a stream that ended, no member whose client is gone);
//   - no error-level log line (expected races are not errors).
// resume.v1: clients that opt in (`resumeClients`) also lose their socket without a close frame and resume on
// a new one (sometimes before the old one is gone: make-before-break; sometimes never); the views must stay
// exact across it (replayed entries once, in order) and a session never resumed must end after its grace.
// The extension negotiation (`extClients`): clients that select `+ext.v1` send Hello (sometimes twice), wait for
// Welcome and get the features they asked for — resume.v1 (as above) and/or consumers.v1: then every consumer
// they are told of must have been created resumed on the node and they send no ResumeConsumer; every other
// client's consumers stay paused until it resumes them (stock voice.v1 unchanged).
// state.v1: clients that opt in (`stateClients`, through the Hello negotiation) mute/deafen themselves at random
// moments, and moderators among them server-mute/deafen others, interleaved with all of the above; each such
// client's view of every member's state (the JoinedChannel snapshot, then UserJoined's and each change, as
// received) must equal the room's real states (the media node's MemberStates), and no client without state.v1
// may ever see a state frame.
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import {
  UndeliverableError,
  type ConnectionRecord,
  type Gateway,
  type SendResult,
  type StateStore,
  type Transition,
} from '../../functions/voice/ports';
import { stateRule } from '../../functions/voice/protocol-table';
import { Sweep, type SweepStore } from '../../functions/voice/sweep';
import { VoiceCore } from '../../functions/voice/voice-core';
import { SWEEP_SHARDS } from '../../data/tables';
import type { SessionCredential } from '../../gen/harmonyvoice/ext/v1/session';
import type { MemberState } from '../../gen/harmonyvoice/ext/v1/state';
import type { StreamMessageRequest, StreamMessageResponse } from '../../gen/protocol/voice/v1/voice';
import { createLogger, type Logger } from '../../lib/log';
import { decodeServerFrame, encodeExtRequest, encodeRequest, type Variant } from '../../protocol/hrpc';
import { FEATURE } from '../../protocol/extensions';
import type { Scheduler } from './scheduler';
import { SimMedia, type MediaFaults } from './sim-media';

export interface WorldOptions {
  clients: number;
  /** Distinct users the clients are drawn from (fewer users than clients = same-user streams). */
  users: number;
  channels: number;
  faults: MediaFaults;
  /** Probability that a client closes its socket after each of its messages. */
  closeAfterMessage: number;
  /** Probability that $disconnect is not delivered after a close (AWS: best effort). */
  dropDisconnect: number;
  duplicate: number;
  badJoin: number;
  loseSession: number;
  killNode: number;
  reaperRuns: number;
  /** resume.v1: probability that a client opts in (0: the stock world, exactly as before). */
  resumeClients?: number;
  /** Per opted-in client: probability that its socket is cut (no close frame) at some point. */
  cut?: number;
  /** Probability of a media-side session loss late in the run (when sessions are suspended or resumed). */
  loseLate?: number;
  /**
   * Per client: probability that one history entry cannot be posted to it at all (the gateway refuses it for
   * good, as API Gateway's 413 does for a message over its limit): "entry undeliverable to receiver X".
   */
  undeliverable?: number;
  /** The extension negotiation: probability that a client selects `+ext.v1` and asks for a random subset of features. */
  extClients?: number;
  /** state.v1: probability that a client opts in (0: the worlds above, exactly as before). */
  stateClients?: number;
  /** state.v1: probability that an opted-in client's token lets it moderate the channel. */
  moderators?: number;
  /** state.v1: how many state changes an opted-in client tries once joined. */
  stateChanges?: number;
}

export const DEFAULT_WORLD: WorldOptions = {
  clients: 7,
  users: 5,
  channels: 1,
  faults: { failBefore: 0.02, loseAnswer: 0.02, hang: 0.02 },
  closeAfterMessage: 0.08,
  dropDisconnect: 0.15,
  duplicate: 0.08,
  badJoin: 0.05,
  loseSession: 0.15,
  killNode: 0.05,
  reaperRuns: 8,
};

const GUILD = 1n;

class SimGateway implements Gateway {
  constructor(private readonly world: World) {}

  async send(connectionId: string, frame: Uint8Array, _variant: Variant): Promise<SendResult> {
    await this.world.sim.point();
    const socket = this.world.sockets.get(connectionId);
    if (!socket?.open) return 'gone';
    if (socket.client.refusesEntry(frame))
      throw new UndeliverableError('simulated: the gateway refuses this message for good');
    socket.client.receive(frame, connectionId);
    await this.world.sim.point();
    return 'sent';
  }

  async close(connectionId: string): Promise<void> {
    await this.world.sim.point();
    const socket = this.world.sockets.get(connectionId);
    if (!socket?.open) return;
    socket.open = false;
    if (socket.client.connectionId === connectionId) socket.client.closedBy = 'server';
    // API Gateway sends $disconnect after a server-side close too (best effort), with status 1000.
    if (!this.world.sim.chance(this.world.options.dropDisconnect)) {
      this.world.sim.spawn(`$disconnect ${connectionId}`, () =>
        this.world.core.disconnect(connectionId, { normalClose: true }),
      );
    }
  }
}

/**
 * Checks every connection record the core writes against the protocol table (functions/voice/protocol-table.ts):
 * it carries a deadline exactly when its state has one (or, joined, while a resumed session's replay is owed).
 * Adds no scheduling point.
 */
function tableChecked<T extends StateStore>(store: T, problems: string[]): T {
  const check = (record: ConnectionRecord | undefined, how: string) => {
    if (!record) return;
    const due = stateRule(record.state).deadline !== undefined || record.replayFrom !== undefined;
    if (due !== (record.deadline !== undefined))
      problems.push(
        `${how} wrote ${record.connectionId} in state ${record.state} ${due ? 'without' : 'with'} a deadline (the protocol table says ${due ? 'it has one' : 'none'})`,
      );
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (prop === 'putConnection') check(args[0] as ConnectionRecord, prop);
        if (prop === 'transition') check(result as ConnectionRecord, prop);
        if ((prop === 'tryTransition' || prop === 'claimFrom') && (result as Transition).ok)
          check((result as { record: ConnectionRecord }).record, prop);
        return result;
      };
    },
  });
}

/** Wraps every store operation in a scheduling point. */
function scheduledStore<T extends object>(sim: Scheduler, store: T): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await sim.point();
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  });
}

export class SimClient {
  closedBy?: 'client' | 'server';
  view?: Set<string>;
  readonly anomalies: string[] = [];
  readonly errors: string[] = [];
  private stage: 'init' | 'prepare' | 'join' | 'joined' | 'resuming' = 'init';
  /** The socket the client uses now (its first one is also its session's id). */
  connectionId: string;
  // resume.v1
  credential?: SessionCredential;
  lastSeq = 0;
  private resumes = 0;
  // the extension negotiation
  /** consumers.v1 was granted: consumers arrive resumed, no ResumeConsumer. */
  consumersResumed = false;
  /** What runs once a socket's Welcome arrives (the client waits for it before its next message). */
  private readonly afterWelcome = new Map<string, () => void>();

  constructor(
    private readonly world: World,
    readonly sessionId: string,
    readonly userId: string,
    readonly channelId: bigint,
    /** resume.v1 by its own subprotocol value (`+resume.v1`), or granted by Welcome on an `+ext.v1` stream. */
    public resume = false,
    /** Selects `+ext.v1` and asks for these features in its Hello. */
    readonly ext?: { features: string[] },
    /** state.v1: its token lets it moderate the channel. */
    readonly moderator = false,
  ) {
    this.connectionId = sessionId;
  }

  /** state.v1: granted by Welcome. */
  state = false;
  /** state.v1: what this client was told of each member's state (by user id; itself included). */
  states?: Map<string, Omit<MemberState, 'userId'>>;

  private applyStates(states: MemberState[], kind: string): void {
    if (!this.state) {
      if (states.length > 0) this.anomalies.push(`member states (${kind}) reached a client without state.v1`);
      return;
    }
    if (kind === 'joinedChannel') this.states = new Map();
    if (!this.states) {
      this.anomalies.push(`a state (${kind}) before JoinedChannel`);
      return;
    }
    for (const { userId, ...flags } of states) this.states.set(userId.toString(), flags);
  }

  /** state.v1: mutes/deafens itself, or (a moderator) someone it sees, at random moments once joined. */
  private startStateChanges(): void {
    const { sim, core } = this.world;
    sim.spawn(`state-changes ${this.sessionId}`, async () => {
      for (let n = this.world.options.stateChanges ?? 3; n > 0; n--) {
        for (let k = sim.int(0, 25); k > 0; k--) await sim.point();
        if (!this.open || this.stage !== 'joined') return;
        const others = [...(this.view ?? [])];
        const frame =
          this.moderator && others.length > 0 && sim.chance(0.5)
            ? encodeExtRequest({
                message: {
                  $case: 'moderate',
                  value: {
                    userId: BigInt(sim.pick(others)),
                    ...(sim.chance(0.7) ? { serverMuted: sim.chance(0.6) } : {}),
                    ...(sim.chance(0.5) ? { serverDeafened: sim.chance(0.5) } : {}),
                  },
                },
              })
            : encodeExtRequest({
                message: {
                  $case: 'setSelfState',
                  value: {
                    ...(sim.chance(0.7) ? { selfMuted: sim.chance(0.5) } : {}),
                    ...(sim.chance(0.5) ? { selfDeafened: sim.chance(0.5) } : {}),
                  },
                },
              });
        const socket = this.connectionId;
        sim.spawn(`$default ${socket} state`, () => core.receive(socket, frame));
      }
    });
  }

  /** "Entry undeliverable to receiver X": which of its membership messages (1-based) the gateway refuses. */
  refuseMembershipMessage?: number;
  private membershipMessages = 0;
  /** The entry was refused: the server must end this stream (`voice.undeliverable`) and keep everyone else's view. */
  refused = false;

  /** True when the gateway refuses this frame for good (the fault above). */
  refusesEntry(frame: Uint8Array): boolean {
    if (this.refuseMembershipMessage === undefined) return false;
    const decoded = decodeServerFrame(frame);
    const membership =
      decoded.kind === 'ext'
        ? decoded.message.message?.$case === 'sequenced'
        : decoded.kind === 'response' &&
          ['joinedChannel', 'userJoined', 'userLeft'].includes(decoded.response.message?.$case ?? '');
    if (!membership || ++this.membershipMessages !== this.refuseMembershipMessage) return false;
    this.refused = true;
    return true;
  }

  /** The client still has a usable socket (or is between two of them while resuming). */
  get open(): boolean {
    return this.world.sockets.get(this.connectionId)?.open ?? false;
  }

  start(): void {
    this.openSocket(this.sessionId, () =>
      this.send({ message: { $case: 'initialize', value: { guildId: GUILD, channelId: this.channelId } } }),
    );
  }

  private openSocket(id: string, then: () => void): void {
    this.world.sockets.set(id, { client: this, open: true });
    this.world.sim.spawn(`$connect ${id}`, async () => {
      const grants = [`${GUILD}:${this.channelId}`];
      await this.world.core.connect(
        id,
        { userId: this.userId, grants, ...(this.moderator ? { moderates: grants } : {}) },
        'binary',
        this.ext ? { ext: true } : this.resume ? { resume: true } : {},
      );
      if (!this.ext) return then();
      this.afterWelcome.set(id, then);
      const hello = encodeExtRequest({ message: { $case: 'hello', value: { features: this.ext.features } } });
      const copies = this.world.sim.chance(this.world.options.duplicate) ? 2 : 1;
      for (let i = 0; i < copies; i++)
        this.world.sim.spawn(`$default ${id} hello`, () => this.world.core.receive(id, hello));
    });
  }

  /** What reached the client, in order (for SIM_TRACE). */
  readonly received: string[] = [];

  receive(frame: Uint8Array, socket: string): void {
    const decoded = decodeServerFrame(frame);
    const what =
      decoded.kind === 'error'
        ? decoded.error.identifier
        : decoded.kind === 'ext'
          ? `ext:${decoded.message.message?.$case}${decoded.message.message?.$case === 'sequenced' ? `#${decoded.message.message.value.seq}:${decoded.message.message.value.message?.message?.$case}` : ''}`
          : decoded.response.message?.$case;
    this.received.push(`${socket}${socket === this.connectionId ? '' : '(ignored)'} ${what}`);
    // A resuming client reads only its newest socket.
    if (socket !== this.connectionId) return;
    if (decoded.kind === 'error') {
      this.errors.push(decoded.error.identifier);
      if (decoded.error.identifier === 'voice.resume-refused' && this.stage === 'resuming') this.giveUp();
      return;
    }
    let response: StreamMessageResponse = decoded.kind === 'response' ? decoded.response : { message: undefined };
    if (decoded.kind === 'ext') {
      const ext = decoded.message.message;
      if (ext?.$case === 'welcome') {
        if (!this.ext) this.anomalies.push('a Welcome reached a client that did not select +ext.v1');
        const asked = this.ext?.features ?? [];
        if (ext.value.features.some((f) => !asked.includes(f)))
          this.anomalies.push(`Welcome granted what was not asked: ${ext.value.features}`);
        this.resume = ext.value.features.includes(FEATURE.resume);
        this.consumersResumed = ext.value.features.includes(FEATURE.consumers);
        this.state = ext.value.features.includes(FEATURE.state);
        const then = this.afterWelcome.get(socket);
        this.afterWelcome.delete(socket);
        then?.();
        return;
      }
      if (!this.resume && !this.state) this.anomalies.push('an extension frame reached a client that did not opt in');
      if (ext?.$case === 'credential') this.credential = ext.value;
      if (ext?.$case === 'resumed') {
        this.credential = ext.value.credential;
        this.stage = 'joined';
      }
      if (ext?.$case !== 'sequenced') return;
      const seq = Number(ext.value.seq);
      if (seq <= this.lastSeq)
        this.anomalies.push(`seq ${seq} received after seq ${this.lastSeq} (duplicate or out of order)`);
      this.lastSeq = Math.max(this.lastSeq, seq);
      if (!ext.value.message) {
        // state.v1: a state change on its own.
        if (ext.value.states.length !== 1) this.anomalies.push(`a state change with ${ext.value.states.length} states`);
        this.applyStates(ext.value.states, 'change');
        return;
      }
      response = ext.value.message;
      if (response.message?.$case === 'joinedChannel' || response.message?.$case === 'userJoined')
        this.applyStates(ext.value.states, response.message.$case);
      else if (ext.value.states.length > 0) this.anomalies.push(`states with ${response.message?.$case}`);
    } else if (
      this.state &&
      response.message &&
      ['joinedChannel', 'userJoined', 'userLeft'].includes(response.message.$case)
    ) {
      this.anomalies.push('a state.v1 client got a membership message without its seq');
    } else if (
      this.resume &&
      response.message &&
      ['joinedChannel', 'userJoined', 'userLeft'].includes(response.message.$case)
    ) {
      this.anomalies.push('an opted-in client got a membership message without its seq');
    }
    const message = response.message;
    if (!message) return;
    const self = this.userId;
    switch (message.$case) {
      case 'initialized':
        if (this.stage === 'init') {
          this.stage = 'prepare';
          this.send({ message: { $case: 'prepareForJoinChannel', value: { rtpCapabilities: '{"codecs":[]}' } } });
        }
        return;
      case 'preparedForJoinChannel':
        if (this.stage === 'prepare') {
          this.stage = 'join';
          const bad = this.world.sim.chance(this.world.options.badJoin);
          this.send({
            message: {
              $case: 'joinChannel',
              value: {
                rtpParamaters: bad ? '{"codecs":[]}' : '{"codecs":[{"mimeType":"audio/opus"}]}',
                producerDtlsParamaters: '{}',
                consumerDtlsParamaters: '{}',
              },
            },
          });
        }
        return;
      case 'joinedChannel': {
        if (this.view) this.anomalies.push('JoinedChannel received twice');
        const users = message.value.otherUsers.map((u) => u.userId.toString());
        if (users.includes(self)) this.anomalies.push('JoinedChannel lists oneself');
        if (new Set(users).size !== users.length) this.anomalies.push(`JoinedChannel lists a user twice: ${users}`);
        this.view = new Set(users);
        this.stage = 'joined';
        for (const u of message.value.otherUsers) this.checkConsumer(u.consumerId);
        if (this.state) this.startStateChanges();
        const first = message.value.otherUsers[0];
        // consumers.v1: nothing to resume (they were created resumed).
        if (first && !this.consumersResumed)
          this.send({ message: { $case: 'resumeConsumer', value: { consumerId: first.consumerId } } });
        return;
      }
      case 'userJoined': {
        const user = message.value.data!.userId.toString();
        this.checkConsumer(message.value.data!.consumerId);
        if (!this.view) this.anomalies.push(`UserJoined(${user}) before JoinedChannel`);
        else if (user === self) this.anomalies.push('UserJoined about oneself');
        else if (this.view.has(user)) this.anomalies.push(`UserJoined(${user}) twice`);
        else this.view.add(user);
        return;
      }
      case 'userLeft': {
        const user = message.value.userId.toString();
        if (!this.view) this.anomalies.push(`UserLeft(${user}) before JoinedChannel`);
        else if (user === self) this.anomalies.push('UserLeft about oneself');
        else if (!this.view.has(user)) this.anomalies.push(`UserLeft(${user}) about someone not in the view`);
        else this.view.delete(user);
        this.states?.delete(user);
        return;
      }
    }
  }

  /** consumers.v1: a granted client's consumers were created resumed; anyone else's paused (voice.v1 unchanged). */
  private checkConsumer(consumerId: string): void {
    const resumed = this.world.media.resumedConsumers.has(consumerId);
    if (this.consumersResumed && !resumed)
      this.anomalies.push(`consumers.v1 granted but consumer ${consumerId} was created paused`);
    if (!this.consumersResumed && resumed)
      this.anomalies.push(`consumer ${consumerId} was created resumed for a client without consumers.v1`);
  }

  private send(request: StreamMessageRequest): void {
    if (!this.open) return;
    const { sim, options, core } = this.world;
    const frame = encodeRequest(request);
    const copies = sim.chance(options.duplicate) ? 2 : 1;
    // The frame travels on the socket it was sent on (a resume may switch sockets before it is handled).
    const socket = this.connectionId;
    for (let i = 0; i < copies; i++)
      sim.spawn(`$default ${socket} ${request.message?.$case}`, () => core.receive(socket, frame));
    if (sim.chance(options.closeAfterMessage)) this.closeSoon();
  }

  /** The client closes its socket (at a random later point): leaving (close status 1000). */
  closeSoon(): void {
    const { sim, options, core } = this.world;
    sim.spawn(`close ${this.connectionId}`, async () => {
      const id = this.connectionId;
      const socket = this.world.sockets.get(id);
      if (!socket?.open) return;
      socket.open = false;
      this.closedBy = 'client';
      // The page is gone, and its media with it: the media session is the client's session, whatever socket
      // carries it now (a resumed client's socket id is not its session id).
      this.world.media.vanish(this.sessionId);
      if (!sim.chance(options.dropDisconnect))
        sim.spawn(`$disconnect ${id}`, () => core.disconnect(id, { normalClose: true }));
    });
  }

  /**
   * resume.v1: the socket is lost without a close frame (or, make-before-break, kept while a new one takes
   * over); the client resumes on a new socket with its credential and last seen position, or never comes back.
   */
  cutSoon(): void {
    const { sim, options, core } = this.world;
    sim.spawn(`cut ${this.connectionId}`, async () => {
      for (let k = sim.int(0, 40); k > 0; k--) await sim.point();
      const old = this.connectionId;
      const socket = this.world.sockets.get(old);
      if (!socket?.open || this.stage !== 'joined') return;
      const makeBeforeBreak = sim.chance(0.3);
      if (!makeBeforeBreak) {
        socket.open = false;
        if (!sim.chance(options.dropDisconnect)) sim.spawn(`$disconnect ${old}`, () => core.disconnect(old));
        if (sim.chance(0.15)) {
          // Never comes back (the page is gone): the session ends after its grace, or earlier when the node
          // reports its media lost (no $disconnect is guaranteed, and nothing probes sockets).
          this.world.media.vanish(this.sessionId);
          return;
        }
        for (let k = sim.int(0, 20); k > 0; k--) await sim.point();
      }
      if (!this.credential) {
        // Cut before it got its credential: it cannot resume (it would rejoin); its session must end.
        socket.open = false;
        this.world.media.vanish(this.sessionId);
        return;
      }
      const next = `${this.sessionId}~r${++this.resumes}`;
      this.connectionId = next; // from here the old socket is not read any more
      this.stage = 'resuming';
      const credential = this.credential;
      this.openSocket(next, () => {
        const frame = encodeExtRequest({
          message: {
            $case: 'resume',
            value: {
              sessionId: credential.sessionId,
              credential: credential.credential,
              lastSeq: BigInt(this.lastSeq),
              restartIce: sim.chance(0.3),
            },
          },
        });
        sim.spawn(`$default ${next} resume`, () => core.receive(next, frame));
      });
    });
  }

  /** A refused resume: this client would rejoin from scratch; here it just goes (its new socket closes). */
  private giveUp(): void {
    const socket = this.world.sockets.get(this.connectionId);
    if (socket) socket.open = false;
    const id = this.connectionId;
    this.closedBy = 'client';
    this.world.media.vanish(this.sessionId);
    this.world.sim.spawn(`$disconnect ${id}`, () => this.world.core.disconnect(id, { normalClose: true }));
  }
}

export class World {
  /** Clients by session id (their first connection id). */
  readonly clients = new Map<string, SimClient>();
  /** Every socket ever opened, by connection id. */
  readonly sockets = new Map<string, { client: SimClient; open: boolean }>();
  readonly media: SimMedia;
  readonly store: MemoryStateStore;
  readonly core: VoiceCore;
  /** The reaper's sweep (functions/voice/sweep.ts) over the same store and nodes. */
  readonly sweep: Sweep;
  readonly logLines: { level: string; msg: string; line: string }[] = [];
  /** Records the core wrote that break the protocol table (tableChecked). */
  private readonly tableProblems: string[] = [];
  private readonly log: Logger;

  constructor(
    readonly sim: Scheduler,
    readonly options: WorldOptions = DEFAULT_WORLD,
  ) {
    this.media = new SimMedia(sim, options.faults);
    // Busy feed acquires get the DynamoDB adapter's gap between their two writes, where anything may run.
    this.store = new MemoryStateStore(sim.clock.now, () => sim.point());
    this.log = createLogger({
      level: 'info',
      write: (line) => {
        const { level, msg } = JSON.parse(line) as { level: string; msg: string };
        this.logLines.push({ level, msg, line });
      },
    });
    const store = scheduledStore<StateStore & SweepStore>(sim, tableChecked(this.store, this.tableProblems));
    this.core = new VoiceCore({
      store,
      nodes: this.media,
      media: this.media,
      gateway: new SimGateway(this),
      policy: new TokenGrantPolicy(),
      clock: sim.clock,
      log: this.log,
    });
    this.sweep = new Sweep({ core: this.core, store, nodes: this.media, clock: sim.clock, log: this.log });
  }

  /** Runs the scenario to quiescence, then lets time pass so every deadline and the reaper act. */
  async run(): Promise<void> {
    const { sim, options } = this;
    for (let i = 0; i < options.clients; i++) {
      let resume =
        options.resumeClients !== undefined && options.resumeClients > 0 && sim.chance(options.resumeClients);
      let ext: { features: string[] } | undefined;
      if (options.extClients !== undefined && options.extClients > 0 && sim.chance(options.extClients)) {
        // Any subset, unknown names included (never granted); resume.v1 then comes from Welcome, not the subprotocol.
        ext = { features: [FEATURE.resume, FEATURE.consumers, 'relays.v0'].filter(() => sim.chance(0.6)) };
        resume = false;
      }
      if (options.stateClients !== undefined && options.stateClients > 0 && sim.chance(options.stateClients)) {
        // state.v1 through the same negotiation, with whatever else the client asks for.
        ext = { features: [...(ext?.features ?? (resume ? [FEATURE.resume] : [])), FEATURE.state] };
        resume = false;
      }
      const moderator = ext?.features.includes(FEATURE.state) === true && sim.chance(options.moderators ?? 0);
      const client = new SimClient(
        this,
        `conn-${i}`,
        String(1000 + sim.int(1, options.users)),
        BigInt(sim.int(1, options.channels)),
        resume,
        ext,
        moderator,
      );
      this.clients.set(client.sessionId, client);
      if (options.undeliverable && sim.chance(options.undeliverable)) client.refuseMembershipMessage = sim.int(1, 3);
      client.start();
      if ((resume || ext?.features.includes(FEATURE.resume)) && sim.chance(options.cut ?? 0))
        sim.spawn(`later-cut ${client.sessionId}`, async () => {
          for (let k = sim.int(5, 60); k > 0; k--) await sim.point();
          client.cutSoon();
        });
      // Some clients leave later on their own (an ordinary leave).
      if (sim.chance(0.3))
        sim.spawn(`later-close ${client.connectionId}`, async () => {
          for (let k = sim.int(0, 30); k > 0; k--) await sim.point();
          client.closeSoon();
        });
    }
    for (let i = 0; i < 2; i++) sim.spawn('reaper', () => this.reap());
    if (sim.chance(options.loseSession))
      sim.spawn('media-loss', async () => {
        for (let k = sim.int(0, 40); k > 0; k--) await sim.point();
        this.media.loseSession();
      });
    if (options.loseLate && sim.chance(options.loseLate))
      sim.spawn('late-media-loss', async () => {
        for (let k = sim.int(60, 160); k > 0; k--) await sim.point();
        this.media.loseSession();
      });
    if (sim.chance(options.killNode))
      sim.spawn('node-death', async () => {
        for (let k = sim.int(0, 60); k > 0; k--) await sim.point();
        this.media.kill(this.media.nodes[0]!.nodeId);
      });
    if (!(await sim.run())) throw new Error('the simulation did not quiesce');
    // Quiet time: every deadline passes, the reaper runs (concurrently with itself) and finishes the rest.
    for (let i = 0; i < options.reaperRuns; i++) {
      sim.advance(65_000);
      sim.spawn('reaper', () => this.reap());
      sim.spawn('reaper', () => this.reap());
      if (!(await sim.run())) throw new Error('the simulation did not quiesce after the sweeps');
    }
  }

  /** One reaper pass over every shard (on AWS: the shard groups' invocations; two may overlap here). */
  private async reap(): Promise<void> {
    await this.sweep.run([...Array(SWEEP_SHARDS).keys()]);
    await this.sweep.settled();
  }

  /** Every broken promise, as a readable list (empty when the invariant holds). */
  check(): string[] {
    const problems: string[] = [...this.tableProblems];
    for (const { task, error } of this.sim.crashes)
      problems.push(`task ${task} crashed: ${(error as Error)?.stack ?? String(error)}`);
    for (const l of this.logLines) if (l.level === 'error') problems.push(`error-level log: ${l.line}`);
    const rooms = this.media.members();
    const membershipOf = new Map<string, { room: string; others: (self: string) => Set<string> }>();
    for (const [room, members] of rooms) {
      for (const m of members) {
        membershipOf.set(m.sessionId, {
          room,
          others: (self) => new Set(members.filter((o) => o.sessionId !== self).map((o) => o.userId)),
        });
      }
    }
    // state.v1: each opted-in member's view of every member's state (itself included) equals the room's.
    for (const [room, members] of rooms) {
      const [nodeId, roomId] = [room.slice(0, room.indexOf('/')), room.slice(room.indexOf('/') + 1)];
      const real = this.media.statesOf(nodeId, roomId);
      if (!real) continue;
      const expected = [...real.values()]
        .map((m) => `${m.userId}:${flagString(m.flags)}`)
        .sort()
        .join(' ');
      for (const m of members) {
        const client = this.clients.get(m.sessionId);
        if (!client?.state || !client.open || !client.view) continue;
        const seen = [...(client.states ?? new Map())]
          .map(([user, flags]) => `${user}:${flagString(flags)}`)
          .sort()
          .join(' ');
        if (seen !== expected)
          problems.push(
            `${client.sessionId} (user ${client.userId}) sees states [${seen}] but ${room} has [${expected}]`,
          );
      }
    }
    for (const client of this.clients.values()) {
      // A client is its session: the media session id is its first connection id, whatever socket it uses now.
      const name =
        client.sessionId === client.connectionId
          ? client.sessionId
          : `${client.sessionId} (now ${client.connectionId})`;
      for (const a of client.anomalies) problems.push(`${name} (user ${client.userId}): ${a}`);
      const membership = membershipOf.get(client.sessionId);
      if (!client.open) {
        if (membership)
          problems.push(
            `${name} (user ${client.userId}) closed (${client.closedBy ?? 'cut'}) but is still a member of ${membership.room}`,
          );
        continue;
      }
      if (client.view && membership) {
        const expected = membership.others(client.sessionId);
        const view = [...client.view].sort().join(',');
        const real = [...expected].sort().join(',');
        if (view !== real)
          problems.push(`${name} (user ${client.userId}) sees [${view}] but ${membership.room} has [${real}]`);
      } else if (membership) {
        problems.push(
          `${name} (user ${client.userId}) is a member of ${membership.room} but was never told (no JoinedChannel)`,
        );
      } else if (client.view) {
        problems.push(
          `${name} (user ${client.userId}) is open with a view but is no member (ended without being closed)`,
        );
      }
    }
    return problems;
  }

  /** State left behind after quiescence: records of ended streams, held feeds. */
  async leftovers(): Promise<string[]> {
    const problems: string[] = [];
    // The protocol table (functions/voice/protocol-table.ts) says which records are aliases, which states must move
    // on by a deadline and which hold a prepared slot: the invariants below read it rather than name states.
    const staleAliases = (await this.store.listConnections()).filter((record) => {
      if (stateRule(record.state).record !== 'alias') return false;
      const socket = this.sockets.get(record.connectionId);
      return !socket?.open || socket.client.connectionId !== record.connectionId;
    });
    for (const record of await this.store.listConnections()) {
      if (stateRule(record.state).record === 'alias') continue;
      const client = this.clients.get(record.connectionId);
      if (!client?.open) problems.push(`record of ended stream ${record.connectionId} left in state ${record.state}`);
      // Every deadline has passed and the sweep ran: only a state without one (joined) may be left.
      else if (stateRule(record.state).deadline !== undefined)
        problems.push(`open stream ${record.connectionId} left in state ${record.state} after every deadline passed`);
    }
    for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
      for (const due of await this.store.listDue(shard, this.sim.time + 1e9, 1000)) {
        if (due.kind === 'feed') problems.push(`feed of ${due.channelKey} still held`);
      }
    }
    // Per-user limits (user-limits.ts): an open-stream slot is held only by a connection record that exists, a
    // prepared slot (still live) only by a session still waiting to join: every ending gave its slots back.
    const records = new Map((await this.store.listConnections()).map((r) => [r.connectionId, r]));
    for (const { set, entries } of this.store.heldLimitSets()) {
      for (const [id, until] of entries) {
        const holder = records.get(id);
        if (set.startsWith('streams:') && !holder) problems.push(`${set} still holds ended stream ${id}`);
        if (!set.startsWith('streams:') && until > this.sim.time && !(holder && stateRule(holder.state).preparedSlot)) {
          problems.push(
            `${set} still holds ${id} (${holder?.state ?? 'ended'}) until ${until - this.sim.time} ms from now`,
          );
        }
      }
    }
    // An alias whose socket ended without a $disconnect (best effort) is garbage nobody reads; the sweep
    // drops it when it falls due at its expiry (no periodic cost before). Prove that it does.
    if (staleAliases.length > 0) {
      this.sim.advance(Math.max(...staleAliases.map((r) => r.expiresAt * 1000)) - this.sim.time + 1);
      this.sim.spawn('reaper', () => this.reap());
      await this.sim.run();
      for (const record of staleAliases) {
        if (await this.store.getConnectionForSweep(record.connectionId))
          problems.push(`attached record of ended socket ${record.connectionId} never collected`);
      }
    }
    return problems;
  }
}

/** A member's flags as four letters (M: self muted, D: self deafened, S: server muted, X: server deafened; - unset). */
function flagString(f: {
  selfMuted: boolean;
  selfDeafened: boolean;
  serverMuted: boolean;
  serverDeafened: boolean;
}): string {
  return `${f.selfMuted ? 'M' : '-'}${f.selfDeafened ? 'D' : '-'}${f.serverMuted ? 'S' : '-'}${f.serverDeafened ? 'X' : '-'}`;
}
