import * as aws from "@pulumi/aws";
import { schedulerLambdaTargetOnFailure, schedulerTargetFailureHandling } from "../../policy/scheduler";
import { FUNCTION_ARN, FUNCTION_NAME, functionArgs } from "./factories";
import {
  assertNoViolations,
  assertPolicyMetadata,
  assertViolation,
  resourceArgs,
  stackArgs,
  type TestResource,
} from "./util";

/** A schedule's properties as ServiceSchedule builds them, with its target changed. */
function scheduleProps(target: Record<string, unknown> = {}) {
  return {
    scheduleExpression: "rate(1 hour)",
    flexibleTimeWindow: { mode: "OFF" },
    target: {
      arn: `${FUNCTION_ARN}:live`,
      roleArn: "arn:aws:iam::123456789012:role/app-prod-orders-reconcile-schedule-role-us-east-1",
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 },
      deadLetterConfig: { arn: "arn:aws:sqs:us-east-1:123456789012:app-prod-orders-reconcile-schedule-dlq" },
      ...target,
    },
  };
}

const scheduleArgs = (target: Record<string, unknown> = {}) =>
  resourceArgs(aws.scheduler.Schedule, scheduleProps(target) as never);

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

const DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:app-prod-orders-reconcile-schedule-dlq";

/** A function, a schedule invoking its live alias, and the alias's asynchronous settings as given. */
function scheduledStack(
  config: Record<string, unknown> | undefined,
  fn: Record<string, unknown> = {},
): TestResource[] {
  const resources: TestResource[] = [
    { type: aws.lambda.Function, name: "reconcile-function", props: { ...functionArgs(), ...fn } },
    { type: aws.scheduler.Schedule, name: "reconcile-schedule", props: scheduleProps() },
  ];
  if (config) {
    resources.push({
      type: aws.lambda.FunctionEventInvokeConfig,
      name: "reconcile-target-failures",
      props: { functionName: FUNCTION_NAME, qualifier: "live", maximumRetryAttempts: 2, ...config },
    });
  }
  return resources;
}

describe("policy scheduler-lambda-target-on-failure", () => {
  it("has the pack's metadata", () => {
    assertPolicyMetadata(schedulerLambdaTargetOnFailure);
  });

  it("passes a scheduled alias whose failed runs go to an on-failure destination, as ServiceSchedule sets it", async () => {
    await assertNoViolations(
      schedulerLambdaTargetOnFailure,
      stackArgs(scheduledStack({ destinationConfig: { onFailure: { destination: DLQ_ARN } } })),
    );
  });

  it("passes a scheduled function with a dead-letter queue of its own", async () => {
    await assertNoViolations(
      schedulerLambdaTargetOnFailure,
      stackArgs(scheduledStack(undefined, { deadLetterConfig: { targetArn: DLQ_ARN } })),
    );
  });

  it("fails when the scheduled alias has no asynchronous failure handling: failed runs would be dropped", async () => {
    await assertViolation(
      schedulerLambdaTargetOnFailure,
      stackArgs(scheduledStack(undefined)),
      `schedule reconcile-schedule invokes Lambda ${FUNCTION_NAME}:live asynchronously, and that alias has no on-failure destination`,
    );
  });

  it("fails when the on-failure destination is set on another qualifier than the one scheduled", async () => {
    await assertViolation(
      schedulerLambdaTargetOnFailure,
      stackArgs(
        scheduledStack({ qualifier: "$LATEST", destinationConfig: { onFailure: { destination: DLQ_ARN } } }),
      ),
      "has no on-failure destination",
    );
  });

  it("fails when the alias's settings have retries but no destination", async () => {
    await assertViolation(
      schedulerLambdaTargetOnFailure,
      stackArgs(scheduledStack({})),
      "has no on-failure destination",
    );
  });
});
