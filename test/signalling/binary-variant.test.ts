// The stock hRPC binary variant (hrpc1, 0x00/0x01 frames) through the non-strict local front door.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startLocalStack } from '../../local/stack';
import { joinedClient } from '../support/stack-flow';
import { devToken } from '../support/tokens';

const GUILD = 2n ** 63n + 11n;

test('a binary hrpc1 client runs the whole flow with 0x00/0x01 binary frames', async () => {
  const binary = await startLocalStack({ port: 0, strict: false });
  try {
    const token = devToken(30n, GUILD, [105n]);
    const { client, joined } = await joinedClient({ wsUrl: binary.wsUrl, token, variant: 'binary' }, GUILD, 105n);
    assert.equal(client.protocol, 'hrpc1');
    assert.deepEqual(joined.otherUsers, []);
    client.close();
  } finally {
    await binary.close();
  }
});
