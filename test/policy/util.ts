/**
 * Policy test helpers (pulumi-policy-aws `src/tests/util.ts` style): build the arguments of one
 * resource or of a small stack without an engine, run one policy through the offline evaluator
 * (the same argument building, config defaults and unknown handling as `platform policy`), and
 * assert on what it reports.
 */
import * as assert from "node:assert/strict";
import type { Policy, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import type { Unwrap } from "@pulumi/pulumi";
import type { RecordedResource } from "../../automation/plan/mocks";
import type { PlanResult } from "../../automation/plan/types";
import { evaluatePlan, type Violation } from "../../automation/policy/evaluate";

export { UNKNOWN } from "../../automation/policy/args";

const STACK = "test";
const PROJECT = "platform";
const STACK_URN = `urn:pulumi:${STACK}::${PROJECT}::pulumi:pulumi:Stack::${PROJECT}-${STACK}`;

/** The URN a test resource gets: `urn:pulumi:test::platform::<type>::<name>`. */
export function urnOf(type: string, name: string): string {
  return `urn:pulumi:${STACK}::${PROJECT}::${type}::${name}`;
}

/** A resource class (`aws.lambda.Function`) or a type token. */
type TypeLike = string | { prototype: unknown };

function typeToken(type: TypeLike): string {
  const token = typeof type === "string" ? type : (type as unknown as { __pulumiType?: string }).__pulumiType;
  if (typeof token !== "string") assert.fail("could not determine the Pulumi type of the resource class");
  return token;
}

/** A resource of a test stack; references name other resources of the stack by logical name. */
export interface TestResource {
  type: TypeLike;
  name: string;
  /** Inputs (what resource policies see); outputs default to the inputs. */
  props: Record<string, unknown>;
  /** Outputs (what stack policies see). @default props */
  outputs?: Record<string, unknown>;
  /** Logical names of the resources each property was computed from. */
  propertyDependencies?: Record<string, string[]>;
  /** Logical name of the parent. */
  parent?: string;
  custom?: boolean;
}

/** What a policy runs on in a test: one resource or a stack, and the policy's config. */
export interface PolicyTestArgs {
  resources: TestResource[];
  config?: Record<string, unknown>;
}

/** The args of one resource of a class, typed after the class's constructor args. */
export function resourceArgs<TArgs>(
  resourceClass: { new (name: string, args: TArgs, ...rest: never[]): unknown },
  props: Unwrap<NonNullable<TArgs>>,
  options: { name?: string; config?: Record<string, unknown> } = {},
): PolicyTestArgs {
  return {
    resources: [
      { type: resourceClass, name: options.name ?? "subject", props: props as Record<string, unknown> },
    ],
    config: options.config,
  };
}

/** The args of a stack of resources. */
export function stackArgs(resources: TestResource[], config?: Record<string, unknown>): PolicyTestArgs {
  return { resources, config };
}

/** A plan holding the test resources under a root stack, as the offline plan records a program. */
export function planOf(resources: TestResource[], outputs: Record<string, unknown> = {}): PlanResult {
  const urns = new Map<string, string>();
  for (const resource of resources) urns.set(resource.name, urnOf(typeToken(resource.type), resource.name));
  const urn = (name: string) => urns.get(name) ?? assert.fail(`test stack has no resource named ${name}`);
  // A dependency on a resource a test removed is a dependency outside the stack: dropped.
  const urnsOf = (names: string[]) => names.flatMap((name) => urns.get(name) ?? []);
  const recorded: RecordedResource[] = [
    {
      urn: STACK_URN,
      type: "pulumi:pulumi:Stack",
      name: `${PROJECT}-${STACK}`,
      custom: false,
      dependencies: [],
      propertyDependencies: {},
      ignoreChanges: [],
      inputs: {},
      outputs: {},
    },
    ...resources.map((resource): RecordedResource => {
      const propertyDependencies = Object.fromEntries(
        Object.entries(resource.propertyDependencies ?? {}).map(([key, names]) => [key, urnsOf(names)]),
      );
      return {
        urn: urn(resource.name),
        type: typeToken(resource.type),
        name: resource.name,
        custom: resource.custom ?? true,
        parent: resource.parent ? urn(resource.parent) : STACK_URN,
        dependencies: [...new Set(Object.values(propertyDependencies).flat())],
        propertyDependencies,
        ignoreChanges: [],
        inputs: resource.props,
        outputs: resource.outputs ?? resource.props,
        id: `${resource.name}-id`,
      };
    }),
  ];
  return {
    project: PROJECT,
    stack: STACK,
    stage: STACK,
    region: "us-east-1",
    accountId: "123456789012",
    resources: recorded,
    outputs,
  };
}

/** Runs one policy (as mandatory, with its config defaults and `args.config`) and returns what it reported. */
export async function runPolicy(policy: Policy, args: PolicyTestArgs): Promise<Violation[]> {
  const report = await evaluatePlan(planOf(args.resources), {
    policies: [policy as ResourceValidationPolicy | StackValidationPolicy],
    config: { [policy.name]: { enforcementLevel: "mandatory", ...args.config } },
  });
  return report.violations;
}

function describeAll(violations: Violation[]): string {
  return (
    violations.map((v) => `  [${v.enforcementLevel}] ${v.resourceName}: ${v.message}`).join("\n") ||
    "  (none)"
  );
}

/** Asserts that the policy reports a violation whose message contains `messageSubstring`. */
export async function assertViolation(
  policy: Policy,
  args: PolicyTestArgs,
  messageSubstring: string,
  expect: { level?: "advisory" | "mandatory"; resourceName?: string } = {},
): Promise<Violation> {
  const violations = await runPolicy(policy, args);
  const found = violations.find(
    (v) =>
      v.message.includes(messageSubstring) &&
      (expect.level === undefined || v.enforcementLevel === expect.level) &&
      (expect.resourceName === undefined || v.resourceName === expect.resourceName),
  );
  if (!found) {
    assert.fail(
      `${policy.name}: no violation containing "${messageSubstring}"; reported:\n${describeAll(violations)}`,
    );
  }
  return found;
}

/** Asserts that the policy reports nothing. */
export async function assertNoViolations(policy: Policy, args: PolicyTestArgs): Promise<void> {
  const violations = await runPolicy(policy, args);
  if (violations.length > 0)
    assert.fail(`${policy.name}: expected no violations, got:\n${describeAll(violations)}`);
}

/** Checks the metadata every policy of the pack must have. */
export function assertPolicyMetadata(policy: Policy): void {
  assert.match(policy.name, /^[a-z0-9]+(-[a-z0-9]+)+$/, `${policy.name} must be kebab-case`);
  assert.match(
    policy.description,
    /^Checks whether /,
    `${policy.name}'s description must start "Checks whether"`,
  );
  for (const [key, schema] of Object.entries(policy.configSchema?.properties ?? {})) {
    assert.ok("default" in schema, `${policy.name}: config ${key} must have a default`);
  }
}
