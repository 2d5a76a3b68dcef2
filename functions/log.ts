// Structured logs: one JSON line per event, with connection, user and channel ids when known.
// Never pass tokens, secrets or SDP/DTLS material in `fields`.
export type LogFields = Record<string, string | number | boolean | bigint | undefined | null>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const ORDER: Record<string, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function write(level: string, msg: string, fields: LogFields = {}): void {
  if (ORDER[level]! < (ORDER[process.env.LOG_LEVEL ?? 'info'] ?? 20)) return;
  const line: Record<string, unknown> = { level, msg, time: new Date().toISOString() };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) line[k] = typeof v === 'bigint' ? v.toString() : v;
  (level === 'error' ? process.stderr : process.stdout).write(`${JSON.stringify(line)}\n`);
}

export const jsonLogger: Logger = {
  info: (msg, fields) => write('info', msg, fields),
  warn: (msg, fields) => write('warn', msg, fields),
  error: (msg, fields) => write('error', msg, fields),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
