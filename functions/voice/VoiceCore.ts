// The voice protocol state machine (VOICE-PROTOCOL.md §3) over ports. No AWS, gRPC or WebSocket
// knowledge here: Lambda handlers and tests drive it; adapters carry out its effects.
//
// Concurrency model: on AWS, messages of one connection may be handled by concurrent invocations.
// Every step first claims the connection with a conditional transition (state + version), so a
// duplicate or out-of-order message loses the claim and is answered with an error, changing nothing.
// The media node serializes joins and leaves per room, so fan-out follows its answers, not the store.
import type { StreamMessageRequest, StreamMessageResponse, UserConsumerOptions } from '../../gen/protocol/voice/v1/voice';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { decodeRequest, encodeResponseFrame, errorFrameOf, fromWire, KEEPALIVE_FRAME, MAX_MESSAGE_BYTES, normalizeId, type Variant } from '../../protocol/hrpc';
import { isNodeAlive, pickNode } from '../../routing/placement';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { mediaErrorToVoiceError } from './media-errors';
import {
  ConflictError, type Clock, type ConnectionRecord, type ConnectionState, type ConsumerDelivery, type Gateway,
  type MediaClient, type MemberRecord, type NodeDirectory, type Placement, type StateStore,
} from './ports';

export interface VoiceLimits {
  /** A client must send Initialize this soon after connecting, PrepareForJoinChannel after Initialized, ... */
  initializeWithinMs: number;
  prepareWithinMs: number;
  joinWithinMs: number;
  /** How long a claimed ("…ing") step may take before the sweep treats it as stuck. */
  stepWithinMs: number;
  /** API Gateway closes connections after 2 hours; records outlive that a little, for cleanup. */
  connectionTtlSeconds: number;
  /** A node whose heartbeat is older than this is dead: its channels are re-placed. */
  nodeStaleAfterMs: number;
  maxMembersPerChannel: number;
  /** The sweep does not probe connections younger than this (they were just seen). */
  probeConnectionsOlderThanMs: number;
}

export const DEFAULT_LIMITS: VoiceLimits = {
  initializeWithinMs: 30_000,
  prepareWithinMs: 30_000,
  joinWithinMs: 60_000,
  stepWithinMs: 30_000,
  connectionTtlSeconds: 2 * 3600 + 600,
  nodeStaleAfterMs: 15_000,
  maxMembersPerChannel: 100,
  probeConnectionsOlderThanMs: 2_000,
};

export interface VoiceCoreDeps {
  store: StateStore;
  nodes: NodeDirectory;
  media: MediaClient;
  gateway: Gateway;
  policy: ChannelPolicy;
  clock: Clock;
  log: Logger;
  limits?: Partial<VoiceLimits>;
}

type EndReason = 'disconnected' | 'rejected' | 'gone' | 'replaced' | 'timeout' | 'media-lost' | 'expired' | 'stuck';

export class VoiceCore {
  private readonly limits: VoiceLimits;

  constructor(private readonly deps: VoiceCoreDeps) {
    this.limits = { ...DEFAULT_LIMITS, ...deps.limits };
  }

  // ---- $connect ----

  /** Records an authenticated connection (the token was verified by the caller). */
  async connect(connectionId: string, principal: { userId: string; grants: string[] }, variant: Variant): Promise<void> {
    const now = this.deps.clock.now();
    await this.deps.store.putConnection({
      connectionId, userId: principal.userId, grants: principal.grants, variant, state: 'connected', version: 1,
      connectedAt: now, deadline: this.deadlineIn('connected'),
      expiresAt: Math.ceil(now / 1000) + this.limits.connectionTtlSeconds,
    });
    this.deps.log.info('voice.connected', { connectionId, userId: principal.userId, variant });
  }

  // ---- $default ----

  /** Handles one client frame (text for hrpc1.base64, bytes for hrpc1). Never throws. */
  async receive(connectionId: string, payload: string | Uint8Array): Promise<void> {
    if (payload === KEEPALIVE_FRAME) return;
    // Until the record is read, the frame's own kind is the best guess of the stream's variant.
    const guessed: Variant = typeof payload === 'string' ? 'base64' : 'binary';
    let conn: ConnectionRecord | undefined;
    try {
      conn = await this.deps.store.getConnection(connectionId);
      if (!conn) {
        // The session was already ended (timeout, replacement, reaper): say so, then close.
        await this.deps.gateway.send(connectionId, errorFrameOf(new VoiceError(ErrorId.notFound, 'this stream has no voice session (it was ended); reconnect')), guessed);
        await this.deps.gateway.close(connectionId);
        return;
      }
      const request = decodeRequest(fromWire(payload, conn.variant));
      await this.dispatch(conn, request);
    } catch (err) {
      await this.fail(connectionId, conn, err, guessed);
    }
  }

