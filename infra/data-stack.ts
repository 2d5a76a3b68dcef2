// State: the DynamoDB tables, built from the one shared definition (data/tables.ts), and the two shared
// secrets of the media nodes' gRPC APIs (signalling→node, node↔node).
//
// Removal policy (context `dataRemoval`, default destroy): both tables hold soft state only —
// connections, channel membership and placements that die with their WebSocket connections, and
// node heartbeats that expire within seconds. Nothing in them outlives a call, so keeping orphaned
// tables (and their PITR storage) after `cdk destroy` buys nothing; `-c dataRemoval=retain` keeps
// them for deployments that want the history. PITR is on anyway: it protects against a bad deploy
// or script wiping live state mid-call, at a cost proportional to the (small) table size.
import { Stack, type StackProps, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { NODES_TABLE, STATE_TABLE, type TableDefinition } from '../data/tables';
import type { InfraConfig } from './config';

export interface DataStackProps extends StackProps {
  readonly config: InfraConfig;
}

export class DataStack extends Stack {
  readonly stateTable: dynamodb.Table;
  readonly nodesTable: dynamodb.Table;
  readonly mediaNodeSecret: secretsmanager.Secret;
  /** The node↔node span API's own secret: only media nodes read it (docs/deploy-aws.md "Media node secrets"). */
  readonly mediaSpanSecret: secretsmanager.Secret;
  /** The TURN REST API secret shared by `$default` (issuing relay.v1 credentials) and the relays (config relays). */
  readonly relaySecret?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const removalPolicy = props.config.dataRemoval === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // An upgrade from before the indexes creates them one deploy at a time (config stateTableIndexes).
    this.stateTable = tableFromDefinition(
      this,
      {
        ...STATE_TABLE,
        indexes: STATE_TABLE.indexes?.filter((i) => props.config.stateTableIndexes.includes(i.indexName)),
      },
      removalPolicy,
    );
    this.nodesTable = tableFromDefinition(this, NODES_TABLE, removalPolicy);

    this.mediaNodeSecret = new secretsmanager.Secret(this, 'MediaNodeSecret', {
      description:
        'Shared secret signalling functions present to media nodes (gRPC metadata "authorization: Bearer ...")',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.mediaSpanSecret = new secretsmanager.Secret(this, 'MediaSpanSecret', {
      description:
        'Shared secret media nodes present to each other (node-to-node MediaNodeSpan API); never given to the functions',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    if (props.config.relays) {
      this.relaySecret = new secretsmanager.Secret(this, 'RelaySecret', {
        description:
          'TURN REST API shared secret: $default issues short-lived relay credentials with it, coturn checks them',
        generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(this.relaySecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotated by hand (docs/reachability.md): new value, then an instance refresh of the relays; $default re-reads it every 5 minutes.',
      });
    }
    for (const secret of [this.mediaNodeSecret, this.mediaSpanSecret]) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotated by the two-step procedure in docs/deploy-aws.md "Media node secrets" (AWSPENDING accepted first, then promoted); no rotation Lambda.',
      });
    }
  }
}

function tableFromDefinition(scope: Construct, def: TableDefinition, removalPolicy: RemovalPolicy): dynamodb.Table {
  const table = new dynamodb.Table(scope, def.logicalId, {
    partitionKey: { name: def.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: def.sortKey, type: dynamodb.AttributeType.STRING },
    timeToLiveAttribute: def.ttlAttribute,
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy,
  });
  // The sparse indexes of data/tables.ts (state: DUE by shard and time, BY_NODE; registry: LISTING).
  const attributeType = (t: 'S' | 'N') => (t === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING);
  for (const index of def.indexes ?? []) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: { name: index.partitionKey.name, type: attributeType(index.partitionKey.type) },
      ...(index.sortKey && { sortKey: { name: index.sortKey.name, type: attributeType(index.sortKey.type) } }),
      projectionType: index.projection === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
    });
  }
  return table;
}
