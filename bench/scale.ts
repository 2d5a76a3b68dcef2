// `npm run bench:scale`: what the signalling side costs in AWS requests, counted (not timed) through the
// real local stack — local API Gateway, the Lambda handler modules, dynalite, a real media node — and what
// that comes to at 1,000,000 connections and per 1,000 user-hours.
//   1. idle: N = 1,000 / 5,000 / 10,000 joined sessions (cheap: written through the real DynamoDB adapter as
//      a join leaves them, no WebRTC) held while the real reaper sweeps IDLE_SWEEPS times — the sweeps an
//      AWS deployment runs in IDLE_SWEEPS × 5 s. Counted at the local DynamoDB and gateway.
//   2. one join and one leave into channels of 10 and 100 (real WebSockets, real media node, hand-built
//      client parameters), counted the same way.
//   3. projection to 1,000,000 connections and cost per 1,000 user-hours from bench/prices.ts, with the
//      assumptions printed beside the figures.
//   BENCH_SCALE_SIZES=1000,5000,10000 BENCH_SCALE_SWEEPS=120 USERS_PER_VCPU=<measured> npm run bench:scale
import { relayCostPerUserHour, RELAY_COST_DEFAULTS } from '../infra/relay/cost';
import { KEEPALIVE_INTERVAL_MS } from '../protocol/hrpc';
import { SWEEP_SHARDS } from '../data/tables';
import { CANDIDATE_COPIES } from '../routing/candidates';
import { SWEEP_SCHEDULE } from '../functions/voice/sweep';
import { HANDLERS } from '../infra/signalling-stack';
import { createLogger } from '../lib/log';
import { dynamoTotals, RequestCounter, type DynamoCounts, type GatewayCounts } from '../local/request-counter';
import { startLocalStack } from '../local/stack';
import { NodeRegistry } from '../routing/node-registry';
import { createDocumentClient } from '../routing/dynamo';
import { NODES_TABLE } from '../data/tables';
import { countIdleSweeps, countJoinAndLeave, seedJoined, type Window } from './scale-counting';
import { ANCHORS, PRICES } from './prices';
import { projectPartitions } from './scale-partitions';
import { askedFeatures } from '../web/src/extensions';

/** What the SDK negotiates by default (web/src/extensions.ts): consumers.v1 (resume.v1 is opt-in). */
const SDK_FEATURES = askedFeatures({ resume: false, consumersResumed: true });

process.env.LOG_LEVEL ??= 'warn';
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '1000,5000,10000').split(',').map(Number);
const IDLE_SWEEPS = Number(process.env.BENCH_SCALE_SWEEPS ?? 120);
const CHANNELS = [10, 100];
const MILLION = 1_000_000;
/** The registry's "all nodes" Query (routing/node-registry.ts listNodes), as local/dynamo-counting.ts keys it. */
const LIST_NODES_KEY = 'nodes:Query:Listing(NODES)';

/** Every assumption the projection and the cost rest on (printed). */
const ASSUME = {
  /** Cost scenario: users in channels of this size, one join and one leave per user-hour. */
  channelSize: 10,
  sessionsPerUserHour: 1,
  /** Billed duration per handler invocation (not measured here: counts, not times). */
  lambdaMsPerInvocation: 50,
  /** bench:media, docs/benchmarks.md: 1000 audio consumers with RTP flowing at 46.8 % of one core (SRTP on). */
  consumersPerVcpuAtFull: 1000 / 0.468,
  fleetUtilisation: 0.6,
  /** The SDK produces with opusDtx: false (web/src/voice-session.ts): every unmuted producer sends all the time. */
  flowingStreamsPerListener: 10 - 1,
  opusBitsPerSecond: 32_000,
  packetsPerSecond: 50,
  /** IPv4 20 + UDP 8 + RTP 12 + one-byte header extensions (audio level, 8) + SRTP auth tag 10. */
  overheadBytesPerPacket: 58,
  /** Media node registry heartbeat (media-node/src/node/media-node.ts): one PutItem per node every 5 s. */
  heartbeatsPerNodeHour: 3600 / 5,
};

