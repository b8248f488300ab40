import * as assert from "node:assert/strict";
import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationArgs,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import type { PlanResult } from "../../automation/plan/types";
import { PolicyConfigError } from "../../automation/policy/config";
import { evaluatePlan, PolicyEvaluationError, resolvePolicyConfig } from "../../automation/policy/evaluate";
import { dynamodbDeletionProtection } from "../../policy/dynamodb";
import { policies } from "../../policy/pack";
import { functionArgs, happyStack, tableArgs } from "./factories";
import { assertPolicyMetadata, planOf, type TestResource, UNKNOWN, urnOf } from "./util";

/** A resource policy that reports every resource of its type and records its arguments. */
function probeResourcePolicy(name = "probe-resource", extra: Partial<ResourceValidationPolicy> = {}) {
  const seen: ResourceValidationArgs[] = [];
  const policy: ResourceValidationPolicy = {
    name,
    description: "Checks whether the probe sees resources.",
    configSchema: {
      properties: {
        limit: { type: "integer", default: 3 },
        names: { type: "array", items: { type: "string" }, default: ["a", "b"] },
      },
    },
    validateResource: validateResourceOfType(aws.lambda.Function, (_fn, args, report) => {
      seen.push(args);
      report(`saw ${args.name}`);
    }),
    ...extra,
  };
  return { policy, seen };
}

/** A stack policy that records its arguments and reports what `report` says. */
function probeStackPolicy(
  report: (args: StackValidationArgs, violation: (m: string, urn?: string) => void) => void = () => {},
) {
  const seen: StackValidationArgs[] = [];
  const policy: StackValidationPolicy = {
    name: "probe-stack",
    description: "Checks whether the probe sees the stack.",
    configSchema: { properties: { mode: { type: "string", enum: ["on", "off"], default: "on" } } },
    validateStack: (args, violation) => {
      seen.push(args);
      report(args, violation);
    },
  };
  return { policy, seen };
}

const secret = (value: unknown) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});
const fnStack = (): TestResource[] => [
  { type: aws.lambda.Function, name: "fn", props: { ...functionArgs() } },
];

describe("offline policy evaluation: enforcement levels", () => {
  it("skips a policy the config disables", async () => {
    const { policy, seen } = probeResourcePolicy();
    const report = await evaluatePlan(planOf(fnStack()), {
      policies: [policy],
      config: { "probe-resource": "disabled" },
    });
    assert.equal(seen.length, 0);
    assert.deepEqual(report.violations, []);
  });

  it("reports at the level the config gives, and counts each level", async () => {
    const { policy } = probeResourcePolicy();
    const advisory = await evaluatePlan(planOf(fnStack()), {
      policies: [policy],
      config: { "probe-resource": "advisory" },
    });
    assert.equal(advisory.violations[0].enforcementLevel, "advisory");
    assert.deepEqual([advisory.mandatoryCount, advisory.advisoryCount], [0, 1]);
    const mandatory = await evaluatePlan(planOf(fnStack()), {
      policies: [policy],
      config: { "probe-resource": { enforcementLevel: "mandatory" } },
    });
    assert.deepEqual([mandatory.mandatoryCount, mandatory.advisoryCount], [1, 0]);
  });

  it("uses the policy's own level, else the pack's, when the config says nothing", async () => {
    const own = probeResourcePolicy("own", { enforcementLevel: "advisory" }).policy;
    const packDefault = probeResourcePolicy("pack-default").policy;
    const report = await evaluatePlan(planOf(fnStack()), {
      policies: [own, packDefault],
      config: {},
      enforcementLevel: "mandatory",
    });
    assert.deepEqual(
      report.violations.map((v) => `${v.policyName}:${v.enforcementLevel}`),
      ["own:advisory", "pack-default:mandatory"],
    );
  });

  it("applies an `all` level to every policy before each policy's own entry", async () => {
    const a = probeResourcePolicy("policy-a", { enforcementLevel: "advisory" }).policy;
    const b = probeResourcePolicy("policy-b").policy;
    const report = await evaluatePlan(planOf(fnStack()), {
      policies: [a, b],
      config: { all: "mandatory", "policy-b": "advisory" },
    });
    assert.deepEqual(
      report.violations.map((v) => `${v.policyName}:${v.enforcementLevel}`),
      ["policy-a:mandatory", "policy-b:advisory"],
    );
  });

  it("treats remediate as mandatory (the pack has no remediations)", async () => {
    const { policy } = probeResourcePolicy();
    const report = await evaluatePlan(planOf(fnStack()), {
      policies: [policy],
      config: { "probe-resource": "remediate" },
    });
    assert.equal(report.violations[0].enforcementLevel, "mandatory");
  });

  it("reads the stage's policy/config.<stage>.json: deletion protection is advisory in dev, mandatory in prod", async () => {
    const plan = planOf([
      {
        type: aws.dynamodb.Table,
        name: "table",
        props: { ...tableArgs(), deletionProtectionEnabled: false },
      },
    ]);
    const dev = await evaluatePlan(plan, { stage: "dev", policies: [dynamodbDeletionProtection] });
    const prod = await evaluatePlan(plan, { stage: "prod", policies: [dynamodbDeletionProtection] });
    assert.equal(dev.violations[0].enforcementLevel, "advisory");
    assert.equal(prod.violations[0].enforcementLevel, "mandatory");
  });
});

