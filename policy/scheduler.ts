import * as aws from "@pulumi/aws";
import {
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { readKnown, reportUnknown } from "./util";

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

const EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig";

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`, or a bare name: name and qualifier. */
function functionAndQualifier(value: string): { name: string; qualifier: string } {
  const parts = value.split(":");
  if (parts[0] === "arn") return { name: parts[6] ?? "", qualifier: parts[7] ?? "$LATEST" };
  return { name: parts[0], qualifier: parts[1] ?? "$LATEST" };
}

export const schedulerLambdaTargetOnFailure: StackValidationPolicy = {
  name: "scheduler-lambda-target-on-failure",
  description:
    "Checks whether a Lambda function that an EventBridge Scheduler schedule invokes sends runs that failed to an on-failure destination or dead-letter queue. Scheduler invokes Lambda asynchronously: the schedule's dead-letter queue only gets invocations Lambda refused, and a run that fails in the function is dropped after Lambda's retries.",
  validateStack: (args, report) => {
    const configs = args.resources.filter((resource) => resource.type === EVENT_INVOKE_CONFIG);
    const functions = args.resources.filter((resource) => resource.type === "aws:lambda/function:Function");
    for (const schedule of args.resources.filter((r) => r.type === "aws:scheduler/schedule:Schedule")) {
      const arn = readKnown(() => (schedule.props.target as TargetProps | undefined)?.arn);
      if (!arn.known) {
        reportUnknown(
          report,
          `the target of EventBridge Scheduler schedule ${schedule.name} is unknown.`,
          schedule.urn,
        );
        continue;
      }
      if (typeof arn.value !== "string" || !/^arn:[^:]+:lambda:/.test(arn.value)) continue;
      const target = functionAndQualifier(arn.value);
      let undecided = false;
      const handled =
        configs.some((config) => {
          const read = readKnown(() => ({
            functionName: config.props.functionName as unknown,
            qualifier: config.props.qualifier as unknown,
            destination: (
              config.props.destinationConfig as { onFailure?: { destination?: unknown } } | undefined
            )?.onFailure?.destination,
          }));
          if (!read.known || typeof read.value.functionName !== "string") {
            undecided = true;
            return false;
          }
          const configured = functionAndQualifier(read.value.functionName);
          const qualifier =
            typeof read.value.qualifier === "string" ? read.value.qualifier : configured.qualifier;
          return (
            configured.name === target.name &&
            qualifier === target.qualifier &&
            Boolean(read.value.destination)
          );
        }) ||
        // A dead-letter queue on the function itself takes every asynchronous invocation that failed.
        functions.some((fn) => {
          const read = readKnown(() => ({
            name: fn.props.name as unknown,
            deadLetter: (fn.props.deadLetterConfig as { targetArn?: unknown } | undefined)?.targetArn,
          }));
          return read.known && read.value.name === target.name && Boolean(read.value.deadLetter);
        });
      if (handled) continue;
      if (undecided) {
        reportUnknown(
          report,
          `whether the Lambda function ${target.name}:${target.qualifier} invoked by schedule ${schedule.name} has an on-failure destination.`,
          schedule.urn,
        );
        continue;
      }
      report(
        `EventBridge Scheduler schedule ${schedule.name} invokes Lambda ${target.name}:${target.qualifier} asynchronously, and that alias has no on-failure destination: a run that fails in the function is dropped after Lambda's retries (the schedule's dead-letter queue only gets invocations Lambda refused). Add an aws.lambda.FunctionEventInvokeConfig for that function and qualifier with destinationConfig.onFailure (ServiceSchedule does), or a deadLetterConfig on the function.`,
        schedule.urn,
      );
    }
  },
};
