// The voice protocol as one table (VOICE-PROTOCOL.md §3; resume.v1 adds `suspended`, `resuming`, `attached`).
// STATES holds, per connection state, every rule the core applies to a record in it: whose turn it is, which
// window its deadline is, what the session has on its media node, whether losing its socket suspends it, whether
// its end may have history to announce, whether the channel's feed posts to it, and what the sweep does with it
// once it is due. STEPS holds, per client message, the state it needs and (for the three claimed steps) the
// states it claims and advances to. The code reads these facts here (step-runner.ts, session-end.ts, sweep.ts,
// session-resume.ts, user-limits.ts, channel-feed.ts, the simulation's invariants); no site writes them again.
import { ErrorId, VoiceError } from '../../protocol/errors';
import type { VoiceLimits } from './limits';

/** Whose move it is: the client must send its next message, the server is carrying out a claimed step, or nobody. */
export type Turn = 'client' | 'server' | 'nobody';

/** The VoiceLimits window a record in a state must move on within (its deadline = entering it + the window). */
export type DeadlineWindow =
  | 'initializeWithinMs'
  | 'prepareWithinMs'
  | 'joinWithinMs'
  | 'stepWithinMs'
  | 'resumeGraceMs';

/**
 * What the sweep does with a record of a state once it is due (any state past its expiry: ended, `expired`).
 * - `timeout`: past its deadline, ended with `voice.timeout` (the client's turn passed, or a step never finished);
 * - `finish-end`: a `closing` past its deadline is stuck: claimed again and finished (`stuck`);
 * - `replay-owed`: nothing, unless a resumed session's replay is still owed (the feed is asked again);
 * - `grace-over`: past its deadline, ended (`resume-grace-over`); ended `media-lost` at once when its node is dead;
 * - `drop-alias`: the alias is dropped once its session moved to another socket (or ended).
 */
export type SweepRule = 'timeout' | 'finish-end' | 'replay-owed' | 'grace-over' | 'drop-alias';

export interface StateRule {
  /** A stream's own record, or (resume.v1) an alias: a connection that carries another record's session. */
  record: 'stream' | 'alias';
  turn: Turn;
  /** Its deadline's window; none: it waits for an event (its expiry still bounds it). */
  deadline?: DeadlineWindow;
  /**
   * What the session has on its media node: nothing, a placed (opened) room, a media session (transports; a
   * join may be in flight or have landed late), a seat in the room, or a leave in progress.
   */
  room: 'none' | 'placed' | 'session' | 'member' | 'leaving';
  /** Ending it may have history to announce (its leave, or a join the node carried out late). */
  history: boolean;
  /** It holds a prepared slot of user-limits.ts (it made transports and has not joined). */
  preparedSlot: boolean;
  /** resume.v1: losing its socket suspends it (when the stream opted in and holds a credential) instead of ending it. */
  suspendable: boolean;
  /**
   * The socket that carries it: its own (told and posted to), moving (a resume in flight: told when it ends, but the
   * feed keeps entries for its replay), or none (suspended: nobody to tell; the history keeps what it misses).
   */
  socket: 'own' | 'moving' | 'none';
  sweep: SweepRule;
}

