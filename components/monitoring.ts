import * as aws from "@pulumi/aws";
import * as apigatewayMetrics from "@pulumi/awsx/classic/apigateway/metrics";
import * as cloudwatch from "@pulumi/awsx/classic/cloudwatch";
import * as dynamodbMetrics from "@pulumi/awsx/classic/dynamodb/metrics";
import * as lambdaMetrics from "@pulumi/awsx/classic/lambda/metrics";
import * as pulumi from "@pulumi/pulumi";
import { SERVER_ERRORS_METRIC } from "../functions/shared/metrics";
import { createAlertTopic } from "./alert-topic";
import type { DataTable } from "./data-table";
import { type NamingContext, physicalName } from "./naming";
import type { ServerlessApi } from "./serverless-api";
import { LIVE_ALIAS, type ServerlessFunction } from "./serverless-function";

export interface MonitoredFunction {
  function: ServerlessFunction;
  /** Consumes a stream (DynamoDB, Kinesis): alarm on iterator age too. @default false */
  streamConsumer?: boolean;
  /**
   * Serves API Gateway through `apiHandler`, which answers failures as 5xx responses instead of
   * throwing: alarm on its `ServerErrors` metric on the `live` alias too, a rollback alarm, since
   * Lambda's `Errors` never counts those. @default false
   */
  http?: boolean;
}

export interface MonitoringArgs {
  naming: NamingContext;
  /**
   * Email addresses subscribed to the alert topic (each must confirm). With none, alarms still
   * publish to the topic but reach nobody, and the component warns at plan time. @default []
   */
  alarmEmails?: string[];
  functions: MonitoredFunction[];
  apis?: ServerlessApi[];
  tables?: DataTable[];
  /** p99 duration alarm threshold, as a share of each function's timeout. @default 0.8 */
  durationShareOfTimeout?: number;
  /** p99 API latency alarm threshold in ms. @default 2000 */
  apiLatencyP99Ms?: number;
  /** Iterator age alarm threshold for stream consumers, in ms. @default 60000 */
  iteratorAgeMs?: number;
  /**
   * A monthly AWS Budget with an alert at a share of the limit. Account-wide: only the one stack
   * that settings name may create it. @default undefined (no budget)
   */
  budget?: { monthlyLimitUsd: number; thresholdPercent: number };
}

/** DynamoDB operations the platform's functions call; SystemErrors is reported per operation. */
const TABLE_OPERATIONS = [
  "GetItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "Query",
  "Scan",
  "BatchGetItem",
  "BatchWriteItem",
];

/**
 * Logs Insights queries over the functions' log groups. The functions log in Lambda's JSON format,
 * where the end of each invocation is a `platform.report` system record whose metrics are under
 * `record.metrics` (durationMs, billedDurationMs, memorySizeMB, maxMemoryUsedMB, and initDurationMs
 * on a cold start); the text `REPORT` line and its `@duration`/`@initDuration` fields do not exist
 * in that format.
 */
export const LOGS_INSIGHTS_QUERIES: Readonly<Record<string, string>> = {
  "recent-errors":
    'fields @timestamp, level, message, error.message, @requestId\n| filter level = "ERROR" or @message like /(?i)error/\n| sort @timestamp desc\n| limit 100',
  "duration-stats":
    'filter type = "platform.report"\n| stats avg(record.metrics.durationMs), pct(record.metrics.durationMs, 50), pct(record.metrics.durationMs, 99), max(record.metrics.durationMs), count(*) by bin(5m)',
  "cold-starts":
    'filter type = "platform.report" and ispresent(record.metrics.initDurationMs)\n| stats count(*) as coldStarts, avg(record.metrics.initDurationMs), max(record.metrics.initDurationMs) by bin(1h)',
  "memory-usage":
    'filter type = "platform.report"\n| stats max(record.metrics.maxMemoryUsedMB) as maxUsedMB, max(record.metrics.memorySizeMB) as memorySizeMB by bin(1h)',
};

/**
 * Alarms on what breaks serverless APIs, an SNS topic they notify (encrypted with a key of its own:
 * CloudWatch and Budgets cannot use the AWS managed `alias/aws/sns` key, so they could never
 * deliver), a dashboard and Logs Insights queries. The functions' errors alarms on the `live` alias,
 * and the HTTP functions' handled-5xx alarms there, are the canary rollback alarms.
 *
 * @example
 * const monitoring = new Monitoring("users-monitoring", { naming, functions: [{ function: fn }], apis: [api] });
 * // each function's deployment group: { function: fn, alarms: monitoring.rollbackAlarms[fn.logicalName] }
 */
export class Monitoring extends pulumi.ComponentResource {
  static readonly type = "platform:monitoring:Monitoring";

