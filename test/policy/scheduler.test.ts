import * as aws from "@pulumi/aws";
import { schedulerTargetFailureHandling } from "../../policy/scheduler";
import { FUNCTION_ARN } from "./factories";
import { assertNoViolations, assertPolicyMetadata, assertViolation, resourceArgs } from "./util";

/** A schedule as ServiceSchedule builds it, with its target changed. */
function scheduleArgs(target: Record<string, unknown> = {}) {
  return resourceArgs(aws.scheduler.Schedule, {
    scheduleExpression: "rate(1 hour)",
    flexibleTimeWindow: { mode: "OFF" },
    target: {
      arn: `${FUNCTION_ARN}:live`,
      roleArn: "arn:aws:iam::123456789012:role/app-prod-orders-reconcile-schedule-role-us-east-1",
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      deadLetterConfig: { arn: "arn:aws:sqs:us-east-1:123456789012:app-prod-orders-reconcile-schedule-dlq" },
      ...target,
    },
  } as never);
}

describe("policy scheduler-target-failure-handling", () => {
  it("has the pack's metadata", () => {
    assertPolicyMetadata(schedulerTargetFailureHandling);
  });

  it("passes a schedule invoking a live alias with a retry policy and a dead-letter queue", async () => {
    await assertNoViolations(schedulerTargetFailureHandling, scheduleArgs());
  });

  it("fails when a schedule has no retry policy", async () => {
    await assertViolation(
      schedulerTargetFailureHandling,
      scheduleArgs({ retryPolicy: undefined }),
      "must set target.retryPolicy.maximumRetryAttempts",
    );
  });

  it("fails when a schedule has no dead-letter queue", async () => {
    await assertViolation(
      schedulerTargetFailureHandling,
      scheduleArgs({ deadLetterConfig: undefined }),
      "must set target.deadLetterConfig.arn to an SQS queue",
    );
  });

  it("fails when a schedule invokes the unqualified function instead of an alias", async () => {
    await assertViolation(
      schedulerTargetFailureHandling,
      scheduleArgs({ arn: FUNCTION_ARN }),
      "must invoke a Lambda alias",
    );
  });
});
