// One signalling Lambda function: Node 24, bundled by esbuild from the local toolchain (never Docker),
// inside the VPC so it reaches media nodes' private gRPC addresses, with its own log group.
import { type Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { LambdaRuntime } from '../config';
import {
  ESM_REQUIRE_SHIM,
  HANDLER_KEEP_NAMES,
  HANDLER_NODE_OPTIONS,
  HANDLER_SOURCE_MAP,
  HANDLER_TARGET,
} from './bundling';

export interface HandlerFunctionProps {
  /** Absolute path of the TypeScript entry exporting `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly logRetentionDays: number;
  readonly runtime: LambdaRuntime;
}

const RUNTIMES: Record<LambdaRuntime, lambda.Runtime> = {
  'nodejs24.x': lambda.Runtime.NODEJS_24_X,
};

export class HandlerFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const logGroup = (this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    }));
    this.fn = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: RUNTIMES[props.runtime],
      // Pure-JS dependencies only (grpc-js, AWS SDK v3), so Graviton is safe and ~20% cheaper per GB-second.
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [props.securityGroup],
      // Source-mapped stack traces at no measurable cold-start cost on Node 24 (bundling.ts, bench/bundles.ts).
      environment: { ...props.environment, NODE_OPTIONS: HANDLER_NODE_OPTIONS },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: HANDLER_TARGET,
        mainFields: ['module', 'main'],
        minify: true,
        keepNames: HANDLER_KEEP_NAMES,
        sourceMap: HANDLER_SOURCE_MAP,
        sourcesContent: false,
        // Bundle the SDK versions the code was tested with rather than the runtime's copy.
        externalModules: [],
        banner: ESM_REQUIRE_SHIM,
        logLevel: LogLevel.WARNING,
      },
    });

    const role = this.fn.role;
    if (role) {
      for (const policy of ['AWSLambdaBasicExecutionRole', 'AWSLambdaVPCAccessExecutionRole']) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
          reason: `${policy} is the AWS-maintained minimum for writing logs / attaching VPC ENIs; nothing else is granted by it.`,
        });
      }
    }
  }
}
