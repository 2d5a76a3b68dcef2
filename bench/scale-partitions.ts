// bench:scale's part 5: what the rest costs at 1,000,000 connections, each against its documented limit —
// the DynamoDB partitions (CHAN# of a very busy channel, DUE# index shards, NODE#<nodeId> and NODES# listing shards, PLACE# candidate
// copies), @connections posts, new connections and Lambda concurrency — projected from counted windows (requests
// and units per partition key, local/request-counter.ts). Pure arithmetic; bench/scale.ts prints it.
import { SWEEP_SHARDS } from '../data/tables';
import { CANDIDATE_COPIES } from '../routing/candidates';
import { NODE_SHARDS } from '../routing/node-registry';
import { dynamoTotals } from '../local/request-counter';
import type { Window } from './scale-counting';

/** DynamoDB's per-partition limits and API Gateway's / Lambda's default account quotas (documented). */
export const LIMITS = {
  partitionRcuPerSecond: 3_000,
  partitionWcuPerSecond: 1_000,
  apiGatewayRequestsPerSecond: 10_000,
  apiGatewayNewConnectionsPerSecond: 500,
  lambdaConcurrentExecutions: 1_000,
};

export interface PartitionInputs {
  /** Joins (and leaves) per second at 1M (1-hour sessions). */
  churnPerSecond: number;
  /** Counted join and leave into a channel of 10 and of 100, with the SDK's options. */
  join10: Window;
  leave10: Window;
  join100: Window;
  leave100: Window;
  nodesAt1M: number;
  /** Bytes of one node record (the sweep's listing reads every one). */
  nodeRecordBytes: number;
  shardGroups: number;
  sweepIntervalMs: number;
  heartbeatIntervalMs: number;
  /** A very busy channel of 100: joins (and as many leaves) per second (assumed, printed). */
  busyChannelJoinsPerSecond: number;
  lambdaMsPerInvocation: number;
}

export interface PartitionFigures {
  lines: string[];
  hottestRcu: { name: string; perSecond: number };
  hottestWcu: { name: string; perSecond: number };
  postsPerSecond: number;
  concurrency: number;
}

/** Units a window spent on partitions whose key starts with `prefix` ("state:CHAN#", "nodes:PLACE#"), summed. */
function unitsOn(w: Window, prefix: string): { requests: number; rcu: number; wcu: number } {
  let requests = 0;
  let rcu = 0;
  let wcu = 0;
  for (const [key, c] of Object.entries(w.partitions ?? {})) {
    if (!key.startsWith(prefix)) continue;
    requests += c.requests;
    rcu += c.readUnits;
    wcu += c.writeUnits;
  }
  return { requests, rcu, wcu };
}

const f = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

