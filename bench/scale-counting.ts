// The counting procedures of the scale benchmark (bench/scale.ts), shared with its CI form
// (test/signalling/scale-counts.test.ts): cheap joined sessions seeded through the real DynamoDB adapter,
// idle sweeps run through the real reaper handler, and real joins/leaves through the local gateway, each
// window counted by local/request-counter.ts at the local DynamoDB and the local gateway.
import { STATE_TABLE } from '../data/tables';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { connectionItem } from '../functions/adapters/dynamo-store';
import { DEFAULT_LIMITS } from '../functions/voice/voice-core';
import type { LocalStack } from '../local/stack';
import type { DynamoCounts, GatewayCounts, PartitionCounts, RequestCounter } from '../local/request-counter';
import { FEATURE } from '../protocol/extensions';
import { createDocumentClient } from '../routing/dynamo';
import { joinedClient } from '../test/support/stack-flow';
import { devToken } from '../test/support/tokens';
import type { VoiceTestClient } from '../test/support/voice-client';

export interface Window {
  dynamo: DynamoCounts;
  gateway: GatewayCounts;
  /** Per partition key value (local/request-counter.ts), heartbeats left out. */
  partitions?: PartitionCounts;
}

/** Media node heartbeats land on wall-clock time, not on the window's events: they are projected per node instead. */
export const HEARTBEAT_KEY = 'nodes:PutItem';

function withoutHeartbeats(window: Window): Window {
  const { [HEARTBEAT_KEY]: _heartbeats, ...dynamo } = window.dynamo;
  // The NODE# partitions keep their reads (an Initialize's node record), not the heartbeats' writes.
  const partitions = Object.fromEntries(
    Object.entries(window.partitions ?? {}).map(([key, c]) => [
      key,
      key.startsWith('nodes:NODE#') ? { ...c, requests: c.readUnits > 0 ? c.requests : 0, writeUnits: 0 } : c,
    ]),
  );
  return { dynamo, gateway: window.gateway, partitions };
}

/**
 * Writes `count` joined sessions (ids `<prefix>-<i>`) as a join leaves them — the connection item exactly as
 * the DynamoDB adapter writes it (state joined, no deadline, the 2-hour expiry) and its member item, 10 per
 * channel — in batches of 25 (seeding is not what is counted).
 */
export async function seedJoined(
  stack: LocalStack,
  options: { prefix: string; count: number; nodeId: string; grpcAddress: string; guild?: string; members?: boolean },
): Promise<void> {
  const db = createDocumentClient({ endpoint: stack.dynamo.endpoint });
  const table = stack.dynamo.tables[STATE_TABLE.envVar]!;
  const now = Date.now();
  const expiresAt = Math.ceil(now / 1000) + DEFAULT_LIMITS.connectionTtlSeconds;
  const guild = options.guild ?? '4242';
  const items: Record<string, unknown>[] = [];
  for (let i = 0; i < options.count; i++) {
    const connectionId = `${options.prefix}-${i}`;
    const userId = String(1_000_000 + i);
    const channelId = `${options.prefix.length}${Math.floor(i / 10)}`;
    items.push(
      connectionItem({
        connectionId,
        userId,
        grants: [`${guild}:${channelId}`],
        variant: 'base64',
        state: 'joined',
        version: 7,
        guildId: guild,
        channelId,
        nodeId: options.nodeId,
        nodeAddress: options.grpcAddress,
        connectedAt: now,
        expiresAt,
      }),
    );
    if (options.members !== false) {
      items.push({
        pk: `CHAN#${guild}:${channelId}`,
        sk: `MEMBER#${connectionId}`,
        connectionId,
        userId,
        variant: 'base64',
        joinedAt: now,
        expiresAt,
      });
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < items.length) {
        let batch: Record<string, unknown>[] = items.slice(next, next + 25);
        next += 25;
        while (batch.length > 0) {
          const { UnprocessedItems } = await db.send(
            new BatchWriteCommand({ RequestItems: { [table]: batch.map((Item) => ({ PutRequest: { Item } })) } }),
          );
          batch = (UnprocessedItems?.[table] ?? []).map((r) => r.PutRequest!.Item!);
        }
      }
    }),
  );
  db.destroy();
}

