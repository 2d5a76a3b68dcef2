// resume.v1: a voice session outlives its WebSocket (proto/harmonyvoice/ext/v1/session.proto, docs/protocol.md "Resume").
// Pure protocol logic over the ports, like VoiceCore: no AWS, gRPC or WebSocket knowledge.
//
// - A joined session of a stream that opted in gets a credential (SessionCredential): 32 random bytes, stored
//   only as SHA-256 over (user, session, credential), so it is bound to both and useless without the user's
//   own token; never logged. Every resume replaces it.
// - When the session's socket goes away ($disconnect, a 410 on a post, the sweep finding it gone) the session
//   is SUSPENDED, not ended: nobody is told, its media keeps flowing on the node, the feed skips it and the
//   room's history keeps what it misses. Its deadline is the end of the grace; the sweep ends it after that
//   (the ordinary leave: UserLeft once to each member).
// - A new stream of the same user presenting the credential and the last history position it saw takes the
//   session over: one conditional write on the session record (state + version) decides between concurrent
//   resumes; the record then names the new socket, and the channel's feed replays what was missed, under its
//   lease, before anything new. The media session (transports, producer, consumers) is the same one: its id is
//   the session id, never the connection id of the moment.
// - Late events of an old socket (frames, $disconnect, a 410) name a socket the session no longer has: they
//   change nothing (expected races).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Resume } from '../../gen/harmonyvoice/ext/v1/session';
import { ErrorId, VoiceError } from '../../protocol/errors';
import { encodeExtFrame } from '../../protocol/hrpc';
import type { ChannelPolicy } from '../auth/policy';
import type { Logger } from '../../lib/log';
import { endError } from './end-reasons';
import type { VoiceLimits } from './limits';
import { mediaErrorToVoiceError } from './media-errors';
import type { Races } from './races';
import {
  ConflictError,
  socketOf,
  type Clock,
  type ConnectionRecord,
  type Gateway,
  type MediaClient,
  type StateStore,
} from './ports';
import { deadlineAt, requireStep, STEPS, stateRule } from './protocol-table';

export interface SessionResumeDeps {
  store: StateStore;
  gateway: Gateway;
  media: MediaClient;
  policy: ChannelPolicy;
  clock: Clock;
  log: Logger;
  /** Where expected races are logged and counted. */
  races: Races;
  /**
   * `resumeGraceMs`: how long a suspended session waits for a resume (≤ the media node's ICE consent timeout);
   * `stepWithinMs`: how long the resume's own claimed step may take before the sweep ends it (protocol-table.ts).
   */
  limits: VoiceLimits;
  /** Delivers the channel's pending history (and `replayFor`'s replay) under the feed's lease. */
  announce(session: ConnectionRecord, replayFor?: string): Promise<void>;
  /** Ends a session (the ordinary leave), telling its current socket why. */
  endMediaLost(session: ConnectionRecord, error: VoiceError | undefined): Promise<void>;
}

/** Why a resume was refused (logged; the client hears one identifier, `voice.resume-refused`). */
type Refusal =
  | 'no-session'
  | 'other-user'
  | 'bad-credential'
  | 'grace-over'
  | 'not-resumable'
  | 'raced'
  | 'not-granted'
  | 'stream-gone';

export class SessionResume {
  constructor(private readonly deps: SessionResumeDeps) {}

  // ---- credentials ----

  /** A new credential for a session and the hash to store (the credential itself goes to the client only). */
  static issue(userId: string, sessionId: string): { credential: string; hash: string } {
    const credential = randomBytes(32).toString('base64url');
    return { credential, hash: credentialHash(userId, sessionId, credential) };
  }