export function projectPartitions(i: PartitionInputs): PartitionFigures {
  const lines: string[] = [];
  const rcu: { name: string; perSecond: number }[] = [];
  const wcu: { name: string; perSecond: number }[] = [];
  const pair10 = [i.join10, i.leave10];
  const pair100 = [i.join100, i.leave100];
  const sum = (ws: Window[], prefix: string) =>
    ws
      .map((w) => unitsOn(w, prefix))
      .reduce((a, b) => ({ requests: a.requests + b.requests, rcu: a.rcu + b.rcu, wcu: a.wcu + b.wcu }));

  // CHAN#: a channel's PLACEMENT and FEED items share its partition; a very busy channel of 100.
  const chan = sum(pair100, 'state:CHAN#');
  const chanRcu = chan.rcu * i.busyChannelJoinsPerSecond;
  const chanWcu = chan.wcu * i.busyChannelJoinsPerSecond;
  rcu.push({ name: 'CHAN# of a busy channel', perSecond: chanRcu });
  wcu.push({ name: 'CHAN# of a busy channel', perSecond: chanWcu });
  lines.push(
    `  CHAN# partition of one channel of 100: ${chan.requests} requests, ${f(chan.rcu)} RCU, ${f(chan.wcu)} WCU per join + leave; ` +
      `a very busy one at ${i.busyChannelJoinsPerSecond} join + leave per second (the whole channel turning over every ${Math.round(100 / i.busyChannelJoinsPerSecond)} s) ` +
      `${f(chanRcu)} RCU/s and ${f(chanWcu)} WCU/s (limits ${f(LIMITS.partitionRcuPerSecond)} / ${f(LIMITS.partitionWcuPerSecond)}: ` +
      `${f(Math.min(LIMITS.partitionRcuPerSecond / Math.max(chan.rcu, 1e-9), LIMITS.partitionWcuPerSecond / Math.max(chan.wcu, 1e-9)))} joins/s per channel would be the ceiling)`,
  );

  // DUE#: the connection items' sparse index, SWEEP_SHARDS partitions; index writes of a session's lifecycle.
  const indexWcu = pair10.reduce((a, w) => a + dynamoTotals(w.dynamo).indexWriteUnits, 0);
  const dueWcu = (indexWcu * i.churnPerSecond) / SWEEP_SHARDS;
  const dueRcu = (1000 / i.sweepIntervalMs) * 1; // one Query of each shard per sweep (≥ 1 RCU billed)
  wcu.push({ name: 'DUE# index shard', perSecond: dueWcu });
  rcu.push({ name: 'DUE# index shard', perSecond: dueRcu });
  lines.push(
    `  DUE# index: ${indexWcu} index WCU per session (join + leave, channel of 10) × ${f(i.churnPerSecond)}/s over ${SWEEP_SHARDS} shards = ` +
      `${f(dueWcu)} WCU/s per shard (limit ${f(LIMITS.partitionWcuPerSecond)}); the sweep reads ~${f(dueRcu)} RCU/s per shard`,
  );

  // NODE#<nodeId>: each node's own partition (trust: IAM-bound to its writer) takes its heartbeats and the
  // Initializes' reads of that one node's record; NODES#<shard>: the LISTING index partitions those heartbeats are
  // replicated to (NODE_SHARDS of them), read by the sweep's listing (eventually consistent: half a unit per 4 KB).
  const heartbeatWcuPerNode = Math.ceil(i.nodeRecordBytes / 1024) * (1000 / i.heartbeatIntervalMs);
  const initNode = sum(pair10, 'nodes:NODE#');
  const getNodeRcu = (initNode.rcu * i.churnPerSecond) / i.nodesAt1M;
  wcu.push({ name: 'NODE#<nodeId> (one node)', perSecond: heartbeatWcuPerNode });
  rcu.push({ name: 'NODE#<nodeId> (one node)', perSecond: getNodeRcu });
  const listingWcu = (i.nodesAt1M * heartbeatWcuPerNode) / NODE_SHARDS;
  const listingRcu =
    (Math.ceil(((i.nodesAt1M / NODE_SHARDS) * i.nodeRecordBytes) / 4096) * 0.5 * i.shardGroups * 1000) /
    i.sweepIntervalMs;
  wcu.push({ name: 'NODES# listing index shard', perSecond: listingWcu });
  rcu.push({ name: 'NODES# listing index shard', perSecond: listingRcu });
  lines.push(
    `  NODE# registry: ${f(i.nodesAt1M)} nodes, each heartbeating its own partition (${f(heartbeatWcuPerNode)} WCU/s; Initializes' reads of ` +
      `its record ~${f(getNodeRcu)} RCU/s on average); listed over ${NODE_SHARDS} index shards: ${f(listingWcu)} WCU/s each (replicated heartbeats), ` +
      `the sweep's listing ${f(listingRcu)} RCU/s each (${i.shardGroups} shard groups)`,
  );

  // PLACE#: the candidate list, CANDIDATE_COPIES copies; every new placement reads one (upper bound: every join).
  const place = sum(pair10, 'nodes:PLACE#');
  const placeReads = place.requests > 0 ? place.rcu / place.requests : 0.5;
  const placeRcu = (placeReads * i.churnPerSecond) / CANDIDATE_COPIES;
  const placeWcu = (1000 / i.sweepIntervalMs) * Math.max(1, placeReads * 2);
  rcu.push({ name: 'PLACE# candidate copy', perSecond: placeRcu });
  wcu.push({ name: 'PLACE# candidate copy', perSecond: placeWcu });
  lines.push(
    `  PLACE# candidates: ${CANDIDATE_COPIES} copies, ${f(placeReads)} RCU per read; even if every join placed a new channel ` +
      `${f(placeRcu)} RCU/s per copy; one publish per sweep (${f(placeWcu)} WCU/s per copy)`,
  );

  // @connections posts, new connections, Lambda concurrency.
  const posts = pair10.reduce((a, w) => a + w.gateway.post, 0) * i.churnPerSecond;
  const invocations =
    pair10.reduce((a, w) => a + w.gateway.connect + w.gateway.default + w.gateway.disconnect, 0) * i.churnPerSecond;
  const concurrency = (invocations * i.lambdaMsPerInvocation) / 1000 + i.shardGroups;
  lines.push(
    `  @connections: ${f(posts)} posts/s (part of the churn figure, against the ${f(LIMITS.apiGatewayRequestsPerSecond)} req/s account quota); ` +
      `new connections ${f(i.churnPerSecond)}/s = ${f((100 * i.churnPerSecond) / LIMITS.apiGatewayNewConnectionsPerSecond)} % of the ${LIMITS.apiGatewayNewConnectionsPerSecond}/s quota`,
  );
  lines.push(
    `  Lambda: ${f(invocations)} invocations/s × ${i.lambdaMsPerInvocation} ms + ${i.shardGroups} reaper invocations always running = ` +
      `~${f(concurrency)} concurrent executions = ${f((100 * concurrency) / LIMITS.lambdaConcurrentExecutions)} % of the default ${f(LIMITS.lambdaConcurrentExecutions)}`,
  );

  const hottestRcu = rcu.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  const hottestWcu = wcu.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  lines.push(
    `  hottest partition: ${f(hottestRcu.perSecond)} RCU/s (${hottestRcu.name}; limit ${f(LIMITS.partitionRcuPerSecond)}), ` +
      `${f(hottestWcu.perSecond)} WCU/s (${hottestWcu.name}; limit ${f(LIMITS.partitionWcuPerSecond)})`,
  );
  return { lines, hottestRcu, hottestWcu, postsPerSecond: posts, concurrency };
}
