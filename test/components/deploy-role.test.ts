import * as assert from "node:assert/strict";
import type { RecordedResource } from "../../automation/plan/mocks";
import { planStack } from "../../automation/plan/plan";
import { projectDirOf } from "../../automation/plan/projects";
import type { PlanResult } from "../../automation/plan/types";
import { applicationBoundaryName } from "../../components/delivery-pipeline-permissions";
import { asArray } from "../../policy/util";
import {
  allow,
  type Call,
  denial,
  MODELLED_KEYS,
  type ModelledKey,
  type Principal,
  type Statement,
  statementsOf,
} from "../helpers/iam-evaluate";
import {
  CALLS,
  MANAGED_POLICIES,
  NO_AWS_CALL,
  passRole,
  STACK_CALLS,
  text,
  type Where,
} from "./deploy-role-calls";

// What `platform rollout <stage>` asks AWS for with the pipeline's deploy role, checked against that
// role as the pipeline stack plans it: its inline policies AND its permissions boundary. Each planned
// resource of the real dev and prod stacks maps to the IAM (action, resource ARN) pairs its create
// call (and the provider's read right after) is authorized against, per the Service Authorization
// Reference; the rollout's traffic shift and health gate add their SDK calls.
// The AWS calls are in deploy-role-calls.ts, the IAM evaluator in test/helpers/iam-evaluate.ts.

interface DeployRole extends Principal {
  /** The application role boundary the pipeline stack plans (every application role must carry it). */
  applicationBoundary: { arn: string; statements: Statement[] };
}

/** The deploy role of the planned pipeline stack: its inline policies and its permissions boundary. */
function deployRoleOf(pipeline: PlanResult): DeployRole {
  const roles = pipeline.resources.filter(
    (r) => r.type === "aws:iam/role:Role" && r.name.endsWith("-deploy-role"),
  );
  assert.equal(roles.length, 1, "the pipeline stack has one deploy role");
  const [role] = roles;
  const attached = pipeline.resources.filter(
    (r) =>
      r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && r.inputs.role === role.outputs.name,
  );
  assert.deepEqual(attached, [], "managed policies on the deploy role are not modelled");
  const identity = pipeline.resources
    .filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy" && r.inputs.role === role.outputs.name)
    .flatMap((r) => statementsOf(r.inputs.policy));
  const boundary = pipeline.resources.find(
    (r) => r.type === "aws:iam/policy:Policy" && r.outputs.arn === role.inputs.permissionsBoundary,
  );
  assert.ok(boundary, "the deploy role has a permissions boundary in the plan");
  const application = pipeline.resources.find(
    (r) => r.type === "aws:iam/policy:Policy" && r.inputs.name === applicationBoundaryName("platform"),
  );
  assert.ok(application, "the pipeline stack plans the application role boundary");
  return {
    identity,
    boundary: statementsOf(boundary.inputs.policy),
    applicationBoundary: {
      arn: application.outputs.arn as string,
      statements: statementsOf(application.inputs.policy),
    },
  };
}

/** Resource types of `plan` that neither CALLS nor NO_AWS_CALL knows. */
function unknownTypes(plan: PlanResult): string[] {
  const types = plan.resources.filter((r) => r.custom).map((r) => r.type);
  return [...new Set(types)].filter((type) => !CALLS[type] && !NO_AWS_CALL[type]).sort();
}

/** Every call `plan`'s rollout makes that the role may not, as `<stack>: <resource> (<type>) ...` lines. */
function deniedCalls(plan: PlanResult, role: DeployRole): string[] {
  const where: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
  const calls: { who: string; call: Call }[] = [
    ...STACK_CALLS.map((call) => ({ who: "the rollout (provider, health gate)", call })),
    ...plan.resources
      .filter((r) => r.custom && CALLS[r.type])
      .flatMap((r) => CALLS[r.type](r, where).map((call) => ({ who: `${r.name} (${r.type})`, call }))),
  ];
  return calls.flatMap(({ who, call }) => {
    const why = denial(role, call);
    if (!why) return [];
    const context = Object.entries(call.context ?? {})
      .map(([key, value]) => ` with ${key}=${value}`)
      .join("");
    return [`${plan.stack}: ${who} needs ${call.action} on ${call.resource}${context}: ${why}`];
  });
}

// ---- The application role boundary against what the application's roles hold. ----

