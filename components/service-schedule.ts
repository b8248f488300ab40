import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { failureQueue, queueAlarm } from "./failure-queue";
import { destinationDeliveryFailuresAlarm } from "./monitoring";
import { type NamingContext, physicalName } from "./naming";
import type { ServerlessFunction } from "./serverless-function";

export interface ServiceScheduleArgs {
  naming: NamingContext;
  /** The target: the schedule invokes its `live` alias, so CodeDeploy shifts it too. */
  target: ServerlessFunction;
  /** EventBridge Scheduler expression. @example "rate(1 hour)" @example "cron(0 6 * * ? *)" */
  expression: string;
  /** Retries of a failed invocation (0 to 185). @default 2 */
  maximumRetryAttempts?: number;
  /** How long an invocation is retried before it goes to the dead-letter queue (60 to 86400 s). @default 3600 */
  maximumEventAgeSeconds?: number;
  /** Lambda's retries of a run that failed in the function (0 to 2). @default 2 */
  functionRetryAttempts?: number;
}

/**
 * An EventBridge Scheduler schedule, in a schedule group of its own (its metrics are per group),
 * invoking a function's `live` alias with a retry policy and an encrypted dead-letter queue. Its role
 * may do exactly two things: `lambda:InvokeFunction` on that alias, and `sqs:SendMessage` on that
 * queue (Scheduler delivers dead-letter events with the schedule's role).
 *
 * Scheduler invokes Lambda asynchronously: its retry policy and dead-letter queue cover only an
 * invocation Lambda did not accept (throttled, no permission, no function). A run that fails in the
 * function is Lambda's to retry, and then, without an on-failure destination, dropped. So the
 * target's `live` alias gets one (a FunctionEventInvokeConfig), to the same dead-letter queue, and
 * the function's role may send to it: every failed run ends in that queue, whichever side failed.
 *
 * @example
 * const hourly = new ServiceSchedule("orders-reconcile", { naming, target: fn, expression: "rate(1 hour)" });
 * hourly.createAlarms(monitoring.topic.arn);
 */
export class ServiceSchedule extends pulumi.ComponentResource {
  static readonly type = "platform:scheduler:ServiceSchedule";

  readonly group: aws.scheduler.ScheduleGroup;
  readonly schedule: aws.scheduler.Schedule;
  readonly role: aws.iam.Role;
  readonly deadLetterQueue: aws.sqs.Queue;
  /** The target alias's asynchronous invocation settings: failed runs to the dead-letter queue. */
  readonly targetFailures: aws.lambda.FunctionEventInvokeConfig;
  private readonly naming: NamingContext;
  private readonly target: ServerlessFunction;

