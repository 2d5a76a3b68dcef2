// Composition root: worker pool + rooms + gRPC API + metrics + registry heartbeat.
// `startMediaNode` is what main.ts, the local stack and tests call.
import { hostname, availableParallelism } from 'node:os';
import type { Server as HttpServer } from 'node:http';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import {
  MediaNodeService as MediaNodeServiceDefinition,
  MediaNodeSpanService,
} from '../../../gen/medianode/v1/media_node';
import { NodeRegistry } from '../../../routing/node-registry';
import { createDocumentClient } from '../../../routing/dynamo';
import { DEFAULT_WORKER_LIMITS, summarizeLoad, type WorkerLimits } from '../../../routing/load';
import type { MediaNodeRecord, MediaNodeState } from '../../../routing/types';
import { createMediaNodeService } from '../grpc/grpc-service';
import { fetchEc2PublicIpv4 } from './imds';
import { createLogger, type Logger, type LogLevel } from '../../../lib/log';
import { createMetrics, gauge, startMetricsServer } from '../telemetry/metrics';
import { Admission } from '../load/admission';
import { PacketMeter } from '../load/packet-meter';
import { ProducerPolice, type PoliceLimits } from '../session/producer-police';
import { Rooms, type NodeLoad } from '../room/rooms';
import { connectMediaNodeSpan } from '../../api/span-client';
import { registryFarNodes, type FarNodes } from '../span/far-nodes';
import { DEFAULT_PIPE_PORTS, type PipeListen } from '../span/node-pipe';
import { PartHost } from '../span/part-host';
import { RemotePart } from '../span/remote-part';
import { createSpanService } from '../grpc/span-service';
import type { LocalMediaFactory } from '../session/session-media';
import { WorkerPool } from '../workers/worker-pool';
import { staticRing, type SecretRing } from '../../api/auth';
import { secretsManagerRing } from './secrets';

