// The SDK's logging hook: one structured event per call. The default prints warnings and errors
// as single-line JSON; pass your own to collect debug events.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export const consoleLog: Log = (level, msg, fields = {}) => {
  if (level === 'debug' || level === 'info') return;
  const line = JSON.stringify({ level, msg, ...fields }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  (level === 'error' ? console.error : console.warn)(line);
};
