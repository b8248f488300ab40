import * as assert from "node:assert/strict";
import { planStack } from "../../automation/plan/plan";
import { projectDirOf } from "../../automation/plan/projects";
import type { PlanResult } from "../../automation/plan/types";
import {
  evaluatePlan,
  type PolicyReport,
  resolvePolicyConfig,
  type Violation,
} from "../../automation/policy/evaluate";
import { DEPLOY_STAR_ACTIONS } from "../../components/delivery-pipeline-permissions";
import { DEFAULT_STAR_RESOURCE_ACTIONS } from "../../policy/iam";
import { type PackServer, startPackServer } from "./analyzer-server";
import { changed, happyStack } from "./factories";
import { planOf, UNKNOWN } from "./util";

const pairs = (report: PolicyReport, level: "advisory" | "mandatory") =>
  report.violations
    .filter((violation) => violation.enforcementLevel === level)
    .map((violation) => `${violation.policyName} ${violation.resourceName}`)
    .sort();

const plans: Record<string, Promise<PlanResult>> = {};
/** Each stack is planned once for all the tests of this file. */
function planOnce(stack: string, programPath?: string): Promise<PlanResult> {
  const key = `${stack} ${programPath ?? ""}`;
  plans[key] ??= planStack(stack, { programPath, projectDir: projectDirOf(stack) });
  return plans[key];
}
const BAD_PROGRAM = "test/fixtures/bad-program/index.ts";

describe("the policy pack on the real stacks", () => {
  let dev: PolicyReport;
  let prod: PolicyReport;
  before(async function () {
    this.timeout(180_000); // two programs under the mock runtime, esbuild bundles included
    const [devPlan, prodPlan] = await Promise.all([planOnce("dev"), planOnce("prod")]);
    [dev, prod] = await Promise.all([evaluatePlan(devPlan), evaluatePlan(prodPlan)]);
  });

  it("finds no mandatory violation in dev", () => {
    assert.deepEqual(pairs(dev, "mandatory"), []);
    assert.equal(dev.mandatoryCount, 0);
  });

  it("finds no mandatory violation in prod", () => {
    assert.deepEqual(pairs(prod, "mandatory"), []);
    assert.equal(prod.mandatoryCount, 0);
  });

  it("reports only the expected advisories in dev: the table is not deletion-protected", () => {
    assert.deepEqual(pairs(dev, "advisory"), [
      "dynamodb-deletion-protection orders-idempotency-table-table",
      "dynamodb-deletion-protection orders-table-table",
      "dynamodb-deletion-protection users-table-table",
    ]);
    assert.equal(dev.advisoryCount, 3);
  });

  it("reports no advisory in prod", () => {
    assert.deepEqual(pairs(prod, "advisory"), []);
  });
});

describe("the policy pack on the pipeline stack", () => {
  let pipeline: PolicyReport;
  before(async function () {
    this.timeout(180_000);
    pipeline = await evaluatePlan(await planOnce("pipeline"));
  });

  it("finds no mandatory violation in the pipeline stack", () => {
    assert.deepEqual(pairs(pipeline, "mandatory"), []);
  });

  it("reports only the deploy role's documented breadth: service-wide actions in its policy and its boundary", () => {
    assert.deepEqual(pairs(pipeline, "advisory"), [
      "iam-no-wildcard-actions delivery-deploy-boundary",
      "iam-no-wildcard-actions delivery-deploy-policy",
    ]);
  });

  it("allows on Resource * exactly the pack's defaults and the deploy role's no-ARN actions (policy/config.pipeline.json)", () => {
    const allowed = resolvePolicyConfig("pipeline").resolved.get("iam-no-wildcard-resources")?.properties
      .allowedActions as string[];
    assert.deepEqual([...allowed].sort(), [...DEFAULT_STAR_RESOURCE_ACTIONS, ...DEPLOY_STAR_ACTIONS].sort());
  });
});