  constructor(
    private readonly logicalName: string,
    args: ServiceScheduleArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(ServiceSchedule.type, logicalName, {}, opts);
    const name = logicalName;
    const retries = args.maximumRetryAttempts ?? 2;
    const eventAge = args.maximumEventAgeSeconds ?? 3600;
    const functionRetries = args.functionRetryAttempts ?? 2;
    const problems: string[] = [];
    if (!Number.isInteger(functionRetries) || functionRetries < 0 || functionRetries > 2) {
      problems.push(`functionRetryAttempts must be an integer from 0 to 2 (got ${functionRetries})`);
    }
    if (args.target.eventInvokeConfig) {
      problems.push(
        "its target already has asynchronous failure handling (asyncFailure): a function and alias take one, and the schedule sets it to send failed runs to its dead-letter queue",
      );
    }
    if (!Number.isInteger(retries) || retries < 0 || retries > 185) {
      problems.push(`maximumRetryAttempts must be an integer from 0 to 185 (got ${retries})`);
    }
    if (!Number.isInteger(eventAge) || eventAge < 60 || eventAge > 86400) {
      problems.push(`maximumEventAgeSeconds must be an integer from 60 to 86400 (got ${eventAge})`);
    }
    if (!/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$/.test(args.expression)) {
      problems.push(
        `expression must be rate(N unit), cron(...) or at(...) (got ${JSON.stringify(args.expression)})`,
      );
    }
    if (problems.length > 0) throw new Error(`ServiceSchedule ${name}: ${problems.join("; ")}`);
    this.naming = args.naming;
    this.target = args.target;

    this.deadLetterQueue = failureQueue(this, `${name}-dlq`, args.naming);

    // A run that failed in the function: after Lambda's retries, to the same queue. Lambda sends it
    // with the function's role and checks that the role may when the setting is made.
    const grant = args.target.addPolicy(`${name}-failures`, [
      { Sid: "SendFailedScheduledRuns", Action: ["sqs:SendMessage"], Resource: [this.deadLetterQueue.arn] },
    ]);
    this.targetFailures = new aws.lambda.FunctionEventInvokeConfig(
      `${name}-target-failures`,
      {
        functionName: args.target.function.name,
        qualifier: args.target.alias.name,
        maximumRetryAttempts: functionRetries,
        // Lambda keeps an event at most 6 hours; the schedule's own limit where it is shorter.
        maximumEventAgeInSeconds: Math.min(eventAge, 21600),
        destinationConfig: { onFailure: { destination: this.deadLetterQueue.arn } },
      },
      { parent: this, dependsOn: [grant] },
    );

    const account = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        name: physicalName(args.naming, `${name}-role`, { global: true }),
        description: `EventBridge Scheduler role of ${name}: invokes its target's live alias`,
        // Only schedules of this account may assume it (the confused-deputy guard Scheduler documents).
        assumeRolePolicy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Service: "scheduler.amazonaws.com" },
              Action: "sts:AssumeRole",
              Condition: { StringEquals: { "aws:SourceAccount": account } },
            },
          ],
        }),
      },
      { parent: this },
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-invoke`,
      {
        name: "invoke",
        role: this.role.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "InvokeLiveAlias",
              Effect: "Allow",
              Action: ["lambda:InvokeFunction"],
              Resource: [args.target.aliasArn],
            },
            {
              Sid: "SendToDeadLetterQueue",
              Effect: "Allow",
              Action: ["sqs:SendMessage"],
              Resource: [this.deadLetterQueue.arn],
            },
          ],
        }),
      },
      { parent: this },
    );

    this.group = new aws.scheduler.ScheduleGroup(
      `${name}-group`,
      { name: physicalName(args.naming, name, { maxLength: 64 }) },
      { parent: this },
    );
    this.schedule = new aws.scheduler.Schedule(
      `${name}-schedule`,
      {
        name: physicalName(args.naming, name, { maxLength: 64 }),
        groupName: this.group.name,
        scheduleExpression: args.expression,
        flexibleTimeWindow: { mode: "OFF" },
        target: {
          arn: args.target.aliasArn,
          roleArn: this.role.arn,
          retryPolicy: { maximumRetryAttempts: retries, maximumEventAgeInSeconds: eventAge },
          deadLetterConfig: { arn: this.deadLetterQueue.arn },
        },
      },
      // Scheduler checks that it can assume the role when the schedule is created.
      { parent: this, dependsOn: [policy] },
    );
    this.registerOutputs({ scheduleArn: this.schedule.arn, deadLetterQueueArn: this.deadLetterQueue.arn });
  }

  /**
   * Alarms to `topicArn`: invocations that failed every retry (sent to the dead-letter queue,
   * dropped, or failed to be sent to it), any message waiting in the dead-letter queue, and runs
   * that failed in the function whose record Lambda could not send to that queue.
   */
  createAlarms(topicArn: pulumi.Input<string>): aws.cloudwatch.MetricAlarm[] {
    const common = {
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [topicArn],
      okActions: [topicArn],
    };
    const failedId = `${this.logicalName}-failed-invocations`;
    const failed = new aws.cloudwatch.MetricAlarm(
      failedId,
      {
        name: physicalName(this.naming, failedId, { maxLength: 255 }),
        alarmDescription: `Invocations of schedule ${this.logicalName} failed every retry (sent to its dead-letter queue, dropped, or not even sent there)`,
        ...common,
        metricQueries: [
          {
            id: "failed",
            expression: "SUM([sent, dropped, unsent])",
            label: "FailedInvocations",
            returnData: true,
          },
          ...(
            [
              ["sent", "InvocationsSentToDeadLetterCount"],
              ["dropped", "InvocationDroppedCount"],
              // The dead-letter queue refused the event (a missing grant, a deleted queue): it is lost.
              ["unsent", "InvocationsFailedToBeSentToDeadLetterCount"],
            ] as const
          ).map(([id, metricName]) => ({
            id,
            metric: {
              namespace: "AWS/Scheduler",
              metricName,
              dimensions: { ScheduleGroup: this.group.name },
              period: 300,
              stat: "Sum",
            },
          })),
        ],
      },
      { parent: this },
    );
    const depth = queueAlarm(this, `${this.logicalName}-dlq-depth`, {
      naming: this.naming,
      queue: this.deadLetterQueue,
      topicArn,
      description: `Failed invocations of schedule ${this.logicalName} wait in its dead-letter queue`,
    });
    const undelivered = destinationDeliveryFailuresAlarm(this, `${this.logicalName}-destination-failures`, {
      naming: this.naming,
      fn: this.target,
      topicArn,
      description: `Lambda could not send failed runs of ${this.logicalName}'s target to its dead-letter queue: they are lost`,
    });
    return [failed, depth, undelivered];
  }
}
