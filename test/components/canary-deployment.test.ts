import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { bundleHandler } from "../../components/bundle";
import {
  CanaryDeployment,
  type CanaryDeploymentArgs,
  type SmokeTest,
} from "../../components/canary-deployment";
import { healthFunction, policyStatements, record, testNaming } from "../helpers/pulumi";

const GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup";

function build(
  name: string,
  overrides: Partial<CanaryDeploymentArgs> = {},
  withHook = false,
  smoke: SmokeTest = { resource: "/health", path: "/health" },
) {
  const naming = testNaming("prod");
  const fn = healthFunction(`${name}-fn`, naming, { trafficShiftedByCodeDeploy: true });
  return new CanaryDeployment(`${name}-deploy`, {
    naming,
    deploymentType: "Canary10Percent5Minutes",
    hookSettings: { logRetentionDays: 7 },
    functions: {
      health: {
        function: fn,
        alarms: ["errors-alarm"],
        preTraffic: withHook ? smoke : undefined,
      },
    },
    ...overrides,
  });
}

describe("CanaryDeployment", () => {
  it("gives each function a deployment group with traffic control, rollbacks and its alarms", async () => {
    const { get } = await record(() => build("cd-group"));
    const group = get(GROUP, "cd-group-deploy-health-group").inputs;
    assert.equal(group.deploymentConfigName, "CodeDeployDefault.LambdaCanary10Percent5Minutes");
    assert.deepEqual(group.deploymentStyle, {
      deploymentOption: "WITH_TRAFFIC_CONTROL",
      deploymentType: "BLUE_GREEN",
    });
    assert.deepEqual(group.autoRollbackConfiguration, {
      enabled: true,
      events: ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
    });
    assert.deepEqual(group.alarmConfiguration, { enabled: true, alarms: ["errors-alarm"] });
  });

  for (const type of ["AllAtOnce", "Linear10PercentEvery1Minute", "Canary10Percent30Minutes"] as const) {
    it(`uses CodeDeploy's predefined config for ${type}`, async () => {
      const { ofType } = await record(() => build(`cd-type-${type}`, { deploymentType: type }));
      assert.equal(ofType(GROUP)[0].inputs.deploymentConfigName, `CodeDeployDefault.Lambda${type}`);
    });
  }

  it("creates a deployment config for a custom linear shift", async () => {
    const { ofType } = await record(() =>
      build("cd-custom", { deploymentType: { type: "linear", percent: 20, intervalMinutes: 2 } }),
    );
    const [config] = ofType("aws:codedeploy/deploymentConfig:DeploymentConfig");
    assert.deepEqual(config.inputs.trafficRoutingConfig, {
      type: "TimeBasedLinear",
      timeBasedLinear: { interval: 2, percentage: 20 },
    });
    assert.equal(ofType(GROUP)[0].inputs.deploymentConfigName, config.inputs.deploymentConfigName);
  });

  it("gives CodeDeploy a role with the managed Lambda policy only", async () => {
    const { ofType } = await record(() => build("cd-role"));
    const attachments = ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment");
    assert.deepEqual(
      attachments.map((a) => a.inputs.policyArn),
      ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"],
    );
    const role = ofType("aws:iam/role:Role").find((r) => r.name === "cd-role-deploy-role")!;
    assert.equal(
      JSON.parse(String(role.inputs.assumeRolePolicy)).Statement[0].Principal.Service,
      "codedeploy.amazonaws.com",
    );
  });

  it("names hook functions CodeDeployHook_ and grants them exactly what a hook does", async () => {
    const { get } = await record(() => build("cd-hook", {}, true));
    const hook = get("aws:lambda/function:Function", "cd-hook-deploy-health-pre-hook-function");
    assert.match(String(hook.inputs.name), /^CodeDeployHook_t\d+-prod-cd-hook-fn-pre$/);
    const group = get(GROUP, "cd-hook-deploy-health-group");
    const target = get("aws:lambda/function:Function", "cd-hook-fn-function");
    const statements = policyStatements(
      get("aws:iam/rolePolicy:RolePolicy", "cd-hook-deploy-health-pre-hook-codedeploy-hook"),
    );
    assert.deepEqual(
      statements.map((s) => [s.Action, s.Resource]),
      [
        [["codedeploy:PutLifecycleEventHookExecutionStatus"], [group.outputs.arn]],
        [["lambda:InvokeFunction"], [`${target.outputs.arn}:*`]],
        [["codedeploy:GetDeployment"], [group.outputs.arn]],
        [
          ["codedeploy:GetApplicationRevision"],
          [get("aws:codedeploy/application:Application", "cd-hook-deploy-app").outputs.arn],
        ],
        [["lambda:GetAlias"], [`${target.outputs.arn}:live`]],
      ],
    );
  });

  it("ships the hook as the handler bundler builds it, with its lazy chunks, as index.handler", async () => {
    const { get } = await record(() => build("cd-hook-code", {}, true));
    const hook = get("aws:lambda/function:Function", "cd-hook-code-deploy-health-pre-hook-function").inputs;
    const bundle = bundleHandler("functions/hooks/pre-traffic.ts");
    const archive = (hook.code as { $archive: Record<string, { sha256: string }> }).$archive;
    assert.equal(hook.handler, `${bundle.fileName.replace(/\.mjs$/, "")}.handler`);
    assert.deepEqual(Object.keys(archive).sort(), Object.keys(bundle.files).sort());
    for (const [name, text] of Object.entries(bundle.files)) {
      assert.equal(archive[name].sha256, createHash("sha256").update(text).digest("hex"), name);
    }
  });

  it("shifts traffic to the published version in the stack's region, with the hook", async () => {
    const { get, ofType } = await record(() => build("cd-shift", {}, true));
    const [shift] = ofType("pulumi-nodejs:dynamic/platform:TrafficShift");
    assert.equal(shift.inputs.region, "us-east-1");
    assert.equal(shift.inputs.aliasName, "live");
    assert.equal(
      shift.inputs.targetVersion,
      get("aws:lambda/function:Function", "cd-shift-fn-function").outputs.version,
    );
    assert.equal(
      shift.inputs.beforeAllowTrafficHook,
      get("aws:lambda/function:Function", "cd-shift-deploy-health-pre-hook-function").outputs.name,
    );
  });

  it("gives the hook the smoke request's route template as SMOKE_RESOURCE, beside its concrete path", async () => {
    const { get } = await record(() =>
      build("cd-smoke-env", {}, true, {
        method: "DELETE",
        resource: "/users/{userId}",
        path: "/users/__smoke__",
        expectStatus: 404,
      }),
    );
    const hook = get("aws:lambda/function:Function", "cd-smoke-env-deploy-health-pre-hook-function");
    const variables = (hook.inputs.environment as { variables: Record<string, string> }).variables;
    assert.equal(variables.SMOKE_RESOURCE, "/users/{userId}");
    assert.equal(variables.SMOKE_PATH, "/users/__smoke__");
    assert.equal(variables.SMOKE_METHOD, "DELETE");
    assert.equal(variables.SMOKE_EXPECT_STATUS, "404");
  });

  it("rejects a smoke path that does not match its route template, naming the function and field", () => {
    assert.throws(
      () => build("cd-smoke-mismatch", {}, true, { resource: "/users/{userId}", path: "/users" }),
      /CanaryDeployment cd-smoke-mismatch-deploy: functions\.health\.preTraffic\.path \/users does not match functions\.health\.preTraffic\.resource \/users\/\{userId\}/,
    );
  });

  it("rejects a smoke test without a route template", () => {
    assert.throws(
      () => build("cd-smoke-noresource", {}, true, { path: "/health" } as SmokeTest),
      /functions\.health\.preTraffic\.resource must be the route's path template/,
    );
  });

  it("rejects a smoke route template API Gateway would not accept, naming the field", () => {
    assert.throws(
      () => build("cd-smoke-badresource", {}, true, { resource: "/{proxy+}/x", path: "/a/x" }),
      /functions\.health\.preTraffic\.resource: Route template "\/\{proxy\+\}\/x" has \{proxy\+\} before its last segment/,
    );
  });

  it("rejects a deployment group without a rollback alarm", () => {
    const naming = testNaming();
    const fn = healthFunction("cd-noalarm-fn", naming);
    assert.throws(
      () =>
        new CanaryDeployment("cd-noalarm", {
          naming,
          deploymentType: "AllAtOnce",
          hookSettings: { logRetentionDays: 1 },
          functions: { health: { function: fn, alarms: [] } },
        }),
      /CanaryDeployment cd-noalarm: functions.health.alarms must name at least one rollback alarm/,
    );
  });

  it("rejects an unknown deployment type, listing SAM's", () => {
    assert.throws(
      () => build("cd-badtype", { deploymentType: "Canary50" as "AllAtOnce" }),
      /deploymentType must be one of AllAtOnce, Canary10Percent5Minutes, .* or a custom/,
    );
  });
});
