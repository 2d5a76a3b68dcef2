// Environment → MediaNodeOptions. Defaults work on loopback; see docs/media-node.md.
import { isIP } from 'node:net';
import type { MediaNodeOptions } from './media-node';
import { DEFAULT_PIPE_PORTS, parsePortRange } from '../span/pipe-ports';
import { DEFAULT_POLICE_LIMITS, type PoliceLimits } from '../session/producer-police';

/** Secrets the node reads from its environment; configFromEnv deletes them from it once read. */
export const SECRET_ENV_VARS = [
  'MEDIA_NODE_SECRET',
  'MEDIA_NODE_SECRET_PREVIOUS',
  'MEDIA_SPAN_SECRET',
  'MEDIA_SPAN_SECRET_PREVIOUS',
] as const;

/**
 * The node's options from `env`. The secrets (SECRET_ENV_VARS) are deleted from `env` once read: nothing
 * started from this process later (mediasoup copies process.env into every worker) can inherit them.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): MediaNodeOptions {
  const int = (name: string, options: { min?: number } = {}): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < (options.min ?? 0)) {
      throw new Error(
        `config.bad-value: ${name} must be an integer >= ${options.min ?? 0}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  };
  const str = (name: string): string | undefined => (env[name] ? env[name] : undefined);
  const flag = (name: string): boolean => env[name] === '1' || env[name] === 'true';

  const secrets = Object.fromEntries(SECRET_ENV_VARS.map((name) => [name, str(name)]));
  for (const name of SECRET_ENV_VARS) delete env[name];

  return {
    nodeId: str('MEDIA_NODE_ID'),
    grpcHost: str('MEDIA_GRPC_HOST'),
    grpcPort: int('MEDIA_GRPC_PORT'),
    grpcAdvertisedAddress: str('MEDIA_GRPC_ADVERTISED_ADDRESS'),
    secret: secrets.MEDIA_NODE_SECRET,
    secretPrevious: secrets.MEDIA_NODE_SECRET_PREVIOUS,
    secretArn: str('MEDIA_NODE_SECRET_ARN'),
    spanSecret: secrets.MEDIA_SPAN_SECRET,
    spanSecretPrevious: secrets.MEDIA_SPAN_SECRET_PREVIOUS,
    spanSecretArn: str('MEDIA_SPAN_SECRET_ARN'),
    insecure: flag('MEDIA_GRPC_INSECURE'),
    listenIp: str('MEDIA_LISTEN_IP'),
    announcedAddress: str('MEDIA_ANNOUNCED_ADDRESS'),
    useEc2Metadata: flag('MEDIA_USE_EC2_METADATA'),
    imdsEndpoint: str('MEDIA_IMDS_ENDPOINT'),
    rtcPortBase: int('MEDIA_RTC_PORT_BASE'),
    iceTcpPort: int('MEDIA_ICE_TCP_PORT', { min: 1 }),
    relayPeer: relayPeerFromEnv(env, int('MEDIA_RELAY_PEER_PORT_BASE')),
    workers: int('MEDIA_WORKERS', { min: 1 }),
    metricsHost: str('MEDIA_METRICS_HOST'),
    metricsPort: int('MEDIA_METRICS_PORT'),
    drainTimeoutMs: int('MEDIA_DRAIN_TIMEOUT_MS'),
    roomGraceMs: int('MEDIA_ROOM_GRACE_MS'),
    heartbeatMs: int('MEDIA_HEARTBEAT_MS', { min: 100 }),
    iceDisconnectedGraceMs: int('MEDIA_ICE_DISCONNECTED_GRACE_MS'),
    iceConnectTimeoutMs: int('MEDIA_ICE_CONNECT_TIMEOUT_MS'),
    iceConsentTimeoutS: int('MEDIA_ICE_CONSENT_TIMEOUT_S'),
    capacity: int('MEDIA_CAPACITY', { min: 1 }),
    workerPacketsPerSecond: int('MEDIA_WORKER_PACKETS_PER_SECOND', { min: 1 }),
    admitLoadPercent: int('MEDIA_ADMIT_LOAD_PERCENT', { min: 1 }),
    reservationMs: int('MEDIA_RESERVATION_MS', { min: 1 }),
    pipe: pipeFromEnv(env, int('MEDIA_RTC_PORT_BASE'), int('MEDIA_WORKERS', { min: 1 })),
    police: policeFromEnv(env, int),
    registryTable: str('MEDIA_NODES_TABLE'),
    logLevel: (str('MEDIA_LOG_LEVEL') as MediaNodeOptions['logLevel']) ?? undefined,
  };
}

/** MEDIA_RELAY_PEER_IP + MEDIA_RELAY_PEER_PORT_BASE → MediaNodeOptions.relayPeer (both or neither). */
export function relayPeerFromEnv(env: NodeJS.ProcessEnv, portBase: number | undefined): MediaNodeOptions['relayPeer'] {
  const ip = env.MEDIA_RELAY_PEER_IP || undefined;
  if (ip === undefined && portBase === undefined) return undefined;
  if (ip === undefined || portBase === undefined)
    throw new Error('config.bad-value: set both MEDIA_RELAY_PEER_IP and MEDIA_RELAY_PEER_PORT_BASE, or neither');
  if (isIP(ip) !== 4)
    throw new Error(`config.bad-value: MEDIA_RELAY_PEER_IP must be an IPv4 address, got ${JSON.stringify(ip)}`);
  return { ip, portBase };
}

