// One person in the E2E call: a browser context (its own profile storage) with the demo page open,
// driven through the page's UI, observed through the SDK's getStats and events (window.harmonyVoiceDemo).
import type { Browser, BrowserContext, Page } from 'playwright-core';

export interface JoinTarget {
  baseUrl: string;
  user: string;
  guild: string;
  channel: string;
  variant: 'base64' | 'binary';
  /** Passed as ?server=… (default: the page's own origin). */
  server?: string;
  /** More query parameters for the demo page (e.g. resume=1, maxConnectionMs=…). */
  query?: Record<string, string>;
}

export interface HeardUser {
  userId: string;
  consumerId: string;
  packetsFirst: number;
  packetsLast: number;
  maxAudioLevel: number;
  totalAudioEnergy: number;
}

/** Shapes of what the page hands back (ids as strings: bigint does not cross page.evaluate). */
export interface RecordedEvent {
  type: string;
  userId?: string;
  identifier?: string;
  message?: string;
  code?: number;
  reconnected?: boolean;
  willReconnect?: boolean;
  makeBeforeBreak?: boolean;
  afterMs?: number;
  /** state.v1 `memberState`: the flags as letters (M self muted, D self deafened, S server muted, X server deafened, - unset). */
  flags?: string;
  /** `speakingChanged`. */
  speaking?: boolean;
  /** Date.now() when recorded (comparable across pages and with the test process). */
  wall?: number;
  at: number;
}

// What page functions see; declared loosely because they run in the browser, not here.
type DemoWindow = Window & {
  harmonyVoiceDemo: {
    client: {
      state: string;
      subprotocol?: string;
      participants: Array<{ userId: bigint; consumerId: string; track: MediaStreamTrack }>;
      getReceiveStats(): Promise<
        Array<{
          userId: bigint;
          consumerId: string;
          packetsReceived: number;
          audioLevel: number;
          totalAudioEnergy: number;
          lastPacketReceivedTimestamp?: number;
          timestamp?: number;
        }>
      >;
      on(event: string, listener: (payload: Record<string, unknown>) => void): () => void;
    };
    joinClickedAt?: number;
    levels(): Record<string, { rms: number; speaking: boolean }>;
  };
  e2eEvents: RecordedEvent[];
  /** The SDK's `state` events, in order (kept apart from e2eEvents, whose lists tests compare). */
  e2eStates: string[];
};

export class Participant {
  readonly logs: string[] = [];
  private context?: BrowserContext;
  page!: Page;

  constructor(
    readonly name: string,
    private readonly browser: Browser,
    readonly target: JoinTarget,
    /** Scripts run in the page before its own (e.g. to make getUserMedia fail). */
    private readonly initScripts: string[] = [],
  ) {}

  async open(): Promise<void> {
    this.context = await this.browser.newContext({ viewport: { width: 900, height: 720 }, deviceScaleFactor: 1 });
    // tsx compiles this file with esbuild's keepNames, which wraps named functions in __name(); the
    // page functions below are serialized into the browser, where that helper must exist too.
    await this.context.addInitScript('globalThis.__name ??= (fn) => fn;');
    for (const script of this.initScripts) await this.context.addInitScript(script);
    this.page = await this.context.newPage();
    this.page.on('console', (msg) => this.keepLog(`console.${msg.type()}: ${msg.text()}`));
    this.page.on('pageerror', (err) => this.keepLog(`pageerror: ${err.message}`));
    await this.load();
  }

  get url(): string {
    const q = new URLSearchParams({
      user: this.target.user,
      guild: this.target.guild,
      channel: this.target.channel,
      variant: this.target.variant,
      debug: '1',
    });
    if (this.target.server) q.set('server', this.target.server);
    for (const [k, v] of Object.entries(this.target.query ?? {})) q.set(k, v);
    return `${this.target.baseUrl}/?${q}`;
  }

  async load(): Promise<void> {
    // A browser aborts a load when its host's network changes under it (net::ERR_NETWORK_CHANGED): the network lab
    // adds and removes interfaces while browsers run. That is the lab's doing, not the page's: load again (twice at most).
    for (let attempt = 1; ; attempt++) {
      try {
        await this.page.goto(this.url, { waitUntil: 'load' });
        break;
      } catch (err) {
        if (attempt >= 3 || !/ERR_NETWORK_CHANGED/.test((err as Error).message)) throw err;
        this.keepLog(`load aborted by a network change (attempt ${attempt}), loading again`);
      }
    }
    await this.page.waitForFunction(() => !!(window as unknown as DemoWindow).harmonyVoiceDemo);
    await this.recordEvents();
  }

