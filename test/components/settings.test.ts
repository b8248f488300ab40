import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { applicationBoundaryName } from "../../components/delivery-pipeline-permissions";
import {
  describeLambdaInsightsLayer,
  LAMBDA_INSIGHTS_LAYERS,
  type LambdaInsightsArchitecture,
} from "../../components/lambda-insights";
import { AWS_REGIONS, parseSettings, SETTINGS_FIELDS, SettingsError } from "../../components/settings";

const root = path.resolve(__dirname, "..", "..");
const readYaml = (file: string) => parseYaml(fs.readFileSync(path.join(root, file), "utf8"));

/** Stack-file config as Pulumi hands it to the program: strings, arrays as JSON text. */
function stackRaw(file: string): Record<string, string> {
  const config = readYaml(file).config as Record<string, unknown>;
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    if (key.startsWith("platform:"))
      raw[key.slice(9)] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return raw;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SettingsError, `expected SettingsError, got ${error}`);
    return error.problems;
  }
  assert.fail("expected the settings to be rejected");
}

const base = { stage: "dev", regions: '["us-east-1"]' };

describe("settings", () => {
  it("parses the dev stack file into dev settings", () => {
    const settings = parseSettings(stackRaw("Pulumi.dev.yaml"), { stack: "dev", region: "us-east-1" });
    assert.equal(settings.stage, "dev");
    assert.deepEqual(settings.regions, ["us-east-1"]);
    assert.equal(settings.lambda.provisionedConcurrency, 0);
    assert.equal(settings.table.encryption, "aws-owned");
    assert.equal(settings.deployment.type, "AllAtOnce");
  });

  it("parses the prod stack file into three regions, the first primary", () => {
    const settings = parseSettings(stackRaw("Pulumi.prod.yaml"), { stack: "prod", region: "us-east-1" });
    assert.deepEqual(settings.regions, ["us-east-1", "us-west-2", "eu-west-1"]);
    assert.equal(settings.primaryRegion, "us-east-1");
  });

  it("makes dev and prod differ in every setting the stage should", () => {
    const dev = parseSettings(stackRaw("Pulumi.dev.yaml"), { stack: "dev", region: "us-east-1" });
    const prod = parseSettings(stackRaw("Pulumi.prod.yaml"), { stack: "prod", region: "us-east-1" });
    assert.notEqual(dev.lambda.memoryMb, prod.lambda.memoryMb);
    assert.notEqual(dev.lambda.timeoutSeconds, prod.lambda.timeoutSeconds);
    assert.notEqual(dev.logRetentionDays, prod.logRetentionDays);
    assert.notEqual(dev.lambda.provisionedConcurrency, prod.lambda.provisionedConcurrency);
    assert.notEqual(dev.table.deletionProtection, prod.table.deletionProtection);
    assert.notEqual(dev.table.encryption, prod.table.encryption);
    assert.notDeepEqual(dev.api.throttle, prod.api.throttle);
    assert.notEqual(dev.regions.length, prod.regions.length);
    assert.notEqual(dev.deployment.type, prod.deployment.type);
  });

  it("declares every settings key in Pulumi.yaml with the same default", () => {
    const declared = readYaml("Pulumi.yaml").config as Record<string, { default?: unknown; type: string }>;
    for (const [key, field] of Object.entries(SETTINGS_FIELDS)) {
      const spec = declared[`platform:${key}`];
      assert.ok(spec, `Pulumi.yaml does not declare platform:${key}`);
      assert.equal(spec.type, field.kind, `platform:${key} type`);
      assert.deepEqual(
        spec.default,
        "default" in field ? field.default : undefined,
        `platform:${key} default`,
      );
    }
    for (const key of Object.keys(declared)) {
      assert.ok(key.replace("platform:", "") in SETTINGS_FIELDS, `${key} is declared but never read`);
    }
  });

  it("uses only declared keys in the stack files", () => {
    for (const file of ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]) {
      for (const key of Object.keys(stackRaw(file))) {
        assert.ok(key in SETTINGS_FIELDS, `${file} sets platform:${key}, which is not declared`);
      }
    }
  });

  it("sets no role boundary by default", () => {
    assert.equal(parseSettings(base, { stack: "dev" }).roleBoundary, undefined);
  });

  it("takes a role boundary as a policy name or a policy ARN", () => {
    for (const roleBoundary of [
      "platform-application-boundary",
      "arn:aws:iam::123456789012:policy/platform-application-boundary",
      "arn:aws-us-gov:iam::123456789012:policy/team/boundary",
    ]) {
      assert.equal(parseSettings({ ...base, roleBoundary }, { stack: "dev" }).roleBoundary, roleBoundary);
    }
  });

  it("rejects a role boundary that is neither a policy name nor a policy ARN, naming the key and the allowed forms", () => {
    const problems = problemsOf(() =>
      parseSettings({ ...base, roleBoundary: "arn:aws:iam::123456789012:role/admin" }, { stack: "dev" }),
    );
    assert.deepEqual(problems, [
      'platform:roleBoundary must be "" (no boundary), a customer-managed policy name of this account (the pipeline stack\'s is <app>-application-boundary) or a policy ARN (arn:aws:iam::123456789012:policy/name) (got "arn:aws:iam::123456789012:role/admin")',
    ]);
  });

  it("sets the pipeline's application boundary in the stages it rolls out", () => {
    for (const [file, stack] of [
      ["Pulumi.dev.yaml", "dev"],
      ["Pulumi.prod.yaml", "prod"],
    ]) {
      const settings = parseSettings(stackRaw(file), { stack, region: "us-east-1" });
      assert.equal(settings.roleBoundary, applicationBoundaryName(settings.app), file);
    }
  });

  it("rejects negative memory, naming the key and the allowed range", () => {
    const problems = problemsOf(() => parseSettings({ ...base, memoryMb: "-1" }, { stack: "dev" }));
    assert.deepEqual(problems, ['platform:memoryMb must be an integer from 128 to 10240 (got "-1")']);
  });

  it("rejects an unknown deployment type, listing the allowed ones", () => {
    const [problem] = problemsOf(() =>
      parseSettings({ ...base, deploymentType: "Canary50" }, { stack: "dev" }),
    );
    assert.match(
      problem,
      /^platform:deploymentType must be one of AllAtOnce, Canary10Percent5Minutes, .*Linear10PercentEvery10Minutes \(got "Canary50"\)$/,
    );
  });

  it("rejects an unknown region in platform:regions", () => {
    const [problem] = problemsOf(() =>
      parseSettings({ ...base, regions: '["us-east-1","mars-1"]' }, { stack: "dev" }),
    );
    assert.match(
      problem,
      /^platform:regions must be a non-empty list without repeats of one of us-east-1, .* \(got "\[\\"us-east-1\\",\\"mars-1\\"\]"\)$/,
    );
  });

  it("rejects a timeout above 29 s, saying why", () => {
    const [problem] = problemsOf(() => parseSettings({ ...base, timeoutSeconds: "30" }, { stack: "dev" }));
    assert.match(problem, /^platform:timeoutSeconds must be an integer from 1 to 29 \(API Gateway ends/);
  });

  it("rejects a stack region that is not one of the stage's regions", () => {
    const [problem] = problemsOf(() => parseSettings(base, { stack: "dev", region: "eu-west-1" }));
    assert.equal(
      problem,
      'aws:region must be one of the stage\'s platform:regions us-east-1 (got "eu-west-1")',
    );
  });

  it("reports a missing required key", () => {
    const [problem] = problemsOf(() => parseSettings({ regions: '["us-east-1"]' }, { stack: "dev" }));
    assert.match(problem, /^platform:stage is required: /);
  });

  it("reports every bad key at once", () => {
    const problems = problemsOf(() =>
      parseSettings(
        { ...base, memoryMb: "64", deletionProtection: "yes", logRetentionDays: "10" },
        { stack: "dev" },
      ),
    );
    assert.deepEqual(
      problems.map((p) => p.split(" ")[0]),
      ["platform:memoryMb", "platform:logRetentionDays", "platform:deletionProtection"],
    );
  });

  it("rejects a burst limit below the rate limit", () => {
    const [problem] = problemsOf(() =>
      parseSettings({ ...base, throttleRateLimit: "100", throttleBurstLimit: "10" }, { stack: "dev" }),
    );
    assert.match(problem, /^platform:throttleBurstLimit must be at least platform:throttleRateLimit/);
  });

  it("names the stack in the error message", () => {
    assert.throws(
      () => parseSettings({ ...base, memoryMb: "0" }, { stack: "prod" }),
      /^SettingsError: Invalid config for stack "prod"/,
    );
  });

  it("creates the account-wide budget from the primary region stack only", () => {
    const raw = stackRaw("Pulumi.prod.yaml");
    const primary = parseSettings(raw, { stack: "prod", region: "us-east-1" });
    const secondary = parseSettings(raw, { stack: "prod-eu-west-1", region: "eu-west-1" });
    assert.deepEqual(primary.monitoring.budget, { monthlyLimitUsd: 500, thresholdPercent: 80 });
    assert.equal(secondary.monitoring.budget, undefined);
  });

  it("picks the Lambda Insights layer of each prod region stack from the table", () => {
    const raw = stackRaw("Pulumi.prod.yaml");
    for (const region of ["us-east-1", "us-west-2", "eu-west-1"]) {
      const settings = parseSettings(raw, { stack: `prod-${region}`, region });
      assert.equal(settings.monitoring.lambdaInsightsLayerArn, LAMBDA_INSIGHTS_LAYERS.arm64[region], region);
    }
  });

  it("picks the x86_64 layer for an x86_64 stage", () => {
    const settings = parseSettings(
      { ...base, architecture: "x86_64", lambdaInsights: "true" },
      { stack: "dev", region: "us-east-1" },
    );
    assert.deepEqual(describeLambdaInsightsLayer(String(settings.monitoring.lambdaInsightsLayerArn)), {
      region: "us-east-1",
      architecture: "x86_64",
    });
  });

  it("adds no Lambda Insights layer unless platform:lambdaInsights is true", () => {
    assert.equal(parseSettings(base, { stack: "dev" }).monitoring.lambdaInsightsLayerArn, undefined);
  });

  it("rejects Lambda Insights in a region without a layer for the architecture, naming the key and where layers exist", () => {
    const [problem] = problemsOf(() =>
      parseSettings({ ...base, regions: '["mx-central-1"]', lambdaInsights: "true" }, { stack: "dev" }),
    );
    assert.match(
      problem,
      /^platform:lambdaInsights is true, but Lambda Insights [\d.]+ has no arm64 layer in mx-central-1: .*\(arm64 layers exist in us-east-1, /,
    );
  });

  it("keeps every Lambda Insights layer in the table in its own region and architecture", () => {
    for (const [architecture, layers] of Object.entries(LAMBDA_INSIGHTS_LAYERS)) {
      for (const [region, arn] of Object.entries(layers)) {
        assert.ok((AWS_REGIONS as readonly string[]).includes(region), `${region} is not a platform region`);
        assert.deepEqual(describeLambdaInsightsLayer(arn), {
          region,
          architecture: architecture as LambdaInsightsArchitecture,
        });
      }
    }
  });

  it("rejects nodejs20.x, past end of life, naming the key and the allowed runtimes", () => {
    const [problem] = problemsOf(() => parseSettings({ ...base, runtime: "nodejs20.x" }, { stack: "dev" }));
    assert.match(
      problem,
      /^platform:runtime must be one of nodejs22\.x, nodejs24\.x .*end of life.* \(got "nodejs20\.x"\)$/,
    );
  });

  it("defaults the runtime to nodejs22.x and accepts nodejs24.x", () => {
    assert.equal(parseSettings(base, { stack: "dev" }).lambda.runtime, "nodejs22.x");
    assert.equal(
      parseSettings({ ...base, runtime: "nodejs24.x" }, { stack: "dev" }).lambda.runtime,
      "nodejs24.x",
    );
  });

  it("subscribes no placeholder address in the stack files", () => {
    for (const file of ["Pulumi.dev.yaml", "Pulumi.prod.yaml"]) {
      const { alarmEmails } = parseSettings(stackRaw(file), { stack: file }).monitoring;
      assert.ok(
        alarmEmails.every((email) => !/@example\.(com|org|net)$/i.test(email)),
        `${file} subscribes ${alarmEmails.join(", ")}`,
      );
    }
  });

  it("reads a drift schedule, and none when it is empty", () => {
    const scheduled = parseSettings({ ...base, driftSchedule: "0 */6 * * *" }, { stack: "dev" });
    assert.equal(scheduled.rollout.driftSchedule, "0 */6 * * *");
    assert.equal(parseSettings(base, { stack: "dev" }).rollout.driftSchedule, undefined);
  });

  it("rejects a drift schedule that is not a cron expression, naming the key and the form", () => {
    for (const driftSchedule of ["every 6 hours", "0 */6 * *", "0 99 * * *"]) {
      const [problem] = problemsOf(() => parseSettings({ ...base, driftSchedule }, { stack: "dev" }));
      assert.match(problem, /^platform:driftSchedule must be a cron expression of 5 or 6 fields/);
    }
  });

  it("rejects an alarm email that is not an address", () => {
    const [problem] = problemsOf(() =>
      parseSettings({ ...base, alarmEmails: '["oncall"]' }, { stack: "dev" }),
    );
    assert.match(problem, /^platform:alarmEmails must be a list of email addresses/);
  });
});
