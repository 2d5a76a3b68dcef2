// Media-node trust through the real local stack: a loss report ends a session only when the
// node that wrote it (the registry partition it is in: IAM binds it to the writer on AWS) hosts that session.
// A report forged as if by another node ends nothing; the same report written by the hosting node does.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NODES_TABLE, STATE_TABLE } from '../../data/tables';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { createDocumentClient } from '../../routing/dynamo';
import { NodeRegistry } from '../../routing/node-registry';
import { joinedClient } from '../support/stack-flow';
import { allConnectionRecords } from '../support/state-table';
import { devToken } from '../support/tokens';
import type { VoiceTestClient } from '../support/voice-client';

const GUILD = 78n;
let stack: LocalStack;
const open: VoiceTestClient[] = [];

before(async () => {
  stack = await startLocalStack({ port: 0, reaperIntervalMs: 60_000, mediaNode: { forwardLogs: false } });
});
after(async () => {
  for (const c of open) c.terminate();
  await stack?.close();
});

test("a forged LOST item (written as if by another node) ends nothing; the hosting node's own report does", async () => {
  const db = createDocumentClient({ endpoint: stack.dynamo.endpoint });
  const registry = new NodeRegistry(db, stack.dynamo.tables[NODES_TABLE.envVar]!);
  const options = (user: bigint) => ({ wsUrl: stack.wsUrl, token: devToken(user, GUILD, [1n]) });
  const a = await joinedClient(options(1n), GUILD, 1n);
  open.push(a.client);
  const b = await joinedClient(options(2n), GUILD, 1n);
  open.push(b.client);
  assert.equal((await a.client.expect('userJoined')).data?.userId, 2n);

  const victim = (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).find(
    (r) => r.userId === '2' && r.state === 'joined',
  )!;
  assert.ok(victim?.nodeId, 'B is joined on a media node');
  const report = { roomId: `${GUILD}:1`, sessionId: victim.connectionId, userId: '2', reason: 'ice-failed' };

  // Another node (any id but the host's) reports B lost — even claiming the host's id inside the item.
  await registry.recordLostSession({ ...report, nodeId: 'some-other-node' });
  assert.equal((await registry.listLostSessions()).length, 1, 'the forged report is in the registry');
  await stack.runReaper();
  assert.deepEqual(await registry.listLostSessions(), [], 'the sweep dropped it');
  const still = (await allConnectionRecords(db, stack.dynamo.tables[STATE_TABLE.envVar]!)).find(
    (r) => r.connectionId === victim.connectionId,
  );
  assert.equal(still?.state, 'joined', 'B is still joined');
  assert.ok(
    !a.client.frames.some((f) => f.kind === 'response' && f.response.message?.$case === 'userLeft'),
    'nobody was told B left',
  );

  // The node hosting B reports it: B's session ends (proves the forged one took the same path and was refused).
  await registry.recordLostSession({ ...report, nodeId: victim.nodeId! });
  await stack.runReaper();
  assert.equal((await a.client.expect('userLeft', 15_000)).userId, 2n);
});
