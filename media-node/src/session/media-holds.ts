// Why a producer or consumer is paused on this node, when more than one part of the node may pause it: the
// police (ProducerPolice: an offending producer, for its cool-down), state.v1 (MemberStates: a muted member's
// producer, a deafened member's consumers) and the client (a consumer is created paused until its receiver
// resumes it). A media object runs only while nobody holds it: the police's cool-down ending does not unmute a
// muted member, and a deafened member's ResumeConsumer does not let audio through.
export type HoldReason = 'police' | 'muted' | 'deafened' | 'client';

/** What can be paused (a mediasoup Producer or Consumer, or a handle of one). */
export interface Pausable {
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const holds = new WeakMap<object, Set<HoldReason>>();

function reasonsOf(target: object): Set<HoldReason> {
  let set = holds.get(target);
  if (!set) holds.set(target, (set = new Set()));
  return set;
}

/** Records a hold on an object that is paused already (a consumer created paused), without calling pause(). */
export function heldFromStart(target: object, reason: HoldReason): void {
  reasonsOf(target).add(reason);
}

/** Pauses `target` for `reason` (pause() is called whatever other holds there are: it is idempotent). */
export async function hold(target: Pausable, reason: HoldReason): Promise<void> {
  reasonsOf(target).add(reason);
  await target.pause();
}

/** Lets go of `reason`'s hold; resumes `target` when no other hold is left. True when it resumed. */
export async function release(target: Pausable, reason: HoldReason): Promise<boolean> {
  const set = reasonsOf(target);
  set.delete(reason);
  if (set.size > 0) return false;
  await target.resume();
  return true;
}

/** The holds on `target` now (tests and diagnostics). */
export function holdsOf(target: object): HoldReason[] {
  return [...(holds.get(target) ?? [])];
}