  private async dispatch(conn: ConnectionRecord, request: StreamMessageRequest): Promise<void> {
    const message = request.message!;
    switch (message.$case) {
      case 'initialize':
        return this.initialize(conn, message.value.guildId, message.value.channelId);
      case 'prepareForJoinChannel':
        return this.prepare(conn, message.value.rtpCapabilities);
      case 'joinChannel':
        return this.join(conn, message.value);
      case 'resumeConsumer':
        return this.resume(conn, message.value.consumerId);
    }
  }

  private async initialize(conn: ConnectionRecord, guildId: bigint, channelId: bigint): Promise<void> {
    requireState(conn, 'connected', 'Initialize must be the first and only Initialize of a stream');
    if (guildId === 0n) throw new VoiceError(ErrorId.badGuildId, 'guild_id 0 is not a guild');
    if (channelId === 0n) throw new VoiceError(ErrorId.badChannelId, 'channel_id 0 is not a channel');
    await this.deps.policy.authorize({ userId: conn.userId, grants: conn.grants }, guildId, channelId);

    const roomId = `${guildId}:${channelId}`;
    const claimed = await this.claim(conn, { state: 'initializing', guildId: guildId.toString(), channelId: channelId.toString() });
    try {
      const { placement, rtpCapabilities } = await this.openRoom(roomId);
      const next = await this.deps.store.transition(claimed, {
        state: 'initialized', nodeId: placement.nodeId, nodeAddress: placement.grpcAddress, deadline: this.deadlineIn('initialized'),
      });
      this.deps.log.info('voice.initialized', logIds(next));
      await this.send(next, { message: { $case: 'initialized', value: { rtpCapabilities } } });
    } catch (err) {
      await this.revert(claimed, 'connected');
      throw err;
    }
  }

  private async prepare(conn: ConnectionRecord, rtpCapabilities: string): Promise<void> {
    requireState(conn, 'initialized', 'PrepareForJoinChannel must follow Initialized, once');
    const caps = parseJson(rtpCapabilities, ErrorId.badRtpCapabilities, 'rtp_capabilities');
    if (!Array.isArray((caps as { codecs?: unknown }).codecs)) {
      throw new VoiceError(ErrorId.badRtpCapabilities, 'rtp_capabilities has no codecs array');
    }
    const claimed = await this.claim(conn, { state: 'preparing' });
    try {
      const transports = await this.media(claimed, (node) => this.deps.media.createTransports(node, {
        roomId: roomOf(claimed), sessionId: claimed.connectionId, userId: claimed.userId, rtpCapabilities,
      }));
      const next = await this.deps.store.transition(claimed, {
        state: 'prepared', deadline: this.deadlineIn('prepared'),
      });
      this.deps.log.info('voice.prepared', logIds(next));
      const toWire = (t: typeof transports.consumerTransport) => ({
        id: t.id, dtlsParameters: t.dtlsParameters, iceCandidates: t.iceCandidates, iceParameters: t.iceParameters,
      });
      await this.send(next, { message: { $case: 'preparedForJoinChannel', value: {
        consumerTransportOptions: toWire(transports.consumerTransport),
        producerTransportOptions: toWire(transports.producerTransport),
      } } });
    } catch (err) {
      await this.revert(claimed, 'initialized');
      throw err;
    }
  }

