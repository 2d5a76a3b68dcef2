// Expected races: the ordinary losses of concurrent invocations of one session (a client closing mid-step, a
// duplicate message, the sweep ending a stream meanwhile, a late event of an old socket). They are not errors:
// every one is logged at info as `voice.expected-race` with its name and counted (ExpectedRaces, dimension Race),
// here and only here, whichever module lost it.
import type { Logger } from '../../lib/log';
import { METRIC, type Metrics } from '../../lib/metrics';

/**
 * A step lost a race that is part of normal life: thrown out of a step, logged and counted with its name
 * (VoiceCore.fail), never as an internal error.
 */
export class ExpectedRace extends Error {
  constructor(
    readonly race: string,
    message: string,
  ) {
    super(message);
    this.name = 'ExpectedRace';
  }
}

export class Races {
  constructor(private readonly deps: { log: Logger; metrics?: Metrics }) {}

  /** An expected race happened: info, with its name, for the count of races per kind. */
  lost(race: string, fields: Record<string, unknown>): void {
    this.deps.log.info('voice.expected-race', { ...fields, race });
    this.deps.metrics?.count(METRIC.expectedRaces, 1, { Race: race });
  }
}
