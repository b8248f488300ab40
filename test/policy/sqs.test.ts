import * as aws from "@pulumi/aws";
import { sqsConsumerFailureHandling, sqsQueueEncryption, sqsVisibilityTimeout } from "../../policy/sqs";
import { FUNCTION_ARN, functionArgs } from "./factories";
import {
  assertNoViolations,
  assertViolation,
  resourceArgs,
  stackArgs,
  type TestResource,
  UNKNOWN,
} from "./util";

const QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:app-prod-orders-fulfilment";
const DLQ_ARN = `${QUEUE_ARN}-dlq`;

function queueProps(change: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "app-prod-orders-fulfilment",
    arn: QUEUE_ARN,
    sqsManagedSseEnabled: true,
    visibilityTimeoutSeconds: 120,
    redrivePolicy: JSON.stringify({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: 3 }),
    ...change,
  };
}

/** A queue consumed by a 20 s function through a mapping on its live alias, as ServiceQueue builds it. */
function consumerStack(
  queue: Record<string, unknown> = {},
  mapping: Record<string, unknown> = {},
): TestResource[] {
  return [
    { type: aws.lambda.Function, name: "fulfil-function", props: { ...functionArgs(), timeout: 20 } },
    { type: aws.sqs.Queue, name: "fulfilment-queue", props: queueProps(queue) },
    {
      type: aws.lambda.EventSourceMapping,
      name: "fulfilment-mapping",
      props: {
        eventSourceArn: QUEUE_ARN,
        functionName: `${FUNCTION_ARN}:live`,
        functionResponseTypes: ["ReportBatchItemFailures"],
        ...mapping,
      },
      propertyDependencies: { eventSourceArn: ["fulfilment-queue"], functionName: ["fulfil-function"] },
    },
  ];
}

describe("policy sqs-queue-encryption", () => {
  it("passes a queue with SQS-managed encryption or a KMS key", async () => {
    await assertNoViolations(sqsQueueEncryption, resourceArgs(aws.sqs.Queue, { sqsManagedSseEnabled: true }));
    await assertNoViolations(
      sqsQueueEncryption,
      resourceArgs(aws.sqs.Queue, { kmsMasterKeyId: UNKNOWN as string }),
    );
  });

  it("fails when a queue is not encrypted", async () => {
    await assertViolation(
      sqsQueueEncryption,
      resourceArgs(aws.sqs.Queue, { sqsManagedSseEnabled: false }),
      "must set sqsManagedSseEnabled to true or kmsMasterKeyId",
    );
  });
});

describe("policy sqs-consumer-failure-handling", () => {
  it("passes a consumed queue with a dead-letter queue and a mapping reporting batch item failures", async () => {
    await assertNoViolations(sqsConsumerFailureHandling, stackArgs(consumerStack()));
  });

  it("fails when a consumed queue has no dead-letter queue", async () => {
    await assertViolation(
      sqsConsumerFailureHandling,
      stackArgs(consumerStack({ redrivePolicy: undefined })),
      "SQS queue fulfilment-queue, consumed by Lambda through fulfilment-mapping, must set a redrivePolicy",
    );
  });

  it("fails when the mapping does not report batch item failures", async () => {
    await assertViolation(
      sqsConsumerFailureHandling,
      stackArgs(consumerStack({}, { functionResponseTypes: undefined })),
      'fulfilment-mapping must set functionResponseTypes to ["ReportBatchItemFailures"]',
    );
  });
});

describe("policy sqs-visibility-timeout", () => {
  it("passes a visibility timeout of six times the consumer's timeout", async () => {
    await assertNoViolations(sqsVisibilityTimeout, stackArgs(consumerStack()));
  });

  it("fails when the visibility timeout is shorter than six times the consumer's timeout", async () => {
    await assertViolation(
      sqsVisibilityTimeout,
      stackArgs(consumerStack({ visibilityTimeoutSeconds: 30 })),
      `visibility timeout of 30 s but its consumer fulfil-function`,
    );
  });

  it("reads the factor from the stage's config", async () => {
    await assertNoViolations(
      sqsVisibilityTimeout,
      stackArgs(consumerStack({ visibilityTimeoutSeconds: 40 }), { factor: 2 }),
    );
  });
});
