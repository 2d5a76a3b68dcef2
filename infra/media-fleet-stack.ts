// Media fleet: an Auto Scaling group of media nodes in public subnets (WebRTC clients reach them over
// UDP), scaled by target tracking on the load the nodes publish, drained before termination.
//
// Fails loudly and heals: a CreationPolicy and rolling updates wait for each new node's own signal, sent
// by host/install.sh only after the node logged `media-node.ready` (FAILURE on any boot error, through
// host/boot-fail.sh): a broken node rolls the deploy back instead of deploying green. host/health-watch.sh marks a node that
// stops serving Unhealthy (SetInstanceHealth), so the group replaces it. While a node hosts rooms it is
// protected from scale-in (media-node/src/node/scale-in-protection.ts), cleared when empty or draining.
// Nodes run Debian 12 (the official AMI, pinned per deploy: media-fleet/ami.ts), the system the shipped worker
// was built and tested on (infra/media-fleet/bundle.ts). Their journal goes to CloudWatch Logs. Every launch
// waits in Pending:Wait on a launch lifecycle hook until the host says it serves (media-fleet/launch-hook.ts);
// a failure anywhere in the boot ends the instance (host/boot-fail.sh).
//
// Drain on termination: a lifecycle hook holds a terminating instance in Terminating:Wait. On the
// instance, harmony-media-lifecycle.service polls `autoscaling/target-lifecycle-state` in instance
// metadata; on "Terminated" it stops the media node (SIGTERM → state draining, no new rooms, waits
// for rooms to empty up to MEDIA_DRAIN_TIMEOUT_MS, exits 0; systemd kills at drain + 60 s) and then
// calls CompleteLifecycleAction(CONTINUE). The hook's heartbeat timeout (drain + 300 s, default
// result CONTINUE) bounds the wait even if the instance never answers. No Lambda, SNS or SSM
// command is involved, so there is nothing else to fail.
import { ArnFormat, Duration, RemovalPolicy, Stack, type StackProps, CfnOutput, Validations } from 'aws-cdk-lib';
import { arnForNag } from './nag';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { pipePortRange, type InfraConfig } from './config';
import { formatPortRange } from '../media-node/src/span/pipe-ports';
import { mediaNodeAsset } from './media-fleet/bundle';
import { LOAD_METRIC_DIMENSION, LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE } from './media-fleet/load-metric';
import { DEFAULT_WORKER_LIMITS } from '../routing/load';
import { bootCommands } from './media-fleet/user-data';
import { holdLaunchesUntilReady, LAUNCH_HOOK_NAME } from './media-fleet/launch-hook';
import { mediaNodeImage } from './media-fleet/ami';
import { FleetAlarms } from './media-fleet/alarms';
import { LISTING_INDEX } from '../data/tables';
import { nodePartition } from '../routing/node-registry';

/** What a node writes in the registry (routing/node-registry.ts: heartbeat/register, loss reports, deregister). */
export const NODE_REGISTRY_WRITES = ['dynamodb:PutItem', 'dynamodb:DeleteItem'] as const;

export interface MediaFleetStackProps extends StackProps {
  readonly config: InfraConfig;
  readonly vpc: ec2.IVpc;
  readonly mediaSecurityGroup: ec2.ISecurityGroup;
  readonly nodesTable: dynamodb.ITable;
  readonly mediaNodeSecret: secretsmanager.ISecret;
  readonly mediaSpanSecret: secretsmanager.ISecret;
}

export const LIFECYCLE_HOOK_NAME = 'drain-media-node';
/** Time between the node's drain bound and the hook giving up on it (systemd kill at +60 s, CLI retries). */
export const DRAIN_HOOK_MARGIN_SECONDS = 300;
/**
 * Consumers one worker may hold (MEDIA_CAPACITY = workers × this). Since load is measured in forwarded
 * packets (routing/load.ts), this only bounds memory and control work of mostly silent (DTX) channels.
 */
export const CONSUMERS_PER_WORKER = DEFAULT_WORKER_LIMITS.consumers;
export { DEBIAN_12_AMI_PARAMETER } from './media-fleet/ami';

export class MediaFleetStack extends Stack {
  readonly group: autoscaling.AutoScalingGroup;
  /** The media node bundle (S3 asset) the instances download at boot. */
  readonly bundle: s3assets.Asset;
  /** Fixed, so user data and IAM can name the group without a reference cycle through the launch template. */
  readonly groupName: string;
  readonly nodeLogs: logs.LogGroup;
  readonly alarms: FleetAlarms;