  private async join(conn: ConnectionRecord, msg: { rtpParamaters: string; producerDtlsParamaters: string; consumerDtlsParamaters: string }): Promise<void> {
    requireState(conn, 'prepared', 'JoinChannel must follow PreparedForJoinChannel, once');
    parseJson(msg.rtpParamaters, ErrorId.badRtpParameters, 'rtp_paramaters');
    parseJson(msg.producerDtlsParamaters, ErrorId.badDtlsParameters, 'producer_dtls_paramaters');
    parseJson(msg.consumerDtlsParamaters, ErrorId.badDtlsParameters, 'consumer_dtls_paramaters');
    const channelKey = roomOf(conn);
    const claimed = await this.claim(conn, { state: 'joining' });
    let joined: ConnectionRecord;
    let result: Awaited<ReturnType<MediaClient['join']>>;
    let members: MemberRecord[];
    try {
      const [listed, previous] = await Promise.all([
        this.deps.store.listMembers(channelKey),
        this.deps.store.takeSeat(channelKey, claimed.userId, claimed.connectionId),
        this.deps.store.addMember(channelKey, {
          connectionId: claimed.connectionId, userId: claimed.userId, variant: claimed.variant, joinedAt: this.deps.clock.now(),
        }, claimed.expiresAt),
      ]);
      members = listed.filter((m) => m.connectionId !== claimed.connectionId);
      if (members.filter((m) => m.connectionId !== previous).length >= this.limits.maxMembersPerChannel) {
        throw new VoiceError(ErrorId.channelFull, `channel is full (${this.limits.maxMembersPerChannel} members)`);
      }
      if (previous) {
        await this.endSession(previous, 'replaced', new VoiceError(ErrorId.replaced,
          'the same user joined this channel from another stream', { fatal: true }));
      }
      result = await this.media(claimed, (node) => this.deps.media.join(node, {
        roomId: channelKey, sessionId: claimed.connectionId, rtpParameters: msg.rtpParamaters,
        producerDtlsParameters: msg.producerDtlsParamaters, consumerDtlsParameters: msg.consumerDtlsParamaters,
      }));
      joined = await this.deps.store.transition(claimed, { state: 'joined', deadline: undefined });
    } catch (err) {
      await Promise.all([this.revert(claimed, 'prepared'), this.deps.store.removeMember(channelKey, claimed.connectionId)]);
      throw err;
    }
    this.deps.log.info('voice.joined', { ...logIds(joined), others: result.forJoiner.length });
    // JoinedChannel and the members' UserJoined go out together: nothing orders them across streams anyway.
    await Promise.all([
      this.send(joined, { message: { $case: 'joinedChannel', value: { otherUsers: result.forJoiner.map(userConsumerOptions) } } }),
      this.deliver(channelKey, result.forMembers.map((d) => ({
        sessionId: d.receiverSessionId,
        response: { message: { $case: 'userJoined', value: { data: userConsumerOptions(d) } } },
      })), members),
    ]);
  }

  private async resume(conn: ConnectionRecord, consumerId: string): Promise<void> {
    requireState(conn, 'joined', 'ResumeConsumer needs a joined channel');
    const id = normalizeId(consumerId);
    if (!id) throw new VoiceError(ErrorId.unknownConsumer, 'consumer_id is empty');
    await this.media(conn, (node) => this.deps.media.resumeConsumer(node, { roomId: roomOf(conn), sessionId: conn.connectionId, consumerId: id }));
    this.deps.log.info('voice.consumer-resumed', { ...logIds(conn), consumerId: id });
  }

  // ---- $disconnect and every other way a session ends ----

  async disconnect(connectionId: string): Promise<void> {
    await this.endSession(connectionId, 'disconnected');
  }

  /**
   * Ends a session exactly once: claims it (state `closing`), optionally tells the client why and
   * closes the socket, leaves the media room and sends UserLeft to every remaining member once.
   */
  async endSession(target: string | ConnectionRecord, reason: EndReason, error?: VoiceError): Promise<void> {
    let conn = typeof target === 'string' ? await this.deps.store.getConnection(target) : target;
    let claimed: ConnectionRecord | undefined;
    for (let attempt = 0; conn && !claimed && attempt < 5; attempt++) {
      const stuckClosing = conn.state === 'closing' && (conn.deadline ?? 0) < this.deps.clock.now();
      if (conn.state === 'closing' && !stuckClosing) return; // another invocation is ending it
      try {
        claimed = await this.deps.store.transition(conn, { state: 'closing', deadline: this.deadlineIn('closing') });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        conn = await this.deps.store.getConnection(conn.connectionId);
      }
    }
    if (!claimed) return;
    this.deps.log.info('voice.session-ending', { ...logIds(claimed), reason });
    if (error) {
      await this.deps.gateway.send(claimed.connectionId, errorFrameOf(error), claimed.variant).catch(() => 'gone');
    }
    if (error || reason === 'gone') await this.deps.gateway.close(claimed.connectionId).catch(() => undefined);

    if (claimed.nodeId && claimed.guildId) {
      const roomId = roomOf(claimed);
      try {
        const left = await this.media(claimed, (node) => this.deps.media.leave(node, { roomId, sessionId: claimed!.connectionId }));
        if (left.wasPresent) {
          const userId = BigInt(claimed.userId);
          // The node lists exactly the sessions that consumed the leaver (never the leaver itself).
          await this.deliver(roomId, left.remaining.map((s) => ({
            sessionId: s.sessionId, response: { message: { $case: 'userLeft', value: { userId } } },
          })));
        }
      } catch (err) {
        // A dead node takes its whole room with it; the sweep ends the other members' sessions.
        this.deps.log.warn('voice.leave-failed', { ...logIds(claimed), error: (err as Error).message });
      }
    }
    await this.deps.store.deleteConnection(claimed);
    this.deps.log.info('voice.session-ended', { ...logIds(claimed), reason });
  }

