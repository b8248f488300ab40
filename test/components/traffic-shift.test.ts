import * as assert from "node:assert/strict";
import * as vm from "node:vm";
import {
  CodeDeployClient,
  CreateDeploymentCommand,
  DeploymentLimitExceededException,
  GetDeploymentCommand,
  type GetDeploymentCommandOutput,
  GetDeploymentTargetCommand,
  ListDeploymentTargetsCommand,
  StopDeploymentCommand,
  ThrottlingException,
} from "@aws-sdk/client-codedeploy";
import { GetAliasCommand, LambdaClient, TooManyRequestsException } from "@aws-sdk/client-lambda";
import * as pulumi from "@pulumi/pulumi";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import {
  diffTrafficShift,
  isThrottlingError,
  shiftTraffic,
  TrafficShift,
  type TrafficShiftInputs,
  type TrafficShiftState,
  trafficShiftProvider,
} from "../../components/traffic-shift";
import { record } from "../helpers/pulumi";

const INPUT: TrafficShiftInputs = {
  region: "eu-west-1",
  applicationName: "platform-prod-deploy",
  deploymentGroupName: "platform-prod-users-list",
  functionName: "platform-prod-users-list",
  aliasName: "live",
  targetVersion: "4",
  beforeAllowTrafficHook: "CodeDeployHook_platform-prod-users-list-pre",
  afterAllowTrafficHook: "CodeDeployHook_platform-prod-users-list-post",
  timeoutSeconds: 600,
  pollIntervalSeconds: 15,
};

// CodeDeploy's wording for a deployment stopped by alarms (errorInformation of GetDeployment).
const ALARM_MESSAGE =
  "One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, " +
  "and the affected deployments have been stopped. Activated alarms: <platform-prod-users-list-errors> <platform-prod-api-5xx>";

