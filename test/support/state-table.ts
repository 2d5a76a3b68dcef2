// Test and benchmark helper: every connection record of a local stack's state table, by a Scan. Only
// tests and benchmarks read the whole table; the service itself never does (no periodic path scans).
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRecord } from '../../functions/voice/ports';

export async function allConnectionRecords(db: DynamoDBDocumentClient, table: string): Promise<ConnectionRecord[]> {
  const records: ConnectionRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: table,
        ExclusiveStartKey: startKey,
        ConsistentRead: true,
        FilterExpression: 'sk = :conn',
        ExpressionAttributeValues: { ':conn': 'CONN' },
      }),
    );
    for (const item of page.Items ?? []) {
      const { pk: _pk, sk: _sk, due: _due, dueAt: _dueAt, onNode: _onNode, ...record } = item;
      records.push(record as ConnectionRecord);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return records;
}
