// Signalling: the API Gateway WebSocket API, its three routes' Lambda functions, the scheduled reaper,
// and exactly the permissions each function uses.
//
// Authentication happens in the $connect function: it verifies the session token (Authorization header,
// or the last Sec-WebSocket-Protocol value for browsers) against the issuer's JWKS URL, or the public key
// (PEM or JWKS) kept in SSM, and answers 401 before the upgrade. A key in SSM is read by CloudFormation at
// deploy time (a missing parameter fails the deploy, not the first user), so no function may read any
// parameter. API Gateway only runs authorizers on $connect anyway, and the
// function must also choose the subprotocol, so a separate authorizer would verify the token twice.
import { Duration, Stack, type StackProps, CfnOutput, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { arnForNag } from './nag';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaIntegration, WebSocketMockIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { frontDoorOriginSecret } from './signalling/front-door';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import { PLACE_PREFIX } from '../routing/node-registry';
import { BY_NODE_INDEX, DUE_INDEX, LISTING_INDEX, NODES_TABLE, STATE_TABLE, SWEEP_SHARDS } from '../data/tables';
import { shardGroup } from '../functions/voice/sweep';
import { userLimitsEnvironment } from '../functions/handlers/user-limits-env';
import { KEEPALIVE_FRAME } from '../protocol/hrpc';
import { relayUrls, type InfraConfig } from './config';
import { repoPath } from './paths';
import { HandlerFunction } from './signalling/handler-function';
import { SignallingAlarms } from './signalling/alarms';
import { setRouteSettings } from './signalling/stage-routes';
import { refuseOversizedEnvironment } from './signalling/env-budget';

/** @connections methods the functions use (functions/adapters/apigw-gateway.ts; test/infra checks the two agree). */
export const CONNECTION_METHODS = ['POST', 'DELETE'] as const;

export interface SignallingStackProps extends StackProps {
  readonly config: InfraConfig;
  readonly vpc: ec2.IVpc;
  readonly functionsSecurityGroup: ec2.ISecurityGroup;
  readonly stateTable: dynamodb.ITable;
  readonly nodesTable: dynamodb.ITable;
  readonly mediaNodeSecret: secretsmanager.ISecret;
  /** relay.v1 (config relays): the TURN REST API secret `$default` issues relay credentials with. */
  readonly relaySecret?: secretsmanager.ISecret;
  /** API Gateway's account-wide logging role, made in an earlier stack (signalling/account-logs-role.ts); with config apiGatewayAccountLogsRole. */
  readonly apiGatewayLogsRole?: iam.IRole;
}

type HandlerName = 'connect' | 'default' | 'disconnect' | 'reaper';

/**
 * DynamoDB actions, by what the voice core does (functions/adapters/dynamo-store.ts, routing/node-registry.ts), as
 * recorded per function in the local stack (test/infra/iam-behaviour.test.ts): no transaction (ConditionCheckItem)
 * and no Query of the base table (the store queries only the reaper's indexes) anywhere; only $default places
 * channels (PutItem); the registry is read by Query of its LISTING index, never by GetItem or a base-table Query.
 */
const STATE_RECORD_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
];
const STATE_PLACING_ACTIONS = [...STATE_RECORD_ACTIONS, 'dynamodb:PutItem'];
// The registry (data/tables.ts NODES_TABLE): Query only through its LISTING index (the sweep's listing,
// placement's fallback); GetItem of one node's record or of the placement candidates (PLACE#) on the table.
const NODES_LIST = 'dynamodb:Query';
const NODES_GET = 'dynamodb:GetItem';

interface HandlerSpec {
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** The DynamoDB actions the handler's code path uses on each table (none = no statement). */
  readonly stateTable: readonly string[];
  readonly nodesTable: readonly string[];
  /** Calls media nodes over gRPC: reads the media node secret. */
  readonly mediaNodes: boolean;
  /** Posts to, probes or closes connections through the @connections API. */
  readonly manageConnections: boolean;
}

/**
 * What each handler may do, from what its code path calls: `$connect` counts the user's connect and stream
 * (conditional UpdateItems on its USER# items) and records the connection (one PutItem), and calls no media node; the others run the voice core; only the reaper scans and deletes
 * lost-session records.
 */