  readonly topic: aws.sns.Topic;
  /** The customer-managed key the topic is encrypted with. */
  readonly key: aws.kms.Key;
  readonly dashboard: cloudwatch.Dashboard;
  readonly dashboardUrl: pulumi.Output<string>;
  /**
   * The alarms that roll a canary of each function back, by the function's logical name: its
   * `Errors` on the `live` alias, and for an HTTP function its handled 5xx (`ServerErrors`) there.
   */
  readonly rollbackAlarms: Record<string, pulumi.Output<string>[]> = {};
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super(Monitoring.type, name, {}, opts);
    const { naming } = args;
    const alarmName = (suffix: string) => physicalName(naming, suffix, { maxLength: 255 });
    const emails = args.alarmEmails ?? [];
    const badEmail = emails.find((email) => !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email));
    if (badEmail !== undefined)
      throw new Error(`Monitoring ${name}: alarmEmails has an invalid address ${JSON.stringify(badEmail)}`);

    const alerts = createAlertTopic(
      name,
      { naming, emails, budgetPublishes: args.budget !== undefined },
      this,
    );
    this.key = alerts.key;
    this.topic = alerts.topic;

    const actions = { alarmActions: [this.topic.arn], okActions: [this.topic.arn] };
    const alarm = (
      metric: cloudwatch.Metric,
      id: string,
      alarmArgs: Partial<cloudwatch.AlarmArgs> & { alarmDescription: string; threshold: number },
    ) => {
      const created = metric.createAlarm(
        `${name}-${id}`,
        {
          name: alarmName(id),
          evaluationPeriods: 1,
          treatMissingData: "notBreaching",
          ...actions,
          ...alarmArgs,
        },
        { parent: this },
      );
      this.alarms.push(created);
      return created;
    };

    for (const { function: fn, streamConsumer, http } of args.functions) {
      const id = fn.logicalName;
      const onAlias = { function: fn.function, resource: `${fn.functionName}:${LIVE_ALIAS}`, period: 60 };
      const errors = alarm(lambdaMetrics.metrics.errors({ ...onAlias, statistic: "Sum" }), `${id}-errors`, {
        alarmDescription: `${fn.functionName} (alias ${LIVE_ALIAS}) returned errors: CodeDeploy rolls a canary back on this alarm`,
        threshold: 1,
      });
      this.rollbackAlarms[id] = [errors.name];
      if (http) {
        // Dimensions as Lambda's own alias metrics, which the handler copies from invokedFunctionArn.
        const serverErrors = alarm(
          new cloudwatch.Metric({
            namespace: fn.metricsNamespace,
            name: SERVER_ERRORS_METRIC,
            dimensions: { FunctionName: fn.functionName, Resource: onAlias.resource },
            statistic: "Sum",
            period: 60,
          }),
          `${id}-server-errors`,
          {
            alarmDescription: `${fn.functionName} (alias ${LIVE_ALIAS}) answered 5xx (handled errors, which Lambda's Errors does not count): CodeDeploy rolls a canary back on this alarm`,
            comparisonOperator: "GreaterThanThreshold",
            threshold: 0,
          },
        );
        this.rollbackAlarms[id].push(serverErrors.name);
      }
      // A function's own asynchronous failure handling: Lambda could not hand a failed event over.
      if (fn.deadLetterQueue) {
        alarm(
          lambdaMetrics.metrics.deadLetterErrors({ function: fn.function, period: 60, statistic: "Sum" }),
          `${id}-dead-letter-errors`,
          {
            alarmDescription: `Lambda could not send failed events of ${fn.functionName} to its dead-letter queue: they are lost`,
            threshold: 1,
          },
        );
      } else if (fn.eventInvokeConfig) {
        // asyncFailure without a dead-letter queue is an on-failure destination.
        this.alarms.push(
          destinationDeliveryFailuresAlarm(this, `${name}-${id}-destination-failures`, {
            naming,
            fn,
            topicArn: this.topic.arn,
            description: `Lambda could not send failed events of ${fn.functionName} to its on-failure destination: they are lost`,
          }),
        );
      }
      alarm(
        lambdaMetrics.metrics.throttles({ function: fn.function, period: 300, statistic: "Sum" }),
        `${id}-throttles`,
        {
          alarmDescription: `${fn.functionName} was throttled: raise reserved or account concurrency`,
          threshold: 1,
        },
      );
      const durationThreshold = Math.round(fn.timeoutSeconds * 1000 * (args.durationShareOfTimeout ?? 0.8));
      alarm(
        lambdaMetrics.metrics.duration({ function: fn.function, period: 300, extendedStatistic: 99 }),
        `${id}-duration-p99`,
        {
          alarmDescription: `${fn.functionName} p99 duration is above ${durationThreshold} ms, close to its ${fn.timeoutSeconds} s timeout`,
          threshold: durationThreshold,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
        },
      );
      if (streamConsumer) {
        alarm(
          lambdaMetrics.metrics.iteratorAge({ function: fn.function, period: 60, statistic: "Maximum" }),
          `${id}-iterator-age`,
          {
            alarmDescription: `${fn.functionName} falls behind its stream (iterator age above ${args.iteratorAgeMs ?? 60000} ms)`,
            threshold: args.iteratorAgeMs ?? 60000,
            evaluationPeriods: 5,
            datapointsToAlarm: 3,
          },
        );
      }
    }

    for (const api of args.apis ?? []) {
      const byStage = { restApi: api.restApi, stage: api.stageName, period: 300 };
      alarm(apigatewayMetrics.metrics.error5XX({ ...byStage, statistic: "Sum" }), `${api.logicalName}-5xx`, {
        alarmDescription: `API ${api.logicalName} (stage ${api.stageName}) returned 5XX responses`,
        threshold: 5,
      });
      alarm(
        apigatewayMetrics.metrics.latency({ ...byStage, extendedStatistic: 99 }),
        `${api.logicalName}-latency-p99`,
        {
          alarmDescription: `API ${api.logicalName} p99 latency is above ${args.apiLatencyP99Ms ?? 2000} ms`,
          threshold: args.apiLatencyP99Ms ?? 2000,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
        },
      );
    }

    for (const table of args.tables ?? []) {
      const id = table.logicalName;
      for (const [suffix, metric] of [
        [
          "read-throttles",
          dynamodbMetrics.metrics.readThrottleEvents({ table: table.table, period: 300, statistic: "Sum" }),
        ],
        [
          "write-throttles",
          dynamodbMetrics.metrics.writeThrottleEvents({ table: table.table, period: 300, statistic: "Sum" }),
        ],
      ] as const) {
        alarm(metric, `${id}-${suffix}`, {
          alarmDescription: `Table ${id} throttled requests (${suffix}): check capacity mode and hot keys`,
          threshold: 1,
        });
      }
      // SystemErrors is only published per operation: sum the operations with metric math.
      const systemErrors = new aws.cloudwatch.MetricAlarm(
        `${name}-${id}-system-errors`,
        {
          name: alarmName(`${id}-system-errors`),
          alarmDescription: `Table ${id} returned DynamoDB system errors (HTTP 500)`,
          comparisonOperator: "GreaterThanOrEqualToThreshold",
          threshold: 1,
          evaluationPeriods: 1,
          treatMissingData: "notBreaching",
          ...actions,
          metricQueries: [
            {
              id: "total",
              expression: `SUM([${TABLE_OPERATIONS.map((_, i) => `m${i}`).join(",")}])`,
              label: "SystemErrors",
              returnData: true,
            },
            ...TABLE_OPERATIONS.map((operation, i) => ({
              id: `m${i}`,
              metric: {
                namespace: "AWS/DynamoDB",
                metricName: "SystemErrors",
                dimensions: { TableName: table.name, Operation: operation },
                period: 300,
                stat: "Sum",
              },
            })),
          ],
        },
        { parent: this },
      );
      this.alarms.push(systemErrors);
    }

    this.dashboard = new cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        // Dashboards are global to the account: the region keeps region stacks from sharing one.
        name: physicalName(naming, "dashboard", { maxLength: 255, global: true }),
        region: naming.region as aws.Region,
        widgets: dashboardWidgets(args),
      },
      { parent: this },
    );
    this.dashboardUrl = this.dashboard.url;

    const logGroups = args.functions.map(({ function: fn }) => fn.logGroup.name);
    for (const [id, queryString] of Object.entries(LOGS_INSIGHTS_QUERIES)) {
      new aws.cloudwatch.QueryDefinition(
        `${name}-query-${id}`,
        { name: `${naming.app}-${naming.stage}/${id}`, logGroupNames: logGroups, queryString },
        { parent: this },
      );
    }

    if (args.budget) {
      new aws.budgets.Budget(
        `${name}-budget`,
        {
          name: physicalName(naming, "monthly", { maxLength: 100 }),
          budgetType: "COST",
          limitAmount: args.budget.monthlyLimitUsd.toFixed(2),
          limitUnit: "USD",
          timeUnit: "MONTHLY",
          notifications: [
            {
              comparisonOperator: "GREATER_THAN",
              notificationType: "ACTUAL",
              threshold: args.budget.thresholdPercent,
              thresholdType: "PERCENTAGE",
              subscriberSnsTopicArns: [this.topic.arn],
              subscriberEmailAddresses: emails,
            },
          ],
        },
        { parent: this },
      );
    }

    this.registerOutputs({ topicArn: this.topic.arn, keyArn: this.key.arn, dashboardUrl: this.dashboardUrl });
  }
}