describe("offline policy evaluation: config", () => {
  it("gives getConfig the schema's defaults", async () => {
    const { policy, seen } = probeResourcePolicy();
    await evaluatePlan(planOf(fnStack()), { policies: [policy], config: {} });
    assert.deepEqual(seen[0].getConfig(), { limit: 3, names: ["a", "b"] });
  });

  it("overrides defaults one property at a time, and never passes enforcementLevel", async () => {
    const { policy, seen } = probeResourcePolicy();
    await evaluatePlan(planOf(fnStack()), {
      policies: [policy],
      config: { "probe-resource": { enforcementLevel: "advisory", limit: 5 } },
    });
    assert.deepEqual(seen[0].getConfig(), { limit: 5, names: ["a", "b"] });
  });

  it("rejects a value of the wrong type, an unknown level and an unknown policy", () => {
    const { policy } = probeResourcePolicy();
    const resolve = (config: object) => () => resolvePolicyConfig("test", { policies: [policy], config });
    assert.throws(resolve({ "probe-resource": { limit: "five" } }), /limit: expected integer, got string/);
    assert.throws(resolve({ "probe-resource": { names: [1] } }), /names\[0\]: expected string, got integer/);
    assert.throws(resolve({ "probe-resource": "blocking" }), /not an enforcement level/);
    assert.throws(
      () => resolvePolicyConfig("test", { config: { "lambda-arm65": "advisory" } }),
      PolicyConfigError,
    );
  });

  it("accepts both stage config files of the pack", () => {
    for (const stage of ["dev", "prod"]) {
      const { resolved, source } = resolvePolicyConfig(stage);
      assert.match(source, new RegExp(`config\\.${stage}\\.json$`));
      assert.equal(resolved.size, policies.length);
    }
  });
});