export const HANDLERS: Record<HandlerName, HandlerSpec> = {
  connect: {
    entry: 'functions/handlers/connect.ts',
    description: "WebSocket $connect: verifies the session token, checks the user's limits, records the connection",
    timeout: Duration.seconds(10),
    memorySize: 512,
    // PutItem: the connection; UpdateItem (GetItem on first use): the user's limit items (voice/user-limits.ts).
    stateTable: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    nodesTable: [],
    mediaNodes: false,
    manageConnections: false,
  },
  default: {
    entry: 'functions/handlers/default.ts',
    description: 'WebSocket $default: the voice protocol (hRPC frames), media node calls, fan-out',
    timeout: Duration.seconds(29), // API Gateway's integration timeout
    memorySize: 1024,
    stateTable: STATE_PLACING_ACTIONS,
    nodesTable: [NODES_GET, NODES_LIST],
    mediaNodes: true,
    manageConnections: true,
  },
  disconnect: {
    entry: 'functions/handlers/disconnect.ts',
    description: 'WebSocket $disconnect: leaves the media room, tells the remaining members',
    timeout: Duration.seconds(29),
    memorySize: 512,
    stateTable: STATE_RECORD_ACTIONS,
    nodesTable: [NODES_GET],
    mediaNodes: true,
    manageConnections: true,
  },
  reaper: {
    entry: 'functions/handlers/reaper.ts',
    description:
      'Scheduled: ends due sessions of its shards (stalled, stuck, expired, lost on the media side, on a dead node)',
    // One invocation per shard group a minute, sweeping every 5 s for 60 s (0/5/…/55 s), so it is done
    // before the next minute's invocation of the same group starts; 70 s leaves room for stragglers.
    timeout: Duration.seconds(70),
    // Runs ~24 h a day even at rest (55 s of every minute), and waits on I/O: 256 MB halves its fixed cost.
    memorySize: 256,
    stateTable: STATE_RECORD_ACTIONS,
    nodesTable: [NODES_LIST, 'dynamodb:DeleteItem'],
    mediaNodes: true,
    manageConnections: true,
  },
};

