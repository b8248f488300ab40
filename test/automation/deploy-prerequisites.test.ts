import * as assert from "node:assert/strict";
import * as auto from "@pulumi/pulumi/automation";
import { EngineError, PrerequisiteEngineError, toEngineError } from "../../automation/engine/errors";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { PreviewOperationOptions, PreviewResult, StackRef } from "../../automation/engine/types";
import { runRollout } from "../../automation/rollout/orchestrator";
import { readStage, selectTargets } from "../../automation/rollout/targets";

/** Lambda's answer to PutProvisionedConcurrencyConfig in an account with the default quota, as the AWS provider reports it. */
const QUOTA_ERROR = [
  "error: sdk-v2/provider2.go:515: sdk.helper_schema: creating Lambda Provisioned Concurrency Config",
  "(app-prod-users-list,live): operation error Lambda: PutProvisionedConcurrencyConfig, https response",
  "error StatusCode: 400, RequestID: 7e3f98e7-e688-4029-aa0a-1e47ab0d3507, InvalidParameterValueException:",
  "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its",
  "minimum value of [10].: provider=aws@7.48.0",
].join("\n");

/** A CommandError as the Automation API raises it (its constructor is internal). */
function commandError(stderr: string): Error {
  return Reflect.construct(auto.CommandError, [{ stdout: "", stderr, code: 255, err: undefined }]) as Error;
}

const PROD = readStage("prod");

describe("deploy prerequisites", () => {
  it("names the concurrency quota and the way out when Lambda refuses provisioned concurrency", () => {
    const error = toEngineError(commandError(QUOTA_ERROR), "prod");
    assert.ok(error instanceof PrerequisiteEngineError);
    assert.match(error.message, /Lambda concurrency quota is too low for provisioned concurrency/);
    assert.match(error.message, /"Concurrent executions" \(Service Quotas code L-B99A9384\)/);
    assert.match(error.message, /platform:provisionedConcurrency: 0/);
    assert.match(error.message, /PutProvisionedConcurrencyConfig/, "the engine's own words are kept");
  });

  it("leaves other engine failures as they are", () => {
    const error = toEngineError(commandError("error: AccessDenied: not authorized"), "prod");
    assert.ok(!(error instanceof PrerequisiteEngineError));
    assert.equal(error.message, "error: AccessDenied: not authorized");
  });

  it("makes the rollout's failing gate name the prerequisite", async () => {
    const engine = new InMemoryEngine({ defaults: { failures: { up: QUOTA_ERROR } } });
    const report = await runRollout({
      engine,
      stage: "prod",
      targets: selectTargets(PROD),
      parallelism: 2,
      health: async () => {},
    });
    assert.equal(report.status, "failed");
    assert.equal(report.failure?.gate, "up");
    assert.match(report.failure?.message ?? "", /^the AWS account's Lambda concurrency quota is too low/);
    assert.match(report.failure?.message ?? "", /L-B99A9384.*platform:provisionedConcurrency: 0/s);
  });
});

/** Records the options of every preview. */
class PreviewSpy extends InMemoryEngine {
  readonly previews: PreviewOperationOptions[] = [];
  override preview(stack: StackRef, options: PreviewOperationOptions = {}): Promise<PreviewResult> {
    this.previews.push(options);
    return super.preview(stack, options);
  }
}

describe("the rollout's preview gate and new stacks", () => {
  it("never asks the engine to create a stack in a dry run", async () => {
    const engine = new PreviewSpy();
    await runRollout({ engine, stage: "prod", targets: selectTargets(PROD), parallelism: 2, dryRun: true });
    assert.equal(engine.previews.length, 3);
    assert.ok(engine.previews.every((options) => options.createStack === false));
  });

  it("lets a deployment create the stack it previews and deploys next", async () => {
    const engine = new PreviewSpy();
    await runRollout({
      engine,
      stage: "prod",
      targets: selectTargets(PROD, ["us-east-1"]),
      parallelism: 1,
      health: async () => {},
    });
    assert.deepEqual(
      engine.previews.map((options) => options.createStack),
      [true],
    );
  });

  it("keeps an EngineError's kind for the HTTP service", () => {
    assert.equal(new PrerequisiteEngineError("x", "y").httpStatus, new EngineError("failed", "z").httpStatus);
  });
});
