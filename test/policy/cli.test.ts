import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT } from "../../automation/commands/io";
import { policyCommand } from "../../automation/commands/policy";
import { planStack } from "../../automation/plan/plan";
import { UnknownStackError } from "../../automation/plan/stack-config";
import type { PlanResult } from "../../automation/plan/types";
import { runCommand } from "../helpers/cli";
import { changed, happyStack, unprotectedTable } from "./factories";
import { planOf } from "./util";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `platform policy ...` in-process (as automation/cli.ts runs commands) with recorded plans. */
async function policyCli(plans: Record<string, PlanResult>, ...argv: string[]): Promise<Run> {
  const register = policyCommand({
    planStack: async (stack) => {
      const plan = plans[stack];
      if (!plan) throw new UnknownStackError(stack, Object.keys(plans));
      return plan;
    },
  });
  return runCommand(register, ["policy", ...argv]);
}

/** A stack with a table without deletion protection: advisory in dev, mandatory in prod. */
function stagePlan(stage: "dev" | "prod"): PlanResult {
  const plan = planOf(happyStack().concat(unprotectedTable()));
  return { ...plan, stack: stage, stage };
}

/**
 * The structure GitHub code scanning (and other SARIF 2.1.0 consumers) require: the log's
 * $schema/version/runs, a driver with name, version, informationUri and rules (id and
 * shortDescription.text), and results whose ruleId/ruleIndex point at a rule, with a level,
 * message.text, a physical location with a relative artifact URI and region.startLine, and the
 * resource's URN as a logical location.
 */
