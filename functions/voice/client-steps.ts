// voice.v1's four client steps (VOICE-PROTOCOL.md §3): Initialize, PrepareForJoinChannel, JoinChannel and
// ResumeConsumer, each run by the step runner (step-runner.ts) from its row of the protocol table's STEPS.
// PrepareForJoinChannel and JoinChannel may claim their stream on arrival (claimableStep), in one request.
import type { StreamMessageRequest } from '../../gen/protocol/voice/v1/voice';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { decodeClientFrame, fromWire, normalizeId, type Variant } from '../../protocol/hrpc';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';
import type { ChannelPlacement } from './channel-placement';
import { endError } from './end-reasons';
import type { HistorySync } from './history-sync';
import { preparedForMs, type VoiceLimits } from './limits';
import { ConflictError, type Clock, type ConnectionRecord, type MediaClient, type TransportOptionsJson } from './ports';
import { STEPS } from './protocol-table';
import { ExpectedRace } from './races';
import { logIds, onNode, roomOf } from './records';
import type { Replies } from './replies';
import type { SessionEnd } from './session-end';
import { SessionResume } from './session-resume';
import type { StepRunner } from './step-runner';
import type { UserLimits } from './user-limits';

export interface ClientStepsDeps {
  runner: StepRunner;
  placement: Pick<ChannelPlacement, 'open'>;
  media: MediaClient;
  policy: ChannelPolicy;
  clock: Clock;
  log: Logger;
  metrics?: Metrics;
  limits: VoiceLimits;
  userLimits: UserLimits;
  replies: Replies;
  resumption: Pick<SessionResume, 'sendCredential'>;
  ends: Pick<SessionEnd, 'end'>;
  sync: Pick<HistorySync, 'tryAnnounce'>;
}

export type JoinMessage = { rtpParamaters: string; producerDtlsParamaters: string; consumerDtlsParamaters: string };

export class ClientSteps {
  constructor(private readonly deps: ClientStepsDeps) {}

  /** One voice.v1 request of a stream (already read). */
  dispatch(conn: ConnectionRecord, request: StreamMessageRequest): Promise<void> {
    const message = request.message!;
    switch (message.$case) {
      case 'initialize':
        return this.initialize(conn, message.value.guildId, message.value.channelId);
      case 'prepareForJoinChannel':
        return this.prepare(conn, message.value.rtpCapabilities);
      case 'joinChannel':
        return this.join(conn, message.value);
      case 'resumeConsumer':
        return this.resumeConsumer(conn, message.value.consumerId);
    }
  }

  /** A step claimed on arrival (claimableStep): `before` is the stream as it was, `claimed` as the claim left it. */
  runEarly(step: EarlyStep, before: ConnectionRecord, claimed: ConnectionRecord): Promise<void> {
    if (step.kind === 'prepare') return this.prepare(before, step.rtpCapabilities, claimed);
    return this.join(before, step.msg, claimed);
  }

  private initialize(conn: ConnectionRecord, guildId: bigint, channelId: bigint): Promise<void> {
    let rtpCapabilities: string;
    return this.deps.runner.run(conn, {
      step: STEPS.initialize,
      check: async () => {
        if (guildId === 0n) throw new VoiceError(ErrorId.badGuildId, 'guild_id 0 is not a guild');
        if (channelId === 0n) throw new VoiceError(ErrorId.badChannelId, 'channel_id 0 is not a channel');
        await this.deps.policy.authorize({ userId: conn.userId, grants: conn.grants }, guildId, channelId);
      },
      claimWith: { guildId: guildId.toString(), channelId: channelId.toString() },
      work: async () => {
        const opened = await this.deps.placement.open(`${guildId}:${channelId}`);
        rtpCapabilities = opened.rtpCapabilities;
        return {
          advance: { nodeId: opened.placement.nodeId, nodeAddress: opened.placement.grpcAddress },
          value: undefined,
        };
      },
      reply: async (next) => {
        this.deps.log.info('voice.initialized', logIds(next));
        await this.deps.replies.send(next, { message: { $case: 'initialized', value: { rtpCapabilities } } });
      },
    });
  }

