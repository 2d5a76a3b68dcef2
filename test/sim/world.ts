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
import { MemoryStateStore } from '../../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../../functions/auth/policy';
import type { Gateway, SendResult, StateStore } from '../../functions/voice/ports';
import { Sweep, type SweepStore } from '../../functions/voice/Sweep';
import { VoiceCore } from '../../functions/voice/VoiceCore';
import { SWEEP_SHARDS } from '../../data/tables';
import type { StreamMessageRequest } from '../../gen/protocol/voice/v1/voice';
import { createLogger, type Logger } from '../../lib/log';
import { decodeServerFrame, encodeRequest, type Variant } from '../../protocol/hrpc';
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
  reaperRuns: 4,
};

const GUILD = 1n;

class SimGateway implements Gateway {
  constructor(private readonly world: World) {}

  async send(connectionId: string, frame: Uint8Array, _variant: Variant): Promise<SendResult> {
    await this.world.sim.point();
    const client = this.world.clients.get(connectionId);
    if (!client || !client.open) return 'gone';
    client.receive(frame);
    await this.world.sim.point();
    return 'sent';
  }

  async close(connectionId: string): Promise<void> {
    await this.world.sim.point();
    const client = this.world.clients.get(connectionId);
    if (!client || !client.open) return;
    client.open = false;
    client.closedBy = 'server';
    // API Gateway sends $disconnect after a server-side close too (best effort).
    if (!this.world.sim.chance(this.world.options.dropDisconnect)) {
      this.world.sim.spawn(`$disconnect ${connectionId}`, () => this.world.core.disconnect(connectionId));
    }
  }

  async isConnected(connectionId: string): Promise<boolean> {
    await this.world.sim.point();
    return this.world.clients.get(connectionId)?.open ?? false;
  }
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
  open = true;
  closedBy?: 'client' | 'server';
  view?: Set<string>;
  readonly anomalies: string[] = [];
  readonly errors: string[] = [];
  private stage: 'init' | 'prepare' | 'join' | 'joined' = 'init';

  constructor(
    private readonly world: World,
    readonly connectionId: string,
    readonly userId: string,
    readonly channelId: bigint,
  ) {}

  start(): void {
    this.world.sim.spawn(`$connect ${this.connectionId}`, async () => {
      await this.world.core.connect(this.connectionId, { userId: this.userId, grants: [`${GUILD}:${this.channelId}`] }, 'binary');
      this.send({ message: { $case: 'initialize', value: { guildId: GUILD, channelId: this.channelId } } });
    });
  }

  receive(frame: Uint8Array): void {
    const decoded = decodeServerFrame(frame);
    if (decoded.kind === 'error') {
      this.errors.push(decoded.error.identifier);
      return;
    }
    const message = decoded.response.message;
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
          this.send({ message: { $case: 'joinChannel', value: {
            rtpParamaters: bad ? '{"codecs":[]}' : '{"codecs":[{"mimeType":"audio/opus"}]}', producerDtlsParamaters: '{}', consumerDtlsParamaters: '{}',
          } } });
        }
        return;
      case 'joinedChannel': {
        if (this.view) this.anomalies.push('JoinedChannel received twice');
        const users = message.value.otherUsers.map((u) => u.userId.toString());
        if (users.includes(self)) this.anomalies.push('JoinedChannel lists oneself');
        if (new Set(users).size !== users.length) this.anomalies.push(`JoinedChannel lists a user twice: ${users}`);
        this.view = new Set(users);
        this.stage = 'joined';
        const first = message.value.otherUsers[0];
        if (first) this.send({ message: { $case: 'resumeConsumer', value: { consumerId: first.consumerId } } });
        return;
      }
      case 'userJoined': {
        const user = message.value.data!.userId.toString();
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
        return;
      }
    }
  }

  private send(request: StreamMessageRequest): void {
    if (!this.open) return;
    const { sim, options, core } = this.world;
    const frame = encodeRequest(request);
    const copies = sim.chance(options.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) sim.spawn(`$default ${this.connectionId} ${request.message?.$case}`, () => core.receive(this.connectionId, frame));
    if (sim.chance(options.closeAfterMessage)) this.closeSoon();
  }

  /** The client closes its socket (at a random later point). */
  closeSoon(): void {
    const { sim, options, core } = this.world;
    sim.spawn(`close ${this.connectionId}`, async () => {
      if (!this.open) return;
      this.open = false;
      this.closedBy = 'client';
      this.world.media.vanish(this.connectionId);
      if (!sim.chance(options.dropDisconnect)) sim.spawn(`$disconnect ${this.connectionId}`, () => core.disconnect(this.connectionId));
    });
  }
}

