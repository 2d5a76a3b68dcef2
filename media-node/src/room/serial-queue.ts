// Runs async tasks one at a time in arrival order. A room's joins and leaves go through one,
// so concurrent joins see each other's results and the mesh is built exactly once per pair.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // The chain continues whatever this task's outcome; the caller gets the rejection.
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