describe("offline policy evaluation: resource policy arguments", () => {
  it("passes the inputs as props, with secrets unwrapped as @pulumi/policy deserializes them", async () => {
    const { policy, seen } = probeResourcePolicy();
    const plan = planOf([
      {
        type: aws.lambda.Function,
        name: "fn",
        props: { ...functionArgs(), environment: { variables: { KEY: secret("hidden") } } },
        outputs: { ...functionArgs(), arn: "arn:output-only" },
      },
    ]);
    plan.resources[1].ignoreChanges = ["code"];
    await evaluatePlan(plan, { policies: [policy], config: {} });
    const args = seen[0];
    assert.equal(args.type, "aws:lambda/function:Function");
    assert.equal(args.name, "fn");
    assert.equal(args.urn, urnOf("aws:lambda/function:Function", "fn"));
    assert.equal(args.props.environment.variables.KEY, "hidden");
    assert.equal(args.props.arn, undefined, "resource policies see inputs, not outputs");
    assert.equal(args.props.memorySize, 256);
    assert.deepEqual(args.opts, {
      protect: false,
      ignoreChanges: ["code"],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: [],
      parent: plan.resources[0].urn,
    });
    assert.equal(args.isType(aws.lambda.Function), true);
    assert.equal(args.isType(aws.iam.Role), false);
    assert.equal(args.asType(aws.iam.Role), undefined);
    assert.equal(args.asType(aws.lambda.Function)?.name, functionArgs().name);
    assert.equal(args.provider?.type, "pulumi:providers:aws");
    assert.equal(args.provider?.props.region, "us-east-1");
    assert.throws(() => args.notApplicable("nope"), /nope/);
  });

  it("runs typed validations only on their type, and runs every resource including components", async () => {
    const types: string[] = [];
    const everything: ResourceValidationPolicy = {
      name: "everything",
      description: "Checks whether every resource is seen.",
      validateResource: (args) => {
        types.push(args.type);
      },
    };
    const { policy, seen } = probeResourcePolicy();
    const stack = happyStack();
    await evaluatePlan(
      planOf([...stack, { type: "platform:index:Thing", name: "thing", props: {}, custom: false }]),
      {
        policies: [everything, policy],
        config: {},
      },
    );
    assert.equal(types.length, stack.length + 2, "every resource, the stack and the component included");
    assert.ok(types.includes("pulumi:pulumi:Stack") && types.includes("platform:index:Thing"));
    assert.equal(seen.length, 1, "the typed probe only ran on the one function");
  });

  it("treats notApplicable as no violation", async () => {
    const policy: ResourceValidationPolicy = {
      name: "not-applicable",
      description: "Checks whether notApplicable is silent.",
      validateResource: (args, report) => {
        args.notApplicable("does not apply");
        report("unreachable");
      },
    };
    const report = await evaluatePlan(planOf(fnStack()), { policies: [policy], config: {} });
    assert.deepEqual(report.violations, []);
  });

  it("reports a value unknown during preview as an advisory 'can't run' diagnostic, whatever the level", async () => {
    const { policy } = probeResourcePolicy("reads-timeout", {
      validateResource: validateResourceOfType(aws.lambda.Function, (fn, _args, report) => {
        if ((fn.timeout ?? 0) > 1) report("too slow");
      }),
    });
    const plan = planOf([
      { type: aws.lambda.Function, name: "fn", props: { ...functionArgs(), timeout: UNKNOWN } },
    ]);
    const report = await evaluatePlan(plan, { policies: [policy], config: { "reads-timeout": "mandatory" } });
    assert.equal(report.violations.length, 1);
    assert.equal(report.violations[0].enforcementLevel, "advisory");
    assert.match(
      report.violations[0].message,
      /can't run policy 'reads-timeout' .* during preview: .*value at \.timeout can't be known/,
    );
  });

  it("refuses changes to the arguments, which may be the plan's own objects", async () => {
    const policy: ResourceValidationPolicy = {
      name: "mutating",
      description: "Checks whether arguments are read-only.",
      validateResource: validateResourceOfType(aws.lambda.Function, (fn) => {
        (fn.environment?.variables as Record<string, string>).EXTRA = "x";
      }),
    };
    const plan = planOf(fnStack());
    await assert.rejects(
      evaluatePlan(plan, { policies: [policy], config: {} }),
      /must not change their arguments/,
    );
    assert.equal(
      (plan.resources[1].inputs.environment as { variables: Record<string, string> }).variables.EXTRA,
      undefined,
    );
  });

  it("fails the evaluation when a policy throws, naming the policy and resource", async () => {
    const policy: ResourceValidationPolicy = {
      name: "broken",
      description: "Checks whether errors propagate.",
      validateResource: () => {
        throw new Error("bug in policy");
      },
    };
    await assert.rejects(
      evaluatePlan(planOf(fnStack()), { policies: [policy], config: {} }),
      (error: unknown) =>
        error instanceof PolicyEvaluationError && /policy 'broken'.*bug in policy/s.test(error.message),
    );
  });
});

