// A join's admission reservation: what a new session will cost the workers it loads, reserved when
// CreateTransports places it (Admission.chooseSpanWorker) so a burst of joins cannot all pass on one stale load
// sample. Its Join commits it (counted until the next load sample, which then sees the session's media); a session
// that goes without joining releases it, and one that never joins stops counting after its window
// (`reserve_for_ms`). commit() and release() may each be called any number of times, in any order, also after the
// window has passed: the first of them decides, the rest do nothing.
import type { JoinCost } from '../../../routing/load';

export type ReservationState = 'held' | 'committed' | 'released';

export interface ReservationOwner {
  /** The reservation was committed (it counts until the next load sample, even if its window had passed). */
  committed(reservation: Reservation): void;
  /** The reservation was released: it no longer counts. */
  released(reservation: Reservation): void;
}

export class Reservation {
  #state: ReservationState = 'held';

  constructor(
    /** Cost per worker index. */
    readonly costs: ReadonlyMap<number, JoinCost>,
    /** Epoch ms after which a reservation still held (its session has not joined) no longer counts. */
    readonly until: number,
    /** Position in its owner's order (a load sample that started after it may drop it once committed). */
    readonly seq: number,
    private readonly owner?: ReservationOwner,
  ) {}

  /** A reservation of nothing (a session placed without one: already a member, or on another node). */
  static none(): Reservation {
    return new Reservation(new Map(), 0, -1);
  }

  get state(): ReservationState {
    return this.#state;
  }

  /** Whether it counts at `now`: committed, or held within its window. */
  counts(now: number): boolean {
    return this.#state === 'committed' || (this.#state === 'held' && now < this.until);
  }

  /** The session joined. True the first time (a held reservation); later calls, or after release, do nothing. */
  commit(): boolean {
    if (this.#state !== 'held') return false;
    this.#state = 'committed';
    this.owner?.committed(this);
    return true;
  }

  /**
   * The session went without joining. True the first time (a held reservation); after commit (a joined
   * session leaving: its media is what the next sample measures) or a release, it does nothing.
   */
  release(): boolean {
    if (this.#state !== 'held') return false;
    this.#state = 'released';
    this.owner?.released(this);
    return true;
  }
}