  static matches(record: ConnectionRecord, userId: string, credential: string): boolean {
    if (!record.credentialHash || !credential) return false;
    const expected = Buffer.from(record.credentialHash, 'hex');
    const actual = Buffer.from(credentialHash(userId, record.connectionId, credential), 'hex');
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /** Sends a joined session its credential (an extension frame: only ever to a stream that opted in). */
  async sendCredential(session: ConnectionRecord, credential: string): Promise<void> {
    const frame = encodeExtFrame({
      message: {
        $case: 'credential',
        value: { sessionId: session.connectionId, credential, graceMs: this.deps.limits.resumeGraceMs },
      },
    });
    await this.deps.gateway.send(socketOf(session), frame, session.variant);
  }

  // ---- suspend ----

  /** Whether losing this session's socket suspends it (rather than ending it): its state allows it, and it opted in. */
  static suspendable(record: ConnectionRecord): boolean {
    return record.resume === true && record.credentialHash !== undefined && stateRule(record.state).suspendable;
  }

  /**
   * The socket `socket` of this session went away. Suspends the session if it is still carried by that
   * socket; false when it cannot be suspended (the caller ends it). True also when the socket was an old one.
   */
  async suspend(session: ConnectionRecord, socket: string, reason: string): Promise<boolean> {
    let current: ConnectionRecord | undefined = session;
    for (let attempt = 0; current && attempt < 3; attempt++) {
      if (socketOf(current) !== socket) {
        this.race('old-socket-gone', { connectionId: socket, sessionId: current.connectionId, reason });
        return true;
      }
      if (current.state === 'suspended') return true;
      if (!SessionResume.suspendable(current)) return false;
      const result = await this.deps.store.tryTransition(current, {
        state: 'suspended',
        deadline: this.deadlineAt('suspended', this.deps.clock.now()),
        replayFrom: undefined,
      });
      if (result.ok) {
        this.deps.log.info('voice.session-suspended', {
          ...ids(result.record),
          socket,
          reason,
          graceMs: this.deps.limits.resumeGraceMs,
        });
        return true;
      }
      current = result.current; // as the invocation that got there first left it (no re-read)
    }
    return current === undefined; // ended meanwhile: nothing to do
  }

  // ---- resume ----

  /**
   * A new stream (`stream`, still `connected`) asks to take over a session. Either it answers Resumed (and
   * the feed replays what was missed), or it throws `voice.resume-refused` having changed nothing.
   */
  async resume(stream: ConnectionRecord, request: Resume): Promise<void> {
    if (!stream.resume) throw new VoiceError(ErrorId.badStreamingRequest, 'this stream did not opt in to resume.v1');
    requireStep(STEPS.resume, stream.state);
    const now = this.deps.clock.now();
    let claimed: ConnectionRecord;
    try {
      claimed = await this.deps.store.transition(stream, {
        state: 'resuming',
        deadline: this.deadlineAt('resuming', now),
      });
    } catch (err) {
      if (err instanceof ConflictError)
        throw new VoiceError(
          ErrorId.outOfOrder,
          'another message of this stream is being handled; this one changes nothing',
        );
      throw err;
    }
    const refuse = async (why: Refusal): Promise<never> => {
      this.deps.log.info('voice.resume-refused', {
        connectionId: stream.connectionId,
        userId: stream.userId,
        sessionId: request.sessionId,
        why,
      });
      await this.deps.store.transition(claimed, { state: 'connected', deadline: stream.deadline }).catch((err) => {
        if (!(err instanceof ConflictError)) throw err;
      });
      throw new VoiceError(ErrorId.resumeRefused, REFUSALS[why]);
    };

    const session =
      request.sessionId && request.sessionId !== stream.connectionId
        ? await this.deps.store.getConnection(request.sessionId)
        : undefined;
    if (!session || stateRule(session.state).record === 'alias' || !session.guildId || !session.channelId)
      return refuse('no-session');
    if (session.userId !== stream.userId) return refuse('other-user');
    if (!SessionResume.matches(session, stream.userId, request.credential)) return refuse('bad-credential');
    if (session.state === 'suspended' && (session.deadline ?? 0) <= now) return refuse('grace-over');
    if (session.state !== 'suspended' && session.state !== 'joined') return refuse('not-resumable');
    try {
      await this.deps.policy.authorize(
        { userId: stream.userId, grants: stream.grants },
        BigInt(session.guildId),
        BigInt(session.channelId),
      );
    } catch {
      return refuse('not-granted');
    }

    // The one conditional write that decides between concurrent resumes (and against the sweep, a late
    // $disconnect and the old socket): the session now belongs to this stream, with a new credential.
    const { credential, hash } = SessionResume.issue(session.userId, session.connectionId);
    const previousSocket = socketOf(session);
    let taken: ConnectionRecord;
    try {
      taken = await this.deps.store.transition(session, {
        state: 'resuming',
        socket: stream.connectionId,
        variant: stream.variant,
        resume: true,
        credentialHash: hash,
        // The session now lives as long as the new stream's token allows (a resume with a fresh token renews it).
        deadline: this.deadlineAt('resuming', now),
        replayFrom: undefined,
        expiresAt: stream.expiresAt,
        tokenExpiresAt: stream.tokenExpiresAt,
        // state.v1: moderation follows the newest token too (a moderator whose right was withdrawn loses it here).
        moderates: stream.moderates,
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return refuse('raced');
    }
    // Put the session back as it was (old credential, old socket) when this stream cannot carry it after all.
    const giveBack = async (why: Refusal) => {
      await this.deps.store
        .transition(taken, {
          state: 'suspended',
          socket: session.socket,
          credentialHash: session.credentialHash,
          variant: session.variant,
          deadline: session.state === 'suspended' ? session.deadline : this.deadlineAt('suspended', now),
          expiresAt: session.expiresAt,
          tokenExpiresAt: session.tokenExpiresAt,
          moderates: session.moderates,
        })
        .catch((err) => {
          if (!(err instanceof ConflictError)) throw err;
        });
      return refuse(why);
    };
    try {
      await this.deps.store.transition(claimed, {
        state: 'attached',
        sessionId: session.connectionId,
        deadline: undefined,
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return giveBack('stream-gone'); // this stream closed meanwhile
    }

    let ice: { consumerIceParameters: string; producerIceParameters: string } | undefined;
    if (request.restartIce) {
      try {
        ice = await this.deps.media.restartIce(
          { nodeId: taken.nodeId!, grpcAddress: taken.nodeAddress! },
          { roomId: `${taken.guildId}:${taken.channelId}`, sessionId: taken.connectionId },
        );
      } catch (err) {
        const error = mediaErrorToVoiceError(err);
        if (error.identifier === ErrorId.unavailable) return giveBack('stream-gone');
        // The media session is gone: the session ends (its socket, now this stream, is told why).
        return this.deps.endMediaLost(taken, endError('media-lost', { resumeFailed: error.identifier }));
      }
    }
    const resumed = encodeExtFrame({
      message: {
        $case: 'resumed',
        value: {
          credential: { sessionId: taken.connectionId, credential, graceMs: this.deps.limits.resumeGraceMs },
          ice,
        },
      },
    });
    if ((await this.deps.gateway.send(stream.connectionId, resumed, stream.variant)) === 'gone')
      return giveBack('stream-gone');

    let joined: ConnectionRecord;
    try {
      // Due again (the sweep's index) if the replay has not been delivered within a step: the sweep asks the feed again.
      joined = await this.deps.store.transition(taken, {
        state: 'joined',
        // The table's `replay-owed`: due again after one step while the replay is still owed.
        deadline: this.deps.clock.now() + this.deps.limits.stepWithinMs,
        replayFrom: Number(request.lastSeq),
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      this.race('resume-overtaken', ids(taken)); // suspended again or ended meanwhile: that path tells what it must
      return;
    }
    this.deps.log.info('voice.session-resumed', {
      ...ids(joined),
      from: previousSocket,
      wasSuspended: session.state === 'suspended',
      lastSeq: Number(request.lastSeq),
      iceRestarted: ice !== undefined,
    });
    // Make-before-break: the old socket may still be open; it carries nothing any more.
    if (previousSocket !== stream.connectionId && session.state === 'joined')
      await this.deps.gateway.close(previousSocket).catch(() => undefined);
    await this.deps.announce(joined, joined.connectionId);
  }

  // ---- the sweep ----

  /**
   * The sweep's rules for this extension's records (protocol-table.ts SweepRule); undefined for the others.
   * `grace-over` (suspended, resuming): 'end' past its deadline (the caller ends it: the ordinary leave), else 'keep'.
   * `drop-alias` (attached): 'drop-alias' once its session moved to another socket (or ended), else 'keep'.
   * `replay-owed` (joined): 'replay' while a resumed session's replay is still owed (the delivery that took it
   * failed): the caller asks the feed again.
   */
  async sweepDecision(
    record: ConnectionRecord,
    now: number,
  ): Promise<'end' | 'keep' | 'drop-alias' | 'replay' | undefined> {
    const rule = stateRule(record.state).sweep;
    if (rule === 'replay-owed') return record.replayFrom !== undefined ? 'replay' : undefined;
    if (rule === 'grace-over') return (record.deadline ?? 0) < now ? 'end' : 'keep';
    if (rule === 'drop-alias') {
      const session = record.sessionId ? await this.deps.store.getConnection(record.sessionId) : undefined;
      return session && socketOf(session) === record.connectionId ? 'keep' : 'drop-alias';
    }
    return undefined;
  }

  /** The deadline of a record entering `state` at `now` (the protocol table's window; both states have one). */
  private deadlineAt(state: 'suspended' | 'resuming', now: number): number {
    return deadlineAt(state, this.deps.limits, now)!;
  }

  private race(race: string, fields: Record<string, unknown>): void {
    this.deps.races.lost(race, fields);
  }
}

/** Human messages of a refusal: one identifier, no internal ids, nothing that tells a guesser which check failed. */
const REFUSALS: Record<Refusal, string> = {
  'no-session': 'this session cannot be resumed; join again',
  'other-user': 'this session cannot be resumed; join again',
  'bad-credential': 'this session cannot be resumed; join again',
  'grace-over': 'this session cannot be resumed any more (its grace period is over); join again',
  'not-resumable': 'this session cannot be resumed; join again',
  raced: 'this session was resumed by another stream',
  'not-granted': 'this session cannot be resumed (the token does not grant its channel); join again',
  'stream-gone': 'this stream closed while resuming',
};

function credentialHash(userId: string, sessionId: string, credential: string): string {
  return createHash('sha256').update(`resume.v1\n${userId}\n${sessionId}\n${credential}`).digest('hex');
}

function ids(conn: ConnectionRecord) {
  return {
    connectionId: conn.connectionId,
    socket: socketOf(conn),
    userId: conn.userId,
    guildId: conn.guildId,
    channelId: conn.channelId,
    nodeId: conn.nodeId,
  };
}