  /** `early`: the stream was claimed on arrival (claimableStep: the same checks passed, it was initialized). */
  private prepare(conn: ConnectionRecord, rtpCapabilities: string, early?: ConnectionRecord): Promise<void> {
    const { media, userLimits, limits } = this.deps;
    let admitted = false;
    return this.deps.runner.run(conn, {
      step: STEPS.prepare,
      early,
      check: () => checkPrepare(rtpCapabilities),
      admit: {
        beforeClaim: false,
        run: async (claimed) => {
          await userLimits.admitPrepare(claimed);
          admitted = true;
        },
      },
      work: async (claimed) => {
        const transports = await onNode(claimed, (node) =>
          media.createTransports(node, {
            roomId: roomOf(claimed),
            sessionId: claimed.connectionId,
            userId: claimed.userId,
            rtpCapabilities,
            // resume.v1: the session's media outlives its socket for the whole grace, even if the network changed.
            ...(claimed.resume ? { minIceConsentTimeoutS: Math.ceil(limits.resumeGraceMs / 1000) } : {}),
            // Its admission reservation on the node lasts as long as it may wait to join (UserLimits' window).
            reserveForMs: preparedForMs(limits),
            // consumers.v1: the session's consumers are created resumed (its client sends no ResumeConsumer).
            ...(claimed.consumersResumed ? { consumersResumed: true } : {}),
          }),
        );
        return { value: transports };
      },
      undo: async (claimed) => {
        if (admitted) await userLimits.prepareFailed(claimed).catch(() => undefined);
      },
      reply: async (next, transports) => {
        this.deps.log.info('voice.prepared', logIds(next));
        await this.deps.replies.send(next, {
          message: {
            $case: 'preparedForJoinChannel',
            value: {
              consumerTransportOptions: transportToWire(transports.consumerTransport),
              producerTransportOptions: transportToWire(transports.producerTransport),
            },
          },
        });
      },
    });
  }

  /** JoinChannel, its failures counted by identifier (a lost race is not a failure). `early`: see joinSteps. */
  private join(conn: ConnectionRecord, msg: JoinMessage, early?: ConnectionRecord): Promise<void> {
    return this.joinSteps(conn, msg, early).catch((err) => {
      if (!(err instanceof ExpectedRace || err instanceof ConflictError)) {
        this.deps.metrics?.count(METRIC.joinFailures, 1, {
          Identifier: err instanceof VoiceError ? err.identifier : ErrorId.internal,
        });
      }
      throw err;
    });
  }

  /**
   * JoinChannel. The media node's join is the commit point: it validates everything first (a rejected
   * join changes nothing — no seat taken, no session replaced), then meshes the joiner, takes the seat from
   * the same user's previous session and writes both to the room's history. The feed then tells everyone.
   * `early`: claimed on arrival (claimableStep: the same checks passed, the stream was prepared).
   */
  private joinSteps(conn: ConnectionRecord, msg: JoinMessage, early?: ConnectionRecord): Promise<void> {
    const { media, userLimits, limits, clock, metrics } = this.deps;
    const started = clock.now();
    let issued: { credential: string; hash: string } | undefined;
    return this.deps.runner.run(conn, {
      step: STEPS.join,
      early,
      check: () => checkJoin(msg),
      // Counted before the claim (after it when claimed on arrival).
      admit: { beforeClaim: true, run: (record) => userLimits.admitJoin(record) },
      // A failed join leaves the stream prepared within its original window (JoinChannel within
      // VOICE_JOIN_WITHIN_MS of PreparedForJoinChannel, however many attempts).
      revertDeadline: conn.deadline,
      work: async (claimed) => {
        const result = await onNode(claimed, (node) =>
          media.join(node, {
            roomId: roomOf(conn),
            sessionId: claimed.connectionId,
            rtpParameters: msg.rtpParamaters,
            producerDtlsParameters: msg.producerDtlsParamaters,
            consumerDtlsParameters: msg.consumerDtlsParamaters,
            maxMembers: limits.maxMembersPerChannel,
          }),
        );
        // resume.v1: a stream that opted in gets the session's credential with its joined state.
        issued = claimed.resume ? SessionResume.issue(claimed.userId, claimed.connectionId) : undefined;
        return { advance: issued ? { credentialHash: issued.hash } : {}, value: result };
      },
      // The stream being ended meanwhile (closed right after JoinChannel): its end leaves the room, and the history
      // announces the join and the leave in order.
      committedByWork: 'join-overtaken',
      reply: async (joined, result) => {
        this.deps.log.info('voice.joined', { ...logIds(joined), others: result.forJoiner.length, seq: result.seq });
        if (issued) await this.deps.resumption.sendCredential(joined, issued.credential);
      },
      after: async (claimed, result) => {
        await Promise.all(
          result.replaced.map((sessionId) => this.deps.ends.end(sessionId, 'replaced', endError('replaced'))),
        );
        await this.deps.sync.tryAnnounce(claimed);
        metrics?.timing(METRIC.joinLatency, clock.now() - started);
        metrics?.count(METRIC.joins);
        await userLimits.joined(claimed, result.replaced.length);
      },
    });
  }

