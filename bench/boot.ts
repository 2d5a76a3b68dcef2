// npm run bench:boot — a media host's boot path, run locally, and the alarms proven to fire.
//   1. The real media node asset (infra/media-fleet/bundle.ts: main.mjs, the tested worker, Node.js 24 and
//      node_modules, SHA256SUMS), zipped as CDK zips a directory asset.
//   2. The user data the stack renders and the asset's install.sh, run for real (unzip, sha256sum of every file,
//      ldd and the worker's start check, the shipped Node's version) with instance metadata, apt, the AWS CLI,
//      systemd and the journal faked and recorded (test/support/boot-harness.ts): the time of each step here, and
//      what each asks of the outside. apt and the S3 download are fetches; the AWS API calls are not fetches
//      (they carry no software) but are listed.
//   3. The stacks' alarms on log metric filters, evaluated against real log lines (test/support/alarm-cases.ts):
//      how many reach ALARM on the line meant to trip them and stay OK otherwise.
// Last line: `boot: <n> external fetches at boot, install steps <x> s locally, <k> alarms proven to fire`.
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alarms, metricFilters } from '../infra/conformance/alarms';
import type { TemplateJson } from '../infra/conformance/ordering';
import { bundleMediaNode } from '../infra/media-fleet/bundle';
import { runBoot, zipAsset } from '../test/support/boot-harness';
import { collectAlarmCases, provenAlarms } from '../test/support/alarm-cases';
import { resourcesOf, synthVoiceApp } from '../test/infra/synth';

const scratch = mkdtempSync(join(tmpdir(), 'harmony-bench-boot-'));
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** What a recorded call needs from outside the instance. */
function outside(call: string): { kind: 'fetch' | 'aws-api' | 'local'; what: string } {
  if (call.startsWith('apt-get ') && / update( |$)/.test(call))
    return { kind: 'fetch', what: "Debian's mirror: package lists" };
  if (call.startsWith('apt-get ') && / install /.test(call)) {
    const packages = call.split(' --no-install-recommends ')[1]?.split(' ').length ?? 0;
    return { kind: 'fetch', what: `Debian's mirror: ${packages} packages and their dependencies` };
  }
  if (call.startsWith('aws s3 cp ')) return { kind: 'fetch', what: 'S3: the media node asset' };
  if (call.startsWith('aws ')) return { kind: 'aws-api', what: call.split(' ').slice(1, 3).join(' ') };
  if (call.startsWith('curl ') && call.includes('169.254.169.254')) return { kind: 'local', what: 'instance metadata' };
  return { kind: 'local', what: call.split(' ')[0]! };
}

async function main(): Promise<void> {
  // 1. The asset.
  const asset = join(scratch, 'asset');
  let t = performance.now();
  bundleMediaNode(asset);
  const bundleSeconds = (performance.now() - t) / 1000;
  const zip = join(scratch, 'asset.zip');
  t = performance.now();
  zipAsset(asset, zip);
  const zipSeconds = (performance.now() - t) / 1000;
  console.log(
    `asset: ${(statSync(zip).size / 1e6).toFixed(1)} MB zipped (built in ${bundleSeconds.toFixed(1)} s, zipped in ${zipSeconds.toFixed(1)} s)`,
  );

  // 2. The boot, three times (figures: median).
  const runs = [0, 1, 2].map((i) => {
    const root = join(scratch, `boot-${i}`);
    mkdirSync(root);
    const run = runBoot(root, zip, undefined, { realWorkerChecks: true });
    if (run.status !== 0) throw new Error(`boot ${i} failed:\n${run.stdout}\n${run.stderr}`);
    rmSync(join(root, 'app'), { recursive: true, force: true });
    return run;
  });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const steps = runs[0]!.steps.map((s) => s.step);
  const calls = runs[0]!.calls;
  console.log('\nstep       local s (median of 3)  needs from outside');
  const stepOf = (call: string) => {
    // Calls in recorded order; the step is the last boot_step mark before it (install.sh's calls are in 'install').
    if (call.startsWith('apt-get')) return 'packages';
    if (call.startsWith('aws s3 cp')) return 'download';
    return 'install';
  };
  for (const step of steps) {
    const seconds = median(runs.map((r) => r.steps.find((s) => s.step === step)?.seconds ?? 0));
    const needs = [
      ...new Set(
        calls
          .filter((c) => stepOf(c) === step)
          .map(outside)
          .filter((o) => o.kind !== 'local')
          .map((o) => `${o.kind === 'fetch' ? 'FETCH ' : 'API '}${o.what}`),
      ),
    ];
    console.log(`${step.padEnd(10)} ${seconds.toFixed(2).padStart(8)}              ${needs.join('; ') || '-'}`);
  }
  const fetches = calls.map(outside).filter((o) => o.kind === 'fetch');
  const apiCalls = calls.map(outside).filter((o) => o.kind === 'aws-api');
  const installSeconds = median(
    runs.map((r) =>
      r.steps.filter((s) => s.step === 'unpack' || s.step === 'install').reduce((a, s) => a + s.seconds, 0),
    ),
  );
  console.log(`\nexternal fetches: ${fetches.map((f) => f.what).join(' | ')}`);
  console.log(`AWS API calls (no software): ${apiCalls.map((a) => a.what).join(', ')}`);
  console.log(
    'not measured here: the fetches themselves (mirror and S3 bandwidth), instance start, systemd starting the node',
  );
  console.log(
    `unpack + install (unzip, every checksum, worker and Node checks, units, ready): ${installSeconds.toFixed(2)} s locally (median of 3)`,
  );

  // 3. Alarms.
  const s = synthVoiceApp({ skipBundling: true });
  const templates = Object.values(s.templates).map((x) => x.toJSON() as TemplateJson);
  const [, stage] = resourcesOf(s.templates.signalling, 'AWS::ApiGatewayV2::Stage')[0]!;
  const { cases } = await collectAlarmCases(stage.Properties.AccessLogSettings.Format as string);
  const filters = templates.flatMap(metricFilters);
  const allAlarms = templates.flatMap(alarms);
  const proven = provenAlarms(allAlarms, filters, cases);
  console.log(
    `\nalarms: ${allAlarms.length} in the stacks; on log metric filters, proven to fire on real lines: ${proven.map((a) => a.id.replace(/^Alarms/, '').replace(/[0-9A-F]{8}$/, '')).join(', ')}`,
  );
  console.log(
    `boot: ${fetches.length} external fetches at boot, install steps ${installSeconds.toFixed(1)} s locally, ${proven.length} alarms proven to fire`,
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
