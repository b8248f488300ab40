import * as aws from "@pulumi/aws";
import { cloudwatchAlarmActions, monitoringLambdaErrorsAlarm } from "../../policy/cloudwatch";
import {
  AUTO_NAME,
  autoNamedStack,
  changed,
  FUNCTION_NAME,
  happyStack,
  metricAlarmArgs,
  plus,
  without,
} from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, stackArgs } from "./util";

describe("policy cloudwatch-alarm-actions", () => {
  const alarm = (change: Partial<ReturnType<typeof metricAlarmArgs>>) =>
    resourceArgs(aws.cloudwatch.MetricAlarm, { ...metricAlarmArgs(), ...change });

  it("passes an alarm that notifies a topic", async () => {
    await assertNoViolations(cloudwatchAlarmActions, alarm({}));
  });

  it("fails without alarm actions, or with actions disabled", async () => {
    await assertViolation(cloudwatchAlarmActions, alarm({ alarmActions: [] }), "must have alarmActions");
    await assertViolation(cloudwatchAlarmActions, alarm({ actionsEnabled: false }), "actions enabled");
  });
});

describe("policy monitoring-lambda-errors-alarm", () => {
  const policy = monitoringLambdaErrorsAlarm;

  it("passes a function with an Errors alarm on its alias that notifies", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when a function has no Errors alarm", async () => {
    await assertViolation(
      policy,
      stackArgs(without(happyStack(), "fn-errors")),
      "has no CloudWatch alarm on its Errors metric",
      {
        resourceName: "fn",
      },
    );
  });

  it("fails when the alarm watches another metric", async () => {
    const stack = changed(happyStack(), "fn-errors", { metricName: "Throttles" });
    await assertViolation(policy, stackArgs(stack), "has no CloudWatch alarm on its Errors metric");
  });

  it("fails when the Errors alarm notifies no one", async () => {
    const stack = changed(happyStack(), "fn-errors", { alarmActions: [] });
    await assertViolation(policy, stackArgs(stack), "notify no one");
  });

  it("recognizes an Errors metric in a metric math query", async () => {
    const stack = plus(without(happyStack(), "fn-errors"), {
      type: aws.cloudwatch.MetricAlarm,
      name: "fn-errors-math",
      props: {
        alarmActions: ["arn:aws:sns:us-east-1:123456789012:t"],
        metricQueries: [
          {
            id: "e",
            returnData: true,
            metric: {
              namespace: "AWS/Lambda",
              metricName: "Errors",
              dimensions: { FunctionName: FUNCTION_NAME },
              period: 60,
              stat: "Sum",
            },
          },
        ],
      },
    });
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("finds an auto-named function's Errors alarm through the graph (dimensions computed from the function)", async () => {
    await assertNoViolations(policy, stackArgs(autoNamedStack()));
  });

  it("fails for an auto-named function whose alarm watches another metric, naming its auto-name", async () => {
    const stack = changed(autoNamedStack(), "fn-errors", { metricName: "Throttles" });
    await assertViolation(
      policy,
      stackArgs(stack),
      `Lambda function fn (${AUTO_NAME}) has no CloudWatch alarm`,
    );
  });

  it("names the function whose Errors alarm notifies no one", async () => {
    const stack = changed(happyStack(), "fn-errors", { alarmActions: [] });
    await assertViolation(
      policy,
      stackArgs(stack),
      `fn-errors of Lambda function fn (${FUNCTION_NAME}) notify no one`,
    );
  });

  it("exempts CodeDeploy hook functions", async () => {
    const stack = plus(happyStack(), {
      type: aws.lambda.Function,
      name: "hook",
      props: { name: "CodeDeployHook_app-pre", role: "arn:aws:iam::123456789012:role/h" },
    });
    await assertNoViolations(policy, stackArgs(stack));
  });
});
