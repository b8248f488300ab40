import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { readKnown } from "./util";

interface TargetProps {
  arn?: unknown;
  retryPolicy?: { maximumRetryAttempts?: unknown };
  deadLetterConfig?: { arn?: unknown };
}

export const schedulerTargetFailureHandling: ResourceValidationPolicy = {
  name: "scheduler-target-failure-handling",
  description:
    "Checks whether EventBridge Scheduler schedules set a retry policy and a dead-letter queue, and invoke a Lambda function through an alias (so that CodeDeploy shifts scheduled invocations too), so that a failed invocation is retried, then kept.",
  validateResource: validateResourceOfType(aws.scheduler.Schedule, (schedule, args, report) => {
    const where = `EventBridge Scheduler schedule ${args.name}`;
    const target = readKnown(() => schedule.target as unknown as TargetProps | undefined);
    if (!target.known) return;
    const retries = readKnown(() => target.value?.retryPolicy?.maximumRetryAttempts);
    if (retries.known && typeof retries.value !== "number") {
      report(
        `${where} must set target.retryPolicy.maximumRetryAttempts, so that a failed invocation is retried a known number of times.`,
      );
    }
    const deadLetter = readKnown(() => target.value?.deadLetterConfig?.arn);
    if (deadLetter.known && !deadLetter.value) {
      report(
        `${where} must set target.deadLetterConfig.arn to an SQS queue, so that an invocation that failed every retry is kept.`,
      );
    }
    const arn = readKnown(() => target.value?.arn);
    // arn:aws:lambda:<region>:<account>:function:<name> has 7 parts; an alias or version adds an 8th.
    if (
      arn.known &&
      typeof arn.value === "string" &&
      /^arn:[^:]+:lambda:/.test(arn.value) &&
      arn.value.split(":").length < 8
    ) {
      report(
        `${where} must invoke a Lambda alias (the function's live alias ARN), not the unqualified function ${arn.value}, so that CodeDeploy shifts its invocations with the alias.`,
      );
    }
  }),
};
