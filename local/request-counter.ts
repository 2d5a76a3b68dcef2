// Counting hooks for the scale benchmark (bench/scale.ts) and its CI form: what each part of the service
// asks of the local DynamoDB and the local API Gateway, as counts (hardware-independent). Counters are
// plain objects; `snapshot()`/`diff()` give the requests made between two points.

export interface DynamoOpCount {
  requests: number;
  /** Read/write capacity units DynamoDB reports (dynalite: same 4 KB / 1 KB rounding as DynamoDB). */
  readUnits: number;
  writeUnits: number;
  /**
   * Write units of the table's sparse indexes, estimated (dynalite bills none): per AWS's rule 1 per index
   * insert or delete and 2 per change of an index key; connection items are in DUE and, once placed, BY_NODE.
   */
  indexWriteUnits: number;
}

/** Keyed "<table>:<Operation>[:<Index>]", table as its logical stem (state, nodes). */
export type DynamoCounts = Record<string, DynamoOpCount>;

export interface GatewayCounts {
  /** Client frames (every one is a billed message on AWS), of which keepalives. */
  messagesIn: number;
  keepalives: number;
  /** @connections calls by method, and the 410 answers among them. */
  post: number;
  get: number;
  delete: number;
  gone: number;
  /** Lambda invocations by route (the reaper is counted by the stack's schedule). */
  connect: number;
  default: number;
  disconnect: number;
  reaper: number;
}

export function emptyGatewayCounts(): GatewayCounts {
  return {
    messagesIn: 0,
    keepalives: 0,
    post: 0,
    get: 0,
    delete: 0,
    gone: 0,
    connect: 0,
    default: 0,
    disconnect: 0,
    reaper: 0,
  };
}

/**
 * Requests and units per partition key value ("<table>:<pk>", e.g. "state:CHAN#31:10", "nodes:PLACE#0"): single-item
 * operations and Queries only (a batch spreads over many partitions). What bench:scale's hottest-partition figure
 * is projected from.
 */
export type PartitionCounts = Record<string, { requests: number; readUnits: number; writeUnits: number }>;

export class RequestCounter {
  readonly dynamo: DynamoCounts = {};
  readonly gateway: GatewayCounts = emptyGatewayCounts();
  readonly partitions: PartitionCounts = {};

  countPartition(key: string, units: { read?: number; write?: number }): void {
    const entry = (this.partitions[key] ??= { requests: 0, readUnits: 0, writeUnits: 0 });
    entry.requests++;
    entry.readUnits += units.read ?? 0;
    entry.writeUnits += units.write ?? 0;
  }

  countDynamo(key: string, units: { read?: number; write?: number; indexWrite?: number }): void {
    const entry = (this.dynamo[key] ??= { requests: 0, readUnits: 0, writeUnits: 0, indexWriteUnits: 0 });
    entry.requests++;
    entry.readUnits += units.read ?? 0;
    entry.writeUnits += units.write ?? 0;
    entry.indexWriteUnits += units.indexWrite ?? 0;
  }

  countGateway(key: keyof GatewayCounts): void {
    this.gateway[key]++;
  }

  snapshot(): { dynamo: DynamoCounts; gateway: GatewayCounts; partitions: PartitionCounts } {
    return structuredClone({ dynamo: this.dynamo, gateway: this.gateway, partitions: this.partitions });
  }

  /** What was counted since `before` (a snapshot). */
  since(before: ReturnType<RequestCounter['snapshot']>): {
    dynamo: DynamoCounts;
    gateway: GatewayCounts;
    partitions: PartitionCounts;
  } {
    const now = this.snapshot();
    const dynamo: DynamoCounts = {};
    for (const [key, c] of Object.entries(now.dynamo)) {
      const b = before.dynamo[key] ?? { requests: 0, readUnits: 0, writeUnits: 0, indexWriteUnits: 0 };
      if (c.requests === b.requests) continue;
      dynamo[key] = {
        requests: c.requests - b.requests,
        readUnits: c.readUnits - b.readUnits,
        writeUnits: c.writeUnits - b.writeUnits,
        indexWriteUnits: c.indexWriteUnits - b.indexWriteUnits,
      };
    }
    const gateway = emptyGatewayCounts();
    for (const key of Object.keys(gateway) as (keyof GatewayCounts)[])
      gateway[key] = now.gateway[key] - before.gateway[key];
    const partitions: PartitionCounts = {};
    for (const [key, c] of Object.entries(now.partitions)) {
      const b = before.partitions?.[key] ?? { requests: 0, readUnits: 0, writeUnits: 0 };
      if (c.requests === b.requests) continue;
      partitions[key] = {
        requests: c.requests - b.requests,
        readUnits: c.readUnits - b.readUnits,
        writeUnits: c.writeUnits - b.writeUnits,
      };
    }
    return { dynamo, gateway, partitions };
  }
}

/** Totals over a DynamoCounts. */
export function dynamoTotals(counts: DynamoCounts): DynamoOpCount {
  const total = { requests: 0, readUnits: 0, writeUnits: 0, indexWriteUnits: 0 };
  for (const c of Object.values(counts)) {
    total.requests += c.requests;
    total.readUnits += c.readUnits;
    total.writeUnits += c.writeUnits;
    total.indexWriteUnits += c.indexWriteUnits;
  }
  return total;
}
