// The VPC both halves share, and the two security groups with the rules between them. Both groups
// live here because each refers to the other (functions → gRPC → media nodes); split across the
// signalling and media stacks they would make a dependency cycle.
//
// Egress of the in-VPC functions: a NAT gateway, plus a free DynamoDB gateway endpoint.
// - The functions must call the @connections management API of the (public) WebSocket API. An
//   execute-api interface endpoint cannot do that: with private DNS every *.execute-api name in
//   the VPC resolves to the endpoint, which only serves private REST APIs, so postToConnection
//   gets 403 Forbidden (AWS knowledge center "api-gateway-vpc-connections"). So NAT is required.
// - Once NAT exists, SSM (the token key, read once per cold start) and Secrets Manager (the media
//   node secret, once per cold start) ride on it: interface endpoints for them would add
//   2 services × 2 AZs × $7.30 = $29.20/month to save fractions of a cent of NAT data processing.
// - DynamoDB is on every request's path, so it goes through the gateway endpoint: no charge, and
//   it keeps the per-GB NAT processing fee ($0.045/GB) off the hot path. The public subnets'
//   route tables get it too, so media nodes' heartbeats stay on the AWS network.
// One NAT gateway ($32.85/month + $3.65 for its public IPv4) is the default; `natGateways=2`
// removes the single-AZ egress dependency for another $36.50/month.
import { Stack, type StackProps, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { jwksPort, pipePortRange, RELAY_TURN_PORT, rtcPortRange, type InfraConfig } from './config';

export interface NetworkStackProps extends StackProps {
  readonly config: InfraConfig;
}

export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  /** Attached to every signalling function. */
  readonly functionsSecurityGroup: ec2.SecurityGroup;
  /** Attached to every media node. */
  readonly mediaSecurityGroup: ec2.SecurityGroup;
  /** The TURN relays (config relays): TURN from anywhere through the NLB, relayed UDP only to the media nodes' relay-peer ports. */
  readonly relaySecurityGroup?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      maxAzs: config.maxAzs,
      natGateways: config.natGateways,
      subnetConfiguration: [
        // Media nodes: public IPv4 per instance, because WebRTC clients reach them directly over UDP.
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 },
        // Signalling functions: private, egress through NAT.
        { name: 'Functions', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      // Would add a custom-resource Lambda just to empty the default group; nothing uses that group.
      restrictDefaultSecurityGroup: false,
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });

    // Rejected flows only: enough to debug security-group mistakes without paying to log media traffic.
    const flowLogGroup = new logs.LogGroup(this, 'RejectedFlowLogs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('RejectedFlows', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
    });

    this.functionsSecurityGroup = new ec2.SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc: this.vpc,
      description: 'Signalling Lambda functions: HTTPS to AWS APIs, gRPC to media nodes',
      allowAllOutbound: false,
    });
    this.functionsSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS APIs (@connections, SSM, Secrets Manager via NAT; DynamoDB via the gateway endpoint)',
    );

    // An identity provider serving its JWKS on another port than 443 (config tokenJwksUrl): the functions fetch it there.
    const jwks = jwksPort(config);
    if (jwks !== undefined && jwks !== 443) {
      this.functionsSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(jwks),
        "The token issuer's JWKS URL (tokenJwksUrl names this port)",
      );
    }

    this.mediaSecurityGroup = new ec2.SecurityGroup(this, 'MediaSecurityGroup', {
      vpc: this.vpc,
      description:
        'Media nodes: WebRTC from anywhere, gRPC from the signalling functions and other nodes, pipes from other nodes',
      // Media goes out over UDP to whatever address a client has, and nodes fetch packages at boot.
      allowAllOutbound: true,
    });
    const { first, last } = rtcPortRange(config);
    const udp = first === last ? ec2.Port.udp(first) : ec2.Port.udpRange(first, last);
    const tcp = first === last ? ec2.Port.tcp(first) : ec2.Port.tcpRange(first, last);
    this.mediaSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), udp, 'WebRtcServer UDP (one port per worker)');
    this.mediaSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), tcp, 'WebRtcServer TCP fallback (one port per worker)');
    if (config.iceTcpPort > 0) {
      // ICE over TCP on 443 (+ worker index): clients on networks that allow only TCP 443.
      const last443 = config.iceTcpPort + config.mediaWorkers - 1;
      const port =
        last443 === config.iceTcpPort ? ec2.Port.tcp(config.iceTcpPort) : ec2.Port.tcpRange(config.iceTcpPort, last443);
      this.mediaSecurityGroup.addIngressRule(
        ec2.Peer.anyIpv4(),
        port,
        'WebRtcServer ICE over TCP on 443 (+ worker index)',
      );
    }
    Validations.of(this.mediaSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'WebRTC clients anywhere must reach the WebRtcServer ports; only those UDP/TCP ports are open to the world.',
    });
    this.mediaSecurityGroup.addIngressRule(
      this.functionsSecurityGroup,
      ec2.Port.tcp(config.grpcPort),
      'Media node gRPC API, from the signalling functions only',
    );
    this.functionsSecurityGroup.addEgressRule(
      this.mediaSecurityGroup,
      ec2.Port.tcp(config.grpcPort),
      'Media node gRPC API',
    );
    // Channels that span nodes: the channel's home node calls the far node's gRPC API (same shared secret)
    // and the two connect mediasoup PipeTransports (SRTP) over UDP. Both only from the nodes' own group:
    // not the world, not the VPC. Egress is open (allowAllOutbound), so ingress is all it takes.
    const pipe = pipePortRange(config);
    this.mediaSecurityGroup.addIngressRule(
      this.mediaSecurityGroup,
      pipe.min === pipe.max ? ec2.Port.udp(pipe.min) : ec2.Port.udpRange(pipe.min, pipe.max),
      'Node-to-node pipe transports (SRTP over UDP), from other media nodes only',
    );
    this.mediaSecurityGroup.addIngressRule(
      this.mediaSecurityGroup,
      ec2.Port.tcp(config.grpcPort),
      'Media node gRPC API, from other media nodes (the home node of a spanning channel)',
    );

    if (config.relays) {
      // Never an open relay: whatever coturn is asked, this group lets relayed media out only to the media nodes'
      // relay-peer ports (and HTTPS for packages, Secrets Manager and logs at boot).
      const relays = (this.relaySecurityGroup = new ec2.SecurityGroup(this, 'RelaySecurityGroup', {
        vpc: this.vpc,
        description:
          'TURN relays: TURN from clients (through the NLB, client addresses kept), relayed UDP to media nodes only',
        allowAllOutbound: false,
      }));
      relays.addIngressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(RELAY_TURN_PORT),
        'TURN over TCP (behind the NLB TLS listener on 443)',
      );
      relays.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.udp(RELAY_TURN_PORT), 'TURN over UDP (through the NLB)');
      Validations.of(relays).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'TURN clients anywhere reach the relays through the NLB, which keeps their addresses; only the TURN port is open.',
      });
      relays.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(443),
        'HTTPS: packages at boot, Secrets Manager, CloudWatch Logs',
      );
      const peerLast = config.relayPeerPortBase + config.mediaWorkers - 1;
      const peerPorts =
        peerLast === config.relayPeerPortBase
          ? ec2.Port.udp(peerLast)
          : ec2.Port.udpRange(config.relayPeerPortBase, peerLast);
      relays.addEgressRule(
        this.mediaSecurityGroup,
        peerPorts,
        "Relayed media to the media nodes' relay-peer ports only",
      );
      this.mediaSecurityGroup.addIngressRule(
        relays,
        peerPorts,
        'Relayed media from the TURN relays (relay-peer ports, private addresses)',
      );
    }
  }
}
