import * as assert from "node:assert/strict";
import type { CostEstimate } from "../../automation/cost/estimate";
import { diffCost, diffFindings, diffInputs, diffPlans, diffResources } from "../../automation/diff/compare";
import { MARKDOWN_MARKER, renderDiffMarkdown, renderDiffText } from "../../automation/diff/render";
import type { RecordedResource } from "../../automation/plan/mocks";
import type { PlanResult } from "../../automation/plan/types";
import type { PolicyReport, Violation } from "../../automation/policy/evaluate";

const STACK_URN = "urn:pulumi:dev::platform::pulumi:pulumi:Stack::platform-dev";
const urnOf = (type: string, name: string) =>
  `urn:pulumi:dev::platform::platform:lambda:ServerlessFunction$${type}::${name}`;

function resource(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Partial<RecordedResource> = {},
): RecordedResource {
  return {
    urn: urnOf(type, name),
    type,
    name,
    custom: true,
    parent: STACK_URN,
    dependencies: [],
    propertyDependencies: {},
    ignoreChanges: [],
    inputs,
    outputs: inputs,
    ...extra,
  };
}

const FN = "aws:lambda/function:Function";
const fn = (inputs: Record<string, unknown> = {}, extra: Partial<RecordedResource> = {}) =>
  resource(FN, "users-get-function", { name: "platform-dev-users-get", memorySize: 256, ...inputs }, extra);

function plan(...resources: RecordedResource[]): PlanResult {
  return {
    project: "platform",
    stack: "dev",
    stage: "dev",
    region: "us-east-1",
    accountId: "123456789012",
    resources: [
      {
        ...resource("pulumi:pulumi:Stack", "platform-dev", {}),
        urn: STACK_URN,
        custom: false,
        parent: undefined,
      },
      ...resources,
    ],
    outputs: {},
  };
}

const report = (...violations: Violation[]): PolicyReport => ({
  stack: "dev",
  violations,
  mandatoryCount: violations.filter((v) => v.enforcementLevel === "mandatory").length,
  advisoryCount: violations.filter((v) => v.enforcementLevel === "advisory").length,
});
const violation = (policyName: string, message: string): Violation => ({
  policyName,
  enforcementLevel: "mandatory",
  message,
  urn: urnOf(FN, "users-get-function"),
  resourceName: "users-get-function",
});

const SECRET = (value: unknown) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});