/** A clock that only moves when the code under test sleeps. */
function fakeTime() {
  let nowMs = 1_700_000_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => nowMs,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

function throttling(message = "Rate exceeded") {
  return new ThrottlingException({ message, $metadata: { httpStatusCode: 400 } });
}

describe("TrafficShift", () => {
  let codeDeploy: AwsClientStub<CodeDeployClient>;
  let lambda: AwsClientStub<LambdaClient>;
  const clients = () => ({
    codeDeploy: new CodeDeployClient({ region: "eu-west-1" }),
    lambda: new LambdaClient({ region: "eu-west-1" }),
  });

  before(() => {
    codeDeploy = mockClient(CodeDeployClient);
    lambda = mockClient(LambdaClient);
  });
  beforeEach(() => {
    codeDeploy.reset();
    lambda.reset();
  });
  after(() => {
    codeDeploy.restore();
    lambda.restore();
  });

  /** The alias is on version 3; CreateDeployment starts `deploymentId`, and GetDeployment reports `info`. */
  function deploysFromVersion3(deploymentId: string, info: Omit<GetDeploymentCommandOutput, "$metadata">) {
    lambda.on(GetAliasCommand).resolves({ FunctionVersion: "3" });
    codeDeploy.on(CreateDeploymentCommand).resolves({ deploymentId });
    codeDeploy.on(GetDeploymentCommand).resolves(info);
  }

  describe("shiftTraffic", () => {
    it("starts no deployment when the alias already points at the target version", async () => {
      lambda.on(GetAliasCommand).resolves({ FunctionVersion: "4" });

      const state = await shiftTraffic(INPUT, clients(), {
        ...fakeTime(),
        previousDeploymentId: "d-PREVIOUS",
      });

      assert.equal(codeDeploy.calls().length, 0);
      assert.equal(state.currentVersion, "4");
      assert.equal(state.deploymentId, "d-PREVIOUS");
    });

    it("deploys an AppSpec that moves the alias from its current version to the target, with both hooks", async () => {
      lambda
        .on(GetAliasCommand, { FunctionName: INPUT.functionName, Name: "live" })
        .resolves({ FunctionVersion: "3" });
      codeDeploy.on(CreateDeploymentCommand).resolves({ deploymentId: "d-SUCCESS" });
      codeDeploy.on(GetDeploymentCommand).resolves({ deploymentInfo: { status: "Succeeded" } });

      const state = await shiftTraffic(INPUT, clients(), fakeTime());

      const [create] = codeDeploy.commandCalls(CreateDeploymentCommand);
      const request = create.args[0].input;
      assert.equal(request.applicationName, "platform-prod-deploy");
      assert.equal(request.deploymentGroupName, "platform-prod-users-list");
      assert.equal(request.revision?.revisionType, "AppSpecContent");
      const content = request.revision?.appSpecContent?.content ?? "";
      assert.deepEqual(JSON.parse(content), {
        version: "0.0",
        Resources: [
          {
            "platform-prod-users-list": {
              Type: "AWS::Lambda::Function",
              Properties: {
                Name: "platform-prod-users-list",
                Alias: "live",
                CurrentVersion: "3",
                TargetVersion: "4",
              },
            },
          },
        ],
        Hooks: [
          { BeforeAllowTraffic: "CodeDeployHook_platform-prod-users-list-pre" },
          { AfterAllowTraffic: "CodeDeployHook_platform-prod-users-list-post" },
        ],
      });
      assert.equal(state.currentVersion, "4");
      assert.equal(state.deploymentId, "d-SUCCESS");
    });

    it("writes no Hooks section when no hook is configured", async () => {
      deploysFromVersion3("d-NOHOOKS", { deploymentInfo: { status: "Succeeded" } });
      const { beforeAllowTrafficHook: _pre, afterAllowTrafficHook: _post, ...noHooks } = INPUT;

      await shiftTraffic(noHooks, clients(), fakeTime());

      const content = codeDeploy.commandCalls(CreateDeploymentCommand)[0].args[0].input.revision
        ?.appSpecContent?.content as string;
      assert.equal("Hooks" in JSON.parse(content), false);
    });

    it("polls with a growing interval until CodeDeploy reports Succeeded", async () => {
      lambda.on(GetAliasCommand).resolves({ FunctionVersion: "3" });
      codeDeploy.on(CreateDeploymentCommand).resolves({ deploymentId: "d-POLL" });
      codeDeploy
        .on(GetDeploymentCommand, { deploymentId: "d-POLL" })
        .resolvesOnce({ deploymentInfo: { status: "Created" } })
        .resolvesOnce({ deploymentInfo: { status: "InProgress" } })
        .resolvesOnce({ deploymentInfo: { status: "InProgress" } })
        .resolves({ deploymentInfo: { status: "Succeeded" } });
      const time = fakeTime();

      await shiftTraffic(INPUT, clients(), time);

      assert.deepEqual(time.sleeps, [15_000, 22_500, 33_750]);
      assert.equal(codeDeploy.commandCalls(GetDeploymentCommand).length, 4);
    });

    it("fails naming the deployment and the alarms in ALARM when CodeDeploy stops on an alarm", async () => {
      deploysFromVersion3("d-ALARM", {
        deploymentInfo: {
          status: "Stopped",
          errorInformation: { code: "ALARM_ACTIVE", message: ALARM_MESSAGE },
          rollbackInfo: { rollbackDeploymentId: "d-ROLLBACK" },
        },
      });

      await assert.rejects(shiftTraffic(INPUT, clients(), fakeTime()), (error: Error) => {
        assert.match(error.message, /CodeDeploy deployment d-ALARM of platform-prod-users-list:live/);
        assert.match(error.message, /version 3 -> 4\) was stopped/);
        assert.match(
          error.message,
          /alarm\(s\) in ALARM: platform-prod-users-list-errors, platform-prod-api-5xx/,
        );
        assert.match(error.message, /rolls the alias back to version 3 \(rollback deployment d-ROLLBACK\)/);
        return true;
      });
    });

    it("fails naming the lifecycle hook that failed and its function", async () => {
      deploysFromVersion3("d-HOOK", {
        deploymentInfo: {
          status: "Failed",
          errorInformation: {
            code: "HOOK_EXECUTION_FAILURE",
            message: "Lifecycle event hook BeforeAllowTraffic failed.",
          },
        },
      });
      codeDeploy
        .on(ListDeploymentTargetsCommand, { deploymentId: "d-HOOK" })
        .resolves({ targetIds: ["platform-prod-users-list:live"] });
      codeDeploy
        .on(GetDeploymentTargetCommand, { deploymentId: "d-HOOK", targetId: "platform-prod-users-list:live" })
        .resolves({
          deploymentTarget: {
            deploymentTargetType: "LambdaTarget",
            lambdaTarget: {
              lifecycleEvents: [
                { lifecycleEventName: "Start", status: "Succeeded" },
                {
                  lifecycleEventName: "BeforeAllowTraffic",
                  status: "Failed",
                  diagnostics: { errorCode: "ScriptFailed", message: "The hook reported Failed" },
                },
                { lifecycleEventName: "AllowTraffic", status: "Skipped" },
              ],
            },
          },
        });

      await assert.rejects(shiftTraffic(INPUT, clients(), fakeTime()), (error: Error) => {
        assert.match(error.message, /CodeDeploy deployment d-HOOK of .* failed/);
        assert.match(
          error.message,
          /lifecycle hook BeforeAllowTraffic \(CodeDeployHook_platform-prod-users-list-pre\) failed: The hook reported Failed/,
        );
        assert.match(error.message, /HOOK_EXECUTION_FAILURE/);
        return true;
      });
    });

    it("fails with CodeDeploy's error information when the deployment is stopped", async () => {
      deploysFromVersion3("d-STOPPED", {
        deploymentInfo: {
          status: "Stopped",
          errorInformation: { code: "MANUAL_STOP", message: "The deployment was stopped by a user." },
        },
      });

      await assert.rejects(
        shiftTraffic(INPUT, clients(), fakeTime()),
        /CodeDeploy deployment d-STOPPED of .* was stopped; MANUAL_STOP: The deployment was stopped by a user\./,
      );
    });

    it("stops the deployment with automatic rollback and fails when it outlasts the timeout", async () => {
      deploysFromVersion3("d-SLOW", { deploymentInfo: { status: "InProgress" } });
      codeDeploy.on(StopDeploymentCommand).resolves({ status: "Pending", statusMessage: "Stopping" });
      const time = fakeTime();

      await assert.rejects(
        shiftTraffic({ ...INPUT, timeoutSeconds: 60 }, clients(), time),
        /d-SLOW of .* did not finish within 60s \(last status InProgress\); stopped it with automatic rollback \(Pending: Stopping\)/,
      );
      const stops = codeDeploy.commandCalls(StopDeploymentCommand);
      assert.equal(stops.length, 1);
      assert.deepEqual(stops[0].args[0].input, { deploymentId: "d-SLOW", autoRollbackEnabled: true });
      assert.equal(
        time.sleeps.reduce((total, ms) => total + ms, 0),
        60_000,
        "never sleeps past the deadline",
      );
    });

    it("retries throttled API calls with backoff, then succeeds", async () => {
      lambda
        .on(GetAliasCommand)
        .rejectsOnce(new TooManyRequestsException({ message: "Rate exceeded", $metadata: {} }))
        .resolves({ FunctionVersion: "3" });
      codeDeploy
        .on(CreateDeploymentCommand)
        .rejectsOnce(throttling())
        .rejectsOnce(throttling())
        .resolves({ deploymentId: "d-THROTTLED" });
      codeDeploy
        .on(GetDeploymentCommand)
        .rejectsOnce(throttling())
        .resolves({ deploymentInfo: { status: "Succeeded" } });
      const time = fakeTime();

      const state = await shiftTraffic(INPUT, clients(), time);

      assert.equal(state.deploymentId, "d-THROTTLED");
      assert.equal(lambda.commandCalls(GetAliasCommand).length, 2);
      assert.equal(codeDeploy.commandCalls(CreateDeploymentCommand).length, 3);
      assert.equal(codeDeploy.commandCalls(GetDeploymentCommand).length, 2);
      assert.deepEqual(time.sleeps, [1_000, 1_000, 2_000, 1_000]);
    });

    it("does not retry an error that is not throttling", async () => {
      lambda.on(GetAliasCommand).resolves({ FunctionVersion: "3" });
      codeDeploy.on(CreateDeploymentCommand).rejects(
        new DeploymentLimitExceededException({
          message: "The deployment group already has an active deployment",
          $metadata: {},
        }),
      );

      await assert.rejects(
        shiftTraffic(INPUT, clients(), fakeTime()),
        /Could not start a CodeDeploy deployment of platform-prod-users-list:live \(version 3 -> 4\) .*DeploymentLimitExceededException/,
      );
      assert.equal(codeDeploy.commandCalls(CreateDeploymentCommand).length, 1);
    });

    it("gives up on throttling after the configured number of attempts", async () => {
      lambda.on(GetAliasCommand).rejects(throttling());

      await assert.rejects(
        shiftTraffic(INPUT, clients(), { ...fakeTime(), throttleAttempts: 3 }),
        /Rate exceeded/,
      );
      assert.equal(lambda.commandCalls(GetAliasCommand).length, 3);
    });
  });

  describe("isThrottlingError", () => {
    it("recognises throttling by error name, HTTP 429 and the 'Rate exceeded' message", () => {
      assert.equal(isThrottlingError(throttling()), true);
      assert.equal(isThrottlingError(new TooManyRequestsException({ message: "x", $metadata: {} })), true);
      assert.equal(isThrottlingError({ name: "Whatever", $metadata: { httpStatusCode: 429 } }), true);
      assert.equal(isThrottlingError(new Error("Rate exceeded")), true);
      assert.equal(isThrottlingError(new Error("AccessDenied")), false);
      assert.equal(isThrottlingError(undefined), false);
    });
  });

  describe("provider", () => {
    const state: TrafficShiftState = { ...INPUT, currentVersion: "4", deploymentId: "d-1" };

    it("reports no change when only hooks, timeout or poll interval change", () => {
      const diff = diffTrafficShift(state, {
        ...INPUT,
        beforeAllowTrafficHook: "CodeDeployHook_other",
        afterAllowTrafficHook: undefined,
        timeoutSeconds: 7200,
        pollIntervalSeconds: 30,
      });
      assert.equal(diff.changes, false);
    });

    it("reports an in-place change when the target version changes", () => {
      const diff = diffTrafficShift(state, { ...INPUT, targetVersion: "5" });
      assert.equal(diff.changes, true);
      assert.deepEqual(diff.replaces, []);
    });

    it("replaces the shift when the function or alias is another one", () => {
      const diff = diffTrafficShift(state, { ...INPUT, functionName: "platform-prod-users-get" });
      assert.equal(diff.changes, true);
      assert.deepEqual(diff.replaces, ["functionName"]);
    });

    it("creates by recording the alias's version, without a deployment", async () => {
      lambda.on(GetAliasCommand).resolves({ FunctionVersion: "1" });

      const result = await trafficShiftProvider.create({ ...INPUT, targetVersion: "1" });

      assert.equal(result.id, "platform-prod-users-list:live");
      assert.equal(result.outs?.currentVersion, "1");
      assert.equal(codeDeploy.calls().length, 0);
    });

    it("serializes to a closure that captures no Pulumi, clients or other modules", async () => {
      const provider = trafficShiftProvider;
      const serialized = await pulumi.runtime.serializeFunction(() => provider);

      assert.doesNotMatch(serialized.text, /@pulumi\/pulumi|require\("\.{1,2}\//);
      const requires = [...serialized.text.matchAll(/require\("([^"]+)"\)/g)].map((match) => match[1]);
      assert.deepEqual([...new Set(requires)].sort(), [
        "@aws-sdk/client-codedeploy",
        "@aws-sdk/client-lambda",
      ]);
      // Clients are only constructed inside createClients, at call time.
      assert.equal(serialized.text.match(/new CodeDeployClient\(/g)?.length, 1);
      assert.ok(serialized.text.length < 40_000, `closure is ${serialized.text.length} characters`);
    });

    it("runs a traffic shift from its serialized closure, as the engine's provider host does", async () => {
      const provider = trafficShiftProvider;
      const { text, exportName } = await pulumi.runtime.serializeFunction(() => provider);
      const module = { exports: {} as Record<string, () => typeof provider> };
      vm.runInThisContext(`(function (exports, require, module) {\n${text}\n})`)(
        module.exports,
        require,
        module,
      );
      const revived = module.exports[exportName]();
      deploysFromVersion3("d-REVIVED", { deploymentInfo: { status: "Succeeded" } });

      const diff = await revived.diff?.("id", state, { ...INPUT, targetVersion: "5" });
      const result = await revived.update?.("id", { ...state, currentVersion: "3" }, INPUT);

      assert.equal(diff?.changes, true);
      assert.equal(result?.outs?.deploymentId, "d-REVIVED");
      assert.equal(result?.outs?.currentVersion, "4");
    });
  });

  describe("resource", () => {
    it("registers a dynamic resource with the timeout and poll interval defaults", async () => {
      const { resources } = await record(
        () =>
          new TrafficShift("shift-defaults", {
            region: "us-east-1",
            applicationName: "app",
            deploymentGroupName: "group",
            functionName: "fn",
            aliasName: "live",
            targetVersion: "1",
          }),
      );
      const shift = resources.find((r) => r.name === "shift-defaults");
      assert.equal(shift?.type, "pulumi-nodejs:dynamic/platform:TrafficShift");
      assert.equal(shift?.inputs.timeoutSeconds, 3600);
      assert.equal(shift?.inputs.pollIntervalSeconds, 15);
      assert.equal(typeof shift?.inputs.__provider, "string");
    });

    it("rejects a timeout under a minute, naming the field", () => {
      assert.throws(
        () =>
          new TrafficShift("shift-bad-timeout", {
            region: "us-east-1",
            applicationName: "app",
            deploymentGroupName: "group",
            functionName: "fn",
            aliasName: "live",
            targetVersion: "1",
            timeoutSeconds: 30,
          }),
        /TrafficShift shift-bad-timeout: timeoutSeconds must be an integer from 60/,
      );
    });
  });
});
