import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
import {
  GetAliasCommand,
  LambdaClient,
  ResourceNotFoundException,
  TooManyRequestsException,
} from "@aws-sdk/client-lambda";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import {
  createClients,
  diffTrafficShift,
  isThrottlingError,
  settingsOfStackConfig,
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

    it("stops the deployment with automatic rollback and fails naming it when the shift is cancelled", async () => {
      deploysFromVersion3("d-CANCEL", { deploymentInfo: { status: "InProgress" } });
      codeDeploy.on(StopDeploymentCommand).resolves({ status: "Pending", statusMessage: "Stopping" });
      const controller = new AbortController();
      const time = fakeTime();
      const sleep = async (ms: number) => {
        await time.sleep(ms);
        if (time.sleeps.length === 2)
          controller.abort(new Error("the Pulumi engine interrupted the provider with SIGINT"));
      };

      await assert.rejects(
        shiftTraffic(INPUT, clients(), { ...time, sleep, signal: controller.signal }),
        new RegExp(
          "CodeDeploy deployment d-CANCEL of platform-prod-users-list:live \\(version 3 -> 4\\) was cancelled " +
            "\\(the Pulumi engine interrupted the provider with SIGINT\\) while InProgress; " +
            "stopped it with automatic rollback \\(Pending: Stopping\\), so the alias goes back to version 3",
        ),
      );
      const stops = codeDeploy.commandCalls(StopDeploymentCommand);
      assert.deepEqual(
        stops.map((call) => call.args[0].input),
        [{ deploymentId: "d-CANCEL", autoRollbackEnabled: true }],
      );
      assert.equal(codeDeploy.commandCalls(GetDeploymentCommand).length, 2, "no poll after the cancel");
    });

    it("starts no deployment when cancelled before one started", async () => {
      lambda.on(GetAliasCommand).resolves({ FunctionVersion: "3" });
      const controller = new AbortController();
      controller.abort(new Error("interrupted"));

      await assert.rejects(
        shiftTraffic(INPUT, clients(), { ...fakeTime(), signal: controller.signal }),
        /was cancelled \(interrupted\) before a CodeDeploy deployment started; the alias stays on version 3/,
      );
      assert.equal(codeDeploy.calls().length, 0);
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

    it("reports a change when a refresh found the alias on another version than the target", () => {
      const diff = diffTrafficShift({ ...state, currentVersion: "2" }, INPUT);
      assert.equal(diff.changes, true);
      assert.deepEqual(diff.replaces, []);
    });

    it("reports a change when the AWS identity changes, so that the new one is recorded", () => {
      const diff = diffTrafficShift(state, { ...INPUT, aws: { profile: "deployer" } });
      assert.equal(diff.changes, true);
      assert.deepEqual(diff.replaces, []);
    });

    it("reads the alias's live version and weights on refresh", async () => {
      lambda
        .on(GetAliasCommand, { FunctionName: INPUT.functionName, Name: "live" })
        .resolves({ FunctionVersion: "2", RoutingConfig: { AdditionalVersionWeights: { "3": 0.25 } } });

      const result = await trafficShiftProvider.read?.("platform-prod-users-list:live", state);

      assert.equal(result?.id, "platform-prod-users-list:live");
      assert.equal(result?.props?.currentVersion, "2");
      assert.deepEqual(result?.props?.additionalVersionWeights, { "3": 0.25 });
      assert.equal(result?.props?.targetVersion, "4", "the recorded target stays");
    });

    it("reads the same state when the alias is on the target version", async () => {
      lambda
        .on(GetAliasCommand)
        .resolves({ FunctionVersion: "4", RoutingConfig: { AdditionalVersionWeights: {} } });

      const result = await trafficShiftProvider.read?.("platform-prod-users-list:live", state);

      assert.deepEqual(result?.props, state);
    });

    it("reads no resource when the alias is gone", async () => {
      lambda
        .on(GetAliasCommand)
        .rejects(new ResourceNotFoundException({ message: "Alias not found", $metadata: {} }));

      const result = await trafficShiftProvider.read?.("platform-prod-users-list:live", state);

      assert.equal(result?.id, undefined);
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
        "@aws-sdk/client-sts",
        "@aws-sdk/credential-provider-ini",
      ]);
      // Every module the closure requires is a declared dependency: the provider host loads it
      // from the project's node_modules, where only declared packages are sure to be.
      const dependencies = JSON.parse(
        readFileSync(join(__dirname, "../../package.json"), "utf8"),
      ).dependencies;
      for (const name of requires)
        assert.ok(dependencies[name], `${name} is not in package.json dependencies`);
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

describe("TrafficShift interruption", () => {
  // The engine shuts a plugin down with SIGINT to its process group, then SIGKILL 5 s later; the
  // dynamic provider host ignores the engine's Cancel call. This runs the serialized provider in a
  // process of its own, as the host does, and interrupts it mid-canary.
  const CHILD = `
    const { mockClient } = require("aws-sdk-client-mock");
    const codedeploy = require("@aws-sdk/client-codedeploy");
    const lambda = require("@aws-sdk/client-lambda");
    mockClient(lambda.LambdaClient).on(lambda.GetAliasCommand).resolves({ FunctionVersion: "3" });
    const stub = mockClient(codedeploy.CodeDeployClient);
    stub.on(codedeploy.CreateDeploymentCommand).resolves({ deploymentId: "d-INTERRUPTED" });
    stub.on(codedeploy.GetDeploymentCommand).callsFake(() => {
      process.stdout.write("polling\\n");
      return { deploymentInfo: { status: "InProgress" } };
    });
    stub.on(codedeploy.StopDeploymentCommand).resolves({ status: "Pending", statusMessage: "Stopping" });
    const { text, exportName, input } = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    const module = { exports: {} };
    new Function("exports", "require", "module", text)(module.exports, require, module);
    const provider = module.exports[exportName]();
    provider.update("id", { ...input, currentVersion: "3" }, input).then(
      () => console.log(JSON.stringify({ outcome: "succeeded" })),
      (error) => console.log(JSON.stringify({
        outcome: "failed",
        message: error.message,
        stops: stub.commandCalls(codedeploy.StopDeploymentCommand).map((call) => call.args[0].input),
      })),
    );
  `;

  it("stops the CodeDeploy deployment with rollback when the engine interrupts the provider, then exits", async function () {
    this.timeout(20_000);
    const provider = trafficShiftProvider;
    const { text, exportName } = await pulumi.runtime.serializeFunction(() => provider);
    const child = spawn(process.execPath, ["-e", CHILD], {
      cwd: process.cwd(),
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.end(JSON.stringify({ text, exportName, input: INPUT }));
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        stdout += chunk;
        if (stdout.includes("polling")) resolve();
      });
      child.on("exit", () => reject(new Error(`child exited before polling: ${stderr}`)));
    });

    child.kill("SIGINT");
    const { code, signal } = await exited;

    const report = JSON.parse(stdout.split("\n").find((line) => line.startsWith("{")) ?? "{}");
    assert.equal(report.outcome, "failed");
    assert.deepEqual(report.stops, [{ deploymentId: "d-INTERRUPTED", autoRollbackEnabled: true }]);
    assert.match(
      report.message,
      /CodeDeploy deployment d-INTERRUPTED of .* was cancelled \(the Pulumi engine interrupted the provider with SIGINT\) while InProgress; stopped it with automatic rollback/,
    );
    assert.match(
      stderr,
      /TrafficShift: CodeDeploy deployment d-INTERRUPTED .* was cancelled/,
      "reported on stderr",
    );
    assert.deepEqual(
      { code, signal },
      { code: null, signal: "SIGINT" },
      "the process still ends on the signal",
    );
  });
});

describe("TrafficShift AWS identity", () => {
  it("signs CodeDeploy calls in the shift's region with the role assumed from the profile, passing the external id", async () => {
    const requests: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => {
        body += chunk;
      });
      request.on("end", () => {
        requests.push({ headers: request.headers, body });
        if (body.includes("Action=AssumeRole")) {
          response.writeHead(200, { "content-type": "text/xml" });
          response.end(
            `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>` +
              `<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>` +
              `<SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>` +
              `<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deployer/pulumi-deploy</Arn>` +
              `<AssumedRoleId>AROAEXAMPLE:pulumi-deploy</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>` +
              `<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          );
        } else {
          response.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
          response.end(JSON.stringify({ deploymentInfo: { deploymentId: "d-1", status: "Succeeded" } }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), "traffic-shift-aws-"));
    const saved = {
      credentials: process.env.AWS_SHARED_CREDENTIALS_FILE,
      config: process.env.AWS_CONFIG_FILE,
    };
    writeFileSync(
      join(dir, "credentials"),
      "[deployer]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n",
    );
    writeFileSync(join(dir, "config"), "");
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, "credentials");
    process.env.AWS_CONFIG_FILE = join(dir, "config");
    try {
      const clients = createClients("eu-west-1", {
        profile: "deployer",
        assumeRoles: [
          {
            roleArn: "arn:aws:iam::123456789012:role/deployer",
            sessionName: "pulumi-deploy",
            externalId: "ext-123",
          },
        ],
        endpoints: { codedeploy: url, lambda: url, sts: url },
      });

      const answer = await clients.codeDeploy.send(new GetDeploymentCommand({ deploymentId: "d-1" }));

      assert.equal(answer.deploymentInfo?.status, "Succeeded");
      const [assume, get] = requests;
      const form = new URLSearchParams(assume.body);
      assert.equal(form.get("RoleArn"), "arn:aws:iam::123456789012:role/deployer");
      assert.equal(form.get("RoleSessionName"), "pulumi-deploy");
      assert.equal(form.get("ExternalId"), "ext-123");
      assert.match(
        String(assume.headers.authorization),
        /Credential=AKIAPROFILE\/\d{8}\/eu-west-1\/sts\/aws4_request/,
      );
      assert.match(
        String(get.headers.authorization),
        /Credential=ASIAASSUMED\/\d{8}\/eu-west-1\/codedeploy\/aws4_request/,
      );
      assert.equal(get.headers["x-amz-security-token"], "assumed-token");
    } finally {
      for (const [key, value] of [
        ["AWS_SHARED_CREDENTIALS_FILE", saved.credentials],
        ["AWS_CONFIG_FILE", saved.config],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      rmSync(dir, { recursive: true, force: true });
      server.close();
    }
  });

  const SHIFT_ARGS = {
    region: "us-east-1",
    applicationName: "app",
    deploymentGroupName: "group",
    functionName: "fn",
    aliasName: "live",
    targetVersion: "1",
  };

  it("copies the stack's aws config (profile, assume-role chain, endpoints) into the shift's inputs", async () => {
    const saved = pulumi.runtime.allConfig();
    pulumi.runtime.setAllConfig({
      ...saved,
      "aws:profile": "deployer",
      "aws:assumeRoles": JSON.stringify([
        {
          roleArn: "arn:aws:iam::123456789012:role/deployer",
          sessionName: "pulumi",
          externalId: "ext-1",
          duration: "1h",
        },
      ]),
      "aws:endpoints": JSON.stringify([{ codedeploy: "http://localhost:4566", s3: "http://localhost:4566" }]),
    });
    try {
      const { get } = await record(() => new TrafficShift("shift-config-identity", SHIFT_ARGS));
      const shift = get("pulumi-nodejs:dynamic/platform:TrafficShift", "shift-config-identity");
      assert.deepEqual(shift.inputs.aws, {
        profile: "deployer",
        assumeRoles: [
          {
            roleArn: "arn:aws:iam::123456789012:role/deployer",
            sessionName: "pulumi",
            externalId: "ext-1",
            durationSeconds: 3600,
          },
        ],
        endpoints: { codedeploy: "http://localhost:4566" },
      });
    } finally {
      pulumi.runtime.setAllConfig(saved);
    }
  });

  it("keeps the external id and static keys secret", async () => {
    const saved = pulumi.runtime.allConfig();
    pulumi.runtime.setAllConfig({
      ...saved,
      "aws:accessKey": "AKIASTATIC",
      "aws:secretKey": "static-secret",
      "aws:assumeRoles": JSON.stringify([
        { roleArn: "arn:aws:iam::123456789012:role/deployer", externalId: "ext-1" },
      ]),
    });
    try {
      const settings = settingsOfStackConfig() as unknown as {
        secretKey: pulumi.Output<string>;
        accessKey: pulumi.Output<string>;
        assumeRoles: { roleArn: string; externalId: pulumi.Output<string> }[];
      };
      assert.equal(await pulumi.isSecret(settings.secretKey), true);
      assert.equal(await pulumi.isSecret(settings.accessKey), true);
      assert.equal(await pulumi.isSecret(settings.assumeRoles[0].externalId), true);
      assert.equal(settings.assumeRoles[0].roleArn, "arn:aws:iam::123456789012:role/deployer");
    } finally {
      pulumi.runtime.setAllConfig(saved);
    }
  });

  it("takes the region and identity of an explicit aws provider given to a parent", async () => {
    const { get } = await record(() => {
      const provider = new aws.Provider("shift-explicit-aws", { region: "ap-southeast-2", profile: "ops" });
      // What the aws provider's terraformConfig method answers (Terraform names); the mock runtime has no provider.
      Object.assign(provider, {
        terraformConfig: () =>
          pulumi.output({
            result: {
              region: "ap-southeast-2",
              profile: "ops",
              assume_role: [{ role_arn: "arn:aws:iam::210987654321:role/ops", session_name: "ops-deploy" }],
              endpoints: [],
            },
          }),
      });
      const parent = new pulumi.ComponentResource(
        "test:index:Parent",
        "shift-explicit-parent",
        {},
        { providers: [provider] },
      );
      return new TrafficShift("shift-explicit", SHIFT_ARGS, { parent });
    });
    const shift = get("pulumi-nodejs:dynamic/platform:TrafficShift", "shift-explicit");
    assert.equal(shift.inputs.region, "ap-southeast-2");
    assert.deepEqual(shift.inputs.aws, {
      profile: "ops",
      assumeRoles: [{ roleArn: "arn:aws:iam::210987654321:role/ops", sessionName: "ops-deploy" }],
    });
  });
});
