// What an operator is paged by on the signalling side, and one dashboard: metric filters turn the JSON
// logs into metrics (no code in the handlers publishes any), AWS's own metrics cover the rest.
//   API Gateway  4xx, 5xx and 429 (throttled) from the stage's JSON access log (`status`)
//   Lambda       Errors and Throttles of every function
//   logs         error-level lines of every function; join failures ($default answering hrpc.unavailable,
//                voice.media-lost or hrpc.internal-server-error); sweep lag (the reaper's largest gap
//                between sweeps). Patterns follow the handlers' Powertools line shape (log-shape.ts);
//                test/infra/alarms-fire.test.ts runs them against lines the real logger writes.
//   reaper       stopped: fewer than one invocation per 5 minutes, twice (missing data breaches)
// Alarms have no actions: this project has no notification subscriber; attach one to the alarms' ARNs.
import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOAD_METRIC_NAMESPACE } from '../media-fleet/load-metric';
import type { HandlerFunction } from './handler-function';
import { HANDLER_LOG } from './log-shape';

export const METRIC_NAMESPACE = LOAD_METRIC_NAMESPACE;
/** The reaper sweeps every 5 s (REAPER_INTERVAL_MS); a 45 s gap is several missed sweeps. */
export const SWEEP_GAP_ALARM_MS = 45_000;

export interface SignallingAlarmsProps {
  readonly api: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  readonly accessLogs: logs.ILogGroup;
  readonly functions: Record<'connect' | 'default' | 'disconnect' | 'reaper', HandlerFunction>;
  readonly logRetentionDays: number;
}

export class SignallingAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: SignallingAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const count = (logGroup: logs.ILogGroup, metricName: string, pattern: logs.IFilterPattern, metricValue = '1') => {
      new logs.MetricFilter(this, `${metricName}Filter`, {
        logGroup,
        metricNamespace: METRIC_NAMESPACE,
        metricName,
        filterPattern: pattern,
        metricValue,
        defaultValue: metricValue === '1' ? 0 : undefined,
      });
      return new cloudwatch.Metric({
        namespace: METRIC_NAMESPACE,
        metricName,
        statistic: cloudwatch.Stats.SUM,
        period,
      });
    };
    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      description: string,
      missing = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) => {
      const a = new cloudwatch.Alarm(this, name, {
        metric,
        threshold,
        evaluationPeriods: 1,
        alarmDescription: description,
        treatMissingData: missing,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
      this.alarms.push(a);
      return a;
    };

    // API Gateway, from the access log's "status" (a string there).
    const api4xx = count(props.accessLogs, 'Api4xx', logs.FilterPattern.stringValue('$.status', '=', '4*'));
    const api5xx = count(props.accessLogs, 'Api5xx', logs.FilterPattern.stringValue('$.status', '=', '5*'));
    const api429 = count(props.accessLogs, 'Api429', logs.FilterPattern.stringValue('$.status', '=', '429'));
    alarm('Api5xxAlarm', api5xx, 1, 'API Gateway answered 5xx (a handler failed or timed out)');
    alarm('Api429Alarm', api429, 20, 'API Gateway throttled requests (stage or $connect route limit reached)');
    alarm(
      'Api4xxAlarm',
      api4xx,
      200,
      'Many 4xx from API Gateway (refused handshakes, bad tokens): a broken client or an attack',
    );

    // Lambda.
    const fnErrors: cloudwatch.IMetric[] = [];
    const fnThrottles: cloudwatch.IMetric[] = [];
    const errorLines: cloudwatch.IMetric[] = [];
    for (const [name, handler] of Object.entries(props.functions)) {
      const title = name[0]!.toUpperCase() + name.slice(1);
      const errors = handler.fn.metricErrors({ period, statistic: cloudwatch.Stats.SUM });
      const throttles = handler.fn.metricThrottles({ period, statistic: cloudwatch.Stats.SUM });
      fnErrors.push(errors);
      fnThrottles.push(throttles);
      alarm(`${title}ErrorsAlarm`, errors, 1, `The ${name} function failed (uncaught error or timeout)`);
      alarm(
        `${title}ThrottlesAlarm`,
        throttles,
        1,
        `The ${name} function was throttled (account or reserved concurrency)`,
      );
      errorLines.push(
        count(
          handler.logGroup,
          `${title}ErrorLines`,
          logs.FilterPattern.stringValue(HANDLER_LOG.level, '=', HANDLER_LOG.errorLevel),
        ),
      );
    }
    const allErrorLines = new cloudwatch.MathExpression({
      expression: errorLines.map((_m, i) => `e${i}`).join(' + '),
      usingMetrics: Object.fromEntries(errorLines.map((m, i) => [`e${i}`, m])),
      period,
      label: 'error-level log lines',
    });
    alarm(
      'ErrorLinesAlarm',
      allErrorLines,
      5,
      'Error-level log lines from the signalling functions (internal errors, failed deliveries)',
    );

    const joinFailures = count(
      props.functions.default.logGroup,
      'JoinFailures',
      logs.FilterPattern.all(
        logs.FilterPattern.stringValue(HANDLER_LOG.message, '=', 'voice.rejected'),
        logs.FilterPattern.any(
          logs.FilterPattern.stringValue('$.identifier', '=', 'hrpc.unavailable'),
          logs.FilterPattern.stringValue('$.identifier', '=', 'voice.media-lost'),
          logs.FilterPattern.stringValue('$.identifier', '=', 'hrpc.internal-server-error'),
        ),
      ),
    );
    alarm(
      'JoinFailuresAlarm',
      joinFailures,
      5,
      'Joins refused because no media node served them (hrpc.unavailable / media lost / internal)',
    );

    const sweepGap = count(
      props.functions.reaper.logGroup,
      'SweepGapMs',
      logs.FilterPattern.stringValue(HANDLER_LOG.message, '=', 'voice.reaper-done'),
      '$.maxGapMs',
    );
    const sweepGapMax = sweepGap.with({ statistic: cloudwatch.Stats.MAXIMUM });
    // Lag is judged on the reaper's own reports; no report is not lag (a fresh stack, the minutes before the
    // first invocation ends). A reaper that stopped running is its own alarm, on Lambda's invocation count.
    alarm('SweepLagAlarm', sweepGapMax, SWEEP_GAP_ALARM_MS, 'The reaper fell behind (largest gap between sweeps)');
    const reaperRuns = props.functions.reaper.fn.metricInvocations({ period, statistic: cloudwatch.Stats.SUM });
    this.alarms.push(
      new cloudwatch.Alarm(this, 'ReaperStoppedAlarm', {
        metric: reaperRuns,
        threshold: 1,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        // No invocation at all publishes no Invocations datapoint: missing is the failure this alarm is for.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription:
          'The reaper has not run for 10 minutes (schedule disabled, function failing to start, or throttled)',
      }),
    );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'API Gateway 4xx / 5xx / 429',
            left: [api4xx, api5xx, api429],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Join failures, error log lines',
            left: [joinFailures, allErrorLines],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Lambda errors', left: fnErrors, width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Lambda throttles', left: fnThrottles, width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Reaper: largest gap between sweeps (ms)',
            left: [sweepGapMax],
            width: 8,
          }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Signalling alarms', alarms: this.alarms, width: 24 })],
      ],
    });
  }
}
