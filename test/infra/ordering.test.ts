// Deployment ordering: every template property that names another resource of its stack by key or
// literal name has a dependency on it, so CloudFormation cannot create the namer first. On main 2cfbf0d the
// WebSocket stage's RouteSettings named `$connect` with no dependency on the route: API Gateway refuses such a
// stage and the first `cdk deploy` rolled back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nameReferences, unorderedReferences, type TemplateJson } from '../../infra/conformance/ordering';
import { resourcesOf, synthVoiceApp } from './synth';

describe('deployment ordering', () => {
  const s = synthVoiceApp({ skipBundling: true });
  const templates = Object.entries(s.templates).map(([name, t]) => [name, t.toJSON() as TemplateJson] as const);

  it('every resource named by key or name is created before the resource naming it (all stacks)', () => {
    for (const [name, template] of templates) {
      const missing = unorderedReferences(template);
      assert.deepEqual(
        missing,
        [],
        `${name}: ${missing.map((m) => `${m.from} names ${m.to} by ${m.via} without depending on it`).join('\n')}`,
      );
    }
  });

  it('finds the names there are (the check is not vacuous): the stage names $connect; a literal group name is caught', () => {
    const signalling = templates.find(([n]) => n === 'signalling')![1];
    const [stageId] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Stage')[0]!;
    const [routeId] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Route').find(
      ([, r]) => r.Properties.RouteKey === '$connect',
    )!;
    assert.deepEqual(
      nameReferences(signalling).filter((r) => r.from === stageId),
      [{ from: stageId, to: routeId, via: 'RouteSettings.$connect' }],
    );
    // A resource naming the group by its literal name instead of a Ref (the drain hook, rewritten) is caught.
    const fleet = structuredClone(templates.find(([n]) => n === 'mediaFleet')![1]);
    const [groupId, group] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::AutoScalingGroup')[0]!;
    const [hookId] = resourcesOf(s.templates.mediaFleet, 'AWS::AutoScaling::LifecycleHook')[0]!;
    assert.deepEqual(unorderedReferences(fleet), []);
    fleet.Resources[hookId]!.Properties!.AutoScalingGroupName = group.Properties.AutoScalingGroupName;
    assert.deepEqual(
      unorderedReferences(fleet).map((r) => [r.from, r.to]),
      [[hookId, groupId]],
    );
  });

  it('reports a stage whose route settings name a route it does not wait for (control: the main 2cfbf0d shape)', () => {
    const signalling = structuredClone(templates.find(([n]) => n === 'signalling')![1]);
    const [stageId] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Stage')[0]!;
    const stage = signalling.Resources[stageId]!;
    // As on main: the stage depended only on the API Gateway account resource.
    stage.DependsOn = [stage.DependsOn ?? []]
      .flat()
      .filter((id) => signalling.Resources[id]?.Type === 'AWS::ApiGateway::Account');
    assert.deepEqual(
      unorderedReferences(signalling).map((r) => [r.from, r.via]),
      [[stageId, 'RouteSettings.$connect']],
    );
  });

  it("API Gateway's account logging role is made a stack ahead of the account setting that API Gateway checks it with (IAM propagation)", () => {
    s.templates.signalling.resourceCountIs('AWS::IAM::Role', 4); // the four functions' roles only
    const [roleId] = resourcesOf(s.templates.network, 'AWS::IAM::Role').find(([, r]) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('apigateway.amazonaws.com'),
    )!;
    const [, account] = resourcesOf(s.templates.signalling, 'AWS::ApiGateway::Account')[0]!;
    assert.match(JSON.stringify(account.Properties.CloudWatchRoleArn), new RegExp(`Fn::ImportValue.*${roleId}`));
    assert.ok(s.signalling.dependencies.includes(s.network), 'the Signalling stack deploys after the Network stack');
  });
});