export class SignallingStack extends Stack {
  readonly api: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  readonly functions: Record<HandlerName, HandlerFunction>;
  readonly alarms: SignallingAlarms;
  /** With the front door: the origin header value CloudFront sends and `$connect` requires (front-door.ts). */
  readonly frontDoorSecret?: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: SignallingStackProps) {
    super(scope, id, props);
    const { config } = props;

    const environment = {
      [STATE_TABLE.envVar]: props.stateTable.tableName,
      [NODES_TABLE.envVar]: props.nodesTable.tableName,
      ...tokenEnvironment(config, (name) => ssm.StringParameter.valueForStringParameter(this, name)),
      // A session ends at its token's exp + this (voice.token-expired).
      VOICE_TOKEN_GRACE_SECONDS: String(config.tokenGraceSeconds),
      // Per-user limits (functions/voice/user-limits.ts), explicit so an operator sees and tunes them per function.
      ...userLimitsEnvironment(),
    };
    // Only what each function reads (test/infra/environment.test.ts): API Gateway carries only text frames, so
    // $connect refuses binary-only hrpc1 offers up front; the media node secret for those calling media nodes.
    const environmentOf = (name: HandlerName): Record<string, string> => ({
      ...environment,
      ...(name === 'connect' ? { VOICE_TEXT_FRAMES_ONLY: '1' } : {}),
      ...(HANDLERS[name].mediaNodes ? { MEDIA_NODE_SECRET_ARN: props.mediaNodeSecret.secretArn } : {}),
      // relay.v1: only $default takes the Hello / RefreshRelays frames (functions/handlers/relay-env.ts).
      ...(name === 'default' && props.relaySecret
        ? { VOICE_RELAY_URLS: relayUrls(config).join(','), VOICE_RELAY_SECRET_ARN: props.relaySecret.secretArn }
        : {}),
    });
    const make = (name: HandlerName) =>
      new HandlerFunction(this, `${name[0]!.toUpperCase()}${name.slice(1)}Handler`, {
        entry: repoPath(HANDLERS[name].entry),
        description: HANDLERS[name].description,
        timeout: HANDLERS[name].timeout,
        memorySize: HANDLERS[name].memorySize,
        environment: environmentOf(name),
        vpc: props.vpc,
        securityGroup: props.functionsSecurityGroup,
        logRetentionDays: config.logRetentionDays,
        runtime: config.lambdaRuntime,
      });
    this.functions = {
      connect: make('connect'),
      default: make('default'),
      disconnect: make('disconnect'),
      reaper: make('reaper'),
    };
    if (config.frontDoor) this.frontDoorSecret = frontDoorOriginSecret(this, this.functions.connect);
    // Lambda's 4 KB environment limit, checked at synth with the key in SSM counted at its configured bound.
    const bounds: Record<string, number> = config.tokenJwksUrl
      ? {}
      : { TOKEN_PUBLIC_KEY: config.tokenPublicKeyMaxBytes };
    for (const handler of Object.values(this.functions)) refuseOversizedEnvironment(handler.fn, bounds);

    this.api = new apigwv2.WebSocketApi(this, 'VoiceApi', {
      apiName: `${config.stackPrefix}-voice`,
      description: 'Harmony voice signalling (hRPC over WebSocket; text variant hrpc1.base64)',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', this.functions.connect.fn),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', this.functions.default.fn),
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', this.functions.disconnect.fn),
      },
    });

    // Clients' keepalive frame ({"action":"keepalive"}, protocol/hrpc.ts) matches this route under the
    // default selection expression `$request.body.action`: it resets API Gateway's 10-minute idle timer
    // without invoking a function. hRPC frames are base64 text, never JSON, so they all reach $default.
    this.api.addRoute(keepaliveRouteKey(), {
      integration: new WebSocketMockIntegration('KeepaliveIntegration', {
        requestTemplates: { $default: '{"statusCode": 200}' },
        templateSelectionExpression: '\\$default',
      }),
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'The $connect function verifies the session token and answers 401 before the upgrade; the other routes only exist on an authenticated connection.',
    });

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: config.stageName,
      autoDeploy: true,
      throttle: { rateLimit: config.throttleRateLimit, burstLimit: config.throttleBurstLimit },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTimeEpoch',
            connectionId: '$context.connectionId',
            eventType: '$context.eventType',
            routeKey: '$context.routeKey',
            status: '$context.status',
            integrationLatency: '$context.integrationLatency',
            sourceIp: '$context.identity.sourceIp',
            error: '$context.error.message',
          }),
        ),
      },
    });
    if (config.apiGatewayAccountLogsRole) {
      if (!props.apiGatewayLogsRole)
        throw new Error('infra.signalling: apiGatewayAccountLogsRole is set but no role was made for it (app.ts)');
      this.stage.node.addDependency(this.accountLogs(props.apiGatewayLogsRole));
    }
    // $connect has its own, lower throttle: token verification and a DynamoDB write per attempt. The stage
    // waits for the route it names (stage-routes.ts).
    setRouteSettings(this.stage, this.api, {
      $connect: {
        ThrottlingRateLimit: config.connectThrottleRateLimit,
        ThrottlingBurstLimit: config.connectThrottleBurstLimit,
      },
    });

    this.grantAccess(props);
    // The reaper's scheduled event carries no domainName/stage to derive the @connections endpoint from.
    this.functions.reaper.fn.addEnvironment('CONNECTIONS_ENDPOINT', this.stage.callbackUrl);

    const reaperRule = new events.Rule(this, 'ReaperSchedule', {
      description: `Runs the reaper every minute, once per group of sweep shards (${config.reaperShardGroups} groups of ${SWEEP_SHARDS} shards)`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
    });
    // One target per shard group (a rule takes at most 5): the groups sweep in parallel, each its own
    // DUE and LOST partitions. A missed tick is not worth replaying late: the next one starts within a minute.
    for (let group = 0; group < config.reaperShardGroups; group++) {
      reaperRule.addTarget(
        new targets.LambdaFunction(this.functions.reaper.fn, {
          retryAttempts: 0,
          maxEventAge: Duration.seconds(60),
          event: events.RuleTargetInput.fromObject({
            shards: shardGroup(group, config.reaperShardGroups, SWEEP_SHARDS),
          }),
        }),
      );
    }
    this.functions.reaper.fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    // Concurrency (infra/config.ts): the sweep always has its own share; $connect and $default are bounded.
    const reserve = (name: HandlerName, count: number) => {
      (this.functions[name].fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = count;
    };
    reserve('reaper', config.reaperReservedConcurrency);
    reserve('connect', config.connectReservedConcurrency);
    reserve('default', config.defaultReservedConcurrency);

    this.alarms = new SignallingAlarms(this, 'Alarms', {
      api: this.api,
      stage: this.stage,
      accessLogs,
      functions: this.functions,
      logRetentionDays: config.logRetentionDays,
    });

    new CfnOutput(this, 'WebSocketUrl', {
      description: config.frontDoor
        ? "The API itself (operators, tests); clients connect through the front door (its stack's WebSocketUrl)"
        : 'Clients connect here (subprotocol hrpc1.base64, token as Authorization header or last subprotocol)',
      value: this.stage.url,
    });
    new CfnOutput(this, 'ConnectionsEndpoint', {
      description: 'The @connections management API of this stage',
      value: this.stage.callbackUrl,
    });
  }

  /** Least privilege, per handler, from the HANDLERS table. */
  private grantAccess(props: SignallingStackProps): void {
    // The @connections methods the gateway adapter calls: POST (PostToConnection) and DELETE (DeleteConnection).
    // Nothing probes a connection (GET) since the sweep became event-driven.
    const connectionArns = CONNECTION_METHODS.map((method) =>
      this.formatArn({
        service: 'execute-api',
        resource: this.api.apiId,
        resourceName: `${this.stage.stageName}/${method}/@connections/*`,
      }),
    );

    // The state table's indexes are for the reaper alone, named one by one (a grant on the table object would
    // add `<table>/index/*` for every handler).
    for (const [name, spec] of Object.entries(HANDLERS) as [HandlerName, HandlerSpec][]) {
      const fn = this.functions[name].fn;
      if (spec.stateTable.length > 0)
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: [...spec.stateTable], resources: [props.stateTable.tableArn] }),
        );
      if (spec.nodesTable.length > 0) {
        // The registry is listed only through its LISTING index (every node, one shard's loss reports: data/tables.ts);
        // single-item reads (a node's record, the placement candidates) and the reaper's deletes go to the base table.
        const reads = spec.nodesTable.filter((action) => action === NODES_LIST);
        const writes = spec.nodesTable.filter((action) => action !== NODES_LIST);
        if (reads.length > 0) {
          fn.addToRolePolicy(
            new iam.PolicyStatement({
              actions: reads,
              resources: [`${props.nodesTable.tableArn}/index/${LISTING_INDEX.indexName}`],
            }),
          );
        }
        if (writes.length > 0)
          fn.addToRolePolicy(new iam.PolicyStatement({ actions: writes, resources: [props.nodesTable.tableArn] }));
      }
      if (spec.mediaNodes) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [props.mediaNodeSecret.secretArn],
          }),
        );
      }
      if (name === 'default' && props.relaySecret) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [props.relaySecret.secretArn],
          }),
        );
      }
      if (name === 'reaper') {
        // The sweep reads only what is due (DUE index) and the sessions of dead nodes (BY_NODE index).
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['dynamodb:Query'],
            resources: [DUE_INDEX, BY_NODE_INDEX].map(
              (index) => `${props.stateTable.tableArn}/index/${index.indexName}`,
            ),
          }),
        );
        // It publishes the placement candidates (routing/candidates.ts): PutItem on PLACE# items of the registry only,
        // never a node's partition (NODE#<instance ARN>, writable by that node alone).
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['dynamodb:PutItem'],
            resources: [props.nodesTable.tableArn],
            conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${PLACE_PREFIX}*`] } },
          }),
        );
      }
      if (spec.manageConnections) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: connectionArns }),
        );
        const apiLogicalId = this.getLogicalId(this.api.node.defaultChild as apigwv2.CfnApi);
        for (const method of CONNECTION_METHODS) {
          Validations.of(fn.role!).acknowledge({
            id: `AwsSolutions-IAM5[Resource::${arnForNag(this, 'execute-api')}:<${apiLogicalId}>/${this.stage.stageName}/${method}/@connections/*]`,
            reason:
              'Connection ids are only known at run time; the ARN is pinned to this API, this stage and one method.',
          });
        }
      }
    }
  }

  /**
   * API Gateway writes WebSocket access logs with an account-wide role (one per account and region), made in an
   * earlier stack so IAM has propagated it (signalling/account-logs-role.ts). Retained on delete: other APIs in
   * the account may rely on it.
   */
  private accountLogs(role: iam.IRole): apigateway.CfnAccount {
    const account = new apigateway.CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    return account;
  }
}