/**
 * MEDIA_POLICE_* → MediaNodeOptions.police (ProducerPolice; defaults DEFAULT_POLICE_LIMITS, docs/media-node.md "Producer policing").
 * MEDIA_POLICE=off turns policing off. The window must hold at least two samples.
 */
export function policeFromEnv(
  env: NodeJS.ProcessEnv,
  int: (name: string, options?: { min?: number }) => number | undefined,
): MediaNodeOptions['police'] {
  if (env.MEDIA_POLICE === 'off') return false;
  const entries: [keyof PoliceLimits, number | undefined][] = [
    ['packetsPerSecond', int('MEDIA_POLICE_PACKETS_PER_SECOND', { min: 1 })],
    ['bitsPerSecond', int('MEDIA_POLICE_BITS_PER_SECOND', { min: 1 })],
    ['windowMs', int('MEDIA_POLICE_WINDOW_MS', { min: 1 })],
    ['sampleMs', int('MEDIA_POLICE_SAMPLE_MS', { min: 50 })],
    ['burstFactor', int('MEDIA_POLICE_BURST_FACTOR', { min: 1 })],
    ['cooldownMs', int('MEDIA_POLICE_COOLDOWN_MS', { min: 0 })],
    ['maxOffences', int('MEDIA_POLICE_MAX_OFFENCES', { min: 1 })],
    ['offenceWindowMs', int('MEDIA_POLICE_OFFENCE_WINDOW_MS', { min: 1 })],
  ];
  const limits: Partial<PoliceLimits> = Object.fromEntries(entries.filter(([, value]) => value !== undefined));
  const { windowMs, sampleMs } = { ...DEFAULT_POLICE_LIMITS, ...limits };
  if (windowMs < 2 * sampleMs) {
    throw new Error(
      `config.bad-value: MEDIA_POLICE_WINDOW_MS (${windowMs}) must be at least twice MEDIA_POLICE_SAMPLE_MS (${sampleMs})`,
    );
  }
  return limits;
}

/**
 * MEDIA_PIPE_LISTEN_IP / MEDIA_PIPE_ANNOUNCED_ADDRESS / MEDIA_PIPE_PORTS=min-max → MediaNodeOptions.pipe;
 * undefined when none is set (the node's defaults: its listen IP, DEFAULT_PIPE_PORTS). Refuses a range that is
 * not "min-max" within 1024..65535, one that overlaps the WebRtcServer ports, and a wildcard listen IP with
 * no announced address (the far node could not be told where to send).
 */
export function pipeFromEnv(env: NodeJS.ProcessEnv, rtcPortBase?: number, workers?: number): MediaNodeOptions['pipe'] {
  const listen = env.MEDIA_PIPE_LISTEN_IP || undefined;
  const announced = env.MEDIA_PIPE_ANNOUNCED_ADDRESS || undefined;
  const ports = env.MEDIA_PIPE_PORTS || undefined;
  if (!listen && !announced && !ports) return undefined;
  const listenIp = listen ?? (env.MEDIA_LISTEN_IP || '127.0.0.1');
  if (!isIP(listenIp)) {
    throw new Error(
      `config.bad-value: ${listen ? 'MEDIA_PIPE_LISTEN_IP' : 'MEDIA_LISTEN_IP'} must be an IP address, got ${JSON.stringify(listenIp)}`,
    );
  }
  if ((listenIp === '0.0.0.0' || listenIp === '::') && !announced) {
    throw new Error(
      `config.missing-value: the pipe listens on ${listenIp}; set MEDIA_PIPE_ANNOUNCED_ADDRESS to the address other nodes reach (on EC2 the private IPv4)`,
    );
  }
  const range = ports ? parsePortRange('MEDIA_PIPE_PORTS', ports) : DEFAULT_PIPE_PORTS;
  if (rtcPortBase && rtcPortBase > 0) {
    const rtcLast = rtcPortBase + (workers ?? 1) - 1;
    if (range.min <= rtcLast && rtcPortBase <= range.max) {
      throw new Error(
        `config.bad-value: MEDIA_PIPE_PORTS ${range.min}-${range.max} overlaps the WebRtcServer ports ${rtcPortBase}-${rtcLast}`,
      );
    }
  }
  return { listenIp, ...(announced ? { announcedAddress: announced } : {}), portMin: range.min, portMax: range.max };
}
