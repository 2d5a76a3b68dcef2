// TURN relays on AWS (infra/relay-stack.ts, `-c relays=true`): template assertions. The relays are never an open
// relay (coturn denies every peer outside the VPC, their security group sends relayed media only to the media
// nodes' relay-peer ports), TLS on 443 with the operator's certificate at the NLB, the shared secret in Secrets
// Manager and read only by `$default` and the relays, alarms; none of it without the flag. cdk-nag: nag.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { configFromContext, DEFAULTS } from '../../infra/config';
import { relayTurnserverConf } from '../../infra/relay/boot';
import { relayCostPerUserHour, RELAY_COST_DEFAULTS } from '../../infra/relay/cost';
import { resourcesOf, synthVoiceApp } from './synth';

const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const RELAYS = { relays: true, relayDomain: 'relay.voice.example.com', relayCertificateArn: CERT };
type Json = Record<string, any>;

function functionEnv(t: Template, idPrefix: string): Record<string, unknown> {
  const [, fn] = resourcesOf(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith(idPrefix))!;
  return fn.Properties.Environment.Variables;
}

describe('TURN relays on AWS', () => {
  it('none without -c relays=true: no Relays stack, no relay variables, no relay secret', () => {
    const s = synthVoiceApp({ skipBundling: true });
    assert.equal(s.relays, undefined);
    assert.equal(s.data.relaySecret, undefined);
    for (const prefix of ['ConnectHandler', 'DefaultHandler', 'DisconnectHandler', 'ReaperHandler']) {
      assert.ok(
        !Object.keys(functionEnv(s.templates.signalling, prefix)).some((k) => k.startsWith('VOICE_RELAY_')),
        prefix,
      );
    }
  });

  it('with relays: an NLB with TLS on 443 (the configured certificate) and UDP 3478, to an Auto Scaling group of relays in private subnets', () => {
    const s = synthVoiceApp({ skipBundling: true, context: RELAYS });
    const t = Template.fromStack(s.relays!);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'network',
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'TLS',
      Certificates: [{ CertificateArn: CERT }],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 3478, Protocol: 'UDP' });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 3478,
      Protocol: 'TCP',
      TargetType: 'instance',
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 3478, Protocol: 'UDP' });
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: String(DEFAULTS.relayMinNodes),
      MaxSize: String(DEFAULTS.relayMaxNodes),
    });
    t.hasOutput('RelayLoadBalancerDns', {});
    // Alarms: below minimum, unhealthy TCP and UDP targets, CPU.
    const alarms = resourcesOf(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    assert.equal(alarms.length, 4);
    assert.ok(alarms.some((a) => a.MetricName === 'GroupInServiceInstances'));
    assert.equal(alarms.filter((a) => a.MetricName === 'UnHealthyHostCount').length, 2);
    assert.ok(alarms.some((a) => a.MetricName === 'CPUUtilization'));
  });

  it("never an open relay: coturn denies every peer outside the VPC, no TCP relay; the security group sends relayed media only to the media nodes' relay-peer ports", () => {
    const s = synthVoiceApp({ skipBundling: true, context: RELAYS });
    const userData = JSON.stringify(Template.fromStack(s.relays!).toJSON());
    for (const line of [
      'use-auth-secret',
      'denied-peer-ip=0.0.0.0-255.255.255.255',
      'allowed-peer-ip=$peers',
      'no-tcp-relay',
      'no-multicast-peers',
      'no-cli',
      'user-quota=4',
    ]) {
      assert.ok(userData.includes(line), line);
    }
    assert.match(userData, /secretsmanager get-secret-value/, 'the secret is read at boot, never in the template');
    const net = s.templates.network.toJSON().Resources as Record<string, Json>;
    const [relaySgId] = Object.entries(net).find(
      ([, r]) => r.Type === 'AWS::EC2::SecurityGroup' && /TURN relays/.test(r.Properties.GroupDescription),
    )!;
    const relaySg = net[relaySgId]!.Properties;
    assert.deepEqual(relaySg.SecurityGroupIngress.map((r: Json) => `${r.IpProtocol}/${r.FromPort}`).sort(), [
      'tcp/3478',
      'udp/3478',
    ]);
    assert.deepEqual(
      relaySg.SecurityGroupEgress.map((r: Json) => `${r.IpProtocol}/${r.FromPort}/${r.CidrIp ?? 'sg'}`),
      ['tcp/443/0.0.0.0/0'],
    );
    const egress = Object.values(net).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupEgress' && JSON.stringify(r.Properties.GroupId).includes(relaySgId),
    );
    assert.deepEqual(
      egress.map((r) => [r.Properties.IpProtocol, r.Properties.FromPort, r.Properties.ToPort]),
      [['udp', DEFAULTS.relayPeerPortBase, DEFAULTS.relayPeerPortBase + DEFAULTS.mediaWorkers - 1]],
    );
    assert.ok(
      JSON.stringify(egress[0]!.Properties.DestinationSecurityGroupId).includes('MediaSecurityGroup'),
      'to the media nodes only',
    );
    const ingress = Object.values(net).filter(
      (r) =>
        r.Type === 'AWS::EC2::SecurityGroupIngress' &&
        JSON.stringify(r.Properties.SourceSecurityGroupId ?? '').includes(relaySgId),
    );
    assert.deepEqual(
      ingress.map((r) => [r.Properties.IpProtocol, r.Properties.FromPort]),
      [['udp', DEFAULTS.relayPeerPortBase]],
    );
    // The media nodes listen there on their private address (install.sh adds MEDIA_RELAY_PEER_IP).
    assert.match(
      JSON.stringify(s.templates.mediaFleet.toJSON()),
      new RegExp(`MEDIA_RELAY_PEER_PORT_BASE=${DEFAULTS.relayPeerPortBase}`),
    );
  });

  it('$default alone gets the relay urls and reads the relay secret from Secrets Manager', () => {
    const s = synthVoiceApp({ skipBundling: true, context: RELAYS });
    const t = s.templates.signalling;
    const env = functionEnv(t, 'DefaultHandler');
    assert.equal(
      env.VOICE_RELAY_URLS,
      'turns:relay.voice.example.com:443?transport=tcp,turn:relay.voice.example.com:3478?transport=udp',
    );
    assert.ok(env.VOICE_RELAY_SECRET_ARN, 'the secret by ARN');
    assert.equal(env.VOICE_RELAY_SECRET, undefined, 'never the secret itself');
    for (const prefix of ['ConnectHandler', 'DisconnectHandler', 'ReaperHandler']) {
      assert.ok(!Object.keys(functionEnv(t, prefix)).some((k) => k.startsWith('VOICE_RELAY_')), prefix);
    }
    const policies = resourcesOf(t, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p).includes('RelaySecret'));
    assert.equal(policies.length, 1);
    assert.match(JSON.stringify(policies[0]![1].Properties.Roles), /DefaultHandler/);
  });

  it('refuses relays without a domain or an ACM certificate, or with peer ports on another port of the nodes', () => {
    const read = (ctx: Record<string, unknown>) => () =>
      configFromContext((k) => ({ tokenAudience: 'x', region: 'eu-west-1', ...ctx })[k], {});
    assert.throws(read({ relays: true, relayCertificateArn: CERT }), /relayDomain/);
    assert.throws(read({ relays: true, relayDomain: 'relay.example.com' }), /relayCertificateArn/);
    assert.throws(read({ ...RELAYS, relayPeerPortBase: DEFAULTS.rtcPortBase }), /relayPeerPortBase/);
    assert.equal(read(RELAYS)().relays, true);
  });

  it('the turnserver.conf lines and the cost model', () => {
    const conf = relayTurnserverConf({ realm: 'r', userQuota: 4, totalQuota: 10 });
    assert.ok(conf.includes('no-tls') && conf.includes('listening-port=3478'), 'plain TURN behind the NLB');
    const cost = relayCostPerUserHour();
    assert.ok(cost.perUserHour > 0 && cost.perUserHour < 0.01, `per user-hour ${cost.perUserHour}`);
    assert.equal(cost.parts.instances, RELAY_COST_DEFAULTS.instancePerHour / RELAY_COST_DEFAULTS.usersPerInstance);
  });
});
