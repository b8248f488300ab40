import * as aws from "@pulumi/aws";
import { cloudwatchLogGroupRetention, lambdaLogGroupRetention } from "../../policy/logs";
import {
  AUTO_NAME,
  autoNamedStack,
  changed,
  FUNCTION_NAME,
  happyStack,
  linked,
  plus,
  without,
} from "./factories";
import { assertNoViolations, assertViolation, stackArgs, UNKNOWN } from "./util";

describe("policy lambda-log-group-retention", () => {
  const policy = lambdaLogGroupRetention;

  it("passes a function whose log group is in the stack", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when the function's log group is not in the stack, naming the function and the group", async () => {
    await assertViolation(
      policy,
      stackArgs(without(happyStack(), "fn-logs")),
      `Lambda function fn (${FUNCTION_NAME}) has no log group /aws/lambda/${FUNCTION_NAME}`,
      { resourceName: "fn" },
    );
  });

  it("uses /aws/lambda/<name> when loggingConfig names no group", async () => {
    const stack = changed(happyStack(), "fn", { loggingConfig: undefined });
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("uses loggingConfig.logGroup when it names another group", async () => {
    const stack = changed(happyStack(), "fn", {
      loggingConfig: { logFormat: "JSON", logGroup: "/custom/group" },
    });
    await assertViolation(policy, stackArgs(stack), "has no log group /custom/group");
  });

  it("finds the group loggingConfig.logGroup references while its name is unknown", async () => {
    let stack = changed(happyStack(), "fn", { loggingConfig: { logFormat: "JSON", logGroup: UNKNOWN } });
    stack = linked(stack, "fn", { loggingConfig: ["fn-logs"] });
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("finds an auto-named function's log group through the graph (a name computed from the function)", async () => {
    await assertNoViolations(policy, stackArgs(autoNamedStack()));
  });

  it("does not take a group named after the function for its group when the name is not Lambda's default", async () => {
    let stack = changed(happyStack(), "fn-logs", { name: `/custom/${FUNCTION_NAME}` });
    stack = linked(stack, "fn-logs", { name: ["fn"] });
    stack = changed(stack, "fn", { loggingConfig: undefined });
    await assertViolation(policy, stackArgs(stack), `has no log group /aws/lambda/${FUNCTION_NAME}`);
  });

  it("reports an advisory when the log group name is unknown during preview", async () => {
    const stack = changed(without(happyStack(), "fn-logs"), "fn", {
      loggingConfig: undefined,
      name: UNKNOWN,
    });
    await assertViolation(policy, stackArgs(stack), "Could not check during preview", { level: "advisory" });
  });
});

describe("policy cloudwatch-log-group-retention", () => {
  const policy = cloudwatchLogGroupRetention;
  const apiExecutionLogs = {
    type: aws.cloudwatch.LogGroup,
    name: "api-execution-logs",
    props: { name: "API-Gateway-Execution-Logs_a1b2c3d4e5/prod", retentionInDays: 14 },
    propertyDependencies: { name: ["api"] },
  };

  it("passes log groups that all set a retention", async () => {
    await assertNoViolations(policy, stackArgs(plus(happyStack(), apiExecutionLogs)));
  });

  it("fails when a function's log group has no retention, naming the group and the function", async () => {
    await assertViolation(
      policy,
      stackArgs(changed(happyStack(), "fn-logs", { retentionInDays: undefined })),
      `CloudWatch log group fn-logs (/aws/lambda/${FUNCTION_NAME}), which holds the logs of Lambda function fn (${FUNCTION_NAME}), must set retentionInDays`,
      { resourceName: "fn-logs" },
    );
  });

  it("fails when API Gateway's execution log group has no retention, naming the REST API", async () => {
    const stack = plus(happyStack(), { ...apiExecutionLogs, props: { name: apiExecutionLogs.props.name } });
    await assertViolation(
      policy,
      stackArgs(stack),
      "the execution logs of REST API api, must set retentionInDays",
      {
        resourceName: "api-execution-logs",
      },
    );
  });

  it("fails when a stage's access log group has no retention, naming the stage", async () => {
    let stack = plus(happyStack(), {
      type: aws.cloudwatch.LogGroup,
      name: "api-access-logs",
      props: { name: "/aws/apigateway/app-prod-api/prod/access" },
    });
    stack = linked(stack, "api-stage", { accessLogSettings: ["api-access-logs"] });
    await assertViolation(policy, stackArgs(stack), "the access logs of API Gateway stage api-stage", {
      resourceName: "api-access-logs",
    });
  });

  it("fails for a log group nothing in the stack writes to", async () => {
    const stack = plus(happyStack(), {
      type: aws.cloudwatch.LogGroup,
      name: "audit",
      props: { name: "/audit" },
    });
    await assertViolation(
      policy,
      stackArgs(stack),
      "CloudWatch log group audit (/audit) must set retentionInDays",
      {
        resourceName: "audit",
      },
    );
  });

  it("names an auto-named function's group through the graph", async () => {
    const stack = changed(autoNamedStack(), "fn-logs", { retentionInDays: undefined });
    await assertViolation(policy, stackArgs(stack), `the logs of Lambda function fn (${AUTO_NAME})`);
  });

  it("passes a retention unknown during preview", async () => {
    await assertNoViolations(
      policy,
      stackArgs(changed(happyStack(), "fn-logs", { retentionInDays: UNKNOWN })),
    );
  });
});