export interface MediaNodeOptions {
  /** Default: "<hostname>:<bound gRPC port>". */
  nodeId?: string;
  grpcHost?: string;
  /** 0 = ephemeral. */
  grpcPort?: number;
  /** host:port written to the registry; default the address actually bound. */
  grpcAdvertisedAddress?: string;
  /**
   * The signalling→node API's secret (callers present `authorization: Bearer <secret>`), and a previous one still
   * accepted during a rotation. Or `secretArn`: a Secrets Manager secret the node reads (all its versions) itself.
   */
  secret?: string;
  secretPrevious?: string;
  secretArn?: string;
  /**
   * The node↔node span API's own secret (what this node presents to other nodes and requires from them), its
   * previous one, or its Secrets Manager secret. Unset in tests that give only `secret`: the node then uses the
   * API secret for spans too (logged as `media-node.span-secret-shared`; never so on AWS).
   */
  spanSecret?: string;
  spanSecretPrevious?: string;
  spanSecretArn?: string;
  /** Ready rings (tests): override the above. */
  apiSecrets?: SecretRing;
  spanSecrets?: SecretRing;
  /** Explicit opt-in to an unauthenticated API (loopback development only). */
  insecure?: boolean;
  listenIp?: string;
  announcedAddress?: string;
  useEc2Metadata?: boolean;
  imdsEndpoint?: string;
  /** Worker i's WebRtcServer also accepts ICE over TCP on iceTcpPort+i (MEDIA_ICE_TCP_PORT; e.g. 443). */
  iceTcpPort?: number;
  /** A private UDP candidate for TURN relays in the same network (WorkerPool relayPeer; MEDIA_RELAY_PEER_IP / _PORT_BASE). */
  relayPeer?: { ip: string; portBase: number };
  /** Worker i's WebRtcServer listens on base+i (UDP and TCP); 0 = ephemeral. */
  rtcPortBase?: number;
  workers?: number;
  metricsHost?: string;
  /** 0 = ephemeral; -1 = no metrics server. */
  metricsPort?: number;
  drainTimeoutMs?: number;
  roomGraceMs?: number;
  heartbeatMs?: number;
  iceDisconnectedGraceMs?: number;
  /** A session whose transports do not connect this long after Join (or its first consumer) is lost as 'media-unreachable'; 0 = unbounded. */
  iceConnectTimeoutMs?: number;
  /** mediasoup's ICE consent timeout in seconds (RFC 7675 says 30; 15 here: the ghost bound is 30 s). */
  iceConsentTimeoutS?: number;
  /** Audio consumers this node may hold, all workers together (registry `capacity`); default 20,000 per worker. */
  capacity?: number;
  /** Packets/s one worker forwards at a full core (routing/load.ts); default 100,000. */
  workerPacketsPerSecond?: number;
  /** Admit new rooms and joins while the worker's projected load stays at or below this percent; default 80. */
  admitLoadPercent?: number;
  /**
   * Per-producer packet-rate and bitrate limits (ProducerPolice; MEDIA_POLICE_* in config.ts): defaults
   * DEFAULT_POLICE_LIMITS, a partial object overrides some, `false` turns policing off.
   */
  police?: Partial<PoliceLimits> | false;
  /**
   * A new session's admission reservation lasts at most this long unless it joins (CreateTransports may ask for
   * another window: `reserve_for_ms`); default 120 s, the signalling side's prepare + JoinChannel + join windows.
   */
  reservationMs?: number;
  /** NODES_TABLE physical name; unset = no registry. */
  registryTable?: string;
  /** A ready registry (tests); overrides registryTable. */
  registry?: NodeRegistry;
  lostSessionTtlSeconds?: number;
  /**
   * Where this node's pipe transports to other nodes listen (channels spanning nodes; the security group
   * admits node-to-node traffic on these ports only). Default: the node's listenIp, ports 45000–45999
   * (pipe-ports.ts). From MEDIA_PIPE_LISTEN_IP / MEDIA_PIPE_ANNOUNCED_ADDRESS / MEDIA_PIPE_PORTS (config.ts); on
   * EC2 install.sh sets the private IPv4 (IMDS local-ipv4).
   */
  pipe?: { listenIp: string; announcedAddress?: string; portMin: number; portMax: number };
  /** Other nodes a room may span to when no worker here admits a join; default: the registry's nodes (none without a registry). */
  farNodes?: FarNodes;
  /** How a session's media is made: WebRTC transports (default); benchmarks swap in PlainTransport members (bench/span.ts). */
  localMedia?: LocalMediaFactory;
  /** A part of another node's room that is not watched this soon after OpenPart is closed (default 30 s). */
  partWatchWithinMs?: number;
  logLevel?: LogLevel;
  logger?: Logger;
}

export interface MediaNodeHandle {
  readonly nodeId: string;
  /** host:port the gRPC server is bound to. */
  readonly grpcAddress: string;
  /** host:port written to the registry. */
  readonly advertisedAddress: string;
  readonly metricsAddress: string | undefined;
  readonly publicAddress: string;
  readonly rooms: Rooms;
  readonly pool: WorkerPool;
  /** Worker load (packets, CPU, consumers) and the admission of new rooms and joins. */
  readonly admission: Admission;
  readonly registry: NodeRegistry | undefined;
  /** Parts of other nodes' rooms hosted here (channels spanning nodes). */
  readonly parts: PartHost;
  /** Polices every producer made here; undefined when policing is off. */
  readonly police: ProducerPolice | undefined;
  state(): MediaNodeState | 'closed';
  load(): NodeLoad;
  /** The record the next heartbeat writes. */
  record(): Promise<MediaNodeRecord>;
  heartbeatNow(): Promise<void>;
  /**
   * Stops taking new rooms, waits for rooms to empty (at most `timeoutMs`), closes what is left
   * reporting its sessions lost ('drained'), deregisters and closes. True if rooms emptied in time.
   */
  drain(timeoutMs?: number): Promise<boolean>;
  /** Closes everything at once (rooms without loss reports), deregisters. */
  close(): Promise<void>;
  /**
   * Dies on the spot, telling nobody (tests: a node that crashes): the gRPC server is force-shut (open
   * streams break), the workers are closed, nothing is deregistered.
   */
  abort(): void;
}