/**
 * The request context of a call a role statement authorizes: the values its condition requires
 * (StringEquals/StringLike on a modelled key), and kms:ViaService DynamoDB for a planned table's key
 * (functions use table keys only through DynamoDB).
 */
function grantContext(statement: Statement, resource: string, w: Where): Call["context"] {
  const context: Partial<Record<ModelledKey, string>> = {};
  for (const [operator, tests] of Object.entries(statement.condition)) {
    if (!["StringEquals", "StringLike"].includes(operator)) {
      throw new Error(`statement ${statement.sid ?? "(no Sid)"}: condition ${operator} is not modelled`);
    }
    for (const [key, value] of Object.entries(tests)) {
      const modelled = MODELLED_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      if (!modelled)
        throw new Error(`statement ${statement.sid ?? "(no Sid)"}: condition key ${key} is not modelled`);
      context[modelled] = String(asArray(value as string[])[0]);
    }
  }
  const tableKey = w.plan.resources.some(
    (r) =>
      r.type === "aws:dynamodb/table:Table" &&
      (r.inputs.serverSideEncryption as { kmsKeyArn?: string } | undefined)?.kmsKeyArn === resource,
  );
  if (tableKey && !context["kms:ViaService"])
    context["kms:ViaService"] = `dynamodb.${w.region}.amazonaws.com`;
  return context;
}

/**
 * Every (action, resource) an application role of `plan` is granted that the application boundary
 * would cut, as `<stack>: role <name> (<policy>) <action> on <resource>: ...` lines. A statement's
 * resource patterns are taken as literal ARNs: a boundary pattern covers them only if it matches
 * every ARN they stand for. Roles without the application boundary are named too.
 */
function cutGrants(plan: PlanResult, applicationBoundary: DeployRole["applicationBoundary"]): string[] {
  const w: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
  const boundary: DeployRole = {
    identity: [allow(["*"], ["*"])],
    boundary: applicationBoundary.statements,
    applicationBoundary,
  };
  return plan.resources
    .filter((r) => r.type === "aws:iam/role:Role")
    .flatMap((role) => {
      const name = text(role, "name");
      const unbounded =
        role.inputs.permissionsBoundary === applicationBoundary.arn
          ? []
          : [`${plan.stack}: role ${name} has boundary ${role.inputs.permissionsBoundary ?? "none"}`];
      const policies = plan.resources.flatMap((r): { label: string; statements: Statement[] }[] => {
        if (r.inputs.role !== name) return [];
        if (r.type === "aws:iam/rolePolicy:RolePolicy") {
          return [{ label: r.name, statements: statementsOf(r.inputs.policy) }];
        }
        if (r.type !== "aws:iam/rolePolicyAttachment:RolePolicyAttachment") return [];
        const managed = MANAGED_POLICIES[text(r, "policyArn")];
        if (!managed)
          throw new Error(`${r.name}: managed policy ${text(r, "policyArn")} is not in MANAGED_POLICIES`);
        return [{ label: text(r, "policyArn"), statements: managed(w, "platform") }];
      });
      const cut = policies.flatMap(({ label, statements }) =>
        statements
          .filter((statement) => statement.effect === "Allow")
          .flatMap((statement) => {
            if (statement.notActions.length > 0 || statement.notResources.length > 0) {
              throw new Error(`role ${name} (${label}): NotAction/NotResource is not modelled`);
            }
            return statement.actions.flatMap((action) =>
              statement.resources.flatMap((resource) => {
                const call = { action, resource, context: grantContext(statement, resource, w) };
                const why = denial(boundary, call);
                return why ? [`${plan.stack}: role ${name} (${label}) ${action} on ${resource}: ${why}`] : [];
              }),
            );
          }),
      );
      return [...unbounded, ...cut];
    });
}

