// dynalite on an ephemeral port with the tables of data/tables.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DescribeTableCommand, DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { NODES_TABLE, STATE_TABLE, createTableInput } from '../../data/tables';
import { LOCAL_AWS_CREDENTIALS, startLocalDynamo } from '../../local/dynamo';

describe('local dynamo', () => {
  it('creates the shared tables and serves strongly consistent queries', async () => {
    const dynamo = await startLocalDynamo();
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: LOCAL_AWS_CREDENTIALS,
    });
    try {
      assert.match(dynamo.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(dynamo.tables, {
        [STATE_TABLE.envVar]: 'harmony-voice-local-state',
        [NODES_TABLE.envVar]: 'harmony-voice-local-nodes',
      });
      for (const def of [STATE_TABLE, NODES_TABLE]) {
        const name = dynamo.tables[def.envVar]!;
        const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
        const expected = createTableInput(def, name);
        assert.equal(Table?.TableStatus, 'ACTIVE');
        assert.deepEqual(Table?.KeySchema, expected.KeySchema);
        assert.deepEqual(
          [...(Table?.AttributeDefinitions ?? [])].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
          [...expected.AttributeDefinitions!].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
        );
        assert.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
      }
      const table = dynamo.tables[STATE_TABLE.envVar]!;
      await client.send(
        new PutItemCommand({ TableName: table, Item: { pk: { S: 'CHAN#1:7' }, sk: { S: 'MEMBER#a' } } }),
      );
      const { Items } = await client.send(
        new QueryCommand({
          TableName: table,
          ConsistentRead: true,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'CHAN#1:7' } },
        }),
      );
      assert.equal(Items?.length, 1);
    } finally {
      client.destroy();
      await dynamo.close();
    }
  });

  it('two servers run side by side on their own ports', async () => {
    const [a, b] = await Promise.all([startLocalDynamo(), startLocalDynamo()]);
    try {
      assert.notEqual(a.port, b.port);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('local dynamo shutdown', () => {
  it('lets requests in flight finish instead of crashing the process with "Database is closed"', async () => {
    const dynamo = await startLocalDynamo();
    const client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: LOCAL_AWS_CREDENTIALS,
    });
    const table = dynamo.tables[STATE_TABLE.envVar]!;
    const crashes: unknown[] = [];
    const onUncaught = (err: unknown) => crashes.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const requests = Array.from({ length: 200 }, (_, i) =>
        client
          .send(
            new QueryCommand({
              TableName: table,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': { S: `p${i}` } },
            }),
          )
          .then(
            () => 'ok',
            () => 'failed',
          ),
      );
      await Promise.race(requests); // connections are up and the rest are being served
      await dynamo.close();
      const outcomes = await Promise.all(requests);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(crashes, [], 'dynalite threw out of a request cut off by close()');
      assert.ok(outcomes.filter((o) => o === 'ok').length > 1, 'requests already being served completed');
    } finally {
      process.off('uncaughtException', onUncaught);
      client.destroy();
    }
  });
});