  /** Reloads the page (the demo leaves on pagehide) and waits for the fresh page. */
  async reload(): Promise<void> {
    await this.page.reload({ waitUntil: 'load' });
    await this.page.waitForFunction(() => !!(window as unknown as DemoWindow).harmonyVoiceDemo);
    await this.recordEvents();
  }

  /** Fills nothing but checks the prefilled form, then clicks Join (a real user gesture). */
  async clickJoin(): Promise<void> {
    const form = this.page.locator('#join-form');
    if ((await form.locator('[name=user]').inputValue()) !== this.target.user)
      throw new Error(`${this.name}: the form is not prefilled from the URL`);
    await this.page.click('#join-button');
  }

  /** Pastes a session token into the form (instead of the local development token). */
  async pasteToken(token: string): Promise<void> {
    await this.page.fill('#join-form [name=token]', token);
  }

  /** Waits for the page's message banner and returns its title and text. */
  async banner(timeoutMs = 15_000): Promise<{ kind: string; title: string; text: string }> {
    await this.page.waitForSelector('#banner:not([hidden])', { timeout: timeoutMs });
    return this.page.evaluate(() => ({
      kind: document.getElementById('banner')!.dataset.kind ?? '',
      title: document.getElementById('banner-title')!.textContent ?? '',
      text: document.getElementById('banner-text')!.textContent ?? '',
    }));
  }

  async waitJoined(timeoutMs = 20_000): Promise<void> {
    try {
      await this.page.waitForFunction(
        () => (window as unknown as DemoWindow).harmonyVoiceDemo.client.state === 'joined',
        undefined,
        { timeout: timeoutMs },
      );
    } catch (err) {
      throw new Error(`${this.name} did not join: ${(err as Error).message}\n${this.tail()}`);
    }
  }

