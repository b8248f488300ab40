import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { DataTable } from "./data-table";
import { failureQueue, queueAlarm } from "./failure-queue";
import type { NamingContext } from "./naming";
import type { ServerlessFunction } from "./serverless-function";

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
  /** @default "LATEST" */
  startingPosition?: "LATEST" | "TRIM_HORIZON";
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
    const problems: string[] = [];
    const intIn = (field: string, value: number, min: number, max: number) => {
      if (!Number.isInteger(value) || value < min || value > max) {
        problems.push(`${field} must be an integer from ${min} to ${max} (got ${value})`);
      }
    };
    intIn("batchSize", batchSize, 1, 10000);
    // -1 (Lambda's default) would retry a poison batch until its records expire, blocking the shard.
    intIn("maximumRetryAttempts", retries, 0, 10000);
    intIn("maximumRecordAgeSeconds", recordAge, 60, 604800);
    if (problems.length > 0) throw new Error(`StreamSubscription ${name}: ${problems.join("; ")}`);
    this.naming = args.naming;
    const fn = args.consumer;

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
        startingPosition: args.startingPosition ?? "LATEST",
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

  /** Alarms to `topicArn` when any record lands in the failure queue (the consumer's IteratorAge is Monitoring's). */
  createAlarms(topicArn: pulumi.Input<string>): aws.cloudwatch.MetricAlarm[] {
    return [
      queueAlarm(this, `${this.logicalName}-failures-depth`, {
        naming: this.naming,
        queue: this.failureQueue,
        topicArn,
        description: `Stream records of ${this.logicalName} failed every retry and wait in its failure queue`,
      }),
    ];
  }
}
