// Media fleet: an Auto Scaling group of media nodes in public subnets (WebRTC clients reach them over
// UDP), scaled by target tracking on the load the nodes publish, drained before termination.
//
// Drain on termination: a lifecycle hook holds a terminating instance in Terminating:Wait. On the
// instance, harmony-media-lifecycle.service polls `autoscaling/target-lifecycle-state` in instance
// metadata; on "Terminated" it stops the media node (SIGTERM → state draining, no new rooms, waits
// for rooms to empty up to MEDIA_DRAIN_TIMEOUT_MS, exits 0; systemd kills at drain + 60 s) and then
// calls CompleteLifecycleAction(CONTINUE). The hook's heartbeat timeout (drain + 300 s, default
// result CONTINUE) bounds the wait even if the instance never answers. No Lambda, SNS or SSM
// command is involved, so there is nothing else to fail.
import { ArnFormat, Duration, Stack, type StackProps, CfnOutput, Validations } from 'aws-cdk-lib';
import { arnForNag } from './nag';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { InfraConfig } from './config';
import { mediaNodeAsset } from './media-fleet/bundle';
import { LOAD_METRIC_DIMENSION, LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE } from './media-fleet/load-metric';
import { DEFAULT_WORKER_LIMITS } from '../routing/load';
import { mediaHostCommands } from './media-fleet/user-data';

export interface MediaFleetStackProps extends StackProps {
  readonly config: InfraConfig;
  readonly vpc: ec2.IVpc;
  readonly mediaSecurityGroup: ec2.ISecurityGroup;
  readonly nodesTable: dynamodb.ITable;
  readonly mediaNodeSecret: secretsmanager.ISecret;
}

export const LIFECYCLE_HOOK_NAME = 'drain-media-node';
/** Time between the node's drain bound and the hook giving up on it (systemd kill at +60 s, CLI retries). */
export const DRAIN_HOOK_MARGIN_SECONDS = 300;
/**
 * Consumers one worker may hold (MEDIA_CAPACITY = workers × this). Since load is measured in forwarded
 * packets (routing/load.ts), this only bounds memory and control work of mostly silent (DTX) channels.
 */
export const CONSUMERS_PER_WORKER = DEFAULT_WORKER_LIMITS.consumers;

export class MediaFleetStack extends Stack {
  readonly group: autoscaling.AutoScalingGroup;
  /** The media node bundle (S3 asset) the instances download at boot. */
  readonly bundle: s3assets.Asset;
  /** Fixed, so user data and IAM can name the group without a reference cycle through the launch template. */
  readonly groupName: string;

  constructor(scope: Construct, id: string, props: MediaFleetStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.groupName = `${config.stackPrefix}-media-nodes`;
    const instanceType = new ec2.InstanceType(config.instanceType);

    const role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Media node: registry table, its load metric, the gRPC secret, its own lifecycle hook',
    });
    const bundle = (this.bundle = mediaNodeAsset(this, 'MediaNodeBundle'));

    const userData = ec2.UserData.forLinux();
    userData.addCommands('set -euo pipefail', `export AWS_REGION=${this.region}`);
    const bundleZip = userData.addS3DownloadCommand({
      bucket: bundle.bucket,
      bucketKey: bundle.s3ObjectKey,
      localFile: '/tmp/harmony-media-node.zip',
      region: this.region,
    });
    userData.addCommands(
      ...mediaHostCommands(
        {
          region: this.region,
          nodesTable: props.nodesTable.tableName,
          secretArn: props.mediaNodeSecret.secretArn,
          autoScalingGroupName: this.groupName,
          lifecycleHookName: LIFECYCLE_HOOK_NAME,
          grpcPort: config.grpcPort,
          rtcPortBase: config.rtcPortBase,
          workers: config.mediaWorkers,
          capacity: config.mediaWorkers * CONSUMERS_PER_WORKER,
          metricsPort: config.metricsPort,
          drainTimeoutSeconds: config.drainTimeoutSeconds,
        },
        bundleZip,
      ),
    );

    const launchTemplate = new ec2.LaunchTemplate(this, 'NodeTemplate', {
      instanceType,
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: cpuTypeOf(instanceType) }),
      role,
      securityGroup: props.mediaSecurityGroup,
      userData,
      // IMDSv2 only; one hop, so nothing behind the host (no containers here) can reach the instance's credentials.
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpEndpoint: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3, deleteOnTermination: true }),
        },
      ],
    });

    this.group = new autoscaling.AutoScalingGroup(this, 'Nodes', {
      autoScalingGroupName: this.groupName,
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate,
      minCapacity: config.minNodes,
      maxCapacity: config.maxNodes,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(10) }),
      cooldown: Duration.minutes(5),
      // Boot installs Node.js and mediasoup: leave a new node out of the load average until it serves.
      defaultInstanceWarmup: Duration.minutes(5),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: config.minNodes,
      }),
    });

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

    new CfnOutput(this, 'MediaNodesGroup', { description: 'Auto Scaling group of the media nodes', value: this.groupName });
  }

  private grantNode(role: iam.Role, props: MediaFleetStackProps, bundleBucket: string, bundleKey: string): void {
    props.nodesTable.grantReadWriteData(role);
    props.mediaNodeSecret.grantRead(role);
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['s3:GetObject'],
      resources: [this.formatArn({ service: 's3', region: '', account: '', resource: bundleBucket, resourceName: bundleKey })],
    }));
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': LOAD_METRIC_NAMESPACE } },
    }));
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [this.groupArnPattern()],
    }));
    if (props.config.sessionManager) {
      role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'));
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
      reason: 'PutMetricData has no resource ARNs; the statement is limited to the HarmonyVoice namespace by condition.',
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${arnForNag(this, 'autoscaling')}:autoScalingGroup:*:autoScalingGroupName/${this.groupName}]`,
      reason: "The wildcard is the group's creation UUID; the ARN is pinned to this group's name.",
    });
    if (sessionManager) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'Session Manager is the only operator access to nodes (no SSH, no key pair); context sessionManager=false removes it.',
      });
    }
    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions-AS3',
      reason: 'Scaling activity is in the group activity history and EventBridge; this project has no notification subscriber to send it to.',
    });
  }
}

function cpuTypeOf(instanceType: ec2.InstanceType): ec2.AmazonLinuxCpuType {
  return instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? ec2.AmazonLinuxCpuType.ARM_64 : ec2.AmazonLinuxCpuType.X86_64;
}
