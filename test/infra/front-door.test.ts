// The front door and the concurrency bounds, as synthesized: CloudFront in front of the WebSocket
// API with a WAF WebACL (scope CLOUDFRONT, in us-east-1, reached by a cross-region reference) whose rate-based rule
// limits upgrades per client IP; WebSocket headers and Authorization forwarded, nothing cached; reserved
// concurrency for the reaper (never 0), $connect and $default.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { DEFAULTS } from '../../infra/config';
import { FRONT_DOOR_HEADER } from '../../functions/handlers/front-door-check';
import { FRONT_DOOR_WAF_REGION, FRONT_DOOR_WINDOW_SECONDS, REDACTED_HEADERS } from '../../infra/signalling/front-door';
import { resourcesOf, synthVoiceApp, type Synthesized } from './synth';

type Json = any;
/** Managed policy ids (CloudFront's documented constants). */
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

let s: Synthesized;
before(() => {
  s = synthVoiceApp({ skipBundling: true });
});

describe('front door (on by default)', () => {
  it("puts the WebACL in us-east-1 with scope CLOUDFRONT, and the distribution in the app's region", () => {
    assert.ok(s.frontDoor, 'built by default');
    assert.equal(s.frontDoor.waf.region, FRONT_DOOR_WAF_REGION);
    assert.equal(s.frontDoor.distribution.region, 'eu-west-1');
    const [, acl] = resourcesOf(s.templates.frontDoorWaf!, 'AWS::WAFv2::WebACL')[0]!;
    assert.equal(acl.Properties.Scope, 'CLOUDFRONT');
    assert.deepEqual(acl.Properties.DefaultAction, { Allow: {} });
  });

  it('limits upgrades per client IP with a rate-based rule over every request (401s count), answering 429', () => {
    const [, acl] = resourcesOf(s.templates.frontDoorWaf!, 'AWS::WAFv2::WebACL')[0]!;
    const rules = acl.Properties.Rules as Json[];
    assert.equal(rules.length, 1);
    const [rule] = rules;
    assert.deepEqual(
      rule.Statement,
      {
        RateBasedStatement: {
          AggregateKeyType: 'IP',
          Limit: DEFAULTS.frontDoorUpgradesPerIpPerMinute,
          EvaluationWindowSec: FRONT_DOOR_WINDOW_SECONDS,
        },
      },
      'no scope-down: every upgrade, whatever the API answers, is counted',
    );
    assert.deepEqual(rule.Action, { Block: { CustomResponse: { ResponseCode: 429 } } });
    assert.equal(rule.VisibilityConfig.CloudWatchMetricsEnabled, true);
    const other = synthVoiceApp({ skipBundling: true, context: { frontDoorUpgradesPerIpPerMinute: 30 } });
    const [, otherAcl] = resourcesOf(other.templates.frontDoorWaf!, 'AWS::WAFv2::WebACL')[0]!;
    assert.equal(otherAcl.Properties.Rules[0].Statement.RateBasedStatement.Limit, 30, 'configurable');
  });

  it('logs WAF decisions to aws-waf-logs-* with the token headers redacted', () => {
    const [, logging] = resourcesOf(s.templates.frontDoorWaf!, 'AWS::WAFv2::LoggingConfiguration')[0]!;
    assert.deepEqual(
      logging.Properties.RedactedFields,
      REDACTED_HEADERS.map((name) => ({ SingleHeader: { Name: name } })),
    );
    assert.match(
      JSON.stringify(logging.Properties.LogDestinationConfigs),
      /:log-group:",\{"Ref":"WafLogs[0-9A-F]+"\}\]\]\}\]$/,
      'the group\'s ARN without ":*"',
    );
    const [, group] = resourcesOf(s.templates.frontDoorWaf!, 'AWS::Logs::LogGroup')[0]!;
    assert.equal(group.Properties.LogGroupName, 'aws-waf-logs-HarmonyVoice', 'WAF requires the aws-waf-logs- prefix');
  });

  it('the distribution: the API as its HTTPS origin, the WebACL from us-east-1, no caching, all viewer headers but Host', () => {
    const [, dist] = resourcesOf(s.templates.frontDoor!, 'AWS::CloudFront::Distribution')[0]!;
    const config = dist.Properties.DistributionConfig;
    // The WebACL ARN crosses regions through CDK's reader (SSM parameters the WAF stack writes into this region).
    assert.match(JSON.stringify(config.WebACLId), /ExportsReader/);
    const [originConfig] = config.Origins as Json[];
    assert.match(JSON.stringify(originConfig.DomainName), /execute-api\.eu-west-1\./);
    assert.equal(originConfig.CustomOriginConfig.OriginProtocolPolicy, 'https-only');
    assert.deepEqual(originConfig.CustomOriginConfig.OriginSSLProtocols, ['TLSv1.2']);
    const behavior = config.DefaultCacheBehavior;
    assert.equal(behavior.CachePolicyId, CACHING_DISABLED);
    // Sec-WebSocket-Key/-Version/-Protocol/-Extensions and Authorization (which an origin request policy may not
    // list by name) reach the API; Host does not (API Gateway routes on its own host name).
    assert.equal(behavior.OriginRequestPolicyId, ALL_VIEWER_EXCEPT_HOST_HEADER);
    assert.equal(behavior.ViewerProtocolPolicy, 'https-only');
    assert.deepEqual(behavior.AllowedMethods, ['GET', 'HEAD']);
  });

  it('sends a secret origin header that $connect alone requires (a direct upgrade to the API is refused)', () => {
    const [, dist] = resourcesOf(s.templates.frontDoor!, 'AWS::CloudFront::Distribution')[0]!;
    const [originConfig] = dist.Properties.DistributionConfig.Origins as Json[];
    const headers = originConfig.OriginCustomHeaders as Json[];
    assert.deepEqual(
      headers.map((h) => h.HeaderName),
      [FRONT_DOOR_HEADER],
    );
    assert.match(
      JSON.stringify(headers[0].HeaderValue),
      /\{\{resolve:secretsmanager:/,
      'resolved at deploy time, not in the template',
    );
    const resources = s.templates.signalling.toJSON().Resources as Record<string, Json>;
    for (const name of ['connect', 'default', 'disconnect', 'reaper'] as const) {
      const id = s.signalling.getLogicalId(s.signalling.functions[name].fn.node.defaultChild as never);
      const value = resources[id].Properties.Environment.Variables.VOICE_FRONT_DOOR_SECRET;
      if (name === 'connect') assert.match(JSON.stringify(value), /\{\{resolve:secretsmanager:.*FrontDoorSecret/);
      else assert.equal(value, undefined, `${name} does not get it`);
    }
  });

  it("gives clients the distribution's URL", () => {
    const outputs = s.templates.frontDoor!.toJSON().Outputs as Record<string, Json>;
    const url = JSON.stringify(outputs.WebSocketUrl.Value);
    assert.match(url, /wss:\/\//);
    assert.match(url, /DomainName/);
    assert.match(url, /\/v1"/);
  });

  it('without the front door (-c frontDoor=false) nothing of it is synthesized', () => {
    const off = synthVoiceApp({ skipBundling: true, context: { frontDoor: false } });
    assert.equal(off.frontDoor, undefined);
    assert.equal(off.app.node.tryFindChild('HarmonyVoice-FrontDoorWaf'), undefined);
    assert.equal(off.signalling.frontDoorSecret, undefined, 'and $connect checks no origin header');
  });
});

describe('token bound', () => {
  it('every handler gets VOICE_TOKEN_GRACE_SECONDS from tokenGraceSeconds', () => {
    const other = synthVoiceApp({ skipBundling: true, context: { tokenGraceSeconds: 30 } });
    for (const [t, expected] of [
      [s, String(DEFAULTS.tokenGraceSeconds)],
      [other, '30'],
    ] as const) {
      const resources = t.templates.signalling.toJSON().Resources as Record<string, Json>;
      for (const name of ['connect', 'default', 'disconnect', 'reaper'] as const) {
        const id = t.signalling.getLogicalId(t.signalling.functions[name].fn.node.defaultChild as never);
        assert.equal(resources[id].Properties.Environment.Variables.VOICE_TOKEN_GRACE_SECONDS, expected, name);
      }
    }
  });
});

describe('concurrency', () => {
  const reserved = (t: Synthesized, name: 'connect' | 'default' | 'disconnect' | 'reaper') => {
    const id = t.signalling.getLogicalId(t.signalling.functions[name].fn.node.defaultChild as never);
    return t.templates.signalling.toJSON().Resources[id].Properties.ReservedConcurrentExecutions;
  };

  it('reserves concurrency for the reaper by default (never 0) and bounds $connect and $default', () => {
    assert.ok(DEFAULTS.reaperReservedConcurrency >= 1);
    assert.equal(reserved(s, 'reaper'), DEFAULTS.reaperReservedConcurrency);
    assert.equal(reserved(s, 'connect'), DEFAULTS.connectReservedConcurrency);
    assert.equal(reserved(s, 'default'), DEFAULTS.defaultReservedConcurrency);
  });

  it('takes the three from context', () => {
    const other = synthVoiceApp({
      skipBundling: true,
      context: { reaperReservedConcurrency: 8, connectReservedConcurrency: 20, defaultReservedConcurrency: 40 },
    });
    assert.deepEqual([reserved(other, 'reaper'), reserved(other, 'connect'), reserved(other, 'default')], [8, 20, 40]);
  });
});
