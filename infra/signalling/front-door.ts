// The front door: per-IP limits in front of the WebSocket API. API Gateway WebSocket APIs cannot
// be associated with AWS WAF, so the documented answer is CloudFront in front of the API with a WAF WebACL on the
// distribution. Two stacks, because a CloudFront WebACL (scope CLOUDFRONT) must be created in us-east-1:
//   <prefix>-FrontDoorWaf  (us-east-1)       the WebACL: a rate-based rule per client IP over every upgrade
//                                            request (whatever the API answers: a 401 counts like a 101), and its
//                                            logs (aws-waf-logs-<prefix>, token headers redacted)
//   <prefix>-FrontDoor     (the app's region) the distribution; its WebACL ARN comes from the WAF stack through a
//                                            CDK cross-region reference (SSM parameters written into this region)
// The distribution forwards every viewer header but Host (managed origin request policy AllViewerExceptHostHeader:
// Sec-WebSocket-Key/-Version/-Protocol/-Extensions and Authorization reach the API; an origin request policy may
// not name Authorization itself) and caches nothing (managed CachingDisabled). Clients connect to
// wss://<distribution>/<stage>. The API's own execute-api endpoint stays reachable (WebSocket APIs take no
// resource policy), so CloudFront adds a secret origin header (x-harmony-front-door, from a Secrets Manager
// secret of the signalling stack) that $connect requires (functions/handlers/front-door-check.ts): a direct
// upgrade is refused (403) before any token work.
// WAF sees only the upgrade request: frames after it are limited by the stage throttle and per-connection limits.
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type { HandlerFunction } from './handler-function';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { FRONT_DOOR_HEADER } from '../../functions/handlers/front-door-check';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';

/** CloudFront's WAF scope lives in this region only. */
export const FRONT_DOOR_WAF_REGION = 'us-east-1';
/** Evaluation window of the per-IP rule (WAF accepts 60, 120, 300, 600 s). */
export const FRONT_DOOR_WINDOW_SECONDS = 60;
/** Headers WAF logs never contain: the session token travels in one of them. */
export const REDACTED_HEADERS = ['authorization', 'sec-websocket-protocol'] as const;

export interface FrontDoorWafStackProps extends StackProps {
  readonly config: InfraConfig;
}

/** The rules of the front door's WebACL (pure: template tests read them back). */
export function frontDoorRules(
  config: Pick<InfraConfig, 'stackPrefix' | 'frontDoorUpgradesPerIpPerMinute'>,
): wafv2.CfnWebACL.RuleProperty[] {
  return [
    {
      name: 'upgrades-per-ip',
      priority: 0,
      // Every request counts, whatever the origin answers (WAF decides before the request reaches API Gateway).
      statement: {
        rateBasedStatement: {
          aggregateKeyType: 'IP',
          limit: config.frontDoorUpgradesPerIpPerMinute,
          evaluationWindowSec: FRONT_DOOR_WINDOW_SECONDS,
        },
      },
      action: { block: { customResponse: { responseCode: 429 } } },
      visibilityConfig: {
        cloudWatchMetricsEnabled: true,
        sampledRequestsEnabled: true,
        metricName: `${config.stackPrefix}-upgrades-per-ip`,
      },
    },
  ];
}

export class FrontDoorWafStack extends Stack {
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: FrontDoorWafStackProps) {
    super(scope, id, { ...props, env: { ...props.env, region: FRONT_DOOR_WAF_REGION } });
    const { config } = props;
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${config.stackPrefix}-front-door`,
      description: 'Harmony voice front door: WebSocket upgrades per client IP',
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      rules: frontDoorRules(config),
      visibilityConfig: {
        cloudWatchMetricsEnabled: true,
        sampledRequestsEnabled: true,
        metricName: `${config.stackPrefix}-front-door`,
      },
    });
    // WAF's own logs (name prefix required by WAF): who was blocked, by IP; the token headers are redacted.
    const logGroup = new logs.LogGroup(this, 'WafLogs', {
      logGroupName: `aws-waf-logs-${config.stackPrefix}`,
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: this.webAcl.attrArn,
      // WAF takes the log group ARN without the ":*" CloudFormation's Arn attribute ends with.
      logDestinationConfigs: [
        this.formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: logGroup.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      redactedFields: REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })),
    }).node.addDependency(logGroup);
  }
}

/**
 * The front door's origin secret, in the signalling stack: `$connect` gets it as VOICE_FRONT_DOOR_SECRET (a
 * CloudFormation dynamic reference resolved at deploy time), the distribution sends it as an origin header.
 */
export function frontDoorOriginSecret(scope: Construct, connect: HandlerFunction): secretsmanager.ISecret {
  const secret = new secretsmanager.Secret(scope, 'FrontDoorSecret', {
    description: 'Origin header value CloudFront adds and $connect requires (direct upgrades to the API are refused)',
    generateSecretString: { passwordLength: 40, excludePunctuation: true, includeSpace: false },
    removalPolicy: RemovalPolicy.DESTROY,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'Rotating it means redeploying both the distribution and $connect (their values are resolved at deploy time).',
  });
  connect.fn.addEnvironment('VOICE_FRONT_DOOR_SECRET', secret.secretValue.unsafeUnwrap());
  return secret;
}

export interface FrontDoorStackProps extends StackProps {
  readonly config: InfraConfig;
  /** The value of the origin header $connect requires (frontDoorOriginSecret). */
  readonly originSecret: secretsmanager.ISecret;
  /** The WebSocket API's id and stage (the origin is `<apiId>.execute-api.<region>.<suffix>`). */
  readonly apiId: string;
  readonly stageName: string;
  readonly webAclArn: string;
}

export class FrontDoorStack extends Stack {
  readonly distribution: cloudfront.Distribution;
  /** What clients connect to. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: FrontDoorStackProps) {
    super(scope, id, { ...props, crossRegionReferences: true });
    const origin = new origins.HttpOrigin(`${props.apiId}.execute-api.${this.region}.${this.urlSuffix}`, {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      // The upgrade's answer comes after $connect ran (token verification, a DynamoDB write): well within 30 s.
      readTimeout: Duration.seconds(30),
      customHeaders: { [FRONT_DOOR_HEADER]: props.originSecret.secretValue.unsafeUnwrap() },
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${props.config.stackPrefix} voice front door (WebSocket, WAF per IP)`,
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        compress: false,
      },
      webAclId: props.webAclArn,
      enableIpv6: true,
    });
    this.url = `wss://${this.distribution.distributionDomainName}/${props.stageName}`;
    this.acknowledgeFindings();
    new CfnOutput(this, 'WebSocketUrl', {
      description:
        'Clients connect here: CloudFront with WAF per-IP limits in front of the WebSocket API (subprotocol hrpc1.base64)',
      value: this.url,
    });
  }

  private acknowledgeFindings(): void {
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'An open community service: no country is refused; abuse is limited per IP by the WAF rate rule instead.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      reason:
        'WAF logs every request the distribution gets (aws-waf-logs-*, client IP, rule, tokens redacted); no S3 log bucket on top.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        'The default *.cloudfront.net certificate fixes the viewer minimum at TLSv1; a custom domain with TLSv1.2_2021 is the upgrade.',
    });
  }
}