  /**
   * Polls getStats from the moment it is called until a first inbound audio packet from each of
   * `from` (user ids) arrived; returns performance.now() of each, i.e. ms since this page started loading.
   */
  firstPacketTimes(from: string[], timeoutMs = 20_000): Promise<Record<string, number>> {
    return this.page.evaluate(
      async ({ from, timeoutMs }) => {
        const w = window as unknown as DemoWindow;
        const seen: Record<string, number> = {};
        const deadline = performance.now() + timeoutMs;
        while (Object.keys(seen).length < from.length) {
          if (performance.now() > deadline)
            throw new Error(
              `no inbound audio from ${from.filter((u) => !(u in seen)).join(', ')} within ${timeoutMs} ms`,
            );
          for (const s of await w.harmonyVoiceDemo.client.getReceiveStats()) {
            const id = s.userId.toString();
            if (s.packetsReceived > 0 && from.includes(id) && !(id in seen)) seen[id] = performance.now();
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        return seen;
      },
      { from, timeoutMs },
    );
  }

  /**
   * Proves this participant hears each user in `from`: on that user's current consumer, inbound-rtp
   * packetsReceived rises between samples and audioLevel is above zero at least once.
   */
  async hears(from: string[], timeoutMs = 15_000): Promise<HeardUser[]> {
    try {
      return await this.page.evaluate(
        async ({ from, timeoutMs }) => {
          const w = window as unknown as DemoWindow;
          const first = new Map<string, number>();
          const best = new Map<
            string,
            {
              userId: string;
              consumerId: string;
              packetsFirst: number;
              packetsLast: number;
              maxAudioLevel: number;
              totalAudioEnergy: number;
            }
          >();
          const deadline = performance.now() + timeoutMs;
          const done = () =>
            from.every((u) => {
              const b = best.get(u);
              return !!b && b.packetsLast > b.packetsFirst && b.maxAudioLevel > 0;
            });
          while (!done()) {
            if (performance.now() > deadline) {
              throw new Error(`not hearing everyone within ${timeoutMs} ms: ${JSON.stringify([...best.values()])}`);
            }
            for (const s of await w.harmonyVoiceDemo.client.getReceiveStats()) {
              const userId = s.userId.toString();
              if (!from.includes(userId)) continue;
              const key = `${userId}/${s.consumerId}`;
              if (!first.has(key)) first.set(key, s.packetsReceived);
              const previous = best.get(userId);
              const sameConsumer = previous?.consumerId === s.consumerId;
              best.set(userId, {
                userId,
                consumerId: s.consumerId,
                packetsFirst: first.get(key)!,
                packetsLast: s.packetsReceived,
                maxAudioLevel: Math.max(sameConsumer ? previous!.maxAudioLevel : 0, s.audioLevel),
                totalAudioEnergy: s.totalAudioEnergy,
              });
            }
            await new Promise((r) => setTimeout(r, 250));
          }
          return from.map((u) => best.get(u)!);
        },
        { from, timeoutMs },
      );
    } catch (err) {
      throw new Error(`${this.name} (user ${this.target.user}): ${(err as Error).message}\n${this.tail()}`);
    }
  }

  /**
   * Starts sampling inbound-rtp per remote user every `everyMs` in the page. stopStallWatch() returns, per user,
   * the longest time its packetsReceived counter stood still (`worst`, and `worstAt`: performance.now() of that
   * sample): at each sample where it did not rise, the time since the sample that saw it rise, confirmed by the
   * stats' own clock (timestamp − lastPacketReceivedTimestamp: the smaller of the two, so neither a sampler the
   * page starved of CPU nor a cached stats report counts as a media stall); `sampled` is the sampler's figure alone.
   */
  async startStallWatch(everyMs = 50): Promise<void> {
    await this.page.evaluate((everyMs) => {
      type Last = { packets: number; at: number };
      const w = window as unknown as DemoWindow & { e2eStall?: unknown };
      const state = {
        stop: false,
        last: {} as Record<string, Last>,
        worst: {} as Record<string, number>,
        worstAt: {} as Record<string, number>,
        sampled: {} as Record<string, number>,
        samples: 0,
        late: 0,
        stalls: [] as { userId: string; ms: number; wallAt: number; at: number }[],
      };
      // Per consumer: its last count (a rejoin gives a user a new consumer, whose counter starts again at 0).
      const byConsumer: Record<string, number> = {};
      w.e2eStall = state;
      let previous = performance.now();
      void (async () => {
        while (!state.stop) {
          const now = performance.now();
          // A sample the page itself was late for (its timer starved of CPU: the machine, not the media) says
          // nothing about the media: counted apart.
          const late = now - previous > 3 * everyMs;
          previous = now;
          if (late) state.late++;
          const risen = new Set<string>();
          const stats = await w.harmonyVoiceDemo.client.getReceiveStats();
          const age: Record<string, number> = {};
          for (const s of stats) {
            const id = s.userId.toString();
            const before = byConsumer[s.consumerId];
            if (before === undefined ? s.packetsReceived > 0 : s.packetsReceived > before) risen.add(id);
            byConsumer[s.consumerId] = s.packetsReceived;
            if (s.timestamp !== undefined && s.lastPacketReceivedTimestamp !== undefined)
              age[id] = s.timestamp - s.lastPacketReceivedTimestamp;
          }
          for (const id of new Set([...Object.keys(state.last), ...risen])) {
            const last = state.last[id];
            if (risen.has(id) || !last) {
              if (risen.has(id)) state.last[id] = { packets: 0, at: now };
              continue;
            }
            state.sampled[id] = Math.max(state.sampled[id] ?? 0, now - last.at);
            if (late) continue;
            const stall = Math.min(now - last.at, age[id] ?? Infinity);
            if (stall > (state.worst[id] ?? 0)) {
              state.worst[id] = stall;
              state.worstAt[id] = now;
            }
            if (stall > everyMs) state.stalls.push({ userId: id, ms: stall, wallAt: Date.now(), at: now });
          }
          state.samples++;
          await new Promise((r) => setTimeout(r, everyMs));
        }
      })();
    }, everyMs);
  }

  async stopStallWatch(): Promise<{
    worst: Record<string, number>;
    worstAt: Record<string, number>;
    sampled: Record<string, number>;
    samples: number;
    late: number;
    users: string[];
    /** Every sample with a stall over the sampling period: user, how long, wall-clock time (Date.now()), performance.now(). */
    stalls: { userId: string; ms: number; wallAt: number; at: number }[];
  }> {
    return this.page.evaluate(() => {
      const w = window as unknown as {
        e2eStall: {
          stop: boolean;
          last: Record<string, unknown>;
          worst: Record<string, number>;
          worstAt: Record<string, number>;
          sampled: Record<string, number>;
          samples: number;
          late: number;
          stalls: { userId: string; ms: number; wallAt: number; at: number }[];
        };
      };
      w.e2eStall.stop = true;
      const s = w.e2eStall;
      return {
        worst: s.worst,
        worstAt: s.worstAt,
        sampled: s.sampled,
        samples: s.samples,
        late: s.late,
        users: Object.keys(s.last),
        stalls: s.stalls,
      };
    });
  }

  /** inbound-rtp packetsReceived of the current consumer of `userId` (undefined without one). */
  packetsFrom(userId: string): Promise<number | undefined> {
    return this.page.evaluate(async (userId) => {
      const stats = await (window as unknown as DemoWindow).harmonyVoiceDemo.client.getReceiveStats();
      return stats.find((s) => s.userId.toString() === userId)?.packetsReceived;
    }, userId);
  }

  /** User ids this participant currently has a consumer for. */
  remoteUsers(): Promise<string[]> {
    return this.page.evaluate(() =>
      (window as unknown as DemoWindow).harmonyVoiceDemo.client.participants.map((p) => p.userId.toString()).sort(),
    );
  }

  /** Consumer ids this participant currently receives, by user id. */
  consumers(): Promise<Record<string, string>> {
    return this.page.evaluate(() =>
      Object.fromEntries(
        (window as unknown as DemoWindow).harmonyVoiceDemo.client.participants.map((p) => [
          p.userId.toString(),
          p.consumerId,
        ]),
      ),
    );
  }

  subprotocol(): Promise<string | undefined> {
    return this.page.evaluate(() => (window as unknown as DemoWindow).harmonyVoiceDemo.client.subprotocol);
  }

  /** The hRPC variant of the selected subprotocol (`hrpc1` or `hrpc1.base64`), whatever extension value carried it. */
  async variant(): Promise<string | undefined> {
    return (await this.subprotocol())?.split('+')[0];
  }

  /** The client's states (`state` events) since the page loaded. */
  states(): Promise<string[]> {
    return this.page.evaluate(() => (window as unknown as DemoWindow).e2eStates);
  }

  events(): Promise<RecordedEvent[]> {
    return this.page.evaluate(() => (window as unknown as DemoWindow).e2eEvents);
  }

  /** Waits for an SDK event of `type` (for `userId`, when given) recorded since the page loaded. */
  async waitForEvent(type: string, userId?: string, timeoutMs = 15_000): Promise<RecordedEvent> {
    try {
      const handle = await this.page.waitForFunction(
        ({ type, userId }) =>
          (window as unknown as DemoWindow).e2eEvents.find(
            (e) => e.type === type && (userId === undefined || e.userId === userId),
          ),
        { type, userId },
        { timeout: timeoutMs },
      );
      return (await handle.jsonValue()) as RecordedEvent;
    } catch (err) {
      throw new Error(
        `${this.name}: no ${type} for user ${userId}: ${(err as Error).message}\nevents: ${JSON.stringify(await this.events())}\n${this.tail()}`,
      );
    }
  }

  /** Participant tiles shown on the page: user id → speaking flag. */
  tiles(): Promise<Array<{ userId: string; self: boolean; connecting: boolean }>> {
    return this.page.$$eval('#participants .participant', (els) =>
      els.map((el) => ({
        userId: (el as HTMLElement).dataset.userId ?? '',
        self: (el as HTMLElement).dataset.self === 'true',
        connecting: el.classList.contains('participant--connecting'),
      })),
    );
  }

  async close(): Promise<void> {
    await this.context?.close().catch(() => {});
  }

  tail(lines = 25): string {
    return this.logs
      .slice(-lines)
      .map((l) => `  [${this.name}] ${l}`)
      .join('\n');
  }

  private keepLog(line: string): void {
    this.logs.push(line);
    if (this.logs.length > 500) this.logs.shift();
  }

  /** Subscribes to the SDK's events in the page, recording them with ids as strings. */
  private async recordEvents(): Promise<void> {
    await this.page.evaluate(() => {
      const w = window as unknown as DemoWindow;
      w.e2eEvents = [];
      w.e2eStates = [];
      w.harmonyVoiceDemo.client.on('state', (payload) => w.e2eStates.push(String(payload.state)));
      for (const type of [
        'joined',
        'userJoined',
        'userLeft',
        'track',
        'error',
        'closed',
        'reconnecting',
        'resumed',
        'nextRung',
        'memberState',
        'speakingChanged',
      ]) {
        w.harmonyVoiceDemo.client.on(type, (payload) => {
          w.e2eEvents.push({
            type,
            userId: payload.userId === undefined ? undefined : String(payload.userId),
            identifier:
              (payload.identifier as string | undefined) ??
              (payload.error as { identifier?: string } | undefined)?.identifier,
            message: payload.message as string | undefined,
            code: payload.code as number | undefined,
            reconnected: payload.reconnected as boolean | undefined,
            willReconnect: payload.willReconnect as boolean | undefined,
            makeBeforeBreak: payload.makeBeforeBreak as boolean | undefined,
            afterMs: payload.afterMs as number | undefined,
            ...(type === 'memberState'
              ? {
                  flags: `${payload.selfMuted ? 'M' : '-'}${payload.selfDeafened ? 'D' : '-'}${payload.serverMuted ? 'S' : '-'}${payload.serverDeafened ? 'X' : '-'}`,
                }
              : {}),
            ...(type === 'speakingChanged' ? { speaking: payload.speaking as boolean } : {}),
            wall: Date.now(),
            at: performance.now(),
          });
        });
      }
    });
  }
}
