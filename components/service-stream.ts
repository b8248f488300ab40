import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { DataTable } from "./data-table";
import { failureQueue, queueAlarm } from "./failure-queue";
import { destinationDeliveryFailuresAlarm } from "./monitoring";
import type { NamingContext } from "./naming";
import type { ServerlessFunction } from "./serverless-function";
import { streamMappingProblems } from "./service-validation";

/** Where a new mapping starts reading: the oldest record the stream keeps (24 h), or only new ones. */
export const STARTING_POSITIONS = ["TRIM_HORIZON", "LATEST"] as const;

/**
 * What a DynamoDB stream event source mapping needs of its function's role, on the stream
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, "Execution role permissions").
 */
export const STREAM_READ_ACTIONS = [
  "dynamodb:DescribeStream",
  "dynamodb:GetRecords",
  "dynamodb:GetShardIterator",
];

export interface StreamSubscriptionArgs {
  naming: NamingContext;
  /** The table whose stream is read; it must have `stream` set. */
  table: DataTable;
  /** The consumer: the mapping invokes its `live` alias, so CodeDeploy shifts it too. */
  consumer: ServerlessFunction;
  /** Records per batch (1 to 10000). @default 100 */
  batchSize?: number;
  /** Retries of a failing batch, after bisecting it, before it goes to the failure queue (0 to 10000). @default 3 */
  maximumRetryAttempts?: number;
  /** Records older than this go to the failure queue unprocessed (60 to 604800 s). @default 3600 */
  maximumRecordAgeSeconds?: number;
  /**
   * Where the mapping starts reading when it is created or replaced. `TRIM_HORIZON` starts at the
   * oldest record the stream keeps (24 hours), so the writes made while the mapping was being
   * created (Lambda takes minutes to start polling) are delivered too; with `LATEST` they are
   * lost, silently. The price: a replaced mapping delivers again what its predecessor already
   * handled, so the consumer must be idempotent (the orders acknowledge consumer is:
   * `acknowledgedAt` is set only if absent), and records older than `maximumRecordAgeSeconds` go
   * to the failure queue instead (its alarm fires). Choose `LATEST` only for a consumer that must
   * not see old records and may miss some.
   * @default "TRIM_HORIZON"
   */
  startingPosition?: (typeof STARTING_POSITIONS)[number];
}

/**
 * A Lambda consumer of a DynamoDB table's stream: the mapping invokes the consumer's `live` alias,
 * bisects a failing batch, retries it a bounded number of times, skips records older than a bound,
 * reports failed records one by one, and sends what it gives up on to an encrypted SQS failure queue.
 * The consumer's role gets the stream-read actions on this stream and `sqs:SendMessage` on that queue.
 *
 * @example
 * const acknowledge = new StreamSubscription("orders-acknowledge-stream", { naming, table, consumer: fn });
 * acknowledge.createAlarms(monitoring.topic.arn);
 */
export class StreamSubscription extends pulumi.ComponentResource {
  static readonly type = "platform:dynamodb:StreamSubscription";

  readonly failureQueue: aws.sqs.Queue;
  readonly mapping: aws.lambda.EventSourceMapping;
  private readonly naming: NamingContext;
  private readonly consumer: ServerlessFunction;

  constructor(
    private readonly logicalName: string,
    args: StreamSubscriptionArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(StreamSubscription.type, logicalName, {}, opts);
    const name = logicalName;
    const batchSize = args.batchSize ?? 100;
    const retries = args.maximumRetryAttempts ?? 3;
    const recordAge = args.maximumRecordAgeSeconds ?? 3600;
    const startingPosition = args.startingPosition ?? "TRIM_HORIZON";
    // -1 (Lambda's default) would retry a poison batch until its records expire, blocking the shard.
    const problems = streamMappingProblems({
      batchSize,
      maximumRetryAttempts: retries,
      maximumRecordAgeSeconds: recordAge,
    }).map((problem) => `${problem.field} ${problem.message}`);
    if (!(STARTING_POSITIONS as readonly string[]).includes(startingPosition)) {
      problems.push(
        `startingPosition must be ${STARTING_POSITIONS.join(" or ")} (got ${JSON.stringify(startingPosition)})`,
      );
    }
    if (problems.length > 0) throw new Error(`StreamSubscription ${name}: ${problems.join("; ")}`);
    this.naming = args.naming;
    const fn = args.consumer;
    this.consumer = fn;

    // Kept 14 days: time to replay what failed (the record's shard and sequence numbers).
    this.failureQueue = failureQueue(this, `${name}-failures`, args.naming);

    const grant = fn.addPolicy(`${name}-read`, [
      { Sid: "ReadStream", Action: STREAM_READ_ACTIONS, Resource: [args.table.streamArn] },
      // ListStreams names no stream; the DynamoDB guide scopes it to the table's streams, not "*"
      // (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/iam-policy-example-lamda-process-dynamodb-streams.html).
      {
        Sid: "ListTableStreams",
        Action: ["dynamodb:ListStreams"],
        Resource: [pulumi.interpolate`${args.table.arn}/stream/*`],
      },
      // Lambda sends the on-failure record with the function's execution role.
      { Sid: "SendFailedRecords", Action: ["sqs:SendMessage"], Resource: [this.failureQueue.arn] },
    ]);

    this.mapping = new aws.lambda.EventSourceMapping(
      `${name}-mapping`,
      {
        eventSourceArn: args.table.streamArn,
        functionName: fn.aliasArn,
        startingPosition,
        batchSize,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: retries,
        maximumRecordAgeInSeconds: recordAge,
        functionResponseTypes: ["ReportBatchItemFailures"],
        destinationConfig: { onFailure: { destinationArn: this.failureQueue.arn } },
      },
      // Lambda checks the role's permissions when the mapping is created.
      { parent: this, dependsOn: [grant] },
    );
    this.registerOutputs({ failureQueueArn: this.failureQueue.arn, mappingId: this.mapping.id });
  }

  /**
   * Alarms to `topicArn` when any record lands in the failure queue and when Lambda fails to send
   * one there (the consumer's IteratorAge is Monitoring's). The depth alarm is not a rollback alarm
   * of the consumer: records left there for inspection would block every later deployment of it.
   */
  createAlarms(topicArn: pulumi.Input<string>): aws.cloudwatch.MetricAlarm[] {
    const depth = queueAlarm(this, `${this.logicalName}-failures-depth`, {
      naming: this.naming,
      queue: this.failureQueue,
      topicArn,
      description: `Stream records of ${this.logicalName} failed every retry and wait in its failure queue`,
    });
    const undelivered = destinationDeliveryFailuresAlarm(this, `${this.logicalName}-destination-failures`, {
      naming: this.naming,
      fn: this.consumer,
      topicArn,
      description: `Lambda could not send failed stream records of ${this.logicalName} to its failure queue: they are lost`,
    });
    return [depth, undelivered];
  }
}
