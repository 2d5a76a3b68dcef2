// $disconnect is best effort on AWS; dropDisconnectEvents loses it on purpose so ghost cleanup can be tested.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startLocalGateway } from '../../local/gateway';
import { closed, openWs, quiet, recordingHandlers, waitUntil } from './helpers';

describe('dropDisconnectEvents', () => {
  it('loses $disconnect while set, and the connection is still gone from @connections', async () => {
    const { handlers, recorded } = recordingHandlers();
    const gateway = await startLocalGateway({ ...quiet, handlers });
    try {
      gateway.dropDisconnectEvents = true;
      const ghost = await openWs(gateway.wsUrl, ['hrpc1']);
      const ghostId = recorded.connect.at(-1).requestContext.connectionId;
      assert.deepEqual(gateway.connectionIds(), [ghostId]);
      ghost.terminate(); // abrupt: no close frame
      await waitUntil(() => gateway.connectionIds().length === 0, 2_000, 'connection removed');
      await gateway.idle();
      assert.equal(recorded.disconnect.length, 0);

      gateway.dropDisconnectEvents = false;
      const normal = await openWs(gateway.wsUrl, ['hrpc1']);
      const normalId = recorded.connect.at(-1).requestContext.connectionId;
      normal.terminate();
      await waitUntil(() => recorded.disconnect.length === 1, 2_000, '$disconnect');
      assert.equal(recorded.disconnect[0].requestContext.connectionId, normalId);
      assert.equal(recorded.disconnect[0].requestContext.disconnectStatusCode, 1006);
    } finally {
      await gateway.close();
    }
  });

  it('close() closes open connections with 1001 and waits for their $disconnect', async () => {
    let finished = false;
    const rec = recordingHandlers();
    const gateway = await startLocalGateway({
      ...quiet,
      handlers: {
        ...rec.handlers,
        disconnect: async (event, context, cb) => {
          await new Promise((r) => setTimeout(r, 100));
          finished = true;
          return rec.handlers.disconnect(event, context, cb);
        },
      },
    });
    const ws = await openWs(gateway.wsUrl, ['hrpc1']);
    const closing = closed(ws);
    await gateway.close();
    assert.equal((await closing).code, 1001);
    assert.equal(finished, true);
    assert.equal(rec.recorded.disconnect[0].requestContext.disconnectStatusCode, 1001);
  });
});