export class World {
  readonly clients = new Map<string, SimClient>();
  readonly media: SimMedia;
  readonly store: MemoryStateStore;
  readonly core: VoiceCore;
  /** The reaper's sweep (functions/voice/Sweep.ts) over the same store and nodes. */
  readonly sweep: Sweep;
  readonly logLines: { level: string; msg: string; line: string }[] = [];
  private readonly log: Logger;

  constructor(readonly sim: Scheduler, readonly options: WorldOptions = DEFAULT_WORLD) {
    this.media = new SimMedia(sim, options.faults);
    this.store = new MemoryStateStore(sim.clock.now);
    this.log = createLogger({
      level: 'info',
      write: (line) => {
        const { level, msg } = JSON.parse(line) as { level: string; msg: string };
        this.logLines.push({ level, msg, line });
      },
    });
    const store = scheduledStore<StateStore & SweepStore>(sim, this.store);
    this.core = new VoiceCore({
      store, nodes: this.media, media: this.media, gateway: new SimGateway(this),
      policy: new TokenGrantPolicy(), clock: sim.clock, log: this.log,
    });
    this.sweep = new Sweep({ core: this.core, store, nodes: this.media, clock: sim.clock, log: this.log });
  }

  /** Runs the scenario to quiescence, then lets time pass so every deadline and the reaper act. */
  async run(): Promise<void> {
    const { sim, options } = this;
    for (let i = 0; i < options.clients; i++) {
      const client = new SimClient(this, `conn-${i}`, String(1000 + sim.int(1, options.users)), BigInt(sim.int(1, options.channels)));
      this.clients.set(client.connectionId, client);
      client.start();
      // Some clients leave later on their own (an ordinary leave).
      if (sim.chance(0.3)) sim.spawn(`later-close ${client.connectionId}`, async () => {
        for (let k = sim.int(0, 30); k > 0; k--) await sim.point();
        client.closeSoon();
      });
    }
    for (let i = 0; i < 2; i++) sim.spawn('reaper', () => this.reap());
    if (sim.chance(options.loseSession)) sim.spawn('media-loss', async () => {
      for (let k = sim.int(0, 40); k > 0; k--) await sim.point();
      this.media.loseSession();
    });
    if (sim.chance(options.killNode)) sim.spawn('node-death', async () => {
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
    const problems: string[] = [];
    for (const { task, error } of this.sim.crashes) problems.push(`task ${task} crashed: ${(error as Error)?.stack ?? String(error)}`);
    for (const l of this.logLines) if (l.level === 'error') problems.push(`error-level log: ${l.line}`);
    const rooms = this.media.members();
    const membershipOf = new Map<string, { room: string; others: (self: string) => Set<string> }>();
    for (const [room, members] of rooms) {
      for (const m of members) {
        membershipOf.set(m.sessionId, { room, others: (self) => new Set(members.filter((o) => o.sessionId !== self).map((o) => o.userId)) });
      }
    }
    for (const client of this.clients.values()) {
      for (const a of client.anomalies) problems.push(`${client.connectionId} (user ${client.userId}): ${a}`);
      const membership = membershipOf.get(client.connectionId);
      if (!client.open) {
        if (membership) problems.push(`${client.connectionId} (user ${client.userId}) closed (${client.closedBy}) but is still a member of ${membership.room}`);
        continue;
      }
      if (client.view && membership) {
        const expected = membership.others(client.connectionId);
        const view = [...client.view].sort().join(',');
        const real = [...expected].sort().join(',');
        if (view !== real) problems.push(`${client.connectionId} (user ${client.userId}) sees [${view}] but ${membership.room} has [${real}]`);
      } else if (membership) {
        problems.push(`${client.connectionId} (user ${client.userId}) is a member of ${membership.room} but was never told (no JoinedChannel)`);
      } else if (client.view) {
        problems.push(`${client.connectionId} (user ${client.userId}) is open with a view but is no member (ended without being closed)`);
      }
    }
    return problems;
  }

  /** State left behind after quiescence: records of ended streams, held feeds. */
  async leftovers(): Promise<string[]> {
    const problems: string[] = [];
    for (const record of await this.store.listConnections()) {
      const client = this.clients.get(record.connectionId);
      if (!client?.open) problems.push(`record of ended stream ${record.connectionId} left in state ${record.state}`);
      else if (record.state !== 'joined') problems.push(`open stream ${record.connectionId} left in state ${record.state} after every deadline passed`);
    }
    for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
      for (const due of await this.store.listDue(shard, this.sim.time + 1e9, 1000)) {
        if (due.kind === 'feed') problems.push(`feed of ${due.channelKey} still held`);
      }
    }
    return problems;
  }
}