const usersPerVcpu =
  Number(process.env.USERS_PER_VCPU) ||
  (ASSUME.consumersPerVcpuAtFull * ASSUME.fleetUtilisation) / ASSUME.flowingStreamsPerListener;
const usersPerNode = usersPerVcpu * PRICES.ec2.c7iLargeVcpus;
const sweepsPerHour = 3_600_000 / SWEEP_SCHEDULE.intervalMs;
const keepalivesPerHour = 3_600_000 / KEEPALIVE_INTERVAL_MS;

const fmt = (n: number, digits = 2) =>
  Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits);
const apiCalls = (g: GatewayCounts) => g.post + g.get + g.delete;
const invocations = (g: GatewayCounts) => g.connect + g.default + g.disconnect;

function describeDynamo(counts: DynamoCounts, per = 1): string {
  return (
    Object.entries(counts)
      .sort()
      .map(([k, c]) => `${k} ${fmt(c.requests / per)}`)
      .join(', ') || 'none'
  );
}

function describeWindow(w: Window): string {
  const t = dynamoTotals(w.dynamo);
  return (
    `DynamoDB ${t.requests} requests (${fmt(t.readUnits, 1)} RCU, ${fmt(t.writeUnits, 1)} WCU + ~${t.indexWriteUnits} index WCU) [${describeDynamo(w.dynamo)}]; ` +
    `@connections ${apiCalls(w.gateway)} (post ${w.gateway.post}, get ${w.gateway.get}, delete ${w.gateway.delete}, 410 ${w.gateway.gone}); ` +
    `client messages ${w.gateway.messagesIn}; invocations $connect ${w.gateway.connect}, $default ${w.gateway.default}, $disconnect ${w.gateway.disconnect}`
  );
}

