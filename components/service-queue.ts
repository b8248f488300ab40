import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { failureQueue, queueAlarm } from "./failure-queue";
import { type NamingContext, physicalName } from "./naming";
import type { ServerlessFunction } from "./serverless-function";
import { queueBatchingProblems } from "./service-validation";

/** Lambda's guidance: a queue's visibility timeout is at least six times its consumer's timeout. */
export const VISIBILITY_PER_CONSUMER_TIMEOUT = 6;
/** Exactly what an SQS event source mapping needs of its function's role. */
export const QUEUE_CONSUMER_ACTIONS = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"];

export interface ServiceQueueArgs {
  naming: NamingContext;
  /** The consumer's timeout: the visibility timeout is six times it, so a message is not redelivered mid-batch. */
  consumerTimeoutSeconds: number;
  /** Receives before a message moves to the dead-letter queue. @default 3 */
  maxReceiveCount?: number;
  /** Alarm when the oldest message is older than this. @default 900 */
  oldestMessageAgeSeconds?: number;
}

/** How a consumer receives the queue's messages (Lambda's limits for a standard queue). */
export interface QueueSubscriptionOptions {
  /** Messages per invocation, 1 to 10000; above 10 it needs `maxBatchingWindowSeconds` of at least 1. @default 10 */
  batchSize?: number;
  /**
   * Seconds Lambda may wait to fill a batch, 0 to 300. Lambda refuses a `batchSize` above 10
   * without a window of at least 1 s, so such a subscription must set one: it is the latency a
   * message may wait for its batch to fill.
   * @default 0 (no waiting)
   * @example { batchSize: 100, maxBatchingWindowSeconds: 5 }
   */
  maxBatchingWindowSeconds?: number;
}

/**
 * An SQS queue encrypted with SQS-managed keys, with a dead-letter queue (redrive after
 * `maxReceiveCount` receives), a consumer subscribed on its `live` alias with ReportBatchItemFailures,
 * and alarms on dead-letter depth and the oldest message's age.
 *
 * @example
 * const queue = new ServiceQueue("orders-fulfilment", { naming, consumerTimeoutSeconds: 20 });
 * queue.subscribe(fulfil, { batchSize: 10 });
 * queue.createAlarms(monitoring.topic.arn);
 */
export class ServiceQueue extends pulumi.ComponentResource {
  static readonly type = "platform:sqs:ServiceQueue";

  readonly queue: aws.sqs.Queue;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly url: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  private readonly naming: NamingContext;
  private readonly consumerTimeoutSeconds: number;
  private readonly oldestMessageAgeSeconds: number;
  private readonly consumers: ServerlessFunction[] = [];
  constructor(
    private readonly logicalName: string,
    args: ServiceQueueArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(ServiceQueue.type, logicalName, {}, opts);
    const name = logicalName;
    const maxReceiveCount = args.maxReceiveCount ?? 3;
    const visibility = args.consumerTimeoutSeconds * VISIBILITY_PER_CONSUMER_TIMEOUT;
    const problems: string[] = [];
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      problems.push(`maxReceiveCount must be an integer from 1 to 1000 (got ${maxReceiveCount})`);
    }
    if (visibility > 43200) {
      problems.push(
        `consumerTimeoutSeconds must be at most 7200: six times it (${visibility} s) exceeds SQS's 43200 s visibility timeout`,
      );
    }
    if (problems.length > 0) throw new Error(`ServiceQueue ${name}: ${problems.join("; ")}`);
    this.naming = args.naming;
    this.consumerTimeoutSeconds = args.consumerTimeoutSeconds;
    this.oldestMessageAgeSeconds = args.oldestMessageAgeSeconds ?? 900;