describe("the deploy role against what the rollout of the real stacks asks AWS for", () => {
  let role: DeployRole;
  const plans: Record<string, PlanResult> = {};
  before(async function () {
    this.timeout(180_000); // three programs under the mock runtime, esbuild bundles included
    const [pipeline, dev, prod] = await Promise.all(
      ["pipeline", "dev", "prod"].map((stack) => planStack(stack, { projectDir: projectDirOf(stack) })),
    );
    role = deployRoleOf(pipeline);
    Object.assign(plans, { dev, prod });
  });

  it("plans the deploy role's policy, its boundary and the application boundary with well-formed ARNs only (no stringified Output)", () => {
    const resources = [...role.identity, ...role.boundary, ...role.applicationBoundary.statements].flatMap(
      (s) => [...s.resources, ...s.notResources],
    );
    const malformed = resources.filter(
      (r) => r !== "*" && !/^arn:aws:[a-z0-9-]+:[a-z0-9*-]*:(\d{12}|\*|aws)?:\S+$/.test(r),
    );
    assert.deepEqual(malformed, []);
  });

  for (const stack of ["dev", "prod"]) {
    it(`allows every call creating the ${stack} stack's resources, its traffic shifts and its health gate make`, () => {
      const denied = deniedCalls(plans[stack], role);
      assert.deepEqual(denied, [], `${denied.length} denied:\n${denied.join("\n")}`);
    });

    it(`allows creating and granting every role of the ${stack} stack only because it carries the application boundary`, () => {
      const plan = plans[stack];
      const where: Where = { partition: "aws", region: plan.region, account: plan.accountId, plan };
      const calls = plan.resources
        .filter((r) => ["aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"].includes(r.type))
        .flatMap((r) => CALLS[r.type](r, where))
        .filter((call) => /^iam:(CreateRole|PutRolePermissionsBoundary|PutRolePolicy)$/.test(call.action));
      assert.ok(calls.length > 10, `${stack} plans roles and their policies`);
      const withBoundary = calls.filter(
        (call) =>
          call.context?.["iam:PermissionsBoundary"] === role.applicationBoundary.arn && !denial(role, call),
      );
      assert.equal(withBoundary.length, calls.length, "each is allowed with the application boundary");
      const without = calls.map((call) => denial(role, { ...call, context: {} }));
      assert.deepEqual(
        [...new Set(without)],
        ["denied by statement DenyRolesWithoutApplicationBoundary of the boundary"],
      );
    });

    it(`cuts no grant of any role of the ${stack} stack with the application boundary`, () => {
      const cut = cutGrants(plans[stack], role.applicationBoundary);
      assert.deepEqual(cut, [], `${cut.length} cut:\n${cut.join("\n")}`);
    });

    it(`knows the calls of every resource type the ${stack} stack plans`, () => {
      assert.deepEqual(
        unknownTypes(plans[stack]),
        [],
        "add the type to CALLS (or, if it calls no AWS API, to NO_AWS_CALL)",
      );
    });
  }

  it("names the stack, resource, action, ARN and the reason of a denied call", () => {
    const outsider: RecordedResource = {
      urn: "urn:pulumi:dev::platform::aws:lambda/function:Function::other-fn",
      type: "aws:lambda/function:Function",
      name: "other-fn",
      custom: true,
      dependencies: [],
      propertyDependencies: {},
      ignoreChanges: [],
      inputs: { name: "other-app-fn", role: "arn:aws:iam::123456789012:role/platform-dev-fn-role" },
      outputs: {},
    };
    const denied = deniedCalls({ ...plans.dev, resources: [outsider] }, role);
    assert.ok(
      denied.includes(
        "dev: other-fn (aws:lambda/function:Function) needs lambda:CreateFunction on arn:aws:lambda:us-east-1:123456789012:function:other-app-fn: no statement of the role's policy allows it",
      ),
      denied.join("\n"),
    );
  });

  it("fails on a resource type it does not know", () => {
    const instance = { ...plans.dev.resources.find((r) => r.custom)!, type: "aws:ec2/instance:Instance" };
    assert.deepEqual(unknownTypes({ ...plans.dev, resources: [instance] }), ["aws:ec2/instance:Instance"]);
  });

  it("denies passing an application role to a service the application does not use", () => {
    const call = passRole("arn:aws:iam::123456789012:role/platform-dev-fn-role", "ec2.amazonaws.com");
    assert.match(denial(role, call) ?? "", /DenyPassRoleToOtherServices of the boundary/);
  });

  it("denies using a table key other than through DynamoDB", () => {
    const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    assert.equal(
      denial(role, { action: "kms:Decrypt", resource: key }),
      "no statement of the role's policy allows it",
    );
    const viaSsm = {
      action: "kms:Decrypt",
      resource: key,
      context: { "kms:ViaService": "ssm.us-east-1.amazonaws.com" },
    };
    assert.equal(denial(role, viaSsm), "no statement of the role's policy allows it");
  });

  it("names the role, action and resource the application boundary would cut", () => {
    const plan = plans.dev;
    const fn = plan.resources.find((r) => r.type === "aws:iam/role:Role")!;
    const policy: RecordedResource = {
      ...plan.resources.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy")!,
      name: "extra-policy",
      inputs: {
        role: fn.inputs.name,
        policy: JSON.stringify({
          Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::other-bucket/*" }],
        }),
      },
    };
    assert.deepEqual(cutGrants({ ...plan, resources: [fn, policy] }, role.applicationBoundary), [
      `dev: role ${fn.inputs.name} (extra-policy) s3:GetObject on arn:aws:s3:::other-bucket/*: no statement of the boundary allows it`,
    ]);
  });

  it("names a role planned without the application boundary", () => {
    const fn = { ...plans.dev.resources.find((r) => r.type === "aws:iam/role:Role")! };
    fn.inputs = { ...fn.inputs, permissionsBoundary: undefined };
    assert.deepEqual(cutGrants({ ...plans.dev, resources: [fn] }, role.applicationBoundary), [
      `dev: role ${fn.inputs.name} has boundary none`,
    ]);
  });

  it("lets application roles put custom metrics only in the application's namespaces", () => {
    const application: DeployRole = {
      identity: [allow(["*"], ["*"])],
      boundary: role.applicationBoundary.statements,
      applicationBoundary: role.applicationBoundary,
    };
    const metrics = (namespace: string) =>
      denial(application, {
        action: "cloudwatch:PutMetricData",
        resource: "*",
        context: { "cloudwatch:namespace": namespace },
      });
    assert.equal(metrics("platform/orders"), undefined);
    assert.equal(metrics("AWS/Lambda"), "no statement of the boundary allows it");
  });

  describe("the escalation through a role of its own", () => {
    const evil = "arn:aws:iam::123456789012:role/platform-evil";
    const otherBoundary = "arn:aws:iam::123456789012:policy/platform-evil-boundary";
    const denied = /DenyRolesWithoutApplicationBoundary of the boundary/;

    it("denies creating an <app>- role without a boundary", () => {
      assert.match(denial(role, { action: "iam:CreateRole", resource: evil }) ?? "", denied);
    });

    it("denies creating an <app>- role with another boundary", () => {
      const call = {
        action: "iam:CreateRole",
        resource: evil,
        context: { "iam:PermissionsBoundary": otherBoundary },
      };
      assert.match(denial(role, call) ?? "", denied);
    });

    it("allows creating an <app>- role with the application boundary", () => {
      const call = {
        action: "iam:CreateRole",
        resource: evil,
        context: { "iam:PermissionsBoundary": role.applicationBoundary.arn },
      };
      assert.equal(denial(role, call), undefined);
    });

    it("denies replacing a role's boundary with another", () => {
      const call = {
        action: "iam:PutRolePermissionsBoundary",
        resource: evil,
        context: { "iam:PermissionsBoundary": otherBoundary },
      };
      assert.match(denial(role, call) ?? "", denied);
    });

    it("denies granting a role without the application boundary an inline or managed policy", () => {
      for (const action of ["iam:PutRolePolicy", "iam:AttachRolePolicy"]) {
        assert.match(denial(role, { action, resource: evil }) ?? "", denied, action);
      }
    });

    it("denies removing a role's boundary", () => {
      assert.match(
        denial(role, { action: "iam:DeleteRolePermissionsBoundary", resource: evil }) ?? "",
        /DenyBoundaryRemoval/,
      );
    });

    it("denies creating, changing or deleting the application boundary policy", () => {
      for (const action of [
        "iam:CreatePolicy",
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:DeletePolicy",
      ]) {
        assert.match(
          denial(role, { action, resource: role.applicationBoundary.arn }) ?? "",
          /DenyPipelineResourcesAndBoundary/,
          action,
        );
      }
    });
  });

  it("denies the pipeline's own roles to the deployment", () => {
    const pipelineRole = "arn:aws:iam::123456789012:role/platform-pipeline-delivery-deploy-us-east-1";
    assert.match(
      denial(role, { action: "iam:PutRolePolicy", resource: pipelineRole }) ?? "",
      /DenyPipelineResourcesAndBoundary/,
    );
  });
});
