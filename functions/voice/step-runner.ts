// One way to run a client step, so no step drifts from the others. A claimed step (protocol-table.ts STEPS:
// Initialize, PrepareForJoinChannel, JoinChannel) runs
//   check → claim (`from` → `claim`, one conditional write) → work → advance (`claim` → `to`) → reply,
// and when its work or advance fails it is reverted (`claim` → `from`), so a failed step changes nothing. The
// reply is sent once the stream has advanced, outside the claim: a reply that cannot be posted reverts nothing.
// A step that claims nothing (ResumeConsumer) only checks the state it needs. Deadlines are the table's windows.
// Losing a claim is `voice.out-of-order` (a duplicate or out-of-order message); losing the advance or the revert
// means the stream was ended meanwhile: an expected race (races.ts), never an error.
import { ErrorId, VoiceError } from '../../protocol/errors';
import type { Variant } from '../../protocol/hrpc';
import type { Logger } from '../../lib/log';
import type { VoiceLimits } from './limits';
import type { Claim, Clock, ConnectionRecord, ConnectionState, StateStore } from './ports';
import { deadlineAt, requireStep, type ClaimedStep, type UnclaimedStep } from './protocol-table';
import { ExpectedRace, type Races } from './races';
import { logIds } from './records';

export interface StepRunnerDeps {
  store: StateStore;
  clock: Clock;
  log: Logger;
  races: Races;
  limits: VoiceLimits;
}

/** A claimed step, as the runner carries it out. `T`: what its work hands to its reply. */
export interface ClaimedStepPlan<T> {
  step: ClaimedStep;
  /** The stream was claimed on arrival (claimOnArrival): this is the claimed record; its checks passed then. */
  early?: ConnectionRecord;
  /** The step's own checks, before anything is written (skipped when claimed on arrival). */
  check?(): void | Promise<void>;
  /** What the claim writes besides the state and deadline. */
  claimWith?: Partial<ConnectionRecord>;
  /**
   * An admission (user-limits.ts): before the claim (right after it when the stream was claimed on arrival), or
   * after it. A refusal reverts the claim.
   */
  admit?: { beforeClaim: boolean; run(record: ConnectionRecord): Promise<void> };
  /** The deadline the stream gets back when the step reverts (default: a fresh window of `from`). */
  revertDeadline?: number;
  /** The step's work on the claimed stream: what the advance writes besides the state and deadline, and its result. */
  work(claimed: ConnectionRecord): Promise<{ advance?: Partial<ConnectionRecord>; value: T }>;
  /** Gives back what the admission took, before the revert (work or advance failed). */
  undo?(claimed: ConnectionRecord): Promise<void>;
  /**
   * The step is a fact once its work is done (JoinChannel: the node's history has the join): losing the advance
   * is the expected race of this name, nothing is reverted, and `after` still runs.
   */
  committedByWork?: string;
  /** Once advanced: tells the client (the response, or a credential). */
  reply(advanced: ConnectionRecord, value: T): Promise<void>;
  /** What follows a step committed by its work, whether or not its advance won. */
  after?(claimed: ConnectionRecord, value: T): Promise<void>;
}

export class StepRunner {
  constructor(private readonly deps: StepRunnerDeps) {}

  /** When a record entering `state` now must have moved on (the table's window). */
  deadlineIn(state: ConnectionState): number | undefined {
    return deadlineAt(state, this.deps.limits, this.deps.clock.now());
  }

  /**
   * Claims a stream for `step` without reading it first (one request): if it is in `from`, carried by its own
   * socket, of `variant` and live. Otherwise the record as it is, for the ordinary path.
   */
  claimOnArrival(connectionId: string, step: ClaimedStep, variant: Variant): Promise<Claim> {
    return this.deps.store.claimFrom(
      connectionId,
      step.from,
      variant,
      { state: step.claim, deadline: this.deadlineIn(step.claim)! },
      this.deps.clock.now(),
    );
  }

