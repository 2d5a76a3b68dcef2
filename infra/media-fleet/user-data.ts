// The media node's user data on Debian 12. Every step can fail, and each failure ends the boot the same way
// (host/boot-fail.sh, written out first: logged to CloudWatch Logs, launch lifecycle action abandoned, FAILURE to
// CloudFormation, instance Unhealthy, power off). Steps: the host tools and the worker's Debian libraries from
// Debian's mirror in one apt run (waiting for the apt lock that Debian's first-boot timers may hold), the asset
// from S3, unpack, the two environment files, then host/install.sh, which needs nothing from outside: the asset
// carries the Node.js 24 runtime and mediasoup's JavaScript (no npm, no Node.js from Debian). Values may be CDK
// tokens (table name, secret ARN, region); they are resolved by CloudFormation into the script. Secrets never
// appear here, nor in the node's environment: the node reads its two gRPC secrets from Secrets Manager itself
// (media-node/src/node/secrets.ts) and re-reads them for rotations.
import { readFileSync } from 'node:fs';
import { LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE, LOAD_PUBLISH_INTERVAL_SECONDS } from './load-metric';
import { repoPath } from '../paths';

export const APP_DIR = '/opt/harmony-media-node';
export const CONF_DIR = '/etc/harmony-media-node';

export interface MediaHostSettings {
  readonly region: string;
  readonly nodesTable: string;
  readonly secretArn: string;
  /** The node↔node span secret (Secrets Manager ARN; the node reads it itself). */
  readonly spanSecretArn: string;
  /**
   * `arn:<partition>:ec2:<region>:<account>:instance/`: install.sh appends the instance id to make the node id, the
   * instance ARN, which IAM knows as `ec2:SourceInstanceARN` (the registry write condition keys on it).
   */
  readonly nodeIdPrefix: string;
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  /** The launch lifecycle hook the host completes once serving (abandons on failure). */
  readonly launchHookName: string;
  readonly grpcPort: number;
  readonly rtcPortBase: number;
  /** MEDIA_ICE_TCP_PORT (0 = off). */
  readonly iceTcpPort?: number;
  /** MEDIA_RELAY_PEER_PORT_BASE with TURN relays (install.sh adds MEDIA_RELAY_PEER_IP = the private IPv4). */
  readonly relayPeerPortBase?: number;
  readonly workers: number;
  readonly capacity: number;
  readonly metricsPort: number;
  /** UDP ports of the node-to-node pipes, "min-max" as MEDIA_PIPE_PORTS (install.sh adds the private IPv4 to listen on). */
  readonly pipePorts: string;
  readonly drainTimeoutSeconds: number;
  /** CloudFormation stack and logical id of the Auto Scaling group that waits for this node's signal. */
  readonly stackName: string;
  readonly signalResource: string;
  /** How long install.sh waits for `media-node.ready` before it signals FAILURE. */
  readonly readyTimeoutSeconds: number;
  /** CloudWatch Logs group the host ships its journal to. */
  readonly logGroup: string;
}

/** Debian packages of the host's own scripts (the worker's runtime libraries come from runtimePackages()). */
export const HOST_TOOLS = ['awscli', 'jq', 'unzip', 'curl', 'ca-certificates'] as const;
/** How long apt waits for its lock (Debian's apt-daily timers may hold it at first boot) before failing the boot. */
export const APT_LOCK_TIMEOUT_SECONDS = 600;
const APT = `apt-get -o DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_SECONDS}`;
/** Where the user data writes host/boot-fail.sh before anything else runs. */
export const BOOT_FAIL_SCRIPT = '/usr/local/lib/harmony-media-node/boot-fail.sh';
const RUNTIME_PACKAGES = 'tools/mediasoup-worker/runtime-packages.txt';

