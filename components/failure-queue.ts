import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";

/**
 * Where messages, records or invocations go once every retry failed (a dead-letter or on-failure
 * queue): encrypted with SQS-managed keys and kept as long as SQS keeps anything (14 days), the time
 * to look at what failed and replay it. One definition for queues, streams and schedules.
 */
export function failureQueue(
  parent: pulumi.Resource,
  logicalName: string,
  naming: NamingContext,
): aws.sqs.Queue {
  return new aws.sqs.Queue(
    logicalName,
    {
      name: physicalName(naming, logicalName, { maxLength: 80 }),
      messageRetentionSeconds: 14 * 24 * 3600,
      sqsManagedSseEnabled: true,
    },
    { parent },
  );
}

export interface QueueAlarmArgs {
  naming: NamingContext;
  queue: aws.sqs.Queue;
  topicArn: pulumi.Input<string>;
  description: string;
  /** @default "ApproximateNumberOfMessagesVisible" (any message waiting) */
  metricName?: string;
  /** Alarm above this value. @default 0 */
  threshold?: number;
}

/** An alarm on one SQS metric of a queue (by default: any message waiting), to the alert topic. */
export function queueAlarm(
  parent: pulumi.Resource,
  logicalName: string,
  args: QueueAlarmArgs,
): aws.cloudwatch.MetricAlarm {
  return new aws.cloudwatch.MetricAlarm(
    logicalName,
    {
      name: physicalName(args.naming, logicalName, { maxLength: 255 }),
      alarmDescription: args.description,
      namespace: "AWS/SQS",
      metricName: args.metricName ?? "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: args.queue.name },
      statistic: "Maximum",
      period: 60,
      evaluationPeriods: 1,
      threshold: args.threshold ?? 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [args.topicArn],
      okActions: [args.topicArn],
    },
    { parent },
  );
}
