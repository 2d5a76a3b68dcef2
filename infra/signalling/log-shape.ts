// The shape of the handlers' log lines (functions/handlers/telemetry.ts: AWS Lambda Powertools' Logger), as
// the signalling alarms' metric filters select it. Powertools writes the level upper-case under "level" and the
// project's event name (lib/log.ts `msg`) under "message"; test/infra/alarms-fire.test.ts checks these
// selectors against lines the real logger writes.
export const HANDLER_LOG = {
  level: '$.level',
  errorLevel: 'ERROR',
  message: '$.message',
} as const;
