// `npm run bench:signalling`: join latency into channels of 2, 10 and 100 members and the fan-out time
// (until every member has its UserJoined), through the real local stack (WebSocket front door → Lambda
// handlers → dynalite → @connections over HTTP), and the same flow against an in-memory store and gateway
// (same voice core, same real media node) as the floor, so the overhead ratio is visible. The local stack's
// DynamoDB requests per join are counted at dynalite (local/dynamo-counting.ts: every request it serves):
// JoinChannel sent → every handler invocation it caused has returned, media node heartbeats left out.
//   BENCH_ITERATIONS=30 npm run bench:signalling
import { randomUUID } from 'node:crypto';
import { GrpcMediaClient } from '../functions/adapters/grpc-media-client';
import { MemoryGateway } from '../functions/adapters/memory-gateway';
import { MemoryStateStore } from '../functions/adapters/memory-store';
import { TokenGrantPolicy } from '../functions/auth/policy';
import { createLogger, silentLogger } from '../lib/log';
import type { NodeDirectory } from '../functions/voice/ports';
import { listedNodeDirectory } from '../functions/adapters/node-directory';
import { VoiceCore } from '../functions/voice/voice-core';
import type { StreamMessageRequest } from '../gen/protocol/voice/v1/voice';
import { decodeServerFrame, encodeRequest, toWire, type ServerFrame } from '../protocol/hrpc';
import { dynamoTotals, RequestCounter, type DynamoCounts } from '../local/request-counter';
import { startLocalStack, type LocalStack } from '../local/stack';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../test/support/client-params';
import { devToken } from '../test/support/tokens';
import { nodeRecord } from '../test/support/node-record';
import { VoiceTestClient } from '../test/support/voice-client';
import { HEARTBEAT_KEY } from './scale-counting';
import { formatSummary, summarize, type Summary } from './stats';

process.env.LOG_LEVEL ??= 'warn';
// The handlers' EMF lines (one per metric sample, on stdout) would bury the figures; the stack aggregates them anyway.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
const SIZES = [2, 10, 100];
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);
const GUILD = 9n;

/** What the benchmark needs from a client, whichever path it runs over. */
interface BenchClient {
  frames: ServerFrame[];
  send(message: StreamMessageRequest['message']): void;
  close(): Promise<void>;
}

interface Path {
  name: string;
  connect(user: bigint, channel: bigint): Promise<BenchClient>;
  /** The real path: counts DynamoDB requests from `start()` until every invocation since has returned. */
  count?: { start(): () => Promise<DynamoCounts> };
}

const joinMessage = (): StreamMessageRequest['message'] => ({
  $case: 'joinChannel',
  value: {
    rtpParamaters: producerRtpParameters(),
    producerDtlsParamaters: dtlsParameters(),
    consumerDtlsParamaters: dtlsParameters(),
  },
});

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const has = (c: BenchClient, kind: string, pred: (v: any) => boolean = () => true) =>
  c.frames.some((f) => f.kind === 'response' && f.response.message?.$case === kind && pred(f.response.message.value));

/** Fails fast with the server's reason when an error frame arrives instead of the awaited response. */
function noErrors(client: BenchClient): void {
  const error = client.frames.find((f) => f.kind === 'error');
  if (error?.kind === 'error') throw new Error(`server error ${error.error.identifier}: ${error.error.humanMessage}`);
}

async function prepared(path: Path, user: bigint, channel: bigint): Promise<BenchClient> {
  const client = await path.connect(user, channel);
  client.send({ $case: 'initialize', value: { guildId: GUILD, channelId: channel } });
  await until(() => (noErrors(client), has(client, 'initialized')), 'Initialized');
  client.send({ $case: 'prepareForJoinChannel', value: { rtpCapabilities: clientRtpCapabilities() } });
  await until(() => (noErrors(client), has(client, 'preparedForJoinChannel')), 'PreparedForJoinChannel');
  return client;
}

async function measure(
  path: Path,
  size: number,
  iterations: number,
): Promise<{ join: Summary; fanout: Summary; requests: DynamoCounts[] }> {
  const channel = BigInt(size) + (path.name === 'floor' ? 1000n : 0n);
  const members: BenchClient[] = [];
  for (let i = 0; i < size - 1; i += 10) {
    members.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(10, size - 1 - i) }, async (_, k) => {
          const c = await prepared(path, BigInt(i + k + 1), channel);
          c.send(joinMessage());
          await until(() => (noErrors(c), has(c, 'joinedChannel')), 'JoinedChannel');
          return c;
        }),
      )),
    );
  }
  const join: number[] = [];
  const fanout: number[] = [];
  const requests: DynamoCounts[] = [];
  for (let it = 0; it < iterations; it++) {
    const user = 100_000n + BigInt(it);
    const joiner = await prepared(path, user, channel);
    const counted = path.count?.start();
    const started = performance.now();
    joiner.send(joinMessage());
    await until(() => (noErrors(joiner), has(joiner, 'joinedChannel')), 'JoinedChannel');
    join.push(performance.now() - started);
    await until(() => members.every((m) => has(m, 'userJoined', (v) => v.data.userId === user)), 'all UserJoined');
    fanout.push(performance.now() - started);
    if (counted) requests.push(await counted());
    await joiner.close();
    await until(() => members.every((m) => has(m, 'userLeft', (v) => v.userId === user)), 'all UserLeft');
  }
  await Promise.all(members.map((m) => m.close()));
  return { join: summarize(join), fanout: summarize(fanout), requests };
}

/** The DynamoDB requests the stack served from now until its gateway has no invocation in flight (heartbeats left out). */
function counting(stack: LocalStack, counter: RequestCounter): Path['count'] {
  return {
    start() {
      const before = counter.snapshot();
      return async () => {
        await stack.gateway.idle();
        const { [HEARTBEAT_KEY]: _heartbeats, ...counts } = counter.since(before).dynamo;
        return counts;
      };
    },
  };
}