export const STATES = {
  connected: {
    record: 'stream',
    turn: 'client',
    deadline: 'initializeWithinMs',
    room: 'none',
    history: false,
    preparedSlot: false,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  initializing: {
    record: 'stream',
    turn: 'server',
    deadline: 'stepWithinMs',
    room: 'none',
    history: false,
    preparedSlot: false,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  initialized: {
    record: 'stream',
    turn: 'client',
    deadline: 'prepareWithinMs',
    room: 'placed',
    history: false,
    preparedSlot: false,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  preparing: {
    record: 'stream',
    turn: 'server',
    deadline: 'stepWithinMs',
    room: 'placed',
    history: false,
    preparedSlot: true,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  prepared: {
    record: 'stream',
    turn: 'client',
    deadline: 'joinWithinMs',
    room: 'session',
    history: true,
    preparedSlot: true,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  joining: {
    record: 'stream',
    turn: 'server',
    deadline: 'stepWithinMs',
    room: 'session',
    history: true,
    preparedSlot: true,
    suspendable: false,
    socket: 'own',
    sweep: 'timeout',
  },
  joined: {
    record: 'stream',
    turn: 'nobody',
    room: 'member',
    history: true,
    preparedSlot: false,
    suspendable: true,
    socket: 'own',
    sweep: 'replay-owed',
  },
  closing: {
    record: 'stream',
    turn: 'server',
    deadline: 'stepWithinMs',
    room: 'leaving',
    history: true,
    preparedSlot: false,
    suspendable: false,
    socket: 'own',
    sweep: 'finish-end',
  },
  suspended: {
    record: 'stream',
    turn: 'client',
    deadline: 'resumeGraceMs',
    room: 'member',
    history: true,
    preparedSlot: false,
    suspendable: false,
    socket: 'none',
    sweep: 'grace-over',
  },
  resuming: {
    record: 'stream',
    turn: 'server',
    deadline: 'stepWithinMs',
    room: 'member',
    history: true,
    preparedSlot: false,
    suspendable: true,
    socket: 'moving',
    sweep: 'grace-over',
  },
  attached: {
    record: 'alias',
    turn: 'nobody',
    room: 'none',
    history: false,
    preparedSlot: false,
    suspendable: false,
    socket: 'own',
    sweep: 'drop-alias',
  },
} as const satisfies Record<string, StateRule>;

/**
 * Where a connection is in the protocol (VOICE-PROTOCOL.md §3). `*ing` states are claimed while work is in flight.
 * resume.v1 (session-resume.ts) adds: `suspended` (a joined session whose socket went away, waiting for a resume
 * until its deadline), `resuming` (claimed by a resume in flight) and `attached` (a connection that took over
 * another record's session: it only points at it).
 */
export type ConnectionState = keyof typeof STATES;

/** The rules of a state. */
export function stateRule(state: ConnectionState): StateRule {
  return STATES[state];
}

/** The deadline of a record entering `state` at `now`; undefined for a state without one. */
export function deadlineAt(state: ConnectionState, limits: VoiceLimits, now: number): number | undefined {
  const window = stateRule(state).deadline;
  return window === undefined ? undefined : now + limits[window];
}

/** A client message that claims its stream: from `from`, `claim` while its work runs, then `to`. */
export interface ClaimedStep {
  from: ConnectionState;
  claim: ConnectionState;
  to: ConnectionState;
  /** The rule a message in another state breaks (`voice.out-of-order`: "<rule> (stream is <state>)"). */
  rule: string;
}

/** A client message that claims nothing: allowed in `in`. */
export interface UnclaimedStep {
  in: readonly ConnectionState[];
  rule: string;
}

export type Step = ClaimedStep | UnclaimedStep;

/** Every client message and the state it needs (voice.v1's four requests; the extensions' first messages). */
export const STEPS = {
  initialize: {
    from: 'connected',
    claim: 'initializing',
    to: 'initialized',
    rule: 'Initialize must be the first and only Initialize of a stream',
  },
  prepare: {
    from: 'initialized',
    claim: 'preparing',
    to: 'prepared',
    rule: 'PrepareForJoinChannel must follow Initialized, once',
  },
  join: {
    from: 'prepared',
    claim: 'joining',
    to: 'joined',
    rule: 'JoinChannel must follow PreparedForJoinChannel, once',
  },
  // `joining` too: JoinedChannel can reach the client before its join's own invocation wrote `joined`.
  resumeConsumer: { in: ['joined', 'joining'], rule: 'ResumeConsumer needs a joined channel' },
  // The extensions (extension-negotiation.ts, session-resume.ts, member-state.ts).
  hello: { in: ['connected'], rule: 'Hello must be the first message of a stream, once' },
  resume: { in: ['connected'], rule: 'Resume must be the first message of a stream' },
  memberState: { in: ['joined'], rule: 'voice state can be set once joined' },
} as const satisfies Record<string, Step>;

/** Whether a record in `state` may take `step` now. */
export function allows(step: Step, state: ConnectionState): boolean {
  return 'from' in step ? step.from === state : (step.in as readonly ConnectionState[]).includes(state);
}

/** Throws `voice.out-of-order` (nothing changed) unless a record in `state` may take `step` now. */
export function requireStep(step: Step, state: ConnectionState): void {
  if (!allows(step, state)) throw outOfOrder(step, state);
}

/** What a message that breaks its step's rule is told (nothing changed). */
export function outOfOrder(step: Step, state: ConnectionState): VoiceError {
  return new VoiceError(ErrorId.outOfOrder, `${step.rule} (stream is ${state})`);
}
