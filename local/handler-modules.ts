// The Lambda handler modules the stack runs, imported the way Lambda loads them (one `handler` export
// each), and the reaper run on a fixed schedule the way an EventBridge rule would invoke it.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ScheduledEvent } from 'aws-lambda';
import { invoke, type LambdaHandler } from './gateway/lambda';
import type { Logger } from '../lib/log';

export const HANDLER_MODULES = ['connect', 'default', 'disconnect', 'reaper'] as const;
export type HandlerName = (typeof HANDLER_MODULES)[number];

export async function loadHandlerModules(dir: string): Promise<Record<HandlerName, LambdaHandler>> {
  const files = HANDLER_MODULES.map((name) => ({ name, file: moduleFile(dir, name) }));
  const missing = files.filter((f) => f.file === undefined).map((f) => `${f.name}.ts`);
  if (missing.length > 0) {
    throw new Error(
      `local-stack.missing-handlers: ${missing.join(', ')} not found in ${dir}. ` +
        'The stack runs the Lambda handler modules functions/handlers/{connect,default,disconnect,reaper}.ts, ' +
        'each exporting `handler`; write them (or pass handlersDir) before starting the stack.',
    );
  }
  const loaded = {} as Record<HandlerName, LambdaHandler>;
  for (const { name, file } of files) {
    const mod = (await import(pathToFileURL(file!).href)) as { handler?: unknown };
    if (typeof mod.handler !== 'function') {
      throw new Error(`local-stack.bad-handler: ${file} does not export a function named \`handler\``);
    }
    loaded[name] = mod.handler as LambdaHandler;
  }
  return loaded;
}

function moduleFile(dir: string, name: string): string | undefined {
  return ['.ts', '.js', '.mjs'].map((ext) => join(dir, name + ext)).find((file) => existsSync(file));
}

export function scheduledEvent(now = new Date(), ruleName = 'harmony-voice-local-reaper'): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'local',
    resources: [`arn:aws:events:local:000000000000:rule/${ruleName}`],
    detail: {},
  };
}

export interface ReaperSchedule {
  /** Runs the reaper now (waits for a run in progress first). */
  runNow(): Promise<void>;
  stop(): Promise<void>;
}

/** Invokes the reaper every intervalMs. Runs never overlap: a tick during a run is skipped. */
export function scheduleReaper(
  handler: LambdaHandler,
  intervalMs: number,
  log: Logger,
  timeoutMs = 60_000,
): ReaperSchedule {
  let running: Promise<void> | undefined;
  const run = (): Promise<void> => {
    if (running) return running;
    running = (async () => {
      const outcome = await invoke(handler, scheduledEvent(), 'reaper', timeoutMs);
      if (outcome.ok) log.debug('reaper.run', { requestId: outcome.requestId, durationMs: outcome.durationMs });
      else log.error('reaper.handler-error', { requestId: outcome.requestId, error: outcome.error });
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void run(), intervalMs);
  return {
    async runNow() {
      if (running) await running;
      await run();
    },
    async stop() {
      clearInterval(timer);
      if (running) await running;
    },
  };
}