/** Mean requests per join, and the mean per operation ("state:UpdateItem 3, …"). */
function perJoin(windows: DynamoCounts[]): { mean: number; byOperation: string } {
  const sums = new Map<string, number>();
  for (const w of windows) for (const [key, c] of Object.entries(w)) sums.set(key, (sums.get(key) ?? 0) + c.requests);
  const n = Math.max(1, windows.length);
  const mean = windows.reduce((a, w) => a + dynamoTotals(w).requests, 0) / n;
  const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  return {
    mean,
    byOperation: [...sums]
      .sort()
      .map(([k, v]) => `${k} ${fmt(v / n)}`)
      .join(', '),
  };
}

async function main() {
  const counter = new RequestCounter();
  // The reaper's schedule never fires during the run: its sweeps' reads are not a join's.
  const stack = await startLocalStack({
    port: 0,
    strict: true,
    counter,
    reaperIntervalMs: 3_600_000,
    logger: createLogger({ level: 'warn' }),
    mediaNode: { forwardLogs: false },
  });
  try {
    const real: Path = {
      name: 'local stack',
      async connect(user, channel) {
        const client = await VoiceTestClient.connect({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [channel]) });
        return { frames: client.frames, send: (m) => client.send(m), close: async () => client.close() };
      },
      count: counting(stack, counter),
    };

    // The floor: the same core and media node, with an in-memory store and gateway.
    const [grpcHost, grpcPort] = stack.mediaNode!.grpc.split(':');
    const nodes: NodeDirectory = listedNodeDirectory(async () => [
      nodeRecord('floor', {
        grpcAddress: `${grpcHost}:${grpcPort}`,
        capacity: 1e9,
        expiresAt: Math.ceil(Date.now() / 1000) + 3600,
      }),
    ]);
    const gateway = new MemoryGateway();
    const media = new GrpcMediaClient({ secret: stack.env.MEDIA_NODE_SECRET });
    const core = new VoiceCore({
      store: new MemoryStateStore(),
      nodes,
      media,
      gateway,
      policy: new TokenGrantPolicy(),
      clock: Date,
      log: silentLogger,
    });
    const floor: Path = {
      name: 'floor',
      async connect(user, channel) {
        const id = randomUUID();
        const frames: ServerFrame[] = [];
        gateway.attach(id, (frame) => frames.push(decodeServerFrame(frame)));
        await core.connect(id, { userId: String(user), grants: [`${GUILD}:${channel}`] }, 'base64');
        return {
          frames,
          send: (m) => void core.receive(id, toWire(encodeRequest({ message: m }), 'base64')),
          close: () => core.disconnect(id),
        };
      },
    };

    console.log(
      `signalling benchmark: ${ITERATIONS} joins per channel size (join = JoinChannel sent → JoinedChannel received; fan-out = → every member has its UserJoined)`,
    );
    const rows: string[] = [];
    const figures = new Map<number, { p99: number; floor: number; requests: number }>();
    for (const size of SIZES) {
      const iterations = size >= 100 ? Math.max(5, Math.round(ITERATIONS / 2)) : ITERATIONS;
      const f = await measure(floor, size, iterations);
      const r = await measure(real, size, iterations);
      console.log(`\nchannel of ${size} (joiner + ${size - 1} members)`);
      console.log(`  floor  join    ${formatSummary(f.join)}`);
      console.log(`  floor  fan-out ${formatSummary(f.fanout)}`);
      console.log(`  stack  join    ${formatSummary(r.join)}`);
      console.log(`  stack  fan-out ${formatSummary(r.fanout)}`);
      const counts = perJoin(r.requests);
      console.log(`  stack  DynamoDB requests per join ${counts.mean.toFixed(1)} (${counts.byOperation})`);
      figures.set(size, { p99: r.join.p99, floor: f.join.p99, requests: counts.mean });
      rows.push(
        `  ${String(size).padStart(3)} members: join p99 ${r.join.p99.toFixed(1)} ms (floor ${f.join.p99.toFixed(1)}, ×${(r.join.p99 / f.join.p99).toFixed(2)}), ` +
          `fan-out p99 ${r.fanout.p99.toFixed(1)} ms (floor ${f.fanout.p99.toFixed(1)}, ×${(r.fanout.p99 / f.fanout.p99).toFixed(2)}), ` +
          `p50 ratio ×${(r.join.p50 / f.join.p50).toFixed(2)}, ${counts.mean.toFixed(1)} DynamoDB requests per join`,
      );
    }
    console.log(
      '\nsummary (targets: p99 ≤ 100 ms into 10 members; ≤ 300 ms into 100 incl. all UserJoined; ≤ 1.5× floor)',
    );
    for (const row of rows) console.log(row);
    media.close();
    const [ten, hundred] = [figures.get(10)!, figures.get(100)!];
    const ms = (x: number) => x.toFixed(1);
    const ratio = (f: { p99: number; floor: number }) => (f.p99 / f.floor).toFixed(2);
    const requests = Number.isInteger(ten.requests) ? String(ten.requests) : ten.requests.toFixed(1);
    // The requests of a join into 10 (the summary above has each size's).
    console.log(
      `signalling: join p99 into 10 ${ms(ten.p99)} ms (floor ${ms(ten.floor)}, ×${ratio(ten)}), ` +
        `into 100 ${ms(hundred.p99)} ms (floor ${ms(hundred.floor)}, ×${ratio(hundred)}), ${requests} DynamoDB requests per join`,
    );
  } finally {
    await stack.close();
  }
}

await main();
