// Finding and ending the processes below a process, so that stopping the stack leaves none behind
// (mediasoup workers below the media node, esbuild's service process below this one).
import { execFileSync } from 'node:child_process';

/** Every process below `root`, from `ps` (Linux and macOS); empty when ps is unavailable. */
export function descendantPids(root: number): number[] {
  let rows: Array<[number, number]>;
  try {
    rows = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  } catch {
    return [];
  }
  const found: number[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const [pid, ppid] of rows) {
      if (ppid === parent && !found.includes(pid)) {
        found.push(pid);
        frontier.push(pid);
      }
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits up to graceMs for the processes to exit, then SIGKILLs the rest and waits for them. Returns the killed. */
export async function awaitExitOrKill(pids: number[], graceMs: number): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await sleep(20);
  const survivors = pids.filter(isAlive);
  for (const pid of survivors) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
  }
  const killDeadline = Date.now() + 2_000;
  while (survivors.some(isAlive) && Date.now() < killDeadline) await sleep(20);
  return survivors;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
