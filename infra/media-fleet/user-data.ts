// The media node's user data on Debian 12: the tools the host scripts use (AWS CLI, jq, unzip; Debian's
// nodejs + npm only to run `npm ci`, which installs the Node.js 24 the node runs on from the asset's
// lockfile), unpack the asset, write the two environment files and hand over to host/install.sh. Values
// may be CDK tokens (table name, secret ARN, region); they are resolved by CloudFormation into the script.
// Secrets never appear here, nor in the node's environment: the node reads its two gRPC secrets from Secrets
// Manager itself (media-node/src/secrets.ts) and re-reads them for rotations.
import { LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE, LOAD_PUBLISH_INTERVAL_SECONDS } from './load-metric';

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
  readonly grpcPort: number;
  readonly rtcPortBase: number;
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

/** Debian packages of the host's own scripts (the worker's runtime libraries come from the asset's list). */
export const HOST_TOOLS = ['awscli', 'jq', 'unzip', 'curl', 'ca-certificates', 'nodejs', 'npm'] as const;

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
    LOAD_METRIC_NAMESPACE,
    LOAD_METRIC_NAME,
    LOAD_PUBLISH_INTERVAL_SECONDS: String(LOAD_PUBLISH_INTERVAL_SECONDS),
    HARMONY_STACK_NAME: s.stackName,
    HARMONY_SIGNAL_RESOURCE: s.signalResource,
    HARMONY_READY_TIMEOUT_SECONDS: String(s.readyTimeoutSeconds),
    HARMONY_LOG_GROUP: s.logGroup,
  };
}

/** What runs before the asset download (it needs the AWS CLI). */
export function hostToolCommands(): string[] {
  return [
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -q',
    `apt-get install -y -q --no-install-recommends ${HOST_TOOLS.join(' ')}`,
  ];
}

/** Shell commands run as root at first boot, after the bundle zip has been downloaded to `bundleZip`. */
export function mediaHostCommands(s: MediaHostSettings, bundleZip: string): string[] {
  const envFile = (path: string, vars: Record<string, string>) => [
    `cat > ${path} <<'HARMONY_ENV'`,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
    'HARMONY_ENV',
  ];
  return [
    `mkdir -p ${APP_DIR} ${CONF_DIR}`,
    `unzip -oq ${bundleZip} -d ${APP_DIR}`,
    ...envFile(`${CONF_DIR}/node.env`, nodeEnvironment(s)),
    ...envFile(`${CONF_DIR}/fleet.env`, fleetEnvironment(s)),
    `bash ${APP_DIR}/host/install.sh`,
  ];
}
