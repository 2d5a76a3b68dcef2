// cdk-nag's AwsSolutions pack over the whole app: no finding left unacknowledged (errors or warnings),
// every acknowledgement explains itself in one line and still matches a real finding. Synthesized
// without bundling (asset contents do not change what cdk-nag sees); stacks.test.ts bundles for real.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { resourcesOf, synthVoiceApp } from './synth';

interface Finding {
  rule: string;
  path: string;
}

/** What the pack reports for `scope` (errors and warnings alike); `raw` ignores every acknowledgement. */
function findings(scope: IConstruct, raw = false): Finding[] {
  const pack = new AwsSolutionsChecks();
  if (raw) (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  const report = pack.validateScope(scope);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => ({ rule: v.ruleName, path: r.constructPath ?? '' })),
  );
}

/** Every acknowledgement in the tree: rule id, where, why. */
function acknowledgements(scope: IConstruct): { id: string; path: string; reason: string }[] {
  const out: { id: string; path: string; reason: string }[] = [];
  const visit = (c: IConstruct) => {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY || !entry.data) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>))
        out.push({ id: id.replace(/^annotation::/i, ''), path: c.node.path, reason });
    }
    c.node.children.forEach(visit);
  };
  visit(scope);
  return out;
}

function checkApp(context: Record<string, unknown>) {
  const s = synthVoiceApp({ context, skipBundling: true }); // app.synth() itself fails on unacknowledged errors
  const remaining = findings(s.app);
  assert.deepEqual(
    remaining,
    [],
    `unacknowledged AwsSolutions findings:\n${remaining.map((f) => `${f.rule} at ${f.path}`).join('\n')}`,
  );

  const raw = findings(s.app, true);
  assert.ok(raw.length > 0, 'the pack does see the acknowledged findings');
  const acks = acknowledgements(s.app);
  for (const ack of acks) {
    assert.match(ack.reason, /^[^\n]{20,300}$/, `${ack.id} at ${ack.path}: a one-line reason`);
    if (!ack.id.startsWith('AwsSolutions-')) continue;
    const used = raw.some((f) => f.rule === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)));
    assert.ok(used, `acknowledgement ${ack.id} at ${ack.path} matches a real finding (not stale)`);
  }
  for (const f of raw) {
    assert.ok(
      acks.some((a) => a.id === f.rule && (f.path === a.path || f.path.startsWith(`${a.path}/`))),
      `${f.rule} at ${f.path} is acknowledged`,
    );
  }
  return { s, acks };
}

describe('cdk-nag AwsSolutions', () => {
  it('passes the default configuration with every suppression reasoned and in use', () => {
    const { acks } = checkApp({});
    const rules = new Set(acks.filter((a) => a.id.startsWith('AwsSolutions-')).map((a) => a.id.replace(/\[.*$/, '')));
    // The deliberate exceptions, and nothing else (CFR1/3/4: the front door's distribution, infra/signalling/front-door.ts).
    assert.deepEqual([...rules].sort(), [
      'AwsSolutions-APIG4',
      'AwsSolutions-AS3',
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR3',
      'AwsSolutions-CFR4',
      'AwsSolutions-EC23',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-SMG4',
    ]);
    // No runtime exception: the handlers run the latest Node.js runtime, nothing deprecated is acknowledged.
    assert.ok(!acks.some((a) => a.id === 'AwsSolutions-L1' || a.id.endsWith('W2531')), 'no runtime acknowledgements');
  });

  it('passes a different configuration (concrete region, one worker, Session Manager, retained data)', () => {
    const { s, acks } = checkApp({
      region: 'eu-west-1',
      mediaWorkers: 1,
      sessionManager: true,
      dataRemoval: 'retain',
      natGateways: 2,
    });
    for (const [, table] of resourcesOf(s.templates.data, 'AWS::DynamoDB::Table'))
      assert.equal(table.DeletionPolicy, 'Retain');
    s.templates.network.resourceCountIs('AWS::EC2::NatGateway', 2);
    s.templates.network.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupIngress: [
        {
          CidrIp: '0.0.0.0/0',
          IpProtocol: 'udp',
          FromPort: 40000,
          ToPort: 40000,
          Description: 'WebRtcServer UDP (one port per worker)',
        },
        {
          CidrIp: '0.0.0.0/0',
          IpProtocol: 'tcp',
          FromPort: 40000,
          ToPort: 40000,
          Description: 'WebRtcServer TCP fallback (one port per worker)',
        },
        {
          CidrIp: '0.0.0.0/0',
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          Description: 'WebRtcServer ICE over TCP on 443 (+ worker index)',
        },
      ],
    });
    const fleet = JSON.stringify(s.templates.mediaFleet.toJSON());
    assert.doesNotMatch(fleet, /AmazonSSMManagedInstanceCore/, 'Session Manager without the managed policy');
    assert.match(fleet, /ssmmessages:OpenDataChannel/);
    assert.doesNotMatch(fleet, /ssm:GetParameter/, 'no parameter read on the nodes');
    assert.ok(
      !acks.some((a) => /AmazonSSMManagedInstanceCore|ssm:GetParameter/.test(a.id)),
      'nothing account-wide acknowledged',
    );
    for (const [, fn] of resourcesOf(s.templates.signalling, 'AWS::Lambda::Function'))
      assert.equal(fn.Properties.Runtime, 'nodejs24.x');
    assert.ok(
      !acks.some((a) => a.id === 'AwsSolutions-L1' || a.id.endsWith('W2531')),
      'no runtime exceptions on the latest runtime',
    );
  });

  it('passes with TURN relays (NLB, relay fleet, relay secret), their exceptions reasoned', () => {
    const { s, acks } = checkApp({
      relays: true,
      relayDomain: 'relay.voice.example.com',
      relayCertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    });
    assert.ok(s.relays, 'the Relays stack is there');
    const onRelays = acks
      .filter((a) => a.path.startsWith(s.relays!.node.path) || /Relay/.test(a.path))
      .map((a) => a.id.replace(/\[.*$/, ''));
    assert.deepEqual([...new Set(onRelays)].sort(), [
      'AwsSolutions-AS3',
      'AwsSolutions-EC23',
      'AwsSolutions-ELB2',
      'AwsSolutions-SMG4',
    ]);
  });

  it('passes without the front door, environment-agnostic (no region)', () => {
    const { s } = checkApp({ frontDoor: false, region: '' });
    assert.equal(s.frontDoor, undefined);
    assert.equal(s.config.region, undefined);
  });

  it('catches a violation it has not been told about (control)', () => {
    const app = new App();
    const stack = new Stack(app, 'Control');
    const sg = new ec2.SecurityGroup(stack, 'Open', {
      vpc: new ec2.Vpc(stack, 'Vpc', { natGateways: 0 }),
      description: 'open',
    });
    sg.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));
    Template.fromStack(stack); // synthesizes without the plugin registered
    assert.ok(findings(app).some((f) => f.rule === 'AwsSolutions-EC23' && f.path.startsWith('Control/Open')));
  });
});
