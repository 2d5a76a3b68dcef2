// Churn against the real local stack (real sockets, the Lambda handlers, dynalite, a real media node):
// joins, leaves, sockets closed right after each message, sockets destroyed without a close frame,
// same-user replacement races (several streams of one user at once), optionally the media node stopped
// (SIGSTOP) and continued mid-churn. Every client keeps its view (JoinedChannel + UserJoined − UserLeft)
// and records anomalies; at the end, once the server has told everyone everything (settle() below), every client
// still joined must see exactly the others still joined, and they must be exactly the channel's joined streams.
// Used by test/signalling/membership.test.ts (short) and bench/churn.ts (≥ 60 s).
import type { LocalStack } from '../../local/stack';
import { prng } from '../sim/scheduler';
import { channelTruth, type ChannelSide, type ChannelTruth } from './channel-truth';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from './client-params';
import { VoiceTestClient } from './voice-client';

export interface ChurnOptions {
  durationMs: number;
  /**
   * Go on past `durationMs` until this many JoinChannel were sent (for at most 4 × `durationMs` in all): on a loaded
   * machine every step takes longer, and a churn that joined almost nobody proves nothing.
   */
  minJoins?: number;
  seed: number;
  users: number;
  channels: number;
  /** Operations in flight at once. */
  concurrency: number;
  /** Stop the media node for this long, once, in the middle (0 = never). */
  stopMediaNodeMs: number;
  guild: bigint;
}

export interface ChurnReport {
  operations: number;
  joins: number;
  anomalies: string[];
  mismatches: string[];
  remaining: number;
}

export class ChurnClient {
  view?: Set<string>;
  readonly anomalies: string[] = [];
  fatal = false;
  private seen = 0;

  constructor(
    readonly client: VoiceTestClient,
    readonly user: string,
    readonly guild: bigint,
    readonly channel: bigint,
  ) {}

  get channelKey(): string {
    return `${this.guild}:${this.channel}`;
  }

  /** Applies every frame received so far to the view. */
  absorb(): void {
    for (; this.seen < this.client.frames.length; this.seen++) {
      const frame = this.client.frames[this.seen]!;
      if (frame.kind === 'error') {
        if (
          ['voice.session-replaced', 'voice.media-lost', 'voice.timeout', 'hrpc.not-found'].includes(
            frame.error.identifier,
          )
        )
          this.fatal = true;
        continue;
      }
      if (frame.kind === 'ext') continue;
      const m = frame.response.message;
      if (!m) continue;
      if (m.$case === 'joinedChannel') {
        if (this.view) this.anomalies.push('JoinedChannel twice');
        const users = m.value.otherUsers.map((u) => u.userId.toString());
        if (users.includes(this.user)) this.anomalies.push('JoinedChannel lists oneself');
        this.view = new Set(users);
      } else if (m.$case === 'userJoined') {
        const u = m.value.data!.userId.toString();
        if (!this.view) this.anomalies.push(`UserJoined(${u}) before JoinedChannel`);
        else if (u === this.user) this.anomalies.push('UserJoined about oneself');
        else if (this.view.has(u)) this.anomalies.push(`UserJoined(${u}) twice`);
        else this.view.add(u);
      } else if (m.$case === 'userLeft') {
        const u = m.value.userId.toString();
        if (!this.view) this.anomalies.push(`UserLeft(${u}) before JoinedChannel`);
        else if (u === this.user) this.anomalies.push('UserLeft about oneself');
        else if (!this.view.has(u)) this.anomalies.push(`UserLeft(${u}) about someone never announced`);
        else this.view.delete(u);
      }
    }
  }

  get live(): boolean {
    return !this.client.closed && !this.fatal;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChurn(stack: LocalStack, options: ChurnOptions): Promise<ChurnReport> {
  const random = prng(options.seed);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const clients: ChurnClient[] = [];
  let operations = 0;
  let joins = 0;
  const started = Date.now();
  const churning = () => {
    const elapsed = Date.now() - started;
    return elapsed < options.durationMs || (joins < (options.minJoins ?? 0) && elapsed < 4 * options.durationMs);
  };

  const open = async (user: string, channel: bigint) => {
    const token = stack.mintToken(user, options.guild.toString(), channel.toString());
    const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token });
    const c = new ChurnClient(client, user, options.guild, channel);
    clients.push(c);
    return c;
  };
  /** Walks the flow; `cutAfter` closes (or destroys) the socket right after that message. */
  const flow = async (c: ChurnClient, cutAfter?: 'initialize' | 'prepare' | 'join', destroy = false) => {
    const cut = () => (destroy ? c.client.terminate() : c.client.close());
    try {
      c.client.send({ $case: 'initialize', value: { guildId: options.guild, channelId: c.channel } });
      if (cutAfter === 'initialize') return cut();
      await c.client.expect('initialized', 15_000);
      c.client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
      if (cutAfter === 'prepare') return cut();
      await c.client.expect('preparedForJoinChannel', 15_000);
      c.client.send({
        $case: 'joinChannel',
        value: {
          rtpParamaters: producerRtpParameters(),
          producerDtlsParamaters: dtlsParameters(),
          consumerDtlsParamaters: dtlsParameters(),
        },
      });
      joins++;
      if (cutAfter === 'join') return cut();
    } catch {
      // refused, timed out or replaced mid-flow: part of churn
    }
  };