  constructor(scope: Construct, id: string, props: MediaFleetStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.groupName = `${config.stackPrefix}-media-nodes`;
    const instanceType = new ec2.InstanceType(config.instanceType);

    const role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Media node: its own registry items, its load metric, the two gRPC secrets, its own lifecycle hook',
    });
    const bundle = (this.bundle = mediaNodeAsset(this, 'MediaNodeBundle'));

    this.nodeLogs = new logs.LogGroup(this, 'NodeLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const arm = instanceType.architecture === ec2.InstanceArchitecture.ARM_64;
    // Filled in below, once the group's logical id (the ready signal's target) is known.
    const userData = ec2.UserData.forLinux();

    const launchTemplate = new ec2.LaunchTemplate(this, 'NodeTemplate', {
      instanceType,
      // Pinned per deploy (media-fleet/ami.ts): an image that moves only when asked to.
      machineImage: mediaNodeImage(this, config, arm),
      role,
      securityGroup: props.mediaSecurityGroup,
      userData,
      // IMDSv2 only; one hop, so nothing behind the host (no containers here) can reach the instance's credentials.
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpEndpoint: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda', // Debian's AMIs use xvda as their root device, like Amazon Linux
          volume: ec2.BlockDeviceVolume.ebs(16, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    const readyTimeout = Duration.minutes(config.nodeReadyTimeoutMinutes);
    this.group = new autoscaling.AutoScalingGroup(this, 'Nodes', {
      autoScalingGroupName: this.groupName,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate,
      minCapacity: config.minNodes,
      maxCapacity: config.maxNodes,
      // EC2 status checks, plus the node's own watchdog (SetInstanceHealth) once it serves.
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: readyTimeout }),
      cooldown: Duration.minutes(5),
      // Boot installs packages and the node: leave a new node out of the load average until it serves.
      defaultInstanceWarmup: Duration.minutes(5),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      // Creation waits for minNodes nodes to signal ready; a FAILURE or the timeout rolls the stack back.
      signals: autoscaling.Signals.waitForMinCapacity({ timeout: readyTimeout }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: Math.min(config.minNodes, config.maxNodes - 1),
        waitOnResourceSignals: true,
        pauseTime: readyTimeout,
      }),
    });
    const groupLogicalId = this.getLogicalId(this.group.node.defaultChild as autoscaling.CfnAutoScalingGroup);

    userData.addCommands(
      ...bootCommands(
        {
          region: this.region,
          nodesTable: props.nodesTable.tableName,
          secretArn: props.mediaNodeSecret.secretArn,
          spanSecretArn: props.mediaSpanSecret.secretArn,
          nodeIdPrefix: `arn:${this.partition}:ec2:${this.region}:${this.account}:instance/`,
          autoScalingGroupName: this.groupName,
          lifecycleHookName: LIFECYCLE_HOOK_NAME,
          launchHookName: LAUNCH_HOOK_NAME,
          grpcPort: config.grpcPort,
          rtcPortBase: config.rtcPortBase,
          iceTcpPort: config.iceTcpPort,
          ...(config.relays ? { relayPeerPortBase: config.relayPeerPortBase } : {}),
          workers: config.mediaWorkers,
          capacity: config.mediaWorkers * CONSUMERS_PER_WORKER,
          metricsPort: config.metricsPort,
          pipePorts: formatPortRange(pipePortRange(config)),
          drainTimeoutSeconds: config.drainTimeoutSeconds,
          stackName: this.stackName,
          signalResource: groupLogicalId,
          // Leave the install's own steps time inside the group's signal timeout.
          readyTimeoutSeconds: Math.max(120, readyTimeout.toSeconds() - 300),
          logGroup: this.nodeLogs.logGroupName,
        },
        {
          bucket: bundle.s3BucketName,
          key: bundle.s3ObjectKey,
          // AWS's SSM agent package for Debian, from this Region's AWS bucket (Debian's AMI does not carry it).
          ssmAgentUrl: config.sessionManager
            ? `https://s3.${this.region}.${this.urlSuffix}/amazon-ssm-${this.region}/latest/debian_${arm ? 'arm64' : 'amd64'}/amazon-ssm-agent.deb`
            : undefined,
        },
      ),
    );
    // Every launch (creation, rolling update, scale-out, replacement) waits in Pending:Wait until the host says
    // it serves; a failed or silent boot is abandoned (launch-hook.ts).
    holdLaunchesUntilReady(this.group, readyTimeout);

    this.group.addLifecycleHook('Drain', {
      lifecycleHookName: LIFECYCLE_HOOK_NAME,
      lifecycleTransition: autoscaling.LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: Duration.seconds(config.drainTimeoutSeconds + DRAIN_HOOK_MARGIN_SECONDS),
      defaultResult: autoscaling.DefaultResult.CONTINUE,
    });

    this.group.scaleToTrackMetric('LoadTracking', {
      metric: new cloudwatch.Metric({
        namespace: LOAD_METRIC_NAMESPACE,
        metricName: LOAD_METRIC_NAME,
        dimensionsMap: { [LOAD_METRIC_DIMENSION]: this.groupName },
        statistic: cloudwatch.Stats.AVERAGE,
        period: Duration.minutes(1),
        unit: cloudwatch.Unit.PERCENT,
      }),
      targetValue: config.targetLoadPercent,
    });

    this.grantNode(role, props, bundle.bucket.bucketName, bundle.s3ObjectKey);
    this.acknowledgeFindings(role, config.sessionManager);
    this.alarms = new FleetAlarms(this, 'Alarms', { groupName: this.groupName, nodeLogs: this.nodeLogs });

    new CfnOutput(this, 'MediaNodesGroup', {
      description: 'Auto Scaling group of the media nodes',
      value: this.groupName,
    });
  }

  private grantNode(role: iam.Role, props: MediaFleetStackProps, bundleBucket: string, bundleKey: string): void {
    // The registry: the node writes only in its own partition (its record, its loss reports; data/tables.ts), whose
    // key is NODE#<its instance ARN>: IAM fills ec2:SourceInstanceARN in from the instance's role credentials.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [...NODE_REGISTRY_WRITES],
        resources: [props.nodesTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [nodePartition('${ec2:SourceInstanceARN}')] },
        },
      }),
    );
    // It reads the others (the nodes a room may span to) through the listing index.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [props.nodesTable.tableArn, `${props.nodesTable.tableArn}/index/${LISTING_INDEX.indexName}`],
      }),
    );
    props.mediaNodeSecret.grantRead(role);
    props.mediaSpanSecret.grantRead(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          this.formatArn({ service: 's3', region: '', account: '', resource: bundleBucket, resourceName: bundleKey }),
        ],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': LOAD_METRIC_NAMESPACE } },
      }),
    );
    // Its own group only: drain hook, watchdog, scale-in protection.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'autoscaling:CompleteLifecycleAction',
          'autoscaling:SetInstanceHealth',
          'autoscaling:SetInstanceProtection',
        ],
        resources: [this.groupArnPattern()],
      }),
    );
    // The ready signal (cloudformation:SignalResource on this stack's id) is granted by the group's `signals`.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.nodeLogs.logGroupArn, `${this.nodeLogs.logGroupArn}:log-stream:*`],
      }),
    );
    if (props.config.sessionManager) {
      // Session Manager's channel actions only (what AmazonSSMManagedInstanceCore would add besides reads every
      // parameter of the account); these actions have no resource-level permissions.
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: [
            'ssm:UpdateInstanceInformation',
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          resources: ['*'],
        }),
      );
    }
  }

  /** The group's ARN contains a UUID assigned at creation; the name part pins it to this group. */
  private groupArnPattern(): string {
    return this.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${this.groupName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
  }

  private acknowledgeFindings(role: iam.Role, sessionManager: boolean): void {
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: sessionManager
        ? 'PutMetricData (limited to the HarmonyVoice namespace by condition) and Session Manager channel actions have no resource ARNs.'
        : 'PutMetricData has no resource ARNs; the statement is limited to the HarmonyVoice namespace by condition.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arnForNag(this, 'autoscaling')}:autoScalingGroup:*:autoScalingGroupName/${this.groupName}]`,
      reason: "The wildcard is the group's creation UUID; the ARN is pinned to this group's name.",
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.nodeLogs.node.defaultChild as logs.CfnLogGroup)}.Arn>:log-stream:*]`,
      reason: 'One log stream per instance id, known only at boot; pinned to the media nodes log group.',
    });
    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Scaling activity is in the group activity history and EventBridge; this project has no notification subscriber to send it to.',
    });
  }
}