export interface DestinationDeliveryFailuresAlarmArgs {
  naming: NamingContext;
  /** The function whose on-failure destination (asynchronous or of an event source mapping) is watched. */
  fn: ServerlessFunction;
  topicArn: pulumi.Input<string>;
  description: string;
}

/**
 * An alarm on Lambda's `DestinationDeliveryFailures` of a function (any in a minute), to the alert
 * topic: Lambda failed to send a failed event or batch to its on-failure destination (a missing
 * grant, a deleted queue, a record too large), so the failure is lost rather than parked.
 */
export function destinationDeliveryFailuresAlarm(
  parent: pulumi.Resource,
  logicalName: string,
  args: DestinationDeliveryFailuresAlarmArgs,
): aws.cloudwatch.MetricAlarm {
  return new aws.cloudwatch.MetricAlarm(
    logicalName,
    {
      name: physicalName(args.naming, logicalName, { maxLength: 255 }),
      alarmDescription: args.description,
      namespace: "AWS/Lambda",
      metricName: "DestinationDeliveryFailures",
      dimensions: { FunctionName: args.fn.functionName },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [args.topicArn],
      okActions: [args.topicArn],
    },
    { parent },
  );
}

function dashboardWidgets(args: MonitoringArgs): cloudwatch.Widget[] {
  const fns = args.functions.map(({ function: fn }) => fn);
  const perFunction = (metric: (change: lambdaMetrics.metrics.LambdaMetricChange) => cloudwatch.Metric) =>
    fns.map((fn) => metric({ function: fn.function, label: fn.logicalName }));
  const widgets: cloudwatch.Widget[] = [
    new cloudwatch.TextWidget(`# ${args.naming.app} ${args.naming.stage} (${args.naming.region})`),
    new cloudwatch.LineGraphMetricWidget({
      title: "Invocations",
      metrics: perFunction((c) => lambdaMetrics.metrics.invocations({ ...c, statistic: "Sum" })),
    }),
    new cloudwatch.LineGraphMetricWidget({
      title: "Errors",
      metrics: perFunction((c) => lambdaMetrics.metrics.errors({ ...c, statistic: "Sum" })),
    }),
    new cloudwatch.LineGraphMetricWidget({
      title: "Duration p50",
      metrics: perFunction((c) => lambdaMetrics.metrics.duration({ ...c, extendedStatistic: 50 })),
    }),
    new cloudwatch.LineGraphMetricWidget({
      title: "Duration p99",
      metrics: perFunction((c) => lambdaMetrics.metrics.duration({ ...c, extendedStatistic: 99 })),
    }),
    new cloudwatch.LineGraphMetricWidget({
      title: "Throttles",
      metrics: perFunction((c) => lambdaMetrics.metrics.throttles({ ...c, statistic: "Sum" })),
    }),
    new cloudwatch.LineGraphMetricWidget({
      title: "Concurrent executions",
      metrics: perFunction((c) => lambdaMetrics.metrics.concurrentExecutions({ ...c, statistic: "Maximum" })),
    }),
  ];
  for (const api of args.apis ?? []) {
    const byStage = { restApi: api.restApi, stage: api.stageName };
    widgets.push(
      new cloudwatch.LineGraphMetricWidget({
        title: `API ${api.logicalName} latency`,
        metrics: [
          apigatewayMetrics.metrics.latency({ ...byStage, extendedStatistic: 50, label: "p50" }),
          apigatewayMetrics.metrics.latency({ ...byStage, extendedStatistic: 99, label: "p99" }),
        ],
      }),
      new cloudwatch.LineGraphMetricWidget({
        title: `API ${api.logicalName} 4XX / 5XX`,
        metrics: [
          apigatewayMetrics.metrics.error4XX({ ...byStage, statistic: "Sum", label: "4XX" }),
          apigatewayMetrics.metrics.error5XX({ ...byStage, statistic: "Sum", label: "5XX" }),
        ],
      }),
    );
  }
  for (const table of args.tables ?? []) {
    widgets.push(
      new cloudwatch.LineGraphMetricWidget({
        title: `Table ${table.logicalName} consumed capacity`,
        metrics: [
          dynamodbMetrics.metrics.consumedReadCapacityUnits({
            table: table.table,
            statistic: "Sum",
            label: "read",
          }),
          dynamodbMetrics.metrics.consumedWriteCapacityUnits({
            table: table.table,
            statistic: "Sum",
            label: "write",
          }),
        ],
      }),
      new cloudwatch.LineGraphMetricWidget({
        title: `Table ${table.logicalName} throttles`,
        metrics: [
          dynamodbMetrics.metrics.readThrottleEvents({ table: table.table, statistic: "Sum", label: "read" }),
          dynamodbMetrics.metrics.writeThrottleEvents({
            table: table.table,
            statistic: "Sum",
            label: "write",
          }),
        ],
      }),
    );
  }
  return widgets;
}