    this.deadLetterQueue = failureQueue(this, `${name}-dlq`, args.naming);
    this.queue = new aws.sqs.Queue(
      `${name}-queue`,
      {
        name: physicalName(args.naming, name, { maxLength: 80 }),
        visibilityTimeoutSeconds: visibility,
        messageRetentionSeconds: 4 * 24 * 3600,
        sqsManagedSseEnabled: true,
        redrivePolicy: pulumi.jsonStringify({
          deadLetterTargetArn: this.deadLetterQueue.arn,
          maxReceiveCount,
        }),
      },
      { parent: this },
    );
    this.url = this.queue.url;
    this.arn = this.queue.arn;
    this.registerOutputs({ url: this.url, arn: this.arn, deadLetterQueueArn: this.deadLetterQueue.arn });
  }

  /**
   * Subscribes `fn`'s `live` alias (so CodeDeploy shifts the consumer too), reporting failed
   * messages one by one; grants exactly the actions the mapping needs, on this queue only.
   * Throws when Lambda would refuse the batching (see {@link QueueSubscriptionOptions}).
   */
  subscribe(fn: ServerlessFunction, options: QueueSubscriptionOptions = {}): aws.lambda.EventSourceMapping {
    if (fn.timeoutSeconds > this.consumerTimeoutSeconds) {
      throw new Error(
        `ServiceQueue ${this.logicalName}: consumer ${fn.functionName} times out after ${fn.timeoutSeconds} s, more than the consumerTimeoutSeconds (${this.consumerTimeoutSeconds}) its visibility timeout was sized for`,
      );
    }
    const batching = { ...options, batchSize: options.batchSize ?? 10 };
    const problems = queueBatchingProblems(batching);
    if (problems.length > 0) {
      throw new Error(
        `ServiceQueue ${this.logicalName}: subscription of ${fn.logicalName}: ${problems.map((p) => `${p.field} ${p.message}`).join("; ")}`,
      );
    }
    this.consumers.push(fn);
    const grant = fn.addPolicy(`${this.logicalName}-consume`, [
      { Sid: "ConsumeQueue", Action: QUEUE_CONSUMER_ACTIONS, Resource: [this.queue.arn] },
    ]);
    return new aws.lambda.EventSourceMapping(
      `${this.logicalName}-${fn.logicalName}-mapping`,
      {
        eventSourceArn: this.queue.arn,
        functionName: fn.aliasArn,
        batchSize: batching.batchSize,
        maximumBatchingWindowInSeconds: batching.maxBatchingWindowSeconds,
        functionResponseTypes: ["ReportBatchItemFailures"],
      },
      // Lambda checks the role's permissions when the mapping is created.
      { parent: this, dependsOn: [grant] },
    );
  }

  /** Lets `fn` send messages to this queue (the URL is in its environment). */
  grantSend(fn: ServerlessFunction): aws.iam.RolePolicy {
    return fn.addPolicy(`${this.logicalName}-send`, [
      { Sid: "SendToQueue", Action: ["sqs:SendMessage"], Resource: [this.queue.arn] },
    ]);
  }

  /**
   * Alarms to `topicArn`: any message in the dead-letter queue, and the oldest message's age. Not
   * rollback alarms of the consumer: a message left there for inspection would keep the alarm on
   * and block every later deployment of the consumer, the fix included.
   */
  createAlarms(topicArn: pulumi.Input<string>): aws.cloudwatch.MetricAlarm[] {
    const alarm = (
      id: string,
      queue: aws.sqs.Queue,
      metricName: string,
      threshold: number,
      description: string,
    ) =>
      queueAlarm(this, `${this.logicalName}-${id}`, {
        naming: this.naming,
        queue,
        topicArn,
        description,
        metricName,
        threshold,
      });
    const depth = alarm(
      "dlq-depth",
      this.deadLetterQueue,
      "ApproximateNumberOfMessagesVisible",
      0,
      `Messages of ${this.logicalName} failed every receive and wait in its dead-letter queue`,
    );
    return [
      depth,
      alarm(
        "oldest-message",
        this.queue,
        "ApproximateAgeOfOldestMessage",
        this.oldestMessageAgeSeconds,
        `The oldest message of ${this.logicalName} is older than ${this.oldestMessageAgeSeconds} s: its consumer falls behind or fails`,
      ),
    ];
  }
}
