import { lambdaLogGroupRetention } from "../../policy/logs";
import { changed, FUNCTION_NAME, happyStack, without } from "./factories";
import { assertNoViolations, assertViolation, stackArgs, UNKNOWN } from "./util";

describe("policy lambda-log-group-retention", () => {
  const policy = lambdaLogGroupRetention;

  it("passes a function whose log group has a retention", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("fails when the function's log group is not in the stack", async () => {
    await assertViolation(
      policy,
      stackArgs(without(happyStack(), "fn-logs")),
      `has no log group /aws/lambda/${FUNCTION_NAME}`,
      {
        resourceName: "fn",
      },
    );
  });

  it("fails when the log group has no retention", async () => {
    await assertViolation(
      policy,
      stackArgs(changed(happyStack(), "fn-logs", { retentionInDays: undefined })),
      "must set retentionInDays",
      { resourceName: "fn-logs" },
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

  it("reports an advisory when the log group name is unknown during preview", async () => {
    const stack = changed(happyStack(), "fn", { loggingConfig: undefined, name: UNKNOWN });
    await assertViolation(policy, stackArgs(stack), "Could not check during preview", { level: "advisory" });
  });
});