/** The Debian packages whose libraries the shipped worker links (test/worker/runtime-packages.test.ts keeps the list true). */
export function runtimePackages(): string[] {
  return readFileSync(repoPath(RUNTIME_PACKAGES), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** The media node's environment (non-secret). MEDIA_NODE_ID (prefix + instance id), the advertised address and the pipe address come from IMDS at boot. */
export function nodeEnvironment(s: MediaHostSettings): Record<string, string> {
  return {
    AWS_REGION: s.region,
    MEDIA_NODES_TABLE: s.nodesTable,
    MEDIA_NODE_ID_PREFIX: s.nodeIdPrefix,
    MEDIA_NODE_SECRET_ARN: s.secretArn,
    MEDIA_SPAN_SECRET_ARN: s.spanSecretArn,
    MEDIA_GRPC_HOST: '0.0.0.0',
    MEDIA_GRPC_PORT: String(s.grpcPort),
    MEDIA_LISTEN_IP: '0.0.0.0',
    MEDIA_USE_EC2_METADATA: '1',
    MEDIA_RTC_PORT_BASE: String(s.rtcPortBase),
    ...(s.iceTcpPort ? { MEDIA_ICE_TCP_PORT: String(s.iceTcpPort) } : {}),
    ...(s.relayPeerPortBase ? { MEDIA_RELAY_PEER_PORT_BASE: String(s.relayPeerPortBase) } : {}),
    MEDIA_WORKERS: String(s.workers),
    MEDIA_CAPACITY: String(s.capacity),
    // Scraped locally by the load publisher only; the security group does not open it either.
    MEDIA_METRICS_HOST: '127.0.0.1',
    MEDIA_METRICS_PORT: String(s.metricsPort),
    MEDIA_DRAIN_TIMEOUT_MS: String(s.drainTimeoutSeconds * 1000),
    // Node-to-node pipes; install.sh adds MEDIA_PIPE_LISTEN_IP / MEDIA_PIPE_ANNOUNCED_ADDRESS = the private IPv4 (IMDS local-ipv4).
    MEDIA_PIPE_PORTS: s.pipePorts,
  };
}

export function fleetEnvironment(s: MediaHostSettings): Record<string, string> {
  return {
    AWS_REGION: s.region,
    HARMONY_ASG_NAME: s.autoScalingGroupName,
    HARMONY_LIFECYCLE_HOOK: s.lifecycleHookName,
    HARMONY_LAUNCH_HOOK: s.launchHookName,
    LOAD_METRIC_NAMESPACE,
    LOAD_METRIC_NAME,
    LOAD_PUBLISH_INTERVAL_SECONDS: String(LOAD_PUBLISH_INTERVAL_SECONDS),
    HARMONY_STACK_NAME: s.stackName,
    HARMONY_SIGNAL_RESOURCE: s.signalResource,
    HARMONY_READY_TIMEOUT_SECONDS: String(s.readyTimeoutSeconds),
    HARMONY_LOG_GROUP: s.logGroup,
  };
}

/** Where the asset is and what else the boot installs. */
export interface BootSource {
  readonly bucket: string;
  readonly key: string;
  /** Session Manager's agent package URL (config sessionManager), or undefined. */
  readonly ssmAgentUrl?: string;
}

/** The whole user data, in order; each `boot_step=` names the step a failure is reported under. */
export function bootCommands(s: MediaHostSettings, source: BootSource): string[] {
  const envFile = (path: string, vars: Record<string, string>) => [
    `cat > ${path} <<'HARMONY_ENV'`,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
    'HARMONY_ENV',
  ];
  const fleet = fleetEnvironment(s);
  const failScript = readFileSync(repoPath('infra/media-fleet/host/boot-fail.sh'), 'utf8');
  if (failScript.includes('HARMONY_BOOT_FAIL'))
    throw new Error('infra.user-data: boot-fail.sh contains its heredoc delimiter');
  const bundleZip = '/tmp/harmony-media-node.zip';
  return [
    'set -Eeuo pipefail',
    `export AWS_REGION=${s.region}`,
    ...[
      'HARMONY_ASG_NAME',
      'HARMONY_LAUNCH_HOOK',
      'HARMONY_STACK_NAME',
      'HARMONY_SIGNAL_RESOURCE',
      'HARMONY_LOG_GROUP',
    ].map((k) => `export ${k}=${fleet[k]}`),
    `mkdir -p ${BOOT_FAIL_SCRIPT.slice(0, BOOT_FAIL_SCRIPT.lastIndexOf('/'))}`,
    `cat > ${BOOT_FAIL_SCRIPT} <<'HARMONY_BOOT_FAIL'`,
    ...failScript.trimEnd().split('\n'),
    'HARMONY_BOOT_FAIL',
    `source ${BOOT_FAIL_SCRIPT}`,
    'boot_step=packages',
    'trap \'boot_failed "$boot_step" "line $LINENO: $BASH_COMMAND"\' ERR',
    'export DEBIAN_FRONTEND=noninteractive',
    `${APT} update -q`,
    `${APT} install -y -q --no-install-recommends ${[...HOST_TOOLS, ...runtimePackages()].join(' ')}`,
    ...(source.ssmAgentUrl
      ? [
          'boot_step=ssm-agent',
          `curl -sSf -o /tmp/amazon-ssm-agent.deb ${source.ssmAgentUrl}`,
          `${APT} install -y -q /tmp/amazon-ssm-agent.deb`,
        ]
      : []),
    'boot_step=download',
    `aws s3 cp s3://${source.bucket}/${source.key} ${bundleZip}`,
    'boot_step=unpack',
    `mkdir -p ${APP_DIR} ${CONF_DIR}`,
    `unzip -oq ${bundleZip} -d ${APP_DIR}`,
    ...envFile(`${CONF_DIR}/node.env`, nodeEnvironment(s)),
    ...envFile(`${CONF_DIR}/fleet.env`, fleet),
    'boot_step=install',
    `bash ${APP_DIR}/host/install.sh`,
  ];
}
