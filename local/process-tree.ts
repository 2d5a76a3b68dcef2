// Finding and ending the processes below a process, so that stopping the stack leaves none behind
// (mediasoup workers below the media node, esbuild's service process below this one). A process is
// identified by pid and start time, so a pid the system has since reused is never signalled.
import { execFileSync } from 'node:child_process';

export interface ProcessRef {
  pid: number;
  /** `ps -o lstart` of the process: with the pid, unique across pid reuse. */
  started: string;
}

/** `ps` rows: pid, ppid, start time. Empty when ps is unavailable. */
function processTable(args: string[]): Array<{ pid: number; ppid: number; started: string }> {
  try {
    return execFileSync('ps', [...args, '-o', 'pid=,ppid=,lstart='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [pid, ppid, ...started] = line.trim().split(/\s+/);
        return { pid: Number(pid), ppid: Number(ppid), started: started.join(' ') };
      });
  } catch {
    return [];
  }
}

/** Every process below `root` (Linux and macOS). */
export function descendantProcesses(root: number): ProcessRef[] {
  const rows = processTable(['-A']);
  const found: ProcessRef[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const row of rows) {
      if (row.ppid === parent && !found.some((f) => f.pid === row.pid)) {
        found.push({ pid: row.pid, started: row.started });
        frontier.push(row.pid);
      }
    }
  }
  return found;
}

/** True while that very process (not a later one with its pid) exists. */
export function isRunning(ref: ProcessRef): boolean {
  const row = processTable(['-p', String(ref.pid)])[0];
  return row !== undefined && row.started === ref.started;
}

/** Waits up to graceMs for the processes to exit, then SIGKILLs the rest and waits for them. Returns the killed. */
export async function awaitExitOrKill(refs: ProcessRef[], graceMs: number): Promise<ProcessRef[]> {
  const deadline = Date.now() + graceMs;
  while (refs.some(isRunning) && Date.now() < deadline) await sleep(25);
  const survivors = refs.filter(isRunning);
  for (const ref of survivors) signal(ref, 'SIGKILL');
  const killDeadline = Date.now() + 2_000;
  while (survivors.some(isRunning) && Date.now() < killDeadline) await sleep(25);
  return survivors;
}

export function signal(ref: ProcessRef, name: NodeJS.Signals): void {
  if (!isRunning(ref)) return;
  try {
    process.kill(ref.pid, name);
  } catch {
    /* exited meanwhile */
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