  const operation = async () => {
    operations++;
    const roll = random();
    const channel = BigInt(1 + Math.floor(random() * options.channels));
    const user = String(1000 + Math.floor(random() * options.users));
    if (roll < 0.35) {
      await flow(await open(user, channel));
    } else if (roll < 0.55) {
      const live = clients.filter((c) => c.live);
      if (live.length) {
        const victim = pick(live);
        if (random() < 0.5) victim.client.close();
        else victim.client.terminate();
      }
    } else if (roll < 0.8) {
      const destroy = random() < 0.5;
      await flow(await open(user, channel), pick(['initialize', 'prepare', 'join'] as const), destroy);
    } else {
      // Same-user race: several streams of one user into one channel at once.
      const streams = await Promise.all(
        Array.from({ length: 2 + Math.floor(random() * 4) }, () => open(user, channel)),
      );
      await Promise.all(streams.map((s) => flow(s)));
    }
  };

  let stopped = false;
  const stopper =
    options.stopMediaNodeMs > 0 && stack.mediaNode
      ? (async () => {
          await sleep(options.durationMs / 2);
          process.kill(stack.mediaNode!.pid, 'SIGSTOP');
          stopped = true;
          await sleep(options.stopMediaNodeMs);
          process.kill(stack.mediaNode!.pid, 'SIGCONT');
          stopped = false;
        })()
      : Promise.resolve();

  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (churning()) {
        await operation();
        await sleep(Math.floor(random() * 150));
      }
    }),
  );
  await stopper;
  if (stopped) process.kill(stack.mediaNode!.pid, 'SIGCONT');
  const truth = channelTruth(stack);
  try {
    return { operations, joins, ...(await settle(clients, truth.read)) };
  } finally {
    truth.close();
  }
}

export interface Settled {
  anomalies: string[];
  mismatches: string[];
  /** Clients still joined at the end. */
  remaining: number;
}

/**
 * Waits until the churn is over on the server's side too, then compares every view with the membership.
 *
 * A view may differ from the membership while the server is still telling (the invariant holds "once messages stop
 * arriving"): the churn's last JoinChannel or close is still being carried out when the churn stops, and posts to
 * different clients arrive in any order — a replaced stream is told `voice.session-replaced` before the channel's
 * history (its leave, its successor's join) reaches the others; a stream closed right after JoinChannel joins, and
 * leaves, after the others were told it joined. So this waits until every channel is quiet (channel-truth.ts: no
 * stream mid-step, the feed free and caught up with the history's head) and every view, the clients' own idea of who
 * is joined and the server's joined streams all agree — and stay so, unchanged, for `quietMs`. A mismatch is reported
 * only when that never happens within `timeoutMs`: a channel that never goes quiet or a view that stays wrong after
 * the last entry was delivered (a UserLeft lost, say) is a divergence; a view read mid-delivery is not.
 */
export async function settle(
  clients: ChurnClient[],
  truth: ChannelTruth,
  { timeoutMs = 90_000, quietMs = 1_000 } = {},
): Promise<Settled> {
  const deadline = Date.now() + timeoutMs;
  const channels = [...new Set(clients.map((c) => c.channelKey))];
  const look = async () => {
    for (const c of clients) c.absorb();
    const sides = await truth(channels);
    return { sides, problems: compare(clients, sides), signature: signature(clients, sides) };
  };
  let now = await look();
  for (;;) {
    if (now.problems.length === 0) {
      // Quiet and in agreement: nothing may arrive late and change it.
      const before = now.signature;
      await sleep(quietMs);
      now = await look();
      if (now.problems.length === 0 && now.signature === before) break;
    }
    if (Date.now() > deadline) break;
    await sleep(500);
    now = await look();
  }
  const anomalies = clients.flatMap((c) => c.anomalies.map((a) => `user ${c.user}: ${a}`));
  const remaining = clients.filter((c) => c.live && c.view).length;
  for (const c of clients) c.client.terminate();
  return { anomalies, mismatches: now.problems, remaining };
}

/** What is wrong now: channels not quiet, joined clients that are not the server's joined streams, wrong views. */
function compare(clients: ChurnClient[], sides: ChannelSide[]): string[] {
  const joined = clients.filter((c) => c.live && c.view);
  const problems: string[] = [];
  for (const side of sides) {
    if (side.busy) problems.push(`channel ${side.channelKey} is not quiet: ${side.busy}`);
    const users = joined
      .filter((c) => c.channelKey === side.channelKey)
      .map((c) => c.user)
      .sort();
    if (users.join(',') !== side.members.join(','))
      problems.push(
        `channel ${side.channelKey}: the server's joined streams are [${side.members}], the joined clients [${users}]`,
      );
  }
  for (const c of joined) {
    const others = new Set(joined.filter((o) => o !== c && o.channelKey === c.channelKey).map((o) => o.user));
    const view = [...c.view!].sort().join(',');
    const real = [...others].sort().join(',');
    if (view !== real) problems.push(`user ${c.user} in channel ${c.channel} sees [${view}], members are [${real}]`);
  }
  return problems;
}

/** Changes whenever a client receives anything or closes, or a channel's history or streams change. */
function signature(clients: ChurnClient[], sides: ChannelSide[]): string {
  return [
    ...sides.map((s) => s.signature),
    ...clients.map((c) => `${c.client.frames.length}${c.client.closed ? 'x' : ''}`),
  ].join(' ');
}
