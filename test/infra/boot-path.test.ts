// The media host's whole boot path: the user data the stack renders and the asset's install.sh, run
// for real against fake instance metadata, a fake apt, a fake AWS CLI and fake systemd that record every call.
// Every failing step — apt (its lock held past the timeout, or a package missing), the S3 download, unpacking,
// the install's checks, no `media-node.ready` in time — ends in the same place: a media-host.boot-failed line
// (printed and shipped to CloudWatch Logs), the launch lifecycle action abandoned, FAILURE to CloudFormation,
// the instance marked Unhealthy, and power off. On main 2cfbf0d nothing before install.sh signalled at all and
// apt had no lock timeout.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { APT_LOCK_TIMEOUT_SECONDS } from '../../infra/media-fleet/user-data';
import { fakeAsset, runBoot, zipAsset, type BootFailure } from '../support/boot-harness';
import { resourcesOf, synthVoiceApp } from './synth';

const scratch = mkdtempSync(join(tmpdir(), 'harmony-boot-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function boot(name: string, fail?: BootFailure, options: { continueFailsOnce?: boolean } = {}) {
  const root = join(scratch, name);
  mkdirSync(root, { recursive: true });
  const asset = join(root, 'asset');
  fakeAsset(asset);
  const zip = join(root, 'asset.zip');
  zipAsset(asset, zip);
  return runBoot(root, zip, fail, options);
}

const ENDED = [
  'aws autoscaling complete-lifecycle-action --lifecycle-action-result ABANDON --instance-id i-0abc --lifecycle-hook-name launch-media-node --auto-scaling-group-name grp',
  'aws cloudformation signal-resource --region eu-west-1 --stack-name stk --logical-resource-id Nodes1 --unique-id i-0abc --status FAILURE',
  'aws autoscaling set-instance-health --instance-id i-0abc --health-status Unhealthy --no-should-respect-grace-period',
  'poweroff ',
];

describe('media host boot path', () => {
  it('boots: apt waits for its lock, the asset is unpacked and verified, the launch hook is completed and SUCCESS signalled after ready', () => {
    const run = boot('ok');
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const apt = run.calls.filter((c) => c.startsWith('apt-get '));
    assert.equal(apt.length, 2, apt.join('\n'));
    for (const call of apt)
      assert.ok(call.startsWith(`apt-get -o DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_SECONDS} `), call);
    assert.match(
      apt[1]!,
      / awscli jq unzip curl ca-certificates libuv1 /,
      'host tools and the worker libraries in one apt run',
    );
    assert.doesNotMatch(apt[1]!, /\b(nodejs|npm)\b/, 'no Node.js or npm from Debian');
    assert.ok(!run.calls.some((c) => c.startsWith('npm ')), 'no npm at boot');
    const aws = run.calls.filter((c) => c.startsWith('aws '));
    assert.deepEqual(aws, [
      'aws s3 cp s3://assets/media-node.zip ' + join(scratch, 'ok', 'download.zip'),
      'aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --instance-id i-0abc --lifecycle-hook-name launch-media-node --auto-scaling-group-name grp',
      'aws cloudformation signal-resource --region eu-west-1 --stack-name stk --logical-resource-id Nodes1 --unique-id i-0abc --status SUCCESS',
    ]);
    assert.deepEqual(
      run.steps.map((s) => s.step),
      ['packages', 'download', 'unpack', 'install'],
    );
    assert.ok(!run.calls.includes('poweroff '));
  });

  it('retries completing the launch hook (a launch left waiting would be abandoned at the timeout, ready or not)', () => {
    const run = boot('continue-retried', undefined, { continueFailsOnce: true });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(run.calls.filter((c) => c.includes('--lifecycle-action-result CONTINUE')).length, 2);
    assert.ok(run.calls.some((c) => c.includes('--status SUCCESS')));
    assert.doesNotMatch(run.stdout, /lifecycle-continue-failed/);
  });

  for (const [fail, step, detail] of [
    ['apt-lock', 'packages', /apt-get -o DPkg::Lock::Timeout=600 update/],
    ['packages', 'packages', /apt-get/],
    ['download', 'download', /aws s3 cp/],
    ['unpack', 'unpack', /unzip/],
    ['install', 'install', /sha256sum --check/],
    ['ready', 'ready', /no media-node.ready within 15 s/],
  ] as const) {
    it(`a failure at ${fail} is logged to CloudWatch and ends the instance (lifecycle abandoned, FAILURE, unhealthy, power off)`, () => {
      const run = boot(fail, fail);
      assert.notEqual(run.status, 0);
      const line = run.stdout.split('\n').find((l) => l.includes('"msg":"media-host.boot-failed"'));
      assert.ok(line, run.stdout + run.stderr);
      const event = JSON.parse(line) as Record<string, string>;
      assert.equal(event.level, 'error');
      assert.equal(event.step, step);
      assert.match(event.detail!, detail);
      assert.equal(event.action, 'lifecycle abandoned, instance unhealthy');
      assert.equal(event.nodeId, 'i-0abc');
      const shipped = run.calls.find((c) =>
        c.startsWith('aws logs put-log-events --log-group-name node-logs --log-stream-name i-0abc'),
      );
      assert.ok(shipped?.includes('media-host.boot-failed'), `the line is shipped to CloudWatch Logs: ${shipped}`);
      const tail = run.calls.slice(run.calls.indexOf(shipped!) + 1);
      assert.deepEqual(tail, ENDED, 'then the instance is ended, in this order, once');
      assert.ok(
        !run.calls.some((c) => c.includes('--status SUCCESS') || c.includes('CONTINUE')),
        'never reported ready',
      );
    });
  }

  it("every AWS call of the boot path, on success and on each failure, is granted to the node's role", () => {
    const t = synthVoiceApp({ skipBundling: true }).templates.mediaFleet;
    const granted = new Set(
      resourcesOf(t, 'AWS::IAM::Policy').flatMap(([, p]) =>
        (p.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((st) => [st.Action].flat()),
      ),
    );
    // The CLI's command → the IAM action it needs.
    const action = (call: string) => {
      const [, service, op] = call.split(' ');
      if (service === 's3' && op === 'cp') return 's3:GetObject';
      const prefix = { autoscaling: 'autoscaling', cloudformation: 'cloudformation', logs: 'logs' }[service!];
      return `${prefix}:${op!
        .split('-')
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join('')}`;
    };
    const needed = new Set<string>();
    for (const fail of [undefined, 'download', 'ready'] as const) {
      for (const call of boot(`iam-${fail ?? 'ok'}`, fail).calls.filter((c) => c.startsWith('aws ')))
        needed.add(action(call));
    }
    assert.deepEqual([...needed].sort(), [
      'autoscaling:CompleteLifecycleAction',
      'autoscaling:SetInstanceHealth',
      'cloudformation:SignalResource',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:GetObject',
    ]);
    for (const a of needed) assert.ok(granted.has(a), `${a} is granted to the media node role`);
  });
});