function assertValidSarif(log: Record<string, unknown>): void {
  assert.equal(typeof log.$schema, "string");
  assert.match(String(log.$schema), /^https:\/\/.*sarif.*2\.1\.0.*\.json$/);
  assert.equal(log.version, "2.1.0");
  assert.ok(Array.isArray(log.runs) && log.runs.length === 1, "runs: one run");
  const run = (log.runs as Record<string, unknown>[])[0];
  const driver = (run.tool as { driver: Record<string, unknown> }).driver;
  for (const field of ["name", "version", "informationUri"])
    assert.equal(typeof driver[field], "string", `driver.${field}`);
  assert.match(String(driver.informationUri), /^https:\/\//);
  const rules = driver.rules as {
    id: string;
    shortDescription: { text: string };
    defaultConfiguration?: { level: string };
  }[];
  assert.ok(Array.isArray(rules) && rules.length > 0, "driver.rules");
  assert.equal(new Set(rules.map((rule) => rule.id)).size, rules.length, "rule ids are unique");
  for (const rule of rules) {
    assert.match(rule.id, /^[a-z0-9-]+$/);
    assert.ok(rule.shortDescription.text.length > 0, `${rule.id}: shortDescription.text`);
    if (rule.defaultConfiguration)
      assert.ok(["none", "note", "warning", "error"].includes(rule.defaultConfiguration.level));
  }
  assert.ok(Array.isArray(run.results), "run.results");
  for (const result of run.results as unknown[]) {
    const { ruleId, ruleIndex, level, message, locations } = result as {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: {
        physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
        logicalLocations: { fullyQualifiedName: string; kind: string }[];
      }[];
    };
    assert.equal(rules[ruleIndex]?.id, ruleId, "ruleIndex points at the rule");
    assert.ok(["warning", "error"].includes(level), `level ${level}`);
    assert.ok(message.text.length > 0, "message.text");
    assert.ok(locations.length >= 1 && locations.length <= 10, "1 to 10 locations");
    const location = locations[0];
    assert.ok(
      !path.isAbsolute(location.physicalLocation.artifactLocation.uri),
      "artifact URI relative to the repository",
    );
    assert.ok(
      Number.isInteger(location.physicalLocation.region.startLine) &&
        location.physicalLocation.region.startLine >= 1,
    );
    assert.match(location.logicalLocations[0].fullyQualifiedName, /^urn:pulumi:/);
  }
}

describe("platform policy (CLI)", () => {
  const plans = { dev: stagePlan("dev"), prod: stagePlan("prod") };

  it("prints violations grouped by policy with level and resource, and exits 0 on advisories only", async () => {
    const { code, stdout } = await policyCli(plans, "dev");
    assert.equal(code, EXIT.ok);
    assert.match(
      stdout,
      /Policy pack serverless-platform@0\.1\.0 on stack dev \(config policy\/config\.dev\.json\): 0 mandatory, 1 advisory/,
    );
    assert.match(
      stdout,
      /\ndynamodb-deletion-protection \[advisory\] \(1\)\n {2}Checks whether DynamoDB tables/,
    );
    assert.match(
      stdout,
      / {2}- users-table \(aws:dynamodb\/table:Table\): DynamoDB table users-table must set deletionProtectionEnabled/,
    );
  });

  it("exits 1 when a mandatory violation exists, after printing it", async () => {
    const { code, stdout, stderr } = await policyCli(plans, "prod");
    assert.equal(code, EXIT.failed);
    assert.match(stdout, /dynamodb-deletion-protection \[mandatory\]/);
    assert.match(stderr, /1 mandatory policy violation\(s\) on stack prod/);
  });

  it("prints the report as JSON with --format json", async () => {
    const { code, stdout } = await policyCli(plans, "prod", "--format", "json");
    assert.equal(code, EXIT.failed);
    const report = JSON.parse(stdout);
    assert.equal(report.stack, "prod");
    assert.equal(report.pack.name, "serverless-platform");
    assert.deepEqual([report.mandatoryCount, report.advisoryCount], [1, 0]);
    assert.deepEqual(Object.keys(report.violations[0]).sort(), [
      "enforcementLevel",
      "message",
      "policyName",
      "resourceName",
      "resourceType",
      "urn",
    ]);
  });

  it("prints SARIF 2.1.0 that code scanning accepts with --format sarif", async () => {
    const broken = {
      ...plans.prod,
      resources: planOf(changed(happyStack(), "fn", { tracingConfig: undefined, architectures: ["x86_64"] }))
        .resources,
    };
    const { code, stdout } = await policyCli({ prod: broken }, "prod", "--format", "sarif");
    assert.equal(code, EXIT.failed);
    const sarif = JSON.parse(stdout);
    assertValidSarif(sarif);
    const results = sarif.runs[0].results as {
      ruleId: string;
      level: string;
      locations: { physicalLocation: { artifactLocation: { uri: string } } }[];
    }[];
    assert.deepEqual(results.map((result) => `${result.ruleId}:${result.level}`).sort(), [
      "lambda-arm64:warning",
      "lambda-tracing-active:error",
    ]);
    assert.equal(results[0].locations[0].physicalLocation.artifactLocation.uri, "Pulumi.prod.yaml");
  });

  it("locates a SARIF result at the resource's engine URN (full type chain) in a real plan", async function () {
    this.timeout(120_000);
    const plan = await planStack("dev");
    const resources = plan.resources.map((resource) =>
      resource.name === "users-list-function"
        ? { ...resource, inputs: { ...resource.inputs, tracingConfig: { mode: "PassThrough" } } }
        : resource,
    );
    const { stdout } = await policyCli({ dev: { ...plan, resources } }, "dev", "--format", "sarif");
    const results = JSON.parse(stdout).runs[0].results as {
      ruleId: string;
      message: { text: string };
      locations: { logicalLocations: { fullyQualifiedName: string }[] }[];
      partialFingerprints: Record<string, string>;
    }[];
    const tracing = results.find((result) => result.ruleId === "lambda-tracing-active");
    const urn =
      "urn:pulumi:dev::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function";
    assert.equal(tracing?.locations[0].logicalLocations[0].fullyQualifiedName, urn);
    assert.equal(
      tracing?.partialFingerprints["pulumiPolicyViolation/v1"],
      createHash("sha256").update(`lambda-tracing-active\n${urn}\n${tracing?.message.text}`).digest("hex"),
    );
  });

  it("takes another config with --policy-pack-config", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-config-"));
    try {
      const file = path.join(dir, "strict.json");
      fs.writeFileSync(file, JSON.stringify({ all: "mandatory" }));
      const { code, stdout } = await policyCli(plans, "dev", "--policy-pack-config", file);
      assert.equal(code, EXIT.failed);
      assert.match(stdout, /dynamodb-deletion-protection \[mandatory\]/);
      fs.writeFileSync(file, JSON.stringify({ "dynamodb-encryption": { minimumKey: "none" } }));
      const invalid = await policyCli(plans, "dev", "--policy-pack-config", file);
      assert.equal(invalid.code, EXIT.usage);
      assert.match(invalid.stderr, /dynamodb-encryption: minimumKey: must be one of/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects an unknown format", async () => {
    const { code, stderr } = await policyCli(plans, "dev", "--format", "xml");
    assert.equal(code, EXIT.usage);
    assert.match(stderr, /Allowed choices are text, json, sarif/);
  });
});
