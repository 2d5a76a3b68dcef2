// Shared by the media node tests: a node on ephemeral ports, an authenticated client,
// hand-built client parameters that mediasoup accepts, and a local DynamoDB.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../routing/dynamo';
import type { ServiceError } from '@grpc/grpc-js';
import { NODES_TABLE } from '../../data/tables';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION, startLocalDynamo as startProjectDynamo } from '../../local/dynamo';
import { connectMediaNode, type MediaNodeApi } from '../../media-node/api/client';
import { parseMediaError, type MediaErrorReason } from '../../media-node/api/errors';
import { silentLogger } from '../../lib/log';
import { startMediaNode, type MediaNodeHandle, type MediaNodeOptions } from '../../media-node/src/node/media-node';
import assert from 'node:assert/strict';
import { clientRtpCapabilities, dtlsParameters, producerRtpParameters } from '../support/client-params';

export { clientRtpCapabilities, dtlsParameters, producerRtpParameters };

export const SECRET = 'test-secret-' + randomBytes(8).toString('hex');

export async function startTestNode(
  options: MediaNodeOptions = {},
): Promise<{ node: MediaNodeHandle; api: MediaNodeApi; stop: () => Promise<void> }> {
  const node = await startMediaNode({
    grpcPort: 0,
    rtcPortBase: 0,
    metricsPort: 0,
    workers: 1,
    // Hand-built clients here never start ICE: the connect bound is off unless a test asks for it.
    iceConnectTimeoutMs: 0,
    secret: SECRET,
    logger: silentLogger,
    ...options,
  });
  const api = connectMediaNode(node.grpcAddress, { secret: SECRET });
  return {
    node,
    api,
    stop: async () => {
      api.close();
      await node.close();
    },
  };
}

/** OpenRoom (idempotent) + CreateTransports + Join for one session. */
export async function joinSession(
  api: MediaNodeApi,
  roomId: string,
  sessionId: string,
  userId: string,
  rtpCapabilities = clientRtpCapabilities(),
) {
  await api.openRoom({ roomId });
  const transports = await api.createTransports({ roomId, sessionId, userId, rtpCapabilities });
  const joined = await api.join({
    roomId,
    sessionId,
    rtpParameters: producerRtpParameters(),
    producerDtlsParameters: dtlsParameters(),
    consumerDtlsParameters: dtlsParameters(),
  });
  return { transports, joined };
}

/** Asserts a call failed with this gRPC status code and reason; returns the message. */
export async function rejectsWith(promise: Promise<unknown>, code: number, reason: MediaErrorReason): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const failure = error as ServiceError;
    const parsed = parseMediaError(failure.details);
    assert.equal(parsed.reason, reason, `expected reason ${reason}, got details ${JSON.stringify(failure.details)}`);
    assert.equal(failure.code, code, `expected status ${code}, got ${failure.code} (${failure.details})`);
    return parsed.message;
  }
  assert.fail(`expected a ${reason} failure, but the call succeeded`);
}

/** What mediasoup itself says exists in a room's router. */
export async function routerCounts(node: MediaNodeHandle, roomId: string) {
  const room = node.rooms.find(roomId);
  assert.ok(room, `room ${roomId} should be open`);
  const dump = await room.router.dump();
  let consumers = 0;
  let producers = 0;
  for (const entry of dump.mapProducerIdConsumerIds) {
    producers++;
    consumers += entry.values.length;
  }
  return { transports: dump.transportIds.length, producers, consumers };
}

export { waitFor } from '../support/wait';

/** The project's local DynamoDB (local/dynamo.ts) with a document client on the registry table. */
export async function startLocalDynamo(): Promise<{
  client: DynamoDBDocumentClient;
  endpoint: string;
  tableName: string;
  stop: () => Promise<void>;
}> {
  const dynamo = await startProjectDynamo();
  const client = createDocumentClient({
    endpoint: dynamo.endpoint,
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
  });
  return {
    client,
    endpoint: dynamo.endpoint,
    tableName: dynamo.tables[NODES_TABLE.envVar]!,
    stop: async () => {
      client.destroy();
      await dynamo.close();
    },
  };
}

/** A UDP socket on an ephemeral loopback port (an RTP sender or sink). */
export async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

/** A 12-byte RTP header plus an 80-byte payload (a 20 ms Opus frame is 40–120 bytes); payload type 100 by default. */
export function rtpPacket(sequence: number, ssrc: number, payloadType = 100): Buffer {
  const packet = Buffer.alloc(92, 0xab);
  packet[0] = 0x80;
  packet[1] = payloadType & 0x7f;
  packet.writeUInt16BE(sequence & 0xffff, 2);
  packet.writeUInt32BE((sequence * 960) >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}
