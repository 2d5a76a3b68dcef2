// The SDK's logging hook: one structured event per call. The default prints warnings and errors
// as single-line JSON; pass your own to collect debug events.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Logs at `minLevel` and above to the console, one JSON line per event. */
export function consoleLogger(minLevel: LogLevel = 'warn'): Log {
  return (level, msg, fields = {}) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const at = Math.round(performance.now()); // ms since the page started loading
    const line = JSON.stringify({ level, msg, at, ...fields }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    (level === 'error' ? console.error : level === 'warn' ? console.warn : console.log)(line);
  };
}

export const consoleLog: Log = consoleLogger('warn');
