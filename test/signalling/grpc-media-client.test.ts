// The signalling side's gRPC client: UNAVAILABLE is retried (all media calls are idempotent), other failures
// come back classified by the node's reason, the shared secret is presented, and idle channels are recreated.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Server,
  ServerCredentials,
  status,
  type Metadata,
  type ServerUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { GrpcMediaClient } from '../../functions/adapters/grpc-media-client';
import { MediaError } from '../../functions/voice/ports';
import { MediaNodeService, type OpenRoomRequest, type OpenRoomResponse } from '../../gen/medianode/v1/media_node';

let server: Server;
let address = '';
const seen: { roomId: string; authorization: unknown }[] = [];
let failuresLeft = 0;
let failWith: { code: status; details: string } = { code: status.UNAVAILABLE, details: 'warming up' };

before(async () => {
  server = new Server();
  const notUsed = (_call: unknown, callback: sendUnaryData<never>) => callback({ code: status.UNIMPLEMENTED });
  server.addService(MediaNodeService, {
    openRoom(call: ServerUnaryCall<OpenRoomRequest, OpenRoomResponse>, callback: sendUnaryData<OpenRoomResponse>) {
      seen.push({ roomId: call.request.roomId, authorization: (call.metadata as Metadata).get('authorization')[0] });
      if (failuresLeft-- > 0) return callback(failWith);
      callback(null, { rtpCapabilities: '{"codecs":[]}' });
    },
    createTransports: notUsed,
    join: notUsed,
    resumeConsumer: notUsed,
    leave: notUsed,
    getRoom: notUsed,
    watchSessions: () => undefined,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});
after(() => server.forceShutdown());

const node = () => ({ nodeId: 'n1', grpcAddress: address });

test('UNAVAILABLE is retried, with the secret on every attempt', async () => {
  const client = new GrpcMediaClient({ secret: 's3cret', retries: 2 });
  seen.length = 0;
  failuresLeft = 2;
  failWith = { code: status.UNAVAILABLE, details: 'warming up' };
  assert.deepEqual(await client.openRoom(node(), '1:2', 0), { rtpCapabilities: '{"codecs":[]}' });
  assert.equal(seen.length, 3);
  assert.ok(seen.every((s) => s.authorization === 'Bearer s3cret'));
  client.close();
});

test('retries are bounded; then the failure says the node is unavailable', async () => {
  const client = new GrpcMediaClient({ retries: 1 });
  seen.length = 0;
  failuresLeft = 5;
  await assert.rejects(client.openRoom(node(), '1:2', 0), (err) => err instanceof MediaError && err.unavailable);
  assert.equal(seen.length, 2);
  client.close();
});

test('a draining node is not retried; other reasons are classified and not retried', async () => {
  const client = new GrpcMediaClient({ retries: 3 });
  for (const [failure, reason, unavailable] of [
    [{ code: status.UNAVAILABLE, details: 'draining: node is draining' }, 'draining', true],
    [
      { code: status.INVALID_ARGUMENT, details: 'bad-dtls-parameters: fingerprints missing' },
      'bad-dtls-parameters',
      false,
    ],
  ] as const) {
    seen.length = 0;
    failuresLeft = 1;
    failWith = failure;
    await assert.rejects(
      client.openRoom(node(), '1:2', 0),
      (err) => err instanceof MediaError && err.reason === reason && err.unavailable === unavailable,
    );
    assert.equal(seen.length, 1);
  }
  client.close();
});

test("an idle channel is recreated (a frozen Lambda's channel goes stale), a busy one reused", async () => {
  const client = new GrpcMediaClient({ idleMs: 50 });
  failuresLeft = 0;
  await client.openRoom(node(), '1:2', 0);
  const first = (client as unknown as { channels: Map<string, { api: unknown }> }).channels.get(address)!.api;
  await client.openRoom(node(), '1:2', 0);
  assert.equal(
    (client as unknown as { channels: Map<string, { api: unknown }> }).channels.get(address)!.api,
    first,
    'reused while busy',
  );
  await new Promise((r) => setTimeout(r, 80));
  await client.openRoom(node(), '1:2', 0);
  assert.notEqual(
    (client as unknown as { channels: Map<string, { api: unknown }> }).channels.get(address)!.api,
    first,
    'recreated after idle',
  );
  client.close();
});
