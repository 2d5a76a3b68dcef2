// Polls until a condition holds (bounded: a liveness wait, never a timing assertion).

/** Resolves once `check()` is true (a throwing check counts as not yet); rejects after `timeoutMs`. */
export function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = async () => {
      try {
        if (await check()) return resolve();
      } catch {
        // keep polling
      }
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 20);
    };
    void poll();
  });
}
