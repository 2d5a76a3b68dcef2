// What an operator is paged by on the media side, and a small dashboard:
//   nodes healthy vs desired   GroupDesiredCapacity - GroupInServiceInstances >= 1 for 15 minutes (a node
//                              that cannot come up or keeps being replaced)
//   error-level lines          from the nodes' journal in CloudWatch Logs (host/ship-logs.sh)
//   load                       the metric the group scales on
// Alarms have no actions: attach a notification target to their ARNs.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOAD_METRIC_DIMENSION, LOAD_METRIC_NAME, LOAD_METRIC_NAMESPACE } from './load-metric';

export interface FleetAlarmsProps {
  readonly groupName: string;
  readonly nodeLogs: logs.ILogGroup;
}

export class FleetAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: FleetAlarmsProps) {
    super(scope, id);
    const period = Duration.minutes(5);
    const group = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/AutoScaling',
        metricName,
        dimensionsMap: { AutoScalingGroupName: props.groupName },
        statistic: cloudwatch.Stats.MINIMUM,
        period,
      });
    const desired = group('GroupDesiredCapacity').with({ statistic: cloudwatch.Stats.MAXIMUM });
    const inService = group('GroupInServiceInstances');
    const missing = new cloudwatch.MathExpression({
      expression: 'desired - inService',
      usingMetrics: { desired, inService },
      period,
      label: 'nodes desired but not in service',
    });
    this.alarms.push(
      new cloudwatch.Alarm(this, 'NodesBelowDesired', {
        metric: missing,
        threshold: 1,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription:
          'Fewer healthy media nodes than desired for 15 minutes: nodes fail to become ready or keep being replaced',
      }),
    );

    new logs.MetricFilter(this, 'NodeErrorLinesFilter', {
      logGroup: props.nodeLogs,
      metricNamespace: LOAD_METRIC_NAMESPACE,
      metricName: 'MediaNodeErrorLines',
      filterPattern: logs.FilterPattern.stringValue('$.level', '=', 'error'),
      metricValue: '1',
      defaultValue: 0,
    });
    const errorLines = new cloudwatch.Metric({
      namespace: LOAD_METRIC_NAMESPACE,
      metricName: 'MediaNodeErrorLines',
      statistic: cloudwatch.Stats.SUM,
      period,
    });
    this.alarms.push(
      new cloudwatch.Alarm(this, 'NodeErrorLines', {
        metric: errorLines,
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription:
          'Error-level lines from media nodes or their host scripts (install failures, worker deaths, unhealthy marks)',
      }),
    );

    const load = new cloudwatch.Metric({
      namespace: LOAD_METRIC_NAMESPACE,
      metricName: LOAD_METRIC_NAME,
      dimensionsMap: { [LOAD_METRIC_DIMENSION]: props.groupName },
      statistic: cloudwatch.Stats.AVERAGE,
      period: Duration.minutes(1),
    });
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Media nodes: desired vs in service',
            left: [desired, inService],
            width: 8,
          }),
          new cloudwatch.GraphWidget({ title: 'Media node load (%)', left: [load], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'Media node error lines', left: [errorLines], width: 8 }),
        ],
        [new cloudwatch.AlarmStatusWidget({ title: 'Media fleet alarms', alarms: this.alarms, width: 24 })],
      ],
    });
  }
}