describe("offline policy evaluation: stack policy arguments", () => {
  let plan: PlanResult;
  let args: StackValidationArgs;
  const find = (name: string): PolicyResource => {
    const resource = args.resources.find((r) => r.name === name);
    assert.ok(resource, `no resource ${name}`);
    return resource;
  };

  before(async () => {
    plan = planOf(
      [
        ...happyStack(),
        { type: "platform:lambda:ServerlessFunction", name: "component", props: {}, custom: false },
      ].map((r) => (r.name === "fn" ? { ...r, parent: "component" } : r)),
      { apiUrl: "https://example" },
    );
    const { policy, seen } = probeStackPolicy();
    await evaluatePlan(plan, { policies: [policy], config: {} });
    args = seen[0];
  });

  it("passes every registered resource, the root stack and components included", () => {
    assert.equal(args.resources.length, plan.resources.length);
    assert.equal(find("component").type, "platform:lambda:ServerlessFunction");
    assert.equal(find("platform-test").type, "pulumi:pulumi:Stack");
  });

  it("passes outputs as props: ids included, the root stack's props are the stack outputs", () => {
    assert.equal(find("fn").props.arn, "arn:aws:lambda:us-east-1:123456789012:function:app-prod-users-list");
    assert.equal(find("fn").props.id, "fn-id");
    assert.deepEqual({ ...find("platform-test").props }, { apiUrl: "https://example" });
  });

  it("links parent, dependencies and property dependencies as resource objects", () => {
    const fn = find("fn");
    assert.equal(fn.parent, find("component"));
    assert.equal(find("component").parent, find("platform-test"));
    assert.deepEqual(fn.dependencies, [find("fn-role")]);
    assert.deepEqual(fn.propertyDependencies.role, [find("fn-role")]);
    assert.deepEqual(find("get-user-integration").propertyDependencies.uri, [find("fn-alias")]);
  });

  it("gives types, options, providers and config like the engine does", () => {
    const fn = find("fn");
    assert.equal(fn.isType(aws.lambda.Function), true);
    assert.equal(fn.asType(aws.iam.Role), undefined);
    assert.equal(fn.opts.parent, find("component").urn);
    assert.equal(fn.provider?.type, "pulumi:providers:aws");
    assert.equal(find("component").provider, undefined, "components have no provider");
    assert.deepEqual(args.getConfig(), { mode: "on" });
    assert.throws(() => args.notApplicable(), /does not apply/);
  });

  it("attributes a violation to the reported resource, or to the root stack", async () => {
    const { policy } = probeStackPolicy((stack, report) => {
      report("on the function", stack.resources.find((r) => r.name === "fn")?.urn);
      report("on the stack");
      report("on a resource that is not in the stack", "urn:pulumi:test::platform::x::gone");
    });
    const report = await evaluatePlan(plan, { policies: [policy], config: {} });
    assert.deepEqual(
      report.violations.map((v) => `${v.resourceName}: ${v.message}`),
      [
        "fn: on the function",
        "platform-test: on the stack",
        "platform-test: on a resource that is not in the stack",
      ],
    );
  });
});

describe("the policy pack", () => {
  it("has kebab-case names, 'Checks whether...' descriptions and defaults for all config", () => {
    for (const policy of policies) assertPolicyMetadata(policy);
    assert.equal(new Set(policies.map((p) => p.name)).size, policies.length, "policy names are unique");
  });
});
