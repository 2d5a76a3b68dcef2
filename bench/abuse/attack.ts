// The interface every attack of `npm run bench:abuse` implements (bench/abuse.ts runs them). An attack is one file
// `bench/abuse/<name>.attack.ts` whose default export is an Attack: the harness finds it by that name, starts it
// against the real local stack while honest members join and talk in their channel, stops it, and reads whether it
// was contained. The requests it used (its cost in AWS requests per minute per token) are counted by the harness at
// the local DynamoDB and gateway (local/request-counter.ts): the requests of the attack's phase minus the background
// and the same honest work without attack, per minute of attack and per token it used.
import type { LocalStack } from '../../local/stack';

export interface AbuseTarget {
  stack: LocalStack;
  /** ws://…/protocol.voice.v1.VoiceService/StreamMessage */
  wsUrl: string;
  guild: bigint;
  /** The honest members' channel (what the attack aims at; the token of every attacker grants it). */
  channel: bigint;
  /** A session token of `user` for the guild, granting `channel` (and `channels`, if given). */
  token(user: bigint, channels?: bigint[]): string;
  /** A user id nobody else uses (one per attacker token). */
  newUser(): bigint;
  /** Log one line about the attack (printed with its name). */
  note(line: string): void;
}

export interface RunningAttack {
  /** Distinct tokens (users) the attacker used so far: its cost is per token. */
  readonly tokens: number;
  /**
   * Stops the attack and closes everything it opened. `contained`: what the attack tried did not reach the honest
   * members (judged by the attack from what it saw; the harness adds that every honest join was announced).
   */
  stop(): Promise<{ contained: boolean; detail: string }>;
}

export interface Attack {
  /** Short, unique; `npm run bench:abuse -- <name> …` runs only the named ones. */
  readonly name: string;
  /** What it does, one line. */
  readonly description: string;
  /** Starts it; resolves once it is running (the harness then runs the honest work, then stops it). */
  start(target: AbuseTarget): Promise<RunningAttack>;
}