/** Runs the reaper `sweeps` times (one sweep per invocation, REAPER_WINDOW_MS=1) and counts what they asked for. */
export async function countIdleSweeps(stack: LocalStack, counter: RequestCounter, sweeps: number): Promise<Window> {
  const previous = process.env.REAPER_WINDOW_MS;
  process.env.REAPER_WINDOW_MS = '1';
  try {
    await stack.gateway.idle();
    const before = counter.snapshot();
    for (let i = 0; i < sweeps; i++) await stack.runReaper();
    return withoutHeartbeats(counter.since(before));
  } finally {
    if (previous === undefined) delete process.env.REAPER_WINDOW_MS;
    else process.env.REAPER_WINDOW_MS = previous;
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A channel of `size`: size − 1 members join, then the counted join of the last one (until every member has
 * its UserJoined, every new consumer is resumed — size − 1 ResumeConsumer by the joiner, one by each member —
 * and no handler runs), then its counted leave (a normal close: $disconnect, UserLeft to all). With `features`
 * every client negotiates them (`+ext.v1`, Hello → Welcome, counted); with consumers.v1 nobody sends ResumeConsumer.
 */
export async function countJoinAndLeave(
  stack: LocalStack,
  counter: RequestCounter,
  options: { size: number; guild: bigint; channel: bigint; features?: string[] },
): Promise<{ join: Window; leave: Window }> {
  const { size, guild, channel, features } = options;
  const consumersResumed = features?.includes(FEATURE.consumers) ?? false;
  const members: VoiceTestClient[] = [];
  const join = async (user: bigint) =>
    // 30 s per step: counts, not times — joins of ten at once on a loaded shared machine may take a while.
    (
      await joinedClient(
        { wsUrl: stack.wsUrl, token: devToken(user, guild, [channel]), ...(features ? { features } : {}) },
        guild,
        channel,
        30_000,
      )
    ).client;
  try {
    for (let i = 1; i < size; i += 10) {
      members.push(
        ...(await Promise.all(Array.from({ length: Math.min(10, size - i) }, (_, k) => join(BigInt(i + k))))),
      );
    }
    const last = BigInt(size);
    // Every member knows every other one (JoinedChannel's list + UserJoined) before the counted join.
    const knows = (m: VoiceTestClient) =>
      (m.all('joinedChannel')[0]?.otherUsers.length ?? 0) + m.all('userJoined').length;
    await until(() => members.every((m) => knows(m) === size - 2), 'the members to settle');
    await stack.gateway.idle();
    const beforeJoin = counter.snapshot();
    const joiner = await join(last);
    await until(
      () => members.every((m) => m.all('userJoined').some((u) => u.data?.userId === last)),
      'every UserJoined',
    );
    // As a real client does: the joiner resumes the consumer of every member, each member the joiner's
    // (consumers.v1: nothing to resume, they were created resumed).
    const resume = (client: VoiceTestClient, consumerId: string) =>
      client.send({ $case: 'resumeConsumer', value: { consumerId } });
    if (!consumersResumed) {
      for (const other of joiner.all('joinedChannel')[0]?.otherUsers ?? []) resume(joiner, other.consumerId);
      for (const m of members) resume(m, m.all('userJoined').find((u) => u.data?.userId === last)!.data!.consumerId);
    }
    // (Hello,) Initialize, Prepare, Join by the joiner, then the resumes: all must have reached the gateway.
    const expected = (features ? 1 : 0) + 3 + (consumersResumed ? 0 : 2 * (size - 1));
    await until(
      () => counter.gateway.default - beforeJoin.gateway.default >= expected,
      "the join's messages to arrive",
    );
    await stack.gateway.idle();
    const failed = [joiner, ...members].flatMap((c) => c.errors());
    if (failed.length > 0)
      throw new Error(`server errors during the counted join: ${JSON.stringify(failed.slice(0, 3))}`);
    const joinWindow = withoutHeartbeats(counter.since(beforeJoin));
    const beforeLeave = counter.snapshot();
    joiner.close();
    await until(() => members.every((m) => m.all('userLeft').some((u) => u.userId === last)), 'every UserLeft');
    await joiner.waitClosed(10_000);
    await stack.gateway.idle();
    const leaveWindow = withoutHeartbeats(counter.since(beforeLeave));
    return { join: joinWindow, leave: leaveWindow };
  } finally {
    for (const m of members) m.close();
    await until(() => members.every((m) => m.closed !== undefined), 'members closed', 30_000).catch(() => undefined);
    await stack.gateway.idle();
  }
}
