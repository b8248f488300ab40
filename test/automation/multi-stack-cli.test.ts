import * as assert from "node:assert/strict";
import { EXIT } from "../../automation/commands/io";
import { policyCommand } from "../../automation/commands/policy";
import { PlanError } from "../../automation/plan/plan";
import type { PlanResult } from "../../automation/plan/types";
import { readStage, selectTargets } from "../../automation/rollout/targets";
import { type CliRun, cli, runCommand } from "../helpers/cli";
import { happyStack, unprotectedTable } from "../policy/factories";
import { planOf } from "../policy/util";

interface FunctionJson {
  type: string;
  name: string;
  inputs: { memorySize?: number };
}

describe("platform plan with several stacks", () => {
  let dev: CliRun;
  let prod: CliRun;
  let prodThenDev: CliRun;
  let overridden: CliRun;
  let text: CliRun;
  before(async function () {
    this.timeout(240_000);
    // Eight plans at once in the shared planner's warm hosts.
    [dev, prod, prodThenDev, overridden, text] = await Promise.all([
      cli("plan", "dev", "--json"),
      cli("plan", "prod", "--json"),
      cli("plan", "prod", "dev", "--json"),
      cli("plan", "dev", "prod", "--config", "platform:memoryMb=512", "--json"),
      cli("plan", "dev", "pipeline"),
    ]);
  });

  it("prints a JSON array in the order of the arguments", () => {
    assert.equal(prodThenDev.code, EXIT.ok, prodThenDev.stderr);
    const plans = JSON.parse(prodThenDev.stdout) as { stack: string }[];
    assert.deepEqual(
      plans.map((plan) => plan.stack),
      ["prod", "dev"],
    );
  });

  it("gives each stack the plan a call of its own gives", () => {
    assert.deepEqual(JSON.parse(prodThenDev.stdout), [JSON.parse(prod.stdout), JSON.parse(dev.stdout)]);
  });

  it("applies --config to every stack named", () => {
    assert.equal(overridden.code, EXIT.ok, overridden.stderr);
    const plans = JSON.parse(overridden.stdout) as { stack: string; resources: FunctionJson[] }[];
    const memory = plans.map((plan) => {
      const list = plan.resources.find((resource) => resource.name === "users-list-function");
      return [plan.stack, list?.inputs.memorySize];
    });
    assert.deepEqual(memory, [
      ["dev", 512],
      ["prod", 512],
    ]);
  });

  it("prints each stack's text under a header naming it, and its warnings prefixed with the stack", () => {
    assert.equal(text.code, EXIT.ok, text.stderr);
    assert.match(text.stdout, /^==> stack dev \(1 of 2\) <==\nPlan of stack dev \(stage dev, /);
    assert.match(
      text.stdout,
      /\n\n==> stack pipeline \(2 of 2\) <==\nPlan of stack pipeline \(stage pipeline, /,
    );
    assert.match(text.stderr, /^warning: dev: /m);
  });
});

describe("platform cost with several stacks", () => {
  let dev: CliRun;
  let prodThenDev: CliRun;
  before(async function () {
    this.timeout(180_000);
    [dev, prodThenDev] = await Promise.all([
      cli("cost", "dev", "--json"),
      cli("cost", "prod", "dev", "--json"),
    ]);
  });

  it("prints an array of estimates in the order of the arguments, each as a call of its own prints", () => {
    assert.equal(prodThenDev.code, EXIT.ok, prodThenDev.stderr);
    const estimates = JSON.parse(prodThenDev.stdout) as { stack: string }[];
    assert.deepEqual(
      estimates.map((estimate) => estimate.stack),
      ["prod", "dev"],
    );
    assert.deepEqual(estimates[1], JSON.parse(dev.stdout));
  });
});

/** A recorded plan of `stack`: a clean stack, or one with a table without deletion protection. */
function recordedPlan(stack: string, stage: string, unprotected = false): PlanResult {
  return { ...planOf(unprotected ? happyStack().concat(unprotectedTable()) : happyStack()), stack, stage };
}

/** dev: an advisory violation; prod: a mandatory one; prod's region stacks: clean; pipeline: fails to plan. */
const PLANS: Record<string, PlanResult> = {
  dev: recordedPlan("dev", "dev", true),
  prod: recordedPlan("prod", "prod", true),
  "prod-us-west-2": recordedPlan("prod-us-west-2", "prod"),
  "prod-eu-west-1": recordedPlan("prod-eu-west-1", "prod"),
};

/** `platform policy ...` on recorded plans, remembering which stacks it planned. */
async function policy(...argv: string[]): Promise<CliRun & { planned: string[] }> {
  const planned: string[] = [];
  const register = policyCommand({
    planStack: async (stack) => {
      planned.push(stack);
      const plan = PLANS[stack];
      if (!plan) throw new PlanError(stack, "the program threw: recorded failure");
      return plan;
    },
  });
  return { ...(await runCommand(register, ["policy", ...argv])), planned };
}

describe("platform policy with several stacks", () => {
  it("prints one SARIF log with one run per stack, each run as a call of its own prints", async () => {
    const [several, dev, prod] = await Promise.all([
      policy("dev", "prod", "--format", "sarif"),
      policy("dev", "--format", "sarif"),
      policy("prod", "--format", "sarif"),
    ]);
    const log = JSON.parse(several.stdout);
    assert.equal(log.version, "2.1.0");
    assert.equal(log.$schema, JSON.parse(dev.stdout).$schema);
    assert.deepEqual(log.runs, [...JSON.parse(dev.stdout).runs, ...JSON.parse(prod.stdout).runs]);
    assert.deepEqual(
      log.runs.map((run: { automationDetails: { id: string } }) => run.automationDetails.id),
      ["platform-policy/dev/", "platform-policy/prod/"],
    );
  });

  it("exits 1 when one stack of several has a mandatory violation, after printing every stack", async () => {
    const run = await policy("dev", "prod");
    assert.equal(run.code, EXIT.failed);
    assert.match(run.stdout, /==> stack dev \(1 of 2\) <==\nPolicy pack .* on stack dev /);
    assert.match(run.stdout, /==> stack prod \(2 of 2\) <==\nPolicy pack .* on stack prod /);
    assert.match(run.stderr, /1 mandatory policy violation\(s\) on stack prod/);
    assert.doesNotMatch(run.stderr, /on stack dev/);
  });

  it("exits 2 naming an unknown stack and the known ones before planning any stack", async () => {
    const run = await policy("dev", "staging", "prod");
    assert.equal(run.code, EXIT.usage);
    assert.match(run.stderr, /unknown stack "staging": .*Stacks: dev, pipeline, prod, /);
    assert.deepEqual(run.planned, []);
    assert.equal(run.stdout, "");
  });

  it("exits 1 naming a stack that fails to plan, and still prints the other stacks", async () => {
    const run = await policy("dev", "pipeline", "prod-us-west-2", "--format", "json");
    assert.equal(run.code, EXIT.failed);
    assert.deepEqual(
      JSON.parse(run.stdout).map((report: { stack: string }) => report.stack),
      ["dev", "prod-us-west-2"],
    );
    assert.match(run.stderr, /Plan of stack "pipeline" failed:\nthe program threw: recorded failure/);
    assert.match(run.stderr, /error: stack pipeline failed/);
  });

  it("plans a stack named twice once", async () => {
    const run = await policy("dev", "dev", "--format", "json");
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.deepEqual(run.planned, ["dev"]);
    assert.equal(JSON.parse(run.stdout).length, 1);
  });

  it("expands a stage to its region stacks in rollout order with --all-regions", async () => {
    const rolloutOrder = selectTargets(readStage("prod")).map((target) => target.stackName);
    const run = await policy("prod", "--all-regions", "--format", "json");
    assert.ok(rolloutOrder.length > 1, "prod has region stacks");
    assert.deepEqual(run.planned, rolloutOrder);
    assert.deepEqual(
      JSON.parse(run.stdout).map((report: { stack: string }) => report.stack),
      rolloutOrder,
    );
    assert.equal(rolloutOrder[0], "prod", "the primary region's stack first");
  });
});
