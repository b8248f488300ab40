import { strict as assert } from "node:assert";
import * as aws from "@pulumi/aws";
import { resolvePolicyConfig } from "../../automation/policy/evaluate";
import { lambdaStreamFailureHandling, lambdaStreamStartingPosition } from "../../policy/lambda-event-sources";
import { FUNCTION_ARN } from "./factories";
import { assertNoViolations, assertPolicyMetadata, assertViolation, resourceArgs, UNKNOWN } from "./util";

const STREAM_ARN =
  "arn:aws:dynamodb:us-east-1:123456789012:table/app-prod-orders/stream/2026-01-01T00:00:00.000";

/** A stream mapping as StreamSubscription builds it, with one change. */
function streamMapping(change: Record<string, unknown> = {}) {
  return resourceArgs(aws.lambda.EventSourceMapping, {
    eventSourceArn: STREAM_ARN,
    functionName: `${FUNCTION_ARN}:live`,
    startingPosition: "TRIM_HORIZON",
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: 3,
    maximumRecordAgeInSeconds: 3600,
    destinationConfig: {
      onFailure: { destinationArn: "arn:aws:sqs:us-east-1:123456789012:app-prod-failures" },
    },
    ...change,
  } as never);
}

describe("policy lambda-stream-mapping-failure-handling", () => {
  it("has the pack's metadata", () => {
    assertPolicyMetadata(lambdaStreamFailureHandling);
  });

  it("passes a stream mapping that bisects, bounds retries and record age, and has an on-failure destination", async () => {
    await assertNoViolations(lambdaStreamFailureHandling, streamMapping());
  });

  it("passes an SQS mapping, which has none of these settings", async () => {
    await assertNoViolations(
      lambdaStreamFailureHandling,
      resourceArgs(aws.lambda.EventSourceMapping, {
        eventSourceArn: "arn:aws:sqs:us-east-1:123456789012:app-prod-jobs",
        functionName: `${FUNCTION_ARN}:live`,
      }),
    );
  });

  it("fails when a stream mapping does not bisect failing batches", async () => {
    await assertViolation(
      lambdaStreamFailureHandling,
      streamMapping({ bisectBatchOnFunctionError: undefined }),
      "must set bisectBatchOnFunctionError to true",
    );
  });

  it("fails when a stream mapping retries without bound (-1)", async () => {
    await assertViolation(
      lambdaStreamFailureHandling,
      streamMapping({ maximumRetryAttempts: -1 }),
      "must set maximumRetryAttempts to a bound",
    );
  });

  it("fails when a stream mapping leaves the record age unbounded", async () => {
    await assertViolation(
      lambdaStreamFailureHandling,
      streamMapping({ maximumRecordAgeInSeconds: undefined }),
      "must set maximumRecordAgeInSeconds to a bound",
    );
  });

  it("fails when a stream mapping has no on-failure destination", async () => {
    await assertViolation(
      lambdaStreamFailureHandling,
      streamMapping({ destinationConfig: undefined }),
      "must set destinationConfig.onFailure.destinationArn",
    );
  });

  it("treats a mapping with an unknown source and a starting position as a stream", async () => {
    await assertViolation(
      lambdaStreamFailureHandling,
      streamMapping({ eventSourceArn: UNKNOWN, bisectBatchOnFunctionError: false }),
      "must set bisectBatchOnFunctionError to true",
    );
  });
});

describe("policy lambda-stream-mapping-starting-position", () => {
  it("has the pack's metadata", () => {
    assertPolicyMetadata(lambdaStreamStartingPosition);
  });

  it("passes a stream mapping that starts at TRIM_HORIZON", async () => {
    await assertNoViolations(lambdaStreamStartingPosition, streamMapping());
  });

  it("flags a DynamoDB stream mapping that starts at LATEST, saying which writes it loses", async () => {
    await assertViolation(
      lambdaStreamStartingPosition,
      streamMapping({ startingPosition: "LATEST" }),
      "writes made while the mapping is created or replaced are never delivered",
    );
  });

  it("leaves a Kinesis mapping at LATEST alone (a stream of its own, read by position on purpose)", async () => {
    await assertNoViolations(
      lambdaStreamStartingPosition,
      streamMapping({
        eventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/app-prod-clicks",
        startingPosition: "LATEST",
      }),
    );
  });

  it("is advisory in both stages' pack config, where the pack's default is mandatory: a stage may choose LATEST", () => {
    for (const stage of ["dev", "prod"]) {
      const { resolved } = resolvePolicyConfig(stage);
      assert.equal(resolved.get(lambdaStreamStartingPosition.name)?.enforcementLevel, "advisory", stage);
      assert.equal(resolved.get(lambdaStreamFailureHandling.name)?.enforcementLevel, "mandatory", stage);
    }
  });
});