describe("platform diff: comparing two plans", () => {
  it("reports a resource only in the working tree as added and one only at the base as removed", () => {
    const removed = resource(FN, "old-function", { name: "old" });
    const { changes } = diffResources(plan(removed), plan(fn()));
    assert.deepEqual(
      changes.map((c) => `${c.kind} ${c.name}`),
      ["add users-get-function", "remove old-function"],
    );
  });

  it("matches resources by URN: the same logical name under another parent type is a different resource", () => {
    const moved = {
      ...fn(),
      urn: "urn:pulumi:dev::platform::platform:other:Thing$aws:lambda/function:Function::users-get-function",
    };
    const { changes } = diffResources(plan(fn()), plan(moved));
    assert.deepEqual(changes.map((c) => c.kind).sort(), ["add", "remove"]);
  });

  it("reports a changed input that does not force replacement as an update naming the input path", () => {
    const { changes, unchanged } = diffResources(plan(fn()), plan(fn({ memorySize: 512 })));
    assert.equal(unchanged, 0);
    assert.equal(changes.length, 1);
    assert.equal(changes[0].kind, "update");
    assert.deepEqual(changes[0].inputs, [{ path: "memorySize", before: "256", after: "512", secret: false }]);
  });

  it("reports a function whose name changes as replaced because of name", () => {
    const { changes } = diffResources(
      plan(fn()),
      plan(fn({ name: "platform-dev-users-fetch", memorySize: 512 })),
    );
    assert.equal(changes[0].kind, "replace");
    assert.deepEqual(changes[0].replacedBecause, ["name"]);
  });

  it("reports an API method whose HTTP verb changes as replaced, and a role whose policy changes as updated", () => {
    const method = (httpMethod: string) =>
      resource("aws:apigateway/method:Method", "get-method", {
        httpMethod,
        restApi: "abc",
        resourceId: "r1",
      });
    const role = (action: string) =>
      resource("aws:iam/rolePolicy:RolePolicy", "fn-base", {
        role: "r",
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: action, Resource: "*" }],
        }),
      });
    const { changes } = diffResources(
      plan(method("GET"), role("xray:PutTraceSegments")),
      plan(method("POST"), role("xray:PutTelemetryRecords")),
    );
    assert.deepEqual(
      changes.map((c) => `${c.kind} ${c.name} ${c.inputs.map((i) => i.path).join(",")}`),
      ["replace get-method httpMethod", "update fn-base policy.Statement[0].Action"],
    );
  });

  it("ignores changes to inputs the resource lists in ignoreChanges, as the engine does", () => {
    const alias = (version: string) =>
      resource(
        "aws:lambda/alias:Alias",
        "live",
        { name: "live", functionName: "f", functionVersion: version },
        {
          ignoreChanges: ["functionVersion", "routingConfig"],
        },
      );
    const { changes, unchanged } = diffResources(plan(alias("1")), plan(alias("2")));
    assert.deepEqual(changes, []);
    assert.equal(unchanged, 1);
  });

  it("masks secret values on either side and the [secret] placeholder of secure config", () => {
    const changes = diffInputs(
      { environment: { variables: { TOKEN: SECRET("old-token"), KEY: "[secret]" } } },
      { environment: { variables: { TOKEN: SECRET("new-token"), KEY: "plain" } } },
    );
    assert.deepEqual(changes, [
      { path: "environment.variables.KEY", before: "[secret]", after: "[secret]", secret: true },
      { path: "environment.variables.TOKEN", before: "[secret]", after: "[secret]", secret: true },
    ]);
    assert.ok(!JSON.stringify(changes).includes("token"), "no secret value in the report");
  });

  it("reports a changed bundle as one code change, not as file hashes", () => {
    const archive = (sha256: string) => ({ $archive: { "index.mjs": { bytes: 10, sha256 } } });
    const changes = diffInputs({ code: archive("aa") }, { code: archive("bb") });
    assert.equal(changes.length, 1);
    assert.equal(changes[0].path, "code");
    assert.match(changes[0].after ?? "", /^archive [0-9a-f]{12}$/);
  });

  it("names policy findings only the working tree has as introduced and only the base has as fixed", () => {
    const kept = violation("lambda-tracing-active", "must trace");
    const changes = diffFindings(
      report(kept, violation("iam-no-wildcard-actions", "allows s3:*")),
      report(kept, violation("lambda-no-plaintext-secrets", "sets DB_PASSWORD")),
    );
    assert.deepEqual(
      changes.map((c) => `${c.change} ${c.policyName}`),
      ["introduced lambda-no-plaintext-secrets", "fixed iam-no-wildcard-actions"],
    );
  });

  it("gives the monthly cost before and after with the lines that changed", () => {
    const estimate = (cost: number): CostEstimate =>
      ({
        total: cost + 1,
        lambda: [{ functionName: "platform-dev-users-get", cost }],
        services: [{ service: "API Gateway", item: "REST API requests", cost: 1 }],
      }) as unknown as CostEstimate;
    const delta = diffCost(estimate(2), estimate(5));
    assert.equal(delta.before, 3);
    assert.equal(delta.after, 6);
    assert.deepEqual(delta.lines, [{ item: "Lambda platform-dev-users-get", before: 2, after: 5 }]);
  });
});

describe("platform diff: output", () => {
  const diff = diffPlans(
    "dev",
    { ref: "HEAD~1", commit: "0123456789abcdef0123456789abcdef01234567", exists: true },
    { plan: plan(fn()), policy: report() },
    { plan: plan(fn({ name: "renamed|pipe" })), policy: report(violation("lambda-arm64", "use arm64")) },
  );

  it("starts the markdown with the comment marker and a summary line", () => {
    const lines = renderDiffMarkdown(diff).split("\n");
    assert.equal(lines[0], MARKDOWN_MARKER);
    assert.match(lines[1], /platform diff dev.*HEAD~1.*0123456789ab/);
    assert.match(
      lines[3],
      /^0 to add, 1 to replace, 0 to update, 0 to remove; policy: 1 finding\(s\) introduced \(1 mandatory\), 0 fixed/,
    );
  });

  it("escapes pipes in markdown table cells so that a value cannot break the table", () => {
    const markdown = renderDiffMarkdown(diff);
    assert.match(markdown, /renamed\\\|pipe/);
    const row = markdown.split("\n").find((line) => line.includes("renamed"));
    assert.equal(row?.split(/(?<!\\)\|/).length, 6, "4 columns, 6 unescaped pipes' pieces");
  });

  it("collapses a resource list longer than ten rows in markdown", () => {
    const many = Array.from({ length: 11 }, (_, i) => resource(FN, `fn-${i}`, { name: `f${i}` }));
    const big = diffPlans(
      "dev",
      diff.base,
      { plan: plan(), policy: report() },
      { plan: plan(...many), policy: report() },
    );
    assert.match(
      renderDiffMarkdown(big),
      /<details>\n<summary>Resources \(11 changed, 0 unchanged\)<\/summary>/,
    );
    assert.doesNotMatch(renderDiffMarkdown(diff), /<summary>Resources/);
  });

  it("says in text which input forces the replacement", () => {
    assert.match(
      renderDiffText(diff),
      /\+- aws:lambda\/function:Function {2}users-get-function \(replaced because name changed\)/,
    );
  });
});
