// The @connections management API, driven by the real @aws-sdk/client-apigatewaymanagementapi client.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { startLocalGateway, type LocalGateway } from '../../local/gateway';
import { closed, nextMessage, openWs, quiet, recordingHandlers, waitUntil, type Recorded } from './helpers';

describe('@connections via the AWS SDK', () => {
  let gateway: LocalGateway;
  let recorded: Recorded;
  let client: ApiGatewayManagementApiClient;

  before(async () => {
    const rec = recordingHandlers();
    recorded = rec.recorded;
    gateway = await startLocalGateway({ ...quiet, handlers: rec.handlers });
    client = new ApiGatewayManagementApiClient({
      endpoint: gateway.connectionsEndpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  after(async () => {
    client.destroy();
    await gateway.close();
  });

  const lastConnectionId = () => recorded.connect.at(-1).requestContext.connectionId as string;

  it('the endpoint includes the stage', () => {
    assert.equal(gateway.connectionsEndpoint, `${gateway.url}/local`);
  });

  it('POST sends binary frames to hrpc1 connections', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const message = nextMessage(ws);
    await client.send(
      new PostToConnectionCommand({ ConnectionId: lastConnectionId(), Data: new Uint8Array([0x00, 0x1a, 0x00]) }),
    );
    const { data, isBinary } = await message;
    assert.equal(isBinary, true);
    assert.deepEqual([...data], [0x00, 0x1a, 0x00]);
    ws.close();
    await closed(ws);
  });

  it('POST sends text frames to hrpc1.base64 connections', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1.base64']);
    const message = nextMessage(ws);
    await client.send(new PostToConnectionCommand({ ConnectionId: lastConnectionId(), Data: Buffer.from('ABoA') }));
    const { data, isBinary } = await message;
    assert.equal(isBinary, false);
    assert.equal(data.toString(), 'ABoA');
    ws.close();
    await closed(ws);
  });

  it('GET returns ConnectedAt, Identity and LastActiveAt', async () => {
    const before = Date.now();
    const ws = await openWs(gateway.wsUrl, ['hrpc1.base64'], { headers: { 'User-Agent': 'voice-test/1.0' } });
    const id = lastConnectionId();
    ws.send('AA==');
    await waitUntil(() => recorded.default.some((e) => e.requestContext.connectionId === id));
    const info = await client.send(new GetConnectionCommand({ ConnectionId: id }));
    assert.ok(info.ConnectedAt instanceof Date);
    assert.ok(info.ConnectedAt.getTime() >= before - 1_000 && info.ConnectedAt.getTime() <= Date.now());
    assert.ok(info.LastActiveAt instanceof Date);
    assert.ok(info.LastActiveAt.getTime() >= info.ConnectedAt.getTime());
    assert.deepEqual(info.Identity, { SourceIp: '127.0.0.1', UserAgent: 'voice-test/1.0' });
    ws.close();
    await closed(ws);
  });

  it('DELETE closes the connection (1000) and $disconnect follows; the id is then gone (410)', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const id = lastConnectionId();
    const closing = closed(ws);
    await client.send(new DeleteConnectionCommand({ ConnectionId: id }));
    assert.equal((await closing).code, 1000);
    await waitUntil(() => recorded.disconnect.some((e) => e.requestContext.connectionId === id), 2_000, '$disconnect');
    await assert.rejects(client.send(new GetConnectionCommand({ ConnectionId: id })), GoneException);
    await assert.rejects(client.send(new DeleteConnectionCommand({ ConnectionId: id })), GoneException);
  });

  it('POST to an unknown or closed connection is a GoneException (410)', async () => {
    const error = await client
      .send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: Buffer.from('x') }))
      .then(
        () => assert.fail('expected GoneException'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof GoneException, String(error));
    assert.equal(error.$metadata.httpStatusCode, 410);

    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const id = lastConnectionId();
    ws.close();
    await closed(ws);
    await waitUntil(() => !gateway.connectionIds().includes(id));
    await assert.rejects(
      client.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('x') })),
      GoneException,
    );
  });

  it('POST over 128 KB is a PayloadTooLargeException (413); 128 KB exactly is delivered', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const id = lastConnectionId();
    const error = await client
      .send(new PostToConnectionCommand({ ConnectionId: id, Data: new Uint8Array(128 * 1024 + 1) }))
      .then(
        () => assert.fail('expected PayloadTooLargeException'),
        (e: unknown) => e,
      );
    assert.ok(error instanceof PayloadTooLargeException, String(error));
    assert.equal(error.$metadata.httpStatusCode, 413);
    const message = nextMessage(ws);
    await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: new Uint8Array(128 * 1024).fill(7) }));
    assert.equal((await message).data.length, 128 * 1024);
    ws.close();
    await closed(ws);
  });

  it('refuses unsigned requests (403), as the SigV4-protected API does', async () => {
    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const id = lastConnectionId();
    const response = await fetch(`${gateway.connectionsEndpoint}/@connections/${encodeURIComponent(id)}`, {
      method: 'POST',
      body: 'x',
    });
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('x-amzn-errortype'), 'ForbiddenException');
    ws.close();
    await closed(ws);
  });

  it('accepts the endpoint without a stage too', async () => {
    const stageless = new ApiGatewayManagementApiClient({
      endpoint: gateway.url,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      const ws = await openWs(gateway.wsUrl, ['hrpc1.base64']);
      const message = nextMessage(ws);
      await stageless.send(new PostToConnectionCommand({ ConnectionId: lastConnectionId(), Data: Buffer.from('hi') }));
      assert.equal((await message).data.toString(), 'hi');
      ws.close();
      await closed(ws);
    } finally {
      stageless.destroy();
    }
  });
});