describe("the policy pack on a deliberately bad program", () => {
  let report: PolicyReport;
  before(async function () {
    this.timeout(180_000);
    report = await evaluatePlan(await planOnce("prod", BAD_PROGRAM));
  });

  it("reports exactly one mandatory violation per broken rule, on the resource that breaks it", () => {
    assert.deepEqual(pairs(report, "mandatory"), [
      "cloudwatch-log-group-retention bad-fn-logs",
      "dynamodb-point-in-time-recovery orders",
      "iam-managed-policy-allow-list admin-attachment",
      "iam-no-wildcard-actions wildcard-policy",
      "lambda-no-plaintext-secrets bad-fn",
      "lambda-permission-source-arn public-invoke",
    ]);
    assert.deepEqual(pairs(report, "advisory"), []);
    assert.equal(report.mandatoryCount, 6);
  });

  it("says what must change in each message", () => {
    const message = (policy: string) => report.violations.find((v) => v.policyName === policy)?.message ?? "";
    assert.match(
      message("iam-managed-policy-allow-list"),
      /AdministratorAccess grants .* grant only the exact actions/,
    );
    assert.match(message("iam-no-wildcard-actions"), /"s3:\*".*list the exact actions/);
    assert.match(message("lambda-permission-source-arn"), /any principal \("\*"\)/);
    assert.match(message("lambda-no-plaintext-secrets"), /DB_PASSWORD to a literal value/);
    assert.match(
      message("cloudwatch-log-group-retention"),
      /bad-fn-logs \(\/aws\/lambda\/bad-fn\), which holds the logs of Lambda function bad-fn, must set retentionInDays/,
    );
    assert.match(message("iam-managed-policy-allow-list"), /to IAM role admin-role \(bad-admin-role\)/);
    assert.match(message("lambda-permission-source-arn"), /invoke Lambda function bad-fn:/);
    assert.match(message("dynamodb-point-in-time-recovery"), /pointInTimeRecovery\.enabled/);
  });
});

/** Violations as comparable lines, in a stable order. */
const lines = (violations: Violation[]) =>
  violations.map((v) => `${v.enforcementLevel} ${v.policyName} ${v.urn} ${v.message}`).sort();

describe("the offline evaluator against @pulumi/policy's analyzer server", () => {
  let server: PackServer;
  before(async () => {
    server = await startPackServer();
  });
  after(() => server?.stop());

  // The same plan, config and levels: the server (what the engine talks to) must report the same.
  for (const [label, stack, programPath] of [
    ["dev", "dev", undefined],
    ["prod", "prod", undefined],
    ["the pipeline", "pipeline", undefined],
    ["the bad program", "prod", BAD_PROGRAM],
  ] as const) {
    it(`reports what the server reports for ${label}`, async () => {
      const plan = await planOnce(stack, programPath);
      const offline = await evaluatePlan(plan);
      const served = await server.analyzePlan(plan, resolvePolicyConfig(plan.stage).resolved);
      assert.deepEqual(lines(offline.violations), lines(served));
    });
  }

  it("reports what the server reports for values unknown during a preview, and for secrets", async () => {
    const secret = (value: unknown) => ({
      "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
      value,
    });
    let stack = changed(happyStack(), "fn", {
      timeout: UNKNOWN,
      loggingConfig: undefined,
      name: UNKNOWN,
      environment: { variables: { DB_PASSWORD: secret("hunter2"), TABLE_NAME: "users" } },
      architectures: secret(["x86_64"]),
    });
    stack = changed(stack, "get-health-method", { resourceId: UNKNOWN });
    stack = changed(stack, "fn-base", { policy: UNKNOWN });
    const plan = planOf(stack);
    const offline = await evaluatePlan(plan);
    const served = await server.analyzePlan(plan, resolvePolicyConfig(plan.stage).resolved);
    assert.ok(offline.advisoryCount > 0, "unknown values are reported as advisories");
    // @pulumi/policy unwraps secrets: a secret in an environment variable is a literal to a policy.
    assert.ok(offline.violations.some((v) => v.policyName === "lambda-no-plaintext-secrets"));
    assert.ok(offline.violations.some((v) => v.policyName === "lambda-arm64"));
    assert.deepEqual(lines(offline.violations), lines(served));
  });
});