  // The reaper's sweep lives in Sweep.ts: it ends due sessions through endSession.

  // ---- helpers ----

  private async claim(conn: ConnectionRecord, next: Partial<ConnectionRecord> & { state: ConnectionState }): Promise<ConnectionRecord> {
    try {
      return await this.deps.store.transition(conn, { ...next, deadline: this.deadlineIn(next.state) });
    } catch (err) {
      if (err instanceof ConflictError) {
        throw new VoiceError(ErrorId.outOfOrder, `another message of this stream is being handled (${conn.state}); this one changes nothing`);
      }
      throw err;
    }
  }

  /**
   * When a connection in `state` must have moved on: the client's turn in connected/initialized/prepared,
   * the server's own step (a claimed `…ing` or `closing`) otherwise. `joined` has no deadline.
   */
  private deadlineIn(state: ConnectionState): number {
    const clientTurn: Partial<Record<ConnectionState, number>> = {
      connected: this.limits.initializeWithinMs, initialized: this.limits.prepareWithinMs, prepared: this.limits.joinWithinMs,
    };
    return this.deps.clock.now() + (clientTurn[state] ?? this.limits.stepWithinMs);
  }

  private async revert(claimed: ConnectionRecord, state: ConnectionState): Promise<void> {
    await this.deps.store.transition(claimed, { state, deadline: this.deadlineIn(state) })
      .catch((err) => this.deps.log.warn('voice.revert-failed', { ...logIds(claimed), error: (err as Error).message }));
  }

