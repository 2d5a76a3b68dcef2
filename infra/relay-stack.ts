// TURN relays (docs/reachability.md): coturn on an Auto Scaling group of Debian 12 instances in private
// subnets, behind an internet-facing Network Load Balancer that terminates TURN over TLS on 443 with the operator's
// ACM certificate (config relayCertificateArn for relayDomain) and passes TURN over UDP on 3478; client addresses are
// kept (instance targets), so coturn's per-user quotas and logs see the real client. The TURN REST API secret is in
// Secrets Manager (the data stack's RelaySecret), read by the relays at boot and by `$default` (relay.v1).
// Never an open relay: coturn denies every peer outside the VPC's range and the relays' security group sends relayed
// media only to the media nodes' relay-peer ports (their private UDP candidates, MEDIA_RELAY_PEER_*).
// Alarms (no actions, like the fleet's): relays in service below the minimum, NLB targets unhealthy, relay CPU high.
import { CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { RELAY_TURN_PORT, type InfraConfig } from './config';
import { mediaNodeImage } from './media-fleet/ami';
import { relayBootCommands } from './relay/boot';

export interface RelayStackProps extends StackProps {
  readonly config: InfraConfig;
  readonly vpc: ec2.IVpc;
  readonly relaySecurityGroup: ec2.ISecurityGroup;
  readonly relaySecret: secretsmanager.ISecret;
}

export class RelayStack extends Stack {
  readonly group: autoscaling.AutoScalingGroup;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: RelayStackProps) {
    super(scope, id, props);
    const { config } = props;
    const instanceType = new ec2.InstanceType(config.relayInstanceType);

    const role = new iam.Role(this, 'RelayRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'TURN relay: reads the relay secret, nothing else',
    });
    props.relaySecret.grantRead(role);

    const userData = ec2.UserData.forLinux();
    userData.addCommands(
      ...relayBootCommands({
        region: this.region,
        secretArn: props.relaySecret.secretArn,
        realm: config.relayDomain,
        userQuota: 4,
        totalQuota: 20_000,
      }),
    );
    const launchTemplate = new ec2.LaunchTemplate(this, 'RelayTemplate', {
      instanceType,
      machineImage: mediaNodeImage(this, config, instanceType.architecture === ec2.InstanceArchitecture.ARM_64),
      role,
      securityGroup: props.relaySecurityGroup,
      userData,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpEndpoint: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });
    this.group = new autoscaling.AutoScalingGroup(this, 'Relays', {
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      minCapacity: config.relayMinNodes,
      maxCapacity: config.relayMaxNodes,
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        gracePeriod: Duration.minutes(5),
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
      }),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: Math.min(config.relayMinNodes, config.relayMaxNodes - 1),
      }),
    });
    this.group.scaleOnCpuUtilization('CpuTarget', { targetUtilizationPercent: 60 });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'RelayLoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      crossZoneEnabled: true,
    });
    const health = {
      protocol: elbv2.Protocol.TCP,
      port: String(RELAY_TURN_PORT),
      interval: Duration.seconds(10),
      healthyThresholdCount: 3,
      unhealthyThresholdCount: 3,
    };
    const tls = this.loadBalancer.addListener('TurnTls', {
      port: 443,
      protocol: elbv2.Protocol.TLS,
      certificates: [elbv2.ListenerCertificate.fromArn(config.relayCertificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
    });
    const tcpTargets = tls.addTargets('TurnTcp', {
      port: RELAY_TURN_PORT,
      protocol: elbv2.Protocol.TCP,
      targets: [this.group],
      healthCheck: health,
      preserveClientIp: true,
    });
    const udp = this.loadBalancer.addListener('TurnUdp', { port: RELAY_TURN_PORT, protocol: elbv2.Protocol.UDP });
    const udpTargets = udp.addTargets('TurnUdpTargets', {
      port: RELAY_TURN_PORT,
      protocol: elbv2.Protocol.UDP,
      targets: [this.group],
      healthCheck: health,
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason:
        'TURN flows are long-lived and carry no request data an access log would add; NLB metrics and the alarms below cover health.',
    });

    const period = Duration.minutes(5);
    const inService = new cloudwatch.Metric({
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupInServiceInstances',
      dimensionsMap: { AutoScalingGroupName: this.group.autoScalingGroupName },
      statistic: cloudwatch.Stats.MINIMUM,
      period,
    });
    this.alarms.push(
      new cloudwatch.Alarm(this, 'RelaysBelowMinimum', {
        metric: inService,
        threshold: config.relayMinNodes,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription:
          'Fewer TURN relays in service than the minimum for 15 minutes: relay.v1 clients behind strict networks may not connect',
      }),
    );
    for (const [name, targets] of [
      ['Tcp', tcpTargets],
      ['Udp', udpTargets],
    ] as const) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `Unhealthy${name}Targets`, {
          metric: targets.metrics.unHealthyHostCount({ period, statistic: cloudwatch.Stats.MAXIMUM }),
          threshold: 1,
          evaluationPeriods: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          alarmDescription: `A TURN relay failed the NLB's ${name.toUpperCase()} health check for 15 minutes`,
        }),
      );
    }
    this.alarms.push(
      new cloudwatch.Alarm(this, 'RelayCpuHigh', {
        metric: new cloudwatch.Metric({
          namespace: 'AWS/EC2',
          metricName: 'CPUUtilization',
          dimensionsMap: { AutoScalingGroupName: this.group.autoScalingGroupName },
          statistic: cloudwatch.Stats.AVERAGE,
          period,
        }),
        threshold: 85,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: 'TURN relays above 85 % CPU for 15 minutes (at relayMaxNodes?): relayed audio may suffer',
      }),
    );

    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Scaling activity is in the group activity history and EventBridge; this project has no notification subscriber to send it to.',
    });
    new CfnOutput(this, 'RelayLoadBalancerDns', {
      description: `Point ${config.relayDomain} here (CNAME or alias): clients get turns:${config.relayDomain}:443`,
      value: this.loadBalancer.loadBalancerDnsName,
    });
  }
}