  /** Runs a step that claims nothing: the state it needs, then its work. */
  async runUnclaimed(conn: ConnectionRecord, step: UnclaimedStep, work: () => Promise<void>): Promise<void> {
    requireStep(step, conn.state);
    await work();
  }

  /** Runs a claimed step: check → claim → work → advance → reply (→ after), or revert. */
  async run<T>(conn: ConnectionRecord, plan: ClaimedStepPlan<T>): Promise<void> {
    const { step, admit } = plan;
    const revert = (claimed: ConnectionRecord) =>
      this.revert(claimed, step.from, plan.revertDeadline ?? this.deadlineIn(step.from));
    let claimed: ConnectionRecord;
    if (plan.early) {
      claimed = plan.early;
    } else {
      requireStep(step, conn.state);
      await plan.check?.();
      if (admit?.beforeClaim) await admit.run(conn);
      claimed = await this.claim(conn, step, plan.claimWith);
    }
    if (admit && (!admit.beforeClaim || plan.early)) {
      try {
        await admit.run(admit.beforeClaim ? conn : claimed);
      } catch (err) {
        await revert(claimed);
        throw err;
      }
    }
    let work: { advance?: Partial<ConnectionRecord>; value: T };
    let advanced: ConnectionRecord | undefined;
    try {
      work = await plan.work(claimed);
      if (!plan.committedByWork) advanced = await this.advance(claimed, step, work.advance);
    } catch (err) {
      await plan.undo?.(claimed);
      await revert(claimed);
      throw err;
    }
    if (plan.committedByWork) {
      // From here the step is a fact, whatever happens to this stream.
      const result = await this.deps.store.tryTransition(claimed, this.next(step.to, work.advance));
      if (result.ok) advanced = result.record;
      // The stream is being ended meanwhile; its end carries on from what the work did.
      else this.race(plan.committedByWork, logIds(claimed));
    }
    if (advanced) await plan.reply(advanced, work.value);
    await plan.after?.(claimed, work.value);
  }

  /** An expected race (races.ts: logged and counted with its name). */
  race(race: string, fields: Record<string, unknown>): void {
    this.deps.races.lost(race, fields);
  }

  private async claim(
    conn: ConnectionRecord,
    step: ClaimedStep,
    fields: Partial<ConnectionRecord> = {},
  ): Promise<ConnectionRecord> {
    const result = await this.deps.store.tryTransition(conn, {
      state: step.claim,
      ...fields,
      deadline: this.deadlineIn(step.claim),
    });
    if (result.ok) return result.record;
    throw new VoiceError(
      ErrorId.outOfOrder,
      `another message of this stream is being handled (${conn.state}); this one changes nothing`,
    );
  }

  /** The step's own transition after its claim: losing it means the stream was ended meanwhile. */
  private async advance(
    claimed: ConnectionRecord,
    step: ClaimedStep,
    fields: Partial<ConnectionRecord> | undefined,
  ): Promise<ConnectionRecord> {
    const result = await this.deps.store.tryTransition(claimed, this.next(step.to, fields));
    if (result.ok) return result.record;
    throw new ExpectedRace('step-overtaken', `the stream was ended while ${claimed.state}`);
  }

  private next(
    state: ConnectionState,
    fields: Partial<ConnectionRecord> = {},
  ): Partial<ConnectionRecord> & { state: ConnectionState } {
    return { state, ...fields, deadline: this.deadlineIn(state) };
  }

  /** Puts a claimed stream back; losing this means the stream is being ended: nothing to put back. */
  private async revert(claimed: ConnectionRecord, state: ConnectionState, deadline: number | undefined): Promise<void> {
    const result = await this.deps.store.tryTransition(claimed, { state, deadline }).catch((err: Error) => {
      this.deps.log.warn('voice.revert-failed', { ...logIds(claimed), error: err.message });
    });
    if (result && !result.ok) this.race('revert-overtaken', logIds(claimed));
  }
}
