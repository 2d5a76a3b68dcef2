// The CDK app (entry: infra/main.ts, run by `npx cdk synth|deploy` through cdk.json). Four stacks:
//   <prefix>-Network     VPC, NAT, DynamoDB gateway endpoint, the two security groups
//   <prefix>-Data        DynamoDB tables (data/tables.ts) and the media node gRPC secret
//   <prefix>-Signalling  WebSocket API, the Lambda handlers, the reaper schedule
//   <prefix>-MediaFleet  media node Auto Scaling group
//   <prefix>-Relays      TURN relays behind an NLB (TLS on 443), with `-c relays=true` (infra/relay-stack.ts)
//   <prefix>-FrontDoorWaf (us-east-1) and <prefix>-FrontDoor: CloudFront + WAF per-IP limits in front of the API
//                        (infra/signalling/front-door.ts; on by default, `-c frontDoor=false` leaves them out)
// cdk-nag's AwsSolutions pack validates every stack at synth; findings fail the synth.
import { type App, Validations, type Environment } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext, type InfraConfig } from './config';
import { DataStack } from './data-stack';
import { MediaFleetStack } from './media-fleet-stack';
import { NetworkStack } from './network-stack';
import { RelayStack } from './relay-stack';
import { SignallingStack } from './signalling-stack';
import { apiGatewayLogsRole } from './signalling/account-logs-role';
import { FrontDoorStack, FrontDoorWafStack } from './signalling/front-door';

export interface VoiceStacks {
  readonly config: InfraConfig;
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly signalling: SignallingStack;
  readonly mediaFleet: MediaFleetStack;
  /** With `-c relays=true`. */
  readonly relays?: RelayStack;
  /** Absent with `-c frontDoor=false`. */
  readonly frontDoor?: { readonly waf: FrontDoorWafStack; readonly distribution: FrontDoorStack };
}

/** Adds the service's stacks (and the cdk-nag checks) to `app`, configured from its context. */
export function buildVoiceApp(app: App, env: NodeJS.ProcessEnv = process.env): VoiceStacks {
  const config = configFromContext((key) => app.node.tryGetContext(key), env);
  const environment: Environment | undefined =
    config.region || config.account ? { region: config.region, account: config.account } : undefined;
  const common = { env: environment, config };
  const name = (part: string) => `${config.stackPrefix}-${part}`;

  const network = new NetworkStack(app, name('Network'), {
    ...common,
    description: 'Harmony voice: VPC and security groups',
  });
  // Made a stack ahead of its use, so IAM has propagated it when API Gateway checks it (signalling/account-logs-role.ts).
  const logsRole = config.apiGatewayAccountLogsRole ? apiGatewayLogsRole(network) : undefined;
  const data = new DataStack(app, name('Data'), {
    ...common,
    description: 'Harmony voice: DynamoDB state and the media node secret',
  });
  const signalling = new SignallingStack(app, name('Signalling'), {
    ...common,
    description: 'Harmony voice: WebSocket API and Lambda signalling',
    vpc: network.vpc,
    functionsSecurityGroup: network.functionsSecurityGroup,
    stateTable: data.stateTable,
    nodesTable: data.nodesTable,
    mediaNodeSecret: data.mediaNodeSecret,
    relaySecret: data.relaySecret,
    apiGatewayLogsRole: logsRole,
  });
  const mediaFleet = new MediaFleetStack(app, name('MediaFleet'), {
    ...common,
    description: 'Harmony voice: mediasoup media node fleet',
    vpc: network.vpc,
    mediaSecurityGroup: network.mediaSecurityGroup,
    nodesTable: data.nodesTable,
    mediaNodeSecret: data.mediaNodeSecret,
    mediaSpanSecret: data.mediaSpanSecret,
  });

  const relays = config.relays
    ? new RelayStack(app, name('Relays'), {
        ...common,
        description: 'Harmony voice: TURN relays (coturn) behind an NLB, TLS on 443',
        vpc: network.vpc,
        relaySecurityGroup: network.relaySecurityGroup!,
        relaySecret: data.relaySecret!,
      })
    : undefined;

  let frontDoor: VoiceStacks['frontDoor'];
  if (config.frontDoor) {
    const waf = new FrontDoorWafStack(app, name('FrontDoorWaf'), {
      ...common,
      description: "Harmony voice: the front door's WAF WebACL (CloudFront scope, us-east-1)",
    });
    const distribution = new FrontDoorStack(app, name('FrontDoor'), {
      ...common,
      description: 'Harmony voice: CloudFront front door of the WebSocket API',
      apiId: signalling.api.apiId,
      stageName: signalling.stage.stageName,
      webAclArn: waf.webAcl.attrArn,
      originSecret: signalling.frontDoorSecret!,
    });
    frontDoor = { waf, distribution };
  }

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, network, data, signalling, mediaFleet, relays, frontDoor };
}