/** The route key of the clients' keepalive frame under the `$request.body.action` selection expression. */
export function keepaliveRouteKey(): string {
  const action = (JSON.parse(KEEPALIVE_FRAME) as { action?: unknown }).action;
  if (typeof action !== 'string' || !action) throw new Error('infra.keepalive: KEEPALIVE_FRAME has no "action"');
  return action;
}

/**
 * The token verification settings of the handlers (functions/auth/token-config.ts): keys from the issuer's JWKS
 * URL when one is configured, else from the SSM parameter (PEM or JWKS); optional claims are set only when given.
 */
/**
 * The functions' token settings. Keys come from the JWKS URL when one is configured; otherwise the key kept in
 * SSM is resolved at deploy time (`resolveParameter`: a CloudFormation dynamic reference in the stack) into
 * TOKEN_PUBLIC_KEY, so no function reads SSM.
 */
export function tokenEnvironment(
  config: InfraConfig,
  resolveParameter: (name: string) => string,
): Record<string, string> {
  return {
    TOKEN_ISSUER: config.tokenIssuer,
    ...(config.tokenJwksUrl
      ? { TOKEN_JWKS_URL: config.tokenJwksUrl }
      : { TOKEN_PUBLIC_KEY: resolveParameter(config.tokenPublicKeyParameter) }),
    ...(config.tokenAudience ? { TOKEN_AUDIENCE: config.tokenAudience } : { TOKEN_AUDIENCE_WAIVED: '1' }),
    ...(config.tokenUserClaim ? { TOKEN_USER_CLAIM: config.tokenUserClaim } : {}),
    ...(config.tokenGrantsClaim ? { TOKEN_GRANTS_CLAIM: config.tokenGrantsClaim } : {}),
    ...(config.tokenModerateClaim ? { TOKEN_MODERATE_CLAIM: config.tokenModerateClaim } : {}),
  };
}
