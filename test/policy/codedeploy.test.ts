import * as aws from "@pulumi/aws";
import {
  codedeployApiFunctionsHaveDeploymentGroup,
  codedeployDeploymentGroupSafety,
  codedeployHookFunctionNaming,
} from "../../policy/codedeploy";
import {
  AUTO_NAME,
  autoNamedStack,
  changed,
  deploymentGroupArgs,
  FUNCTION_NAME,
  happyStack,
  plus,
  policyDocument,
  without,
} from "./factories";
import { assertNoViolations, assertViolation, resourceArgs, stackArgs, UNKNOWN } from "./util";

const group = (
  change: Partial<ReturnType<typeof deploymentGroupArgs>>,
  config?: Record<string, unknown>,
) => ({
  ...resourceArgs(aws.codedeploy.DeploymentGroup, { ...deploymentGroupArgs(), ...change }),
  config,
});

describe("policy codedeploy-deployment-group-safety", () => {
  const policy = codedeployDeploymentGroupSafety;

  it("passes a canary group with traffic control, alarms and rollback", async () => {
    await assertNoViolations(policy, group({}));
  });

  it("fails without traffic control", async () => {
    await assertViolation(
      policy,
      group({ deploymentStyle: { deploymentOption: "WITHOUT_TRAFFIC_CONTROL", deploymentType: "IN_PLACE" } }),
      'deploymentOption to "WITH_TRAFFIC_CONTROL"',
    );
  });

  it("fails when rollback on alarm is missing", async () => {
    await assertViolation(
      policy,
      group({ autoRollbackConfiguration: { enabled: true, events: ["DEPLOYMENT_FAILURE"] } }),
      'missing "DEPLOYMENT_STOP_ON_ALARM"',
    );
  });

  it("fails when automatic rollback is disabled", async () => {
    await assertViolation(
      policy,
      group({ autoRollbackConfiguration: undefined }),
      "must enable autoRollbackConfiguration",
    );
  });

  it("fails without alarms", async () => {
    await assertViolation(
      policy,
      group({ alarmConfiguration: { enabled: true, alarms: [] } }),
      "at least one CloudWatch alarm",
    );
  });

  it("fails with AllAtOnce, unless the config allows it", async () => {
    const allAtOnce = { deploymentConfigName: "CodeDeployDefault.LambdaAllAtOnce" };
    await assertViolation(policy, group(allAtOnce), "uses CodeDeployDefault.LambdaAllAtOnce");
    await assertNoViolations(policy, group(allAtOnce, { forbiddenDeploymentConfigs: [] }));
  });

  it("passes alarm names unknown during preview", async () => {
    await assertNoViolations(policy, group({ alarmConfiguration: { enabled: true, alarms: [UNKNOWN] } }));
  });
});

describe("policy codedeploy-api-functions-deployment-group", () => {
  const policy = codedeployApiFunctionsHaveDeploymentGroup;

  it("passes when the group is named after the function", async () => {
    await assertNoViolations(policy, stackArgs(happyStack()));
  });

  it("passes when the group is tagged with the function", async () => {
    const stack = changed(happyStack(), "fn-group", {
      deploymentGroupName: "other",
      tags: { "platform:function": FUNCTION_NAME },
    });
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("fails when a function behind the API has no deployment group", async () => {
    await assertViolation(
      policy,
      stackArgs(without(happyStack(), "fn-group")),
      "no CodeDeploy deployment group deploys it",
      {
        resourceName: "fn",
      },
    );
  });

  it("passes functions no API invokes", async () => {
    const stack = without(happyStack(), "fn-group", "get-user-integration", "get-health-integration");
    await assertNoViolations(policy, stackArgs(stack));
  });

  it("finds an auto-named function's deployment group through what starts its deployments", async () => {
    await assertNoViolations(policy, stackArgs(autoNamedStack()));
  });

  it("fails for an auto-named function when nothing relates a deployment group to it, naming it", async () => {
    await assertViolation(
      policy,
      stackArgs(without(autoNamedStack(), "fn-shift")),
      `Lambda function fn (${AUTO_NAME}) is behind the API but no CodeDeploy deployment group deploys it`,
      { resourceName: "fn" },
    );
  });
});

describe("policy codedeploy-hook-function-naming", () => {
  const policy = codedeployHookFunctionNaming;
  const hookGrant = policyDocument([
    {
      Effect: "Allow",
      Action: ["codedeploy:PutLifecycleEventHookExecutionStatus"],
      Resource: ["arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app/group"],
    },
  ]);
  const hookStack = (functionName: string) =>
    plus(
      happyStack(),
      {
        type: aws.iam.Role,
        name: "hook-role",
        props: { name: "hook-role", arn: "arn:aws:iam::123456789012:role/hook-role" },
      },
      {
        type: aws.iam.RolePolicy,
        name: "hook-grant",
        props: { role: "hook-role", policy: hookGrant },
        propertyDependencies: { role: ["hook-role"] },
      },
      {
        type: aws.lambda.Function,
        name: "hook",
        props: { name: functionName, role: "arn:aws:iam::123456789012:role/hook-role" },
        propertyDependencies: { role: ["hook-role"] },
      },
    );

  it("passes a hook named CodeDeployHook_*, and functions that are no hooks", async () => {
    await assertNoViolations(policy, stackArgs(hookStack("CodeDeployHook_app-prod-users-list-pre")));
  });

  it("fails when a function granted hook status reporting is not named CodeDeployHook_*", async () => {
    await assertViolation(
      policy,
      stackArgs(hookStack("app-prod-users-list-pre")),
      "name it CodeDeployHook_",
      {
        resourceName: "hook",
      },
    );
  });

  it("recognizes a hook from an inline policy of its role", async () => {
    const stack = without(hookStack("pre-traffic"), "hook-grant").map((resource) =>
      resource.name === "hook-role"
        ? { ...resource, props: { ...resource.props, inlinePolicies: [{ name: "hook", policy: hookGrant }] } }
        : resource,
    );
    await assertViolation(policy, stackArgs(stack), "is a hook");
  });

  it("reports an advisory when the role's policies are unknown during preview", async () => {
    const stack = changed(hookStack("pre-traffic"), "hook-grant", { policy: UNKNOWN });
    await assertViolation(policy, stackArgs(stack), "Could not check during preview", { level: "advisory" });
  });
});
