import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { readKnown } from "./util";

/** Is this mapping's source a stream (DynamoDB, Kinesis)? Streams need a starting position; queues refuse one. */
function readsStream(mapping: aws.lambda.EventSourceMappingArgs): boolean {
  const position = readKnown(() => mapping.startingPosition as unknown);
  if (!position.known || position.value !== undefined) return true;
  const source = readKnown(() => mapping.eventSourceArn as unknown);
  return (
    source.known && typeof source.value === "string" && /^arn:[^:]+:(dynamodb|kinesis):/.test(source.value)
  );
}

export const lambdaStreamFailureHandling: ResourceValidationPolicy = {
  name: "lambda-stream-mapping-failure-handling",
  description:
    "Checks whether Lambda event source mappings on streams (DynamoDB, Kinesis) bisect failing batches, bound their retries and record age, and send what they give up on to an on-failure destination, so that one poison record neither blocks its shard nor is lost.",
  validateResource: validateResourceOfType(aws.lambda.EventSourceMapping, (mapping, args, report) => {
    if (!readsStream(mapping)) return;
    const where = `Lambda event source mapping ${args.name}`;
    const bisect = readKnown(() => mapping.bisectBatchOnFunctionError as unknown);
    if (bisect.known && bisect.value !== true) {
      report(
        `${where} must set bisectBatchOnFunctionError to true, so that a failing batch is split until the poison record is alone.`,
      );
    }
    // Lambda's default for both is -1: a poison record is retried until it expires (up to a day on DynamoDB), blocking its shard.
    for (const [field, least] of [
      ["maximumRetryAttempts", 0],
      ["maximumRecordAgeInSeconds", 60],
    ] as const) {
      const value = readKnown(() => mapping[field] as unknown);
      if (value.known && (typeof value.value !== "number" || value.value < least)) {
        report(
          `${where} must set ${field} to a bound (at least ${least}, not -1 or unset), so that a failing record is not retried until it expires.`,
        );
      }
    }
    const destination = readKnown(
      () =>
        (mapping.destinationConfig as { onFailure?: { destinationArn?: unknown } } | undefined)?.onFailure
          ?.destinationArn,
    );
    if (destination.known && !destination.value) {
      report(
        `${where} must set destinationConfig.onFailure.destinationArn (an SQS queue or SNS topic), so that the records it gives up on are kept.`,
      );
    }
  }),
};

export const lambdaStreamStartingPosition: ResourceValidationPolicy = {
  name: "lambda-stream-mapping-starting-position",
  description:
    "Checks whether Lambda event source mappings on DynamoDB streams start at the oldest record the stream keeps (TRIM_HORIZON): one starting at LATEST never delivers the writes made while it is created or replaced, and nothing reports them.",
  enforcementLevel: "advisory",
  validateResource: validateResourceOfType(aws.lambda.EventSourceMapping, (mapping, args, report) => {
    const source = readKnown(() => mapping.eventSourceArn as unknown);
    if (!source.known || typeof source.value !== "string" || !/^arn:[^:]+:dynamodb:/.test(source.value))
      return;
    const position = readKnown(() => mapping.startingPosition as unknown);
    if (position.known && position.value === "LATEST") {
      report(
        `Lambda event source mapping ${args.name} starts at LATEST: the table's writes made while the mapping is created or replaced are never delivered. Start at TRIM_HORIZON (the consumer must then be idempotent: a replaced mapping delivers the last 24 hours again).`,
      );
    }
  }),
};