async function main() {
  const counter = new RequestCounter();
  // The schedule never fires on its own here: the benchmark runs the reaper itself, one sweep per run.
  const stack = await startLocalStack({
    port: 0,
    strict: true,
    reaperIntervalMs: 3_600_000,
    counter,
    logger: createLogger({ level: 'warn' }),
    mediaNode: { forwardLogs: false },
  });
  try {
    const [node] = await new NodeRegistry(
      createDocumentClient({ endpoint: stack.dynamo.endpoint }),
      stack.dynamo.tables[NODES_TABLE.envVar]!,
    ).listNodes();
    if (!node) throw new Error('bench:scale: the media node did not register');

    // ---- 1. idle ----
    console.log(
      `scale benchmark: counts through the local stack (local API Gateway, handlers, dynalite, media node), ${SWEEP_SHARDS} sweep shards`,
    );
    console.log(
      `\nidle: joined sessions held while the reaper sweeps ${IDLE_SWEEPS} times (= ${fmt((IDLE_SWEEPS * SWEEP_SCHEDULE.intervalMs) / 60_000, 0)} min of sweeps every ${SWEEP_SCHEDULE.intervalMs / 1000} s)`,
    );
    const idle: { n: number; w: Window }[] = [];
    let seeded = 0;
    for (const n of SIZES) {
      await seedJoined(stack, {
        prefix: `idle${n}`,
        count: n - seeded,
        nodeId: node.nodeId,
        grpcAddress: node.grpcAddress,
      });
      seeded = n;
      const w = await countIdleSweeps(stack, counter, IDLE_SWEEPS);
      idle.push({ n, w });
      const t = dynamoTotals(w.dynamo);
      const perConnHour = ((t.requests / IDLE_SWEEPS) * sweepsPerHour) / n;
      console.log(
        `  N = ${String(n).padStart(6)}: per sweep ${fmt(t.requests / IDLE_SWEEPS)} DynamoDB requests (${fmt(t.readUnits / IDLE_SWEEPS)} RCU) [${describeDynamo(w.dynamo, IDLE_SWEEPS)}], ` +
          `${apiCalls(w.gateway)} @connections calls, ${w.gateway.messagesIn} messages; ${fmt(perConnHour, 3)} requests per idle connection-hour`,
      );
    }
    const first = idle[0]!;
    const last = idle[idle.length - 1]!;
    const perSweep = (w: Window) => dynamoTotals(w.dynamo).requests / IDLE_SWEEPS;
    const marginalPerSweep = (perSweep(last.w) - perSweep(first.w)) / Math.max(1, last.n - first.n);
    console.log(
      `  flat: per-sweep requests ${fmt(perSweep(first.w))} at N=${first.n} vs ${fmt(perSweep(last.w))} at N=${last.n} ` +
        `(marginal ${marginalPerSweep.toExponential(2)} per connection per sweep); a healthy joined session is read by no periodic request`,
    );

    // ---- 2. joins and leaves ----
    console.log(
      '\njoin and leave (one user into a channel already holding size − 1 members; the leave is a normal close)',
    );
    const stockEvents: Record<number, { join: Window; leave: Window }> = {};
    for (const size of CHANNELS) {
      stockEvents[size] = await countJoinAndLeave(stack, counter, { size, guild: 31n, channel: BigInt(size) });
      console.log(`  stock voice.v1, channel of ${size}: join  ${describeWindow(stockEvents[size]!.join)}`);
      console.log(`  stock voice.v1, channel of ${size}: leave ${describeWindow(stockEvents[size]!.leave)}`);
    }
    // The SDK's options (consumers.v1 negotiated: no ResumeConsumer per consumer): what the projections use.
    const events: Record<number, { join: Window; leave: Window }> = {};
    for (const size of CHANNELS) {
      events[size] = await countJoinAndLeave(stack, counter, {
        size,
        guild: 32n,
        channel: BigInt(size),
        features: SDK_FEATURES,
      });
      console.log(
        `  SDK (${SDK_FEATURES.join(', ')}), channel of ${size}: join  ${describeWindow(events[size]!.join)}`,
      );
      console.log(
        `  SDK (${SDK_FEATURES.join(', ')}), channel of ${size}: leave ${describeWindow(events[size]!.leave)}`,
      );
    }
    for (const size of CHANNELS) {
      console.log(
        `  client messages per join into ${size}: stock ${stockEvents[size]!.join.gateway.messagesIn}, SDK ${events[size]!.join.gateway.messagesIn}`,
      );
    }
    // Per-user limits (functions/voice/user-limits.ts; keys "(limits)" above): conditional writes on the user's own
    // USER# items and the channel's PREPARED item, per join and leave, none per message.
    const limitsOf = (w: Window) =>
      dynamoTotals(Object.fromEntries(Object.entries(w.dynamo).filter(([k]) => k.includes('(limits)'))));
    for (const size of CHANNELS) {
      const [j, l] = [limitsOf(events[size]!.join), limitsOf(events[size]!.leave)];
      console.log(
        `  per-user limits in a channel of ${size} (included above): join ${j.requests} requests (${fmt(j.writeUnits, 1)} WCU), leave ${l.requests} (${fmt(l.writeUnits, 1)} WCU), ` +
          "each on the user's own partition (USER#<id>) or the channel's; no write per message",
      );
    }

    // ---- 3. projection to 1,000,000 connections ----
    // Locally one reaper run sweeps every shard; on AWS each of the shard groups' invocations also lists the nodes.
    const idleQueries = last.w.dynamo;
    const listNodesPerSweep = (idleQueries[LIST_NODES_KEY]?.requests ?? 0) / IDLE_SWEEPS;
    const shardReadsPerSweep = perSweep(last.w) - listNodesPerSweep;
    const awsSweepRequestsPerHour =
      (shardReadsPerSweep + SWEEP_SCHEDULE.shardGroupsAt1M * listNodesPerSweep) * sweepsPerHour +
      marginalPerSweep * sweepsPerHour * MILLION;
    const listNodesUnitsPerSweep = (idleQueries[LIST_NODES_KEY]?.readUnits ?? 0) / IDLE_SWEEPS;
    const shardUnitsPerSweep = dynamoTotals(last.w.dynamo).readUnits / IDLE_SWEEPS - listNodesUnitsPerSweep;
    // dynalite bills an empty Query 0 units; DynamoDB bills at least 0.5 (eventually consistent) or 1: count 1 per request.
    const sweepReadUnitsPerHour = Math.max(
      (shardUnitsPerSweep + SWEEP_SCHEDULE.shardGroupsAt1M * listNodesUnitsPerSweep) * sweepsPerHour,
      awsSweepRequestsPerHour,
    );
    const nodesAt1M = Math.ceil(MILLION / usersPerNode);
    const heartbeatsPerHour = nodesAt1M * ASSUME.heartbeatsPerNodeHour;
    const idleApiCallsPerHour = (apiCalls(last.w.gateway) / IDLE_SWEEPS) * sweepsPerHour;
    // The sweep's publish of the placement candidates: CANDIDATE_COPIES PutItems per sweep round (left out of the
    // idle window with the registry's other puts).
    const candidatePublishesPerHour = CANDIDATE_COPIES * sweepsPerHour;
    const x = (awsSweepRequestsPerHour + heartbeatsPerHour + idleApiCallsPerHour + candidatePublishesPerHour) / MILLION;
    let churnPerSecond = 0;
    const keepalivesPerSecond = (MILLION * keepalivesPerHour) / 3600;
    const ownApiPerSecond = idleApiCallsPerHour / 3600;
    const y = (100 * (keepalivesPerSecond + ownApiPerSecond)) / PRICES.apiGateway.accountRequestsPerSecond;
    const reaperInvocationsPerHour = SWEEP_SCHEDULE.shardGroupsAt1M * 60;
    console.log('\nprojection: 1,000,000 concurrent connections at rest');
    console.log(
      `  sweep: ${fmt(awsSweepRequestsPerHour / 3600)} DynamoDB requests/s (${fmt(sweepReadUnitsPerHour / 3600)} RCU/s), 0 writes, ${fmt(ownApiPerSecond)} @connections calls/s; ` +
        `${reaperInvocationsPerHour} reaper invocations/h (${SWEEP_SCHEDULE.shardGroupsAt1M} shard groups × 1/min, each sweeping every ${SWEEP_SCHEDULE.intervalMs / 1000} s)`,
    );
    console.log(
      `  media registry: ${fmt(nodesAt1M)} c7i.large nodes at ${fmt(usersPerNode, 0)} users each → ${fmt(heartbeatsPerHour / 3600)} heartbeat PutItems/s (~${fmt(heartbeatsPerHour / 3600)} WCU/s)`,
    );
    // An Initialize reads the channel's placement and one candidate copy or one node record (O(1) whatever the
    // fleet: test/signalling/placement-counts.test.ts); only the sweep lists the registry (one Query per NODES# listing shard).
    const nodeItemBytes = Number(process.env.NODE_RECORD_BYTES ?? 700);
    console.log(
      `  node registry reads: an Initialize reads O(1) items (placement + candidate list or its node's record), the same at 10 and 5,000 nodes; ` +
        `each sweep round lists ${fmt(nodesAt1M)} nodes × ~${nodeItemBytes} B over the NODES# listing shards`,
    );
    console.log(
      `  AWS requests per idle connection-hour: sweep ${fmt(awsSweepRequestsPerHour / MILLION, 4)} + @connections ${fmt(idleApiCallsPerHour / MILLION, 4)} + heartbeats ${fmt(heartbeatsPerHour / MILLION, 3)} + candidate publishes ${fmt(candidatePublishesPerHour / MILLION, 4)} = ${fmt(x, 3)} ` +
        `(the clients' own keepalives: ${fmt(keepalivesPerHour)} more, billed as messages)`,
    );
    console.log(
      `  API Gateway account budget (${fmt(PRICES.apiGateway.accountRequestsPerSecond)} req/s): the service's own calls ${fmt(ownApiPerSecond)} req/s = ${fmt((100 * ownApiPerSecond) / PRICES.apiGateway.accountRequestsPerSecond, 3)} %; ` +
        `the clients' keepalives (every ${KEEPALIVE_INTERVAL_MS / 60_000} min) ${fmt(keepalivesPerSecond)} req/s = ${fmt((100 * keepalivesPerSecond) / PRICES.apiGateway.accountRequestsPerSecond, 1)} % ` +
        `(API Gateway's 10-minute idle timeout needs at least one every 10 min: ≥ ${fmt((100 * MILLION) / 600 / PRICES.apiGateway.accountRequestsPerSecond, 1)} %; the quota is adjustable)`,
    );

    // Churn at 1M: every user joins and leaves once per session (channel of ASSUME.channelSize).
    {
      const e = events[ASSUME.channelSize]!;
      const perSecond = (MILLION * ASSUME.sessionsPerUserHour) / 3600;
      const apigw = [e.join, e.leave].reduce((a, w) => a + w.gateway.messagesIn + apiCalls(w.gateway), 0) * perSecond;
      const units = [e.join, e.leave].map((w) => dynamoTotals(w.dynamo));
      const rcu = units.reduce((a, t) => a + t.readUnits, 0) * perSecond;
      const wcu = units.reduce((a, t) => a + t.writeUnits + t.indexWriteUnits, 0) * perSecond;
      const lambdas = [e.join, e.leave].reduce((a, w) => a + invocations(w.gateway), 0) * perSecond;
      const s = stockEvents[ASSUME.channelSize]!;
      const stockApigw =
        [s.join, s.leave].reduce((a, w) => a + w.gateway.messagesIn + apiCalls(w.gateway), 0) * perSecond;
      churnPerSecond = apigw;
      console.log(
        `  with churn (sessions of ${60 / ASSUME.sessionsPerUserHour} min in channels of ${ASSUME.channelSize}: ${fmt(perSecond, 0)} joins and leaves/s), SDK options: ` +
          `API Gateway ${fmt(apigw)} req/s (client messages + @connections) = ${fmt((100 * apigw) / PRICES.apiGateway.accountRequestsPerSecond, 1)} % of the account budget ` +
          `on top of the keepalives (stock voice.v1 clients: ${fmt(stockApigw)} req/s); DynamoDB ${fmt(rcu)} RCU/s and ${fmt(wcu)} WCU/s (index writes included); ${fmt(lambdas)} invocations/s`,
      );
      console.log(
        `  churn + keepalives at 1M: ${fmt(apigw + keepalivesPerSecond)} req/s = ${fmt((100 * (apigw + keepalivesPerSecond)) / PRICES.apiGateway.accountRequestsPerSecond, 1)} % ` +
          `of the ${fmt(PRICES.apiGateway.accountRequestsPerSecond)} req/s account quota (target ≤ 100 %)`,
      );
    }

    // ---- 3b. the rest at 1M, each against its limit ----
    const partitions = projectPartitions({
      churnPerSecond: (MILLION * ASSUME.sessionsPerUserHour) / 3600,
      join10: events[10]!.join,
      leave10: events[10]!.leave,
      join100: events[100]!.join,
      leave100: events[100]!.leave,
      nodesAt1M,
      nodeRecordBytes: nodeItemBytes,
      shardGroups: SWEEP_SCHEDULE.shardGroupsAt1M,
      sweepIntervalMs: SWEEP_SCHEDULE.intervalMs,
      heartbeatIntervalMs: 3_600_000 / ASSUME.heartbeatsPerNodeHour,
      busyChannelJoinsPerSecond: 1,
      lambdaMsPerInvocation: ASSUME.lambdaMsPerInvocation,
    });
    console.log('\nthe rest at 1,000,000 connections, against each limit (SDK options)');
    for (const line of partitions.lines) console.log(line);

    // ---- 4. cost per 1,000 user-hours ----
    const e = events[ASSUME.channelSize]!;
    const both = [e.join, e.leave];
    const sum = (f: (w: Window) => number) => both.reduce((a, w) => a + f(w), 0) * ASSUME.sessionsPerUserHour;
    const messages =
      sum((w) => w.gateway.messagesIn + w.gateway.post) + keepalivesPerHour + idleApiCallsPerHour / MILLION;
    const apiGateway =
      (messages * PRICES.apiGateway.perMillionMessages + 60 * PRICES.apiGateway.perMillionConnectionMinutes) / MILLION;
    const memoryGb = (w: Window) =>
      (w.gateway.connect * HANDLERS.connect.memorySize +
        w.gateway.default * HANDLERS.default.memorySize +
        w.gateway.disconnect * HANDLERS.disconnect.memorySize) /
      1024;
    const lambdaRequests = sum((w) => invocations(w.gateway)) + reaperInvocationsPerHour / MILLION;
    const gbSeconds =
      sum(memoryGb) * (ASSUME.lambdaMsPerInvocation / 1000) +
      (reaperInvocationsPerHour * 60 * HANDLERS.reaper.memorySize) / 1024 / MILLION;
    const lambda =
      (lambdaRequests * PRICES.lambda.perMillionRequests) / MILLION + gbSeconds * PRICES.lambda.perGbSecond;
    const readUnits = sum((w) => dynamoTotals(w.dynamo).readUnits) + sweepReadUnitsPerHour / MILLION;
    const writeUnits =
      sum((w) => dynamoTotals(w.dynamo).writeUnits + dynamoTotals(w.dynamo).indexWriteUnits) +
      heartbeatsPerHour / MILLION;
    const dynamodb =
      (readUnits * PRICES.dynamodb.perMillionReadUnits + writeUnits * PRICES.dynamodb.perMillionWriteUnits) / MILLION;
    const fleet = PRICES.ec2.c7iLargePerHour / usersPerNode;
    const streamBytesPerHour =
      3600 * (ASSUME.opusBitsPerSecond / 8 + ASSUME.packetsPerSecond * ASSUME.overheadBytesPerPacket);
    const listenerBytesPerHour = ASSUME.flowingStreamsPerListener * streamBytesPerHour;
    const allTalkingTransfer = (listenerBytesPerHour / 1e9) * PRICES.dataTransfer.outPerGb;
    const dtxListenerBytesPerHour =
      streamBytesPerHour + (ASSUME.channelSize - 2) * 3600 * 2.5 * (ASSUME.overheadBytesPerPacket + 3);
    const dtxTransfer = (dtxListenerBytesPerHour / 1e9) * PRICES.dataTransfer.outPerGb;
    // The SDK produces with Opus DTX by default (web/src: opusDtx): the headline prices that; BENCH_SCALE_DTX=0
    // prices every member streaming all the time (DTX turned off).
    const dtx = process.env.BENCH_SCALE_DTX !== '0';
    const transfer = dtx ? dtxTransfer : allTalkingTransfer;
    const perUserHour = apiGateway + lambda + dynamodb + fleet + transfer;
    const per1000 = (v: number) => `$${(v * 1000).toFixed(3)}`;
    console.log(
      `\ncost per 1,000 user-hours (us-east-1 list prices, bench/prices.ts; channel of ${ASSUME.channelSize}, ${ASSUME.sessionsPerUserHour} join + leave per user-hour)`,
    );
    console.log(
      `  API Gateway      ${per1000(apiGateway)}  (${fmt(messages, 1)} messages + 60 connection-minutes per user-hour)`,
    );
    console.log(
      `  Lambda           ${per1000(lambda)}  (${fmt(lambdaRequests, 1)} invocations per user-hour at an assumed ${ASSUME.lambdaMsPerInvocation} ms each)`,
    );
    console.log(
      `  DynamoDB         ${per1000(dynamodb)}  (${fmt(readUnits, 1)} RCU + ${fmt(writeUnits, 1)} WCU per user-hour, index writes and heartbeats included)`,
    );
    console.log(
      `  media fleet      ${per1000(fleet)}  (c7i.large $${PRICES.ec2.c7iLargePerHour}/h at ${ASSUME.fleetUtilisation * 100} % utilisation: ${fmt(usersPerVcpu, 0)} users per vCPU = ` +
        `${fmt(ASSUME.consumersPerVcpuAtFull, 0)} flowing consumers per vCPU (bench:media) / ${ASSUME.flowingStreamsPerListener} streams per listener${process.env.USERS_PER_VCPU ? '; USERS_PER_VCPU given' : ''})`,
    );
    const dtxLine = `${fmt(dtxListenerBytesPerHour / 1e6, 1)} MB per listener-hour with Opus DTX (the SDK's default: one talker at a time, silent producers at ~2.5 packets/s)`;
    const allLine = `${fmt(listenerBytesPerHour / 1e6, 1)} MB per listener-hour with DTX off: ${ASSUME.flowingStreamsPerListener} streams × Opus ${ASSUME.opusBitsPerSecond / 1000} kbps + ${ASSUME.overheadBytesPerPacket} B/packet overhead at ${ASSUME.packetsPerSecond} packets/s`;
    console.log(`  data transfer    ${per1000(transfer)}  (${dtx ? dtxLine : allLine})`);
    console.log(
      `  total            ${per1000(perUserHour)}  — audio data transfer is ${fmt((100 * transfer) / perUserHour, 0)} % of it`,
    );
    const other = perUserHour - transfer + (dtx ? allTalkingTransfer : dtxTransfer);
    console.log(
      `  ${dtx ? 'with DTX off' : 'with Opus DTX on'}: data transfer ${per1000(dtx ? allTalkingTransfer : dtxTransfer)} (${dtx ? allLine : dtxLine}), total ${per1000(other)}`,
    );
    // The relays (relay.v1, infra/relay-stack.ts) carry only members whose network needs them: priced per relayed
    // user-hour from the model in infra/relay/cost.ts (assumptions printed, not measured), outside the total above.
    const relay = relayCostPerUserHour();
    console.log(
      `  relays (TURN/TLS 443, only for members whose network needs them; not in the total): ${per1000(relay.perUserHour)} per 1,000 relayed user-hours ` +
        `(infra/relay/cost.ts model: ${RELAY_COST_DEFAULTS.usersPerInstance} relayed users per instance assumed, ${RELAY_COST_DEFAULTS.kbpsEachWay} kbit/s each way)`,
    );
    console.log('  anchors (published per-participant-minute list prices, as known to the author):');
    for (const a of ANCHORS)
      console.log(
        `    ${a.name.padEnd(17)} $${(a.perParticipantMinute * 60 * 1000).toFixed(2)} per 1,000 user-hours — ${a.source}`,
      );
    console.log(
      `\nscale: ${fmt(x, 3)} AWS requests per idle connection-hour, ${y.toFixed(1)}% of the API Gateway account budget at 1M connections, $${(perUserHour * 1000).toFixed(2)} per 1000 user-hours, ` +
        `churn at 1M ${Math.round(churnPerSecond)} API Gateway req/s, ${Math.round(partitions.hottestRcu.perSecond)} RCU/s on the hottest partition`,
    );
  } finally {
    await stack.close();
  }
}

await main();