  /** Finds the channel's media node (placing it, or re-placing it off a dead node) and opens its room. */
  private async openRoom(roomId: string): Promise<{ placement: Placement; rtpCapabilities: string }> {
    const excluded = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const placement = await this.locate(roomId, excluded);
      try {
        const { rtpCapabilities } = await this.deps.media.openRoom(placement, roomId);
        return { placement, rtpCapabilities };
      } catch (err) {
        const voiceError = mediaErrorToVoiceError(err);
        if (voiceError.identifier !== ErrorId.unavailable) throw voiceError;
        this.deps.log.warn('voice.node-refused-room', { roomId, nodeId: placement.nodeId, error: voiceError.humanMessage });
        excluded.add(placement.nodeId);
      }
    }
    throw new VoiceError(ErrorId.unavailable, 'no media node accepted this channel', { retryAfterSeconds: 5 });
  }

  private async locate(roomId: string, excluded: Set<string>): Promise<Placement> {
    const now = this.deps.clock.now();
    const [existing, nodes] = await Promise.all([this.deps.store.getPlacement(roomId), this.deps.nodes.listNodes()]);
    const current = existing && nodes.find((n) => n.nodeId === existing.nodeId);
    if (existing && current && !excluded.has(existing.nodeId) && isNodeAlive(current, now, this.limits.nodeStaleAfterMs)) {
      return { nodeId: current.nodeId, grpcAddress: current.grpcAddress };
    }
    const candidate = pickNode(nodes.filter((n) => !excluded.has(n.nodeId)), now, { staleAfterMs: this.limits.nodeStaleAfterMs });
    if (!candidate) throw new VoiceError(ErrorId.unavailable, 'no media node is available', { retryAfterSeconds: 5 });
    const placed = await this.deps.store.placeChannel(roomId, { nodeId: candidate.nodeId, grpcAddress: candidate.grpcAddress }, existing?.nodeId);
    if (placed.nodeId !== candidate.nodeId) {
      // Someone else placed it concurrently: use theirs (with its current address).
      const winner = nodes.find((n) => n.nodeId === placed.nodeId);
      return winner ? { nodeId: winner.nodeId, grpcAddress: winner.grpcAddress } : placed;
    }
    this.deps.log.info('voice.channel-placed', { roomId, nodeId: placed.nodeId, replacing: existing?.nodeId });
    return placed;
  }

  /** Calls the connection's media node, mapping failures to voice errors. */
  private async media<T>(conn: ConnectionRecord, call: (node: Placement) => Promise<T>): Promise<T> {
    if (!conn.nodeId || !conn.nodeAddress) throw new Error(`connection ${conn.connectionId} has no media node`);
    try {
      return await call({ nodeId: conn.nodeId, grpcAddress: conn.nodeAddress });
    } catch (err) {
      throw mediaErrorToVoiceError(err);
    }
  }

  private async send(conn: ConnectionRecord, response: StreamMessageResponse): Promise<void> {
    const frame = encodeResponseFrame(response);
    assertFits(frame);
    const result = await this.deps.gateway.send(conn.connectionId, frame, conn.variant);
    if (result === 'gone') await this.endSession(conn.connectionId, 'gone');
  }

  /** Sends each response to its session alone, all awaited; sessions found gone are ended. */
  private async deliver(
    channelKey: string, items: { sessionId: string; response: StreamMessageResponse }[], known?: MemberRecord[],
  ): Promise<void> {
    if (items.length === 0) return;
    const members = new Map<string, MemberRecord | ConnectionRecord>(
      (known ?? (await this.deps.store.listMembers(channelKey))).map((m) => [m.connectionId, m]));
    const gone: string[] = [];
    const results = await Promise.allSettled(items.map(async ({ sessionId, response }) => {
      // A member whose join is still being committed is not listed yet: read its connection.
      const receiver = members.get(sessionId) ?? (await this.deps.store.getConnection(sessionId));
      if (!receiver) return;
      const frame = encodeResponseFrame(response);
      assertFits(frame);
      if ((await this.deps.gateway.send(sessionId, frame, receiver.variant)) === 'gone') gone.push(sessionId);
    }));
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        this.deps.log.error('voice.delivery-failed', {
          channelKey, connectionId: items[i]!.sessionId, kind: items[i]!.response.message?.$case, error: String(result.reason),
        });
      }
    });
    for (const sessionId of gone) await this.endSession(sessionId, 'gone');
  }

  private async fail(connectionId: string, conn: ConnectionRecord | undefined, err: unknown, guessed: Variant): Promise<void> {
    const error = err instanceof VoiceError ? err
      : new VoiceError(ErrorId.internal, 'the voice service failed to handle this message');
    if (!(err instanceof VoiceError)) {
      this.deps.log.error('voice.internal-error', { connectionId, userId: conn?.userId, error: (err as Error)?.stack ?? String(err) });
    } else {
      this.deps.log.info('voice.rejected', { connectionId, userId: conn?.userId, identifier: error.identifier, message: error.humanMessage });
    }
    if (conn && error.fatal) return this.endSession(conn.connectionId, 'rejected', error);
    try {
      // Even when the state could not be read (a store outage), the client hears why nothing happened.
      await this.deps.gateway.send(connectionId, errorFrameOf(error), conn?.variant ?? guessed);
    } catch (sendErr) {
      this.deps.log.error('voice.error-send-failed', { connectionId, error: (sendErr as Error).message });
    }
  }
}

function requireState(conn: ConnectionRecord, expected: ConnectionState, rule: string): void {
  if (conn.state !== expected) throw new VoiceError(ErrorId.outOfOrder, `${rule} (stream is ${conn.state})`);
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

function userConsumerOptions(d: ConsumerDelivery): UserConsumerOptions {
  return { userId: BigInt(d.producerUserId), producerId: d.producerId, consumerId: d.consumerId, rtpParameters: d.rtpParameters };
}

function roomOf(conn: ConnectionRecord): string {
  return `${conn.guildId}:${conn.channelId}`;
}

function logIds(conn: ConnectionRecord) {
  return { connectionId: conn.connectionId, userId: conn.userId, guildId: conn.guildId, channelId: conn.channelId, nodeId: conn.nodeId };
}

/**
 * API Gateway accepts at most 128 KB per PostToConnection, and the hrpc1.base64 variant grows bytes by 4/3,
 * so a server message may carry at most 96 KB. maxMembersPerChannel keeps JoinedChannel inside it.
 */
export const MAX_SERVER_MESSAGE_BYTES = Math.floor((MAX_MESSAGE_BYTES * 3) / 4);
function assertFits(frame: Uint8Array): void {
  if (frame.length > MAX_SERVER_MESSAGE_BYTES) {
    throw new Error(`server message of ${frame.length} bytes exceeds the ${MAX_SERVER_MESSAGE_BYTES}-byte budget of one API Gateway message`);
  }
}