const DEFAULTS = {
  grpcHost: '127.0.0.1',
  grpcPort: 50051,
  listenIp: '127.0.0.1',
  rtcPortBase: 40000,
  metricsPort: 9464,
  drainTimeoutMs: 10 * 60_000,
  roomGraceMs: 15_000,
  reservationMs: 120_000,
  heartbeatMs: 5_000,
  iceDisconnectedGraceMs: 5_000,
  // A vanished client's session is reported lost 15 s (consent: browsers check every ~5 s, so three
  // missed checks) + 5 s (grace) after its last check; with a 5 s sweep it is announced gone within ~26 s.
  iceConsentTimeoutS: 15,
};

/** A notice the sweep has not told within this long is stale (the cool-down it speaks of is over): dropped. */
const POLICE_NOTICE_TTL_S = 60;

export async function startMediaNode(options: MediaNodeOptions = {}): Promise<MediaNodeHandle> {
  const baseLogger = options.logger ?? createLogger({ level: options.logLevel ?? 'info' });
  const rings = await secretRings(options, baseLogger);
  const grpcHost = options.grpcHost ?? DEFAULTS.grpcHost;
  const listenIp = options.listenIp ?? DEFAULTS.listenIp;
  const workers = options.workers ?? availableParallelism();
  const heartbeatMs = options.heartbeatMs ?? DEFAULTS.heartbeatMs;

  let announcedAddress = options.announcedAddress;
  if (!announcedAddress && options.useEc2Metadata) {
    announcedAddress = await fetchEc2PublicIpv4({ endpoint: options.imdsEndpoint });
    baseLogger.info('media-node.announced-address-from-imds', { announcedAddress });
  }
  const publicAddress = announcedAddress ?? listenIp;

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step();
  };
  // Secrets Manager rings re-read their secret on a timer: stopped with the node.
  cleanups.push(() => {
    for (const ring of new Set([rings.api, rings.span])) (ring as { stop?(): void } | undefined)?.stop?.();
  });
  try {
    const pool = await WorkerPool.start({
      count: workers,
      listenIp,
      announcedAddress,
      rtcPortBase: options.rtcPortBase ?? DEFAULTS.rtcPortBase,
      iceTcpPort: options.iceTcpPort,
      relayPeer: options.relayPeer,
      logger: baseLogger,
    });
    cleanups.push(() => pool.close());

    const capacity = options.capacity ?? workers * DEFAULT_WORKER_LIMITS.consumers;
    const limits: WorkerLimits = {
      packetsPerSecond: options.workerPacketsPerSecond ?? DEFAULT_WORKER_LIMITS.packetsPerSecond,
      consumers: capacity / workers,
      admitLoad: (options.admitLoadPercent ?? DEFAULT_WORKER_LIMITS.admitLoad * 100) / 100,
    };
    const admission = new Admission(pool, new PacketMeter(pool), limits, {
      reserveForMs: options.reservationMs ?? DEFAULTS.reservationMs,
    });

    const police = options.police === false ? undefined : new ProducerPolice(options.police ?? {});
    if (police) cleanups.push(() => police.close());

    const pipe: PipeListen = options.pipe ?? { listenIp, ...DEFAULT_PIPE_PORTS };
    // The node id is known once the gRPC port is bound; rooms only span nodes after that.
    let selfId = options.nodeId ?? '';
    const rooms = new Rooms(pool, {
      workerScore: (slot) => admission.score(slot),
      localMedia: options.localMedia,
      police,
      openRemote: (room, far) =>
        RemotePart.open({
          roomId: room.id,
          homeNodeId: selfId,
          nodeId: far.nodeId,
          grpcAddress: far.grpcAddress,
          api: connectMediaNodeSpan(far.grpcAddress, { secret: rings.span && (() => rings.span!.current()) }),
          mainRouter: room.router,
          pipe,
          logger: baseLogger.child({ nodeId: selfId }),
          onNotice: (notice) => recordNotice(notice),
        }),
      roomGraceMs: options.roomGraceMs ?? DEFAULTS.roomGraceMs,
      iceDisconnectedGraceMs: options.iceDisconnectedGraceMs ?? DEFAULTS.iceDisconnectedGraceMs,
      iceConnectTimeoutMs: options.iceConnectTimeoutMs,
      iceConsentTimeoutS: options.iceConsentTimeoutS ?? DEFAULTS.iceConsentTimeoutS,
      logger: baseLogger,
    });
    const parts = new PartHost({
      pool,
      workerScore: (slot) => admission.score(slot),
      chooseWorker: (roomId, mainIndex, sessionId) => admission.chooseSpanWorker(roomId, mainIndex, sessionId),
      localMedia: options.localMedia,
      police,
      watchWithinMs: options.partWatchWithinMs,
      pipe,
      iceConsentTimeoutS: options.iceConsentTimeoutS ?? DEFAULTS.iceConsentTimeoutS,
      iceDisconnectedGraceMs: options.iceDisconnectedGraceMs ?? DEFAULTS.iceDisconnectedGraceMs,
      iceConnectTimeoutMs: options.iceConnectTimeoutMs,
      logger: baseLogger,
    });
    cleanups.push(() => parts.closeAll());
    let registry = options.registry;
    if (!registry && options.registryTable) registry = new NodeRegistry(createDocumentClient(), options.registryTable);
    const farNodes = options.farNodes ?? (registry ? registryFarNodes(registry) : undefined);
    const metrics = createMetrics();
    const service = createMediaNodeService({
      rooms,
      admission,
      secrets: rings.api,
      metrics,
      logger: baseLogger,
      farNodes,
      nodeId: () => selfId,
    });
    const spanService = createSpanService({ parts, secrets: rings.span, logger: baseLogger });

    const server = new Server();
    server.addService(MediaNodeServiceDefinition, service.implementation);
    server.addService(MediaNodeSpanService, spanService.implementation);
    const boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        hostPort(grpcHost, options.grpcPort ?? DEFAULTS.grpcPort),
        ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
    cleanups.push(() =>
      shutdownGrpc(server, () => {
        service.endStreams();
        spanService.endStreams();
      }),
    );
    const grpcAddress = hostPort(grpcHost, boundPort);
    const advertisedAddress = options.grpcAdvertisedAddress ?? grpcAddress;
    const nodeId = options.nodeId ?? `${hostname()}:${boundPort}`;
    selfId = nodeId;
    const logger = baseLogger.child({ nodeId });
    parts.useLogger(logger);

    let state: MediaNodeState | 'closed' = 'active';
    await admission.sample();

    const record = async (): Promise<MediaNodeRecord> => {
      const load = rooms.load();
      const cpu = admission.lastCpu().map((w) => w.cpuPercent);
      const workerViews = admission.workers();
      const now = Date.now();
      return {
        nodeId,
        grpcAddress: advertisedAddress,
        publicAddress,
        capacity,
        ...load,
        cpu: {
          workers: cpu,
          avg: cpu.length ? Math.round((10 * cpu.reduce((a, b) => a + b, 0)) / cpu.length) / 10 : 0,
          max: cpu.length ? Math.max(...cpu) : 0,
        },
        packets: {
          workers: workerViews.map((w) => w.forwardedPerSecond),
          total: Math.round(workerViews.reduce((sum, w) => sum + w.forwardedPerSecond, 0)),
          perWorkerAtFullCore: limits.packetsPerSecond,
        },
        load: summarizeLoad(
          workerViews.map((w) => w.load),
          limits.admitLoad,
        ),
        state: state === 'closed' ? 'draining' : state,
        heartbeatAt: now,
        // Three missed heartbeats (at least 15 s) and the record is dead to readers.
        expiresAt: Math.floor(now / 1000) + Math.max(15, Math.ceil((3 * heartbeatMs) / 1000)),
      };
    };

    let metricsServer: HttpServer | undefined;
    let metricsAddress: string | undefined;
    const metricsPort = options.metricsPort ?? DEFAULTS.metricsPort;
    if (metricsPort >= 0) {
      const started = await startMetricsServer(options.metricsHost ?? grpcHost, metricsPort, async () => {
        const load = rooms.load();
        return [
          gauge('media_node_rooms', 'Open rooms (routers)', [{ value: load.rooms }]),
          gauge('media_node_sessions', 'Sessions with transports', [{ value: load.sessions }]),
          gauge('media_node_transports', 'WebRTC transports', [{ value: load.transports }]),
          gauge('media_node_producers', 'Audio producers', [{ value: load.producers }]),
          gauge('media_node_consumers', 'Audio consumers', [{ value: load.consumers }]),
          gauge('media_node_draining', '1 while draining', [{ value: state === 'active' ? 0 : 1 }]),
          gauge(
            'media_node_load_percent',
            "Mean worker load in percent (routing/load.ts: the largest of forwarded packets/s, CPU and consumers against a worker's limits): what placement and autoscaling use",
            [{ value: Math.round(1000 * (await record()).load!.avg) / 10 }],
          ),
          gauge(
            'media_node_worker_load_percent',
            'Worker load in percent (what admission compares with the threshold, admitted joins since the last sample included)',
            admission
              .workers()
              .map((w) => ({ labels: { worker: String(w.index) }, value: Math.round(1000 * w.load) / 10 })),
          ),
          gauge(
            'media_node_worker_packets_per_second',
            'RTP packets/s the worker forwarded (its consumers sent) over the last heartbeat interval',
            admission.workers().map((w) => ({ labels: { worker: String(w.index) }, value: w.forwardedPerSecond })),
          ),
          gauge(
            'media_node_worker_cpu_percent',
            'Worker CPU over the last heartbeat interval, percent of one core',
            admission.lastCpu().map((w) => ({ labels: { worker: String(w.index) }, value: w.cpuPercent })),
          ),
          metrics.joinDuration.render(),
          metrics.sessionsLost.render(),
          metrics.callFailures.render(),
          metrics.admissionRefused.render(),
          metrics.producersPoliced.render(),
          '',
        ].join('\n');
      });
      metricsServer = started.server;
      metricsAddress = started.address;
      cleanups.push(() => new Promise<void>((resolve) => metricsServer!.close(() => resolve())));
    }

    if (!registry) logger.info('media-node.registry-disabled', { why: 'MEDIA_NODES_TABLE is not set' });

    // Lost sessions: metrics, log, and (for the serverless signalling side) the registry table.
    const pendingWrites = new Set<Promise<void>>();
    rooms.on('sessionLost', (event) => {
      metrics.sessionsLost.inc({ reason: event.reason });
      if (!registry) return;
      const write = registry
        .recordLostSession({ ...event, nodeId }, { ttlSeconds: options.lostSessionTtlSeconds })
        .catch((error) => logger.error('media-node.lost-session-record-failed', { ...event, error }))
        .finally(() => pendingWrites.delete(write));
      pendingWrites.add(write);
    });

    // A notice for a member of a room of this node (its own, or one on a part elsewhere: RemotePart.onNotice), in
    // the registry, which the signalling side's sweep tells the member as a non-fatal voice.producer-policed.
    const recordNotice = (lost: { roomId: string; sessionId: string; userId: string; reason: string }) => {
      if (!registry) return;
      const notice = {
        roomId: lost.roomId,
        sessionId: lost.sessionId,
        userId: lost.userId,
        reason: lost.reason,
        nodeId,
        notice: true,
      };
      const write = registry
        .recordLostSession(notice, { ttlSeconds: POLICE_NOTICE_TTL_S })
        .catch((error) => logger.error('media-node.notice-record-failed', { ...notice, error }))
        .finally(() => pendingWrites.delete(write));
      pendingWrites.add(write);
    };

    // Policed producers: metrics, log, and (a pause) a notice, written here for this node's rooms, or sent to the
    // room's home node for a part hosted here (the home node hosts the session). An ended session is a loss
    // ('policed'), reported like the others above (by the home node for a part's session, through WatchPart).
    police?.onPoliced((event) => {
      metrics.producersPoliced.inc({ action: event.action });
      const fields = {
        roomId: event.roomId,
        sessionId: event.sessionId,
        userId: event.userId,
        producerId: event.producerId,
        offences: event.offences,
        packetsPerSecond: event.packetsPerSecond,
        bitsPerSecond: event.bitsPerSecond,
      };
      if (event.action === 'resumed') logger.info('media-node.producer-resumed', fields);
      else
        logger.warn(
          event.action === 'paused' ? 'media-node.producer-paused' : 'media-node.producer-policed-ended',
          fields,
        );
      if (event.action !== 'paused') return;
      if (!parts.notice(event.roomId, event.sessionId, event.userId, 'policed'))
        recordNotice({ ...event, reason: 'policed' });
    });

    const heartbeatNow = async () => {
      await admission.sample();
      if (registry && state !== 'closed') await registry.heartbeat(await record());
    };
    if (registry) await registry.register(await record());
    // Kept so close() can wait for it: a put landing after the deregister would resurrect the node.
    let beating: Promise<void> = Promise.resolve();
    const heartbeat = setInterval(() => {
      beating = heartbeatNow().catch((error) => logger.warn('media-node.heartbeat-failed', { error }));
    }, heartbeatMs);
    heartbeat.unref();

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        state = 'closed';
        clearInterval(heartbeat);
        rooms.closeAll();
        await beating;
        await Promise.allSettled([...pendingWrites]);
        if (registry)
          await registry.deregister(nodeId).catch((error) => logger.warn('media-node.deregister-failed', { error }));
        await cleanup();
        logger.info('media-node.closed');
      })());

    let draining: Promise<boolean> | undefined;
    const drain = (timeoutMs = options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs) =>
      (draining ??= (async () => {
        if (state === 'active') state = 'draining';
        rooms.startDraining();
        logger.info('media-node.draining', { timeoutMs, ...rooms.load() });
        await heartbeatNow().catch((error) => logger.warn('media-node.heartbeat-failed', { error }));
        const emptied = await rooms.waitUntilEmpty(timeoutMs);
        if (!emptied) {
          logger.warn('media-node.drain-timeout', { ...rooms.load() });
          rooms.closeAll('drained');
        }
        await close();
        return emptied;
      })());

    const ports = await pool.listeningPorts();
    logger.info('media-node.ready', {
      grpc: grpcAddress,
      advertised: advertisedAddress,
      metrics: metricsAddress ?? null,
      publicAddress,
      workers: ports,
      auth: rings.api ? 'shared-secret' : 'none',
      spanAuth: !rings.span ? 'none' : rings.span === rings.api ? 'api-secret' : 'span-secret',
      registry: registry?.tableName ?? null,
    });

    return {
      nodeId,
      grpcAddress,
      advertisedAddress,
      metricsAddress,
      publicAddress,
      rooms,
      pool,
      admission,
      registry,
      parts,
      police,
      state: () => state,
      load: () => rooms.load(),
      record,
      heartbeatNow,
      drain,
      close,
      abort: () => {
        state = 'closed';
        clearInterval(heartbeat);
        server.forceShutdown();
        // Its connections to nodes holding parts of its rooms drop as a crashed process's would.
        for (const room of rooms.all()) for (const part of room.span.list()) if (part.kind === 'remote') part.abandon();
        pool.close();
        logger.warn('media-node.aborted');
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function shutdownGrpc(server: Server, endStreams: () => void): Promise<void> {
  endStreams();
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** The node's two secret rings from its options (undefined both: MEDIA_GRPC_INSECURE=1). */
async function secretRings(
  options: MediaNodeOptions,
  logger: Logger,
): Promise<{ api?: SecretRing; span?: SecretRing }> {
  const ring = async (name: string, given: SecretRing | undefined, secret?: string, previous?: string, arn?: string) =>
    given ??
    (arn ? await secretsManagerRing(arn, { name, logger }) : secret ? staticRing(secret, previous) : undefined);
  const api = await ring('api', options.apiSecrets, options.secret, options.secretPrevious, options.secretArn);
  if (!api && !options.insecure) {
    throw new Error(
      'config.missing-secret: set MEDIA_NODE_SECRET (or MEDIA_NODE_SECRET_ARN), or MEDIA_GRPC_INSECURE=1 for loopback development',
    );
  }
  let span = await ring(
    'span',
    options.spanSecrets,
    options.spanSecret,
    options.spanSecretPrevious,
    options.spanSecretArn,
  );
  if (!span && api) {
    logger.warn('media-node.span-secret-shared', {
      why: 'no MEDIA_SPAN_SECRET / MEDIA_SPAN_SECRET_ARN: node-to-node calls use the API secret',
    });
    span = api;
  }
  return { api, span };
}