  private resumeConsumer(conn: ConnectionRecord, consumerId: string): Promise<void> {
    return this.deps.runner.runUnclaimed(conn, STEPS.resumeConsumer, async () => {
      const id = normalizeId(consumerId);
      if (!id) throw new VoiceError(ErrorId.unknownConsumer, 'consumer_id is empty');
      await onNode(conn, (node) =>
        this.deps.media.resumeConsumer(node, { roomId: roomOf(conn), sessionId: conn.connectionId, consumerId: id }),
      );
      this.deps.log.info('voice.consumer-resumed', { ...logIds(conn), consumerId: id });
    });
  }
}

/** A transport's options as PreparedForJoinChannel carries them. */
function transportToWire(t: TransportOptionsJson) {
  return { id: t.id, dtlsParameters: t.dtlsParameters, iceCandidates: t.iceCandidates, iceParameters: t.iceParameters };
}

/** JoinChannel's own checks (before anything is written). */
function checkJoin(msg: JoinMessage): void {
  parseJson(msg.rtpParamaters, ErrorId.badRtpParameters, 'rtp_paramaters');
  parseJson(msg.producerDtlsParamaters, ErrorId.badDtlsParameters, 'producer_dtls_paramaters');
  parseJson(msg.consumerDtlsParamaters, ErrorId.badDtlsParameters, 'consumer_dtls_paramaters');
}

/** PrepareForJoinChannel's own checks (before anything is written). */
function checkPrepare(rtpCapabilities: string): void {
  const caps = parseJson(rtpCapabilities, ErrorId.badRtpCapabilities, 'rtp_capabilities');
  if (!Array.isArray((caps as { codecs?: unknown }).codecs)) {
    throw new VoiceError(ErrorId.badRtpCapabilities, 'rtp_capabilities has no codecs array');
  }
}

/** A step that may claim its stream on arrival (its row of STEPS says from which state, into which). */
export type EarlyStep =
  | { kind: 'prepare'; step: typeof STEPS.prepare; rtpCapabilities: string }
  | { kind: 'join'; step: typeof STEPS.join; msg: JoinMessage };

/**
 * The PrepareForJoinChannel or JoinChannel a frame carries, if it may claim its stream on arrival: a plain request
 * in the frame's own variant that passes the step's checks. Anything else (or a check failing) takes the ordinary
 * path, so the answer is the same as if the stream had been read first.
 */
export function claimableStep(payload: string | Uint8Array, variant: Variant): EarlyStep | undefined {
  try {
    const frame = decodeClientFrame(fromWire(payload, variant), false);
    const message = frame.kind === 'request' ? frame.request.message : undefined;
    if (message?.$case === 'prepareForJoinChannel') {
      checkPrepare(message.value.rtpCapabilities);
      return { kind: 'prepare', step: STEPS.prepare, rtpCapabilities: message.value.rtpCapabilities };
    }
    if (message?.$case !== 'joinChannel') return undefined;
    checkJoin(message.value);
    return { kind: 'join', step: STEPS.join, msg: message.value };
  } catch {
    return undefined;
  }
}

function parseJson(text: string, identifier: (typeof ErrorId)[keyof typeof ErrorId], field: string): unknown {
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object') return value;
  } catch {
    /* fall through */
  }
  throw new VoiceError(identifier, `${field} is not a JSON object`);
}
