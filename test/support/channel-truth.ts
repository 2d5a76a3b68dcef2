// Test helper: the server's side of a local stack's voice channels, read from where the service keeps it — the
// connection records and each channel's delivery cursor (`FEED`) in the state table, and the head of the room's
// history on its media node. A channel is *quiet* when nothing is left to tell its members: no stream is in the
// middle of a step (`joining`, `closing`, …), nobody holds its feed, and the feed has delivered the history up to
// its head. Only once a channel is quiet must its members' views equal its membership
// (docs/protocol.md's view invariant: "once messages stop arriving").
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { STATE_TABLE } from '../../data/tables';
import { GrpcMediaClient } from '../../functions/adapters/grpc-media-client';
import type { ConnectionState } from '../../functions/voice/ports';
import { stateRule } from '../../functions/voice/protocol-table';
import type { LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { allConnectionRecords } from './state-table';

export interface ChannelSide {
  /** "<guildId>:<channelId>" */
  channelKey: string;
  /** Why the channel is not quiet yet (undefined: quiet). */
  busy?: string;
  /** The users whose streams are `joined` in it, sorted. */
  members: string[];
  /** Every stream of the channel the state table holds (user and state). */
  streams: { userId: string; state: ConnectionState }[];
  /** Changes whenever the channel's history or its streams' states change. */
  signature: string;
}

export type ChannelTruth = (channelKeys: readonly string[]) => Promise<ChannelSide[]>;

/** Reads the server's side of channels of a local stack (one Scan of the state table, one History call per room). */
export function channelTruth(stack: LocalStack): { read: ChannelTruth; close(): void } {
  const db = createDocumentClient({ endpoint: stack.dynamo.endpoint });
  const table = stack.dynamo.tables[STATE_TABLE.envVar]!;
  const media = new GrpcMediaClient({ secret: stack.env.MEDIA_NODE_SECRET, retries: 0 });
  const read: ChannelTruth = async (channelKeys) => {
    const now = Date.now();
    const records = (await allConnectionRecords(db, table)).filter((r) => r.expiresAt * 1000 > now);
    return Promise.all(
      channelKeys.map(async (channelKey): Promise<ChannelSide> => {
        const streams = records.filter((r) => `${r.guildId}:${r.channelId}` === channelKey);
        const members = streams
          .filter((r) => r.state === 'joined')
          .map((r) => r.userId)
          .sort();
        const states = streams.map((r) => `${r.connectionId}=${r.state}@${r.version}`).sort();
        // A state whose turn is the server's: an invocation is working on it, so its channel may still change.
        const moving = streams.find((r) => stateRule(r.state).turn === 'server');
        const { Item: feed } = await db.send(
          new GetCommand({ TableName: table, Key: { pk: `CHAN#${channelKey}`, sk: 'FEED' }, ConsistentRead: true }),
        );
        const { Item: placement } = await db.send(
          new GetCommand({
            TableName: table,
            Key: { pk: `CHAN#${channelKey}`, sk: 'PLACEMENT' },
            ConsistentRead: true,
          }),
        );
        const delivered = (feed?.delivered as number | undefined) ?? 0;
        let history = 'no room';
        let busy = moving ? `stream ${moving.state}` : feed?.owner ? 'feed held' : undefined;
        if (placement) {
          const node = { nodeId: placement.nodeId as string, grpcAddress: placement.grpcAddress as string };
          try {
            const room = await media.history(node, { roomId: channelKey, after: 0xffff_ffff });
            if (room.exists) {
              history = `${room.roomInstance}#${room.head}`;
              const caughtUp = room.head === 0 || (feed?.roomInstance === room.roomInstance && delivered >= room.head);
              if (!caughtUp) busy ??= `history delivered to ${delivered} of ${room.head}`;
            }
          } catch (err) {
            busy ??= `media node not answering (${(err as Error).message})`;
          }
        }
        const kept = streams.map((r) => ({ userId: r.userId, state: r.state }));
        return { channelKey, busy, members, streams: kept, signature: `${history} ${delivered} ${states.join(',')}` };
      }),
    );
  };
  return { read, close: () => media.close() };
}
