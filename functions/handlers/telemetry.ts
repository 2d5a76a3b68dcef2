// Logs and metrics of the Lambda handlers through AWS Lambda Powertools: Logger (JSON lines with the Lambda context:
// function_request_id, cold_start, function_name/arn/version, memory, X-Ray trace id) and Metrics (CloudWatch Embedded
// Metric Format: metrics from log lines, no API calls). Both sit behind the project's own ports (lib/log.ts Logger,
// lib/metrics.ts Metrics) so the voice core stays free of AWS libraries.
//
// Every invocation gets its own child logger carrying the Lambda context and its correlation ids (connectionId,
// routeKey, the API Gateway request id as correlation_id); the core adds userId/guildId/channelId/nodeId where it
// knows them. Per-invocation children keep concurrent local invocations (one process runs them all) apart.
//   POWERTOOLS_SERVICE_NAME        the `service` key and metric dimension (default harmony-voice-signalling)
//   POWERTOOLS_METRICS_NAMESPACE   CloudWatch namespace (default HarmonyVoice)
//   LOG_LEVEL                      debug | info | warn | error | silent (default info)
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { LogFields, Logger } from '../../lib/log';
import { teeMetrics, type MetricSample, type Metrics } from '../../lib/metrics';

export const DEFAULT_SERVICE_NAME = 'harmony-voice-signalling';
export const DEFAULT_METRICS_NAMESPACE = 'HarmonyVoice';

// Created on first use, not at import: the environment (LOG_LEVEL, AWS_LAMBDA_INITIALIZATION_TYPE for the cold
// start) is the one the handlers run with, also when the local stack imports this module before setting it.
let tools: { root: InvocationLogger; emf: PowertoolsMetrics; coldStart: boolean } | undefined;
function powertools() {
  if (!tools) {
    const serviceName = process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME;
    tools = {
      root: new InvocationLogger({ serviceName, logLevel: levelFromEnv() }),
      coldStart: process.env.AWS_LAMBDA_INITIALIZATION_TYPE === 'on-demand', // as Powertools decides it
      emf: new PowertoolsMetrics({
        namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE,
        serviceName,
      }),
    };
  }
  return tools;
}

/** The handlers' logger outside an invocation (module load, configuration). */
export const log: Logger = fromPowertools(() => powertools().root);

/** Observers of every metric sample in this process: the local stack's live summary (nothing on AWS). */
export const metricTaps = new Set<(sample: MetricSample) => void>();

/** The metrics port: EMF via Powertools, published at the end of each invocation, plus the local taps. */
export const metrics: Metrics = teeMetrics(
  (sample) => {
    const { emf } = powertools();
    const unit = sample.unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds;
    if (sample.dimensions && Object.keys(sample.dimensions).length > 0) {
      // A metric with its own dimensions is its own EMF line (Powertools' dimensions apply to a whole flush).
      const single = emf.singleMetric();
      single.addDimensions(sample.dimensions);
      single.addMetric(sample.name, unit, sample.value);
    } else {
      emf.addMetric(sample.name, unit, sample.value);
    }
  },
  (sample) => metricTaps.forEach((tap) => tap(sample)),
);

export interface Invocation {
  log: Logger;
  metrics: Metrics;
}

/** The parts of API Gateway's WebSocket event that name an invocation. */
interface Correlated {
  requestContext?: { connectionId?: string; routeKey?: string; requestId?: string };
}

/**
 * Runs one handler invocation with a logger that carries the Lambda context and the event's correlation ids, and
 * publishes the invocation's metrics (one EMF line, plus the cold start metric once per container) when it ends.
 */
export async function withInvocation<T>(
  event: Correlated,
  context: Context | undefined,
  run: (inv: Invocation) => Promise<T>,
): Promise<T> {
  const tools = powertools();
  const coldStart = tools.coldStart;
  tools.coldStart = false;
  if (context) tools.emf.captureColdStartMetric(context.functionName);
  const child = tools.root.forInvocation(context, coldStart);
  const rc = event.requestContext;
  if (rc?.requestId) child.setCorrelationId(rc.requestId);
  const invocationLog = fromPowertools(
    () => child,
    rc?.connectionId ? { connectionId: rc.connectionId, routeKey: rc.routeKey } : {},
  );
  try {
    return await run({ log: invocationLog, metrics });
  } finally {
    if (tools.emf.hasStoredMetrics()) tools.emf.publishStoredMetrics();
  }
}

/**
 * Powertools' Logger with one child per invocation: the child holds that invocation's Lambda context, so concurrent
 * local invocations do not overwrite each other's (on Lambda one container runs one invocation at a time anyway).
 */
class InvocationLogger extends PowertoolsLogger {
  forInvocation(context: Context | undefined, coldStart: boolean): InvocationLogger {
    const child = this.createChild() as InvocationLogger;
    child.coldStart = coldStart; // the container's cold start, not the child's own first use
    if (context) child.addContext(context);
    return child;
  }

  protected override createLogger(options?: ConstructorParameters<typeof PowertoolsLogger>[0]): InvocationLogger {
    return new InvocationLogger(options);
  }
}

/**
 * The project's Logger interface over a Powertools logger: fields are merged into each line, `msg` becomes
 * Powertools' `message`, and fields named like Powertools' own keys are renamed (`message` → `humanMessage`).
 */
export function fromPowertools(pt: () => PowertoolsLogger, base: LogFields = {}): Logger {
  const emit = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: LogFields) => {
    pt()[level](msg, plain({ ...base, ...fields }));
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => fromPowertools(pt, { ...base, ...fields }),
  };
}

/** bigint → decimal string, Error → {name, message} (stacks are passed explicitly as strings), undefined dropped. */
function plain(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[RESERVED[key] ?? key] =
      typeof value === 'bigint'
        ? value.toString()
        : value instanceof Error
          ? { name: value.name, message: value.message }
          : value;
  }
  return out;
}

const RESERVED: Record<string, string> = {
  message: 'humanMessage',
  level: 'fieldLevel',
  timestamp: 'fieldTimestamp',
  service: 'fieldService',
  sampling_rate: 'fieldSamplingRate',
};

function levelFromEnv(): 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' {
  const level = (process.env.LOG_LEVEL ?? 'info').toUpperCase();
  return (['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const).find((l) => l === level) ?? 'INFO';
}
