/**
 * Offline policy evaluation: the pack's policy objects run against a plan's recorded resource
 * graph with the arguments, config and enforcement levels `pulumi preview --policy-pack policy
 * --policy-pack-config policy/config.<stage>.json` gives them.
 */
import * as path from "node:path";
import type {
  EnforcementLevel,
  Policies,
  PolicyResource,
  ReportViolation,
  ResourceValidation,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { PACK_ENFORCEMENT_LEVEL, PACK_NAME, policies as packPolicies } from "../../policy/pack";
import type { PlanResult } from "../plan/types";
import {
  EMPTY_TAGS,
  getPulumiType,
  NotApplicableError,
  ProviderLookup,
  resourceValidationArgs,
  stackPolicyResources,
  throwNotApplicable,
  UnknownValueError,
} from "./args";
import {
  type GivenPolicyConfig,
  POLICY_DIR,
  parsePolicyConfig,
  policyConfigPath,
  type ResolvedPolicyConfig,
  readPolicyConfigFile,
  reconcilePolicyConfig,
} from "./config";

/** One policy violation (or "could not check during preview" note), as the engine reports it. */
export interface Violation {
  policyName: string;
  enforcementLevel: "advisory" | "mandatory";
  /** What the policy reported (without the policy's description, which the engine prefixes). */
  message: string;
  urn?: string;
  resourceType?: string;
  /** The resource's logical name. */
  resourceName?: string;
}

export interface PolicyReport {
  stack: string;
  violations: Violation[];
  mandatoryCount: number;
  advisoryCount: number;
}

export interface EvaluateOptions {
  /** The stage whose `policy/config.<stage>.json` applies. @default plan.stage */
  stage?: string;
  /**
   * A policy pack config (what a `--policy-pack-config` file holds), used instead of the stage's
   * file. @default the content of `policy/config.<stage>.json`, or none when it does not exist
   */
  config?: object;
  /** The policies to run. @default the pack's (`policy/pack.ts`) */
  policies?: Policies;
  /** The pack-wide enforcement level. @default the pack's (`mandatory`) */
  enforcementLevel?: EnforcementLevel;
}

/** A policy threw (not "unknown during preview", not "not applicable"): the engine fails the preview. */
export class PolicyEvaluationError extends Error {
  constructor(
    readonly policyName: string,
    readonly cause: unknown,
    urn?: string,
  ) {
    super(
      `Error validating ${urn ? `resource ${urn}` : "the stack"} with policy '${policyName}' from policy pack '${PACK_NAME}@v${packVersion()}':\n${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`,
    );
    this.name = "PolicyEvaluationError";
  }
}

/** The pack's version (its package.json), which the engine shows with diagnostics. */
export function packVersion(): string {
  return (require(path.join(POLICY_DIR, "package.json")) as { version: string }).version;
}

type Level = "advisory" | "mandatory";

interface ActivePolicy<P> {
  policy: P;
  level: Level;
  getConfig: () => Record<string, unknown>;
}

const isResourcePolicy = (policy: Policies[number]): policy is ResourceValidationPolicy =>
  "validateResource" in policy && policy.validateResource !== undefined;
const isStackPolicy = (policy: Policies[number]): policy is StackValidationPolicy =>
  typeof (policy as StackValidationPolicy).validateStack === "function";

/** The violation object form @pulumi/policy's reportViolation also accepts. */
interface ViolationObject {
  name?: string;
  message?: string;
  description?: string;
  urn?: string;
  enforcementLevel?: EnforcementLevel;
}

/**
 * A reportViolation function as the server makes it: a string message (the engine shows it after
 * the policy's description) or an object that may also set the policy name, URN and level.
 */
function reporter(
  active: ActivePolicy<{ name: string; description: string }>,
  onViolation: (violation: { policyName: string; level: Level; message: string; urn?: string }) => void,
): ReportViolation {
  return (message: string | ViolationObject, urn?: string) => {
    if (typeof message === "object" && message !== null) {
      const level = message.enforcementLevel;
      if (level === "disabled") return;
      onViolation({
        policyName: message.name || active.policy.name,
        level:
          level === "advisory" || level === "mandatory"
            ? level
            : level === "remediate"
              ? "mandatory"
              : active.level,
        message: message.message || message.description || active.policy.description,
        urn: message.urn,
      });
    } else {
      onViolation({
        policyName: active.policy.name,
        level: active.level,
        message: message || active.policy.description,
        urn,
      });
    }
  };
}

/** "can't run policy ... during preview": the server's advisory for a value unknown at preview. */
function unknownDuringPreview(policyName: string, error: Error): string {
  return `can't run policy '${policyName}' from policy pack '${PACK_NAME}@v${packVersion()}' during preview: ${error.message}`;
}

/** Runs a validation: Promise.resolve only when it returned one (50,000 awaits are not free). */
function settle(result: unknown): Promise<unknown> | undefined {
  return result && typeof (result as Promise<unknown>).then === "function"
    ? (result as Promise<unknown>)
    : undefined;
}

/** The stage's policy config, reconciled with the policies' defaults, and where it came from. */
export interface PolicyConfigResolution {
  resolved: Map<string, ResolvedPolicyConfig>;
  /** The config file (relative to the working directory), `(options.config)` or `(none)`. */
  source: string;
}

/**
 * The config each policy runs with for a stage: `options.config` if given, else the stage's
 * `policy/config.<stage>.json` if it exists, reconciled as the engine does.
 */
export function resolvePolicyConfig(
  stage: string,
  options: Pick<EvaluateOptions, "config" | "policies" | "enforcementLevel"> = {},
): PolicyConfigResolution {
  const policies = options.policies ?? packPolicies;
  const packLevel = options.enforcementLevel ?? PACK_ENFORCEMENT_LEVEL;
  let given = new Map<string, GivenPolicyConfig>();
  let source = "(none)";
  if (options.config !== undefined) {
    source = "(options.config)";
    given = parsePolicyConfig(options.config, source);
  } else {
    const file = policyConfigPath(stage);
    const raw = readPolicyConfigFile(file);
    if (raw !== undefined) {
      source = path.relative(process.cwd(), file) || file;
      given = parsePolicyConfig(raw, source);
    }
  }
  const resolved = reconcilePolicyConfig(policies, packLevel, given, source, {
    rejectUnknownPolicies: policies === packPolicies,
  });
  return { resolved, source };
}

/**
 * Evaluates every resource policy on every registered resource and every stack policy on the whole
 * graph, as `pulumi preview --policy-pack policy --policy-pack-config policy/config.<stage>.json`
 * would (offline plans run as updates, so values the engine knows only after an update are known).
 *
 * @throws PolicyConfigError for a bad config, PolicyEvaluationError when a policy throws.
 */
export async function evaluatePlan(plan: PlanResult, options: EvaluateOptions = {}): Promise<PolicyReport> {
  const policies = options.policies ?? packPolicies;
  const packLevel = options.enforcementLevel ?? PACK_ENFORCEMENT_LEVEL;
  const { resolved } = resolvePolicyConfig(options.stage ?? plan.stage, options);

  const activate = <P extends Policies[number]>(policy: P): ActivePolicy<P> | undefined => {
    const config = resolved.get(policy.name);
    const level = config?.enforcementLevel || policy.enforcementLevel || packLevel;
    if (level === "disabled") return undefined;
    const properties = config?.properties ?? {};
    return {
      policy,
      level: level === "remediate" ? "mandatory" : level,
      getConfig: () => ({ ...properties }),
    };
  };
  const resourcePolicies = policies
    .filter(isResourcePolicy)
    .map(activate)
    .filter((active): active is ActivePolicy<ResourceValidationPolicy> => active !== undefined);
  const stackPolicies = policies
    .filter(isStackPolicy)
    .map(activate)
    .filter((active): active is ActivePolicy<StackValidationPolicy> => active !== undefined);

  const violations: Violation[] = [];
  const providers = new ProviderLookup(plan);

  for (const resource of plan.resources) {
    const provider = providers.providerOf(resource);
    for (const active of resourcePolicies) {
      const validateResource = active.policy.validateResource;
      if (!validateResource) continue;
      // A typed validation (validateResourceOfType) of another type would only call notApplicable():
      // skip it, as the server does for a single one (throwing 50,000 errors is not free).
      const validations = (Array.isArray(validateResource) ? validateResource : [validateResource]).filter(
        (validation: ResourceValidation) => {
          const pulumiType = getPulumiType(validation);
          return !pulumiType || pulumiType === resource.type;
        },
      );
      if (validations.length === 0) continue;
      // The engine attributes a resource policy's diagnostics to the resource, whatever URN is reported.
      const report = reporter(active, (v) =>
        violations.push({
          policyName: v.policyName,
          enforcementLevel: v.level,
          message: v.message,
          urn: resource.urn,
          resourceType: resource.type,
          resourceName: resource.name,
        }),
      );
      for (const validation of validations) {
        try {
          const args = resourceValidationArgs(resource, active.getConfig, provider);
          const pending = settle(validation(args, report));
          if (pending) await pending;
        } catch (error) {
          if (error instanceof NotApplicableError) continue;
          if (error instanceof UnknownValueError) {
            violations.push({
              policyName: active.policy.name,
              enforcementLevel: "advisory",
              message: unknownDuringPreview(active.policy.name, error),
              urn: resource.urn,
              resourceType: resource.type,
              resourceName: resource.name,
            });
            continue;
          }
          throw new PolicyEvaluationError(active.policy.name, error, resource.urn);
        }
      }
    }
  }

  if (stackPolicies.length > 0) {
    // Built once and shared: stack policies must treat their arguments as read-only (as they are).
    const resources = stackPolicyResources(plan, providers);
    let byUrn: Map<string, PolicyResource> | undefined; // built for the first violation only
    const root =
      resources.find((resource) => resource.type === "pulumi:pulumi:Stack" && !resource.parent) ?? undefined;
    const attribute = (urn: string | undefined) => {
      // The engine keeps a URN of a resource in the stack and attributes anything else to the stack.
      byUrn ??= new Map(resources.map((resource) => [resource.urn, resource]));
      const resource = (urn !== undefined ? byUrn.get(urn) : undefined) ?? root;
      return resource
        ? { urn: resource.urn, resourceType: resource.type, resourceName: resource.name }
        : {
            urn: `urn:pulumi:${plan.stack}::${plan.project}::pulumi:pulumi:Stack::${plan.project}-${plan.stack}`,
          };
    };
    for (const active of stackPolicies) {
      const pulumiType = getPulumiType(active.policy.validateStack);
      if (pulumiType && !resources.some((resource) => resource.type === pulumiType)) continue;
      const report = reporter(active, (v) =>
        violations.push({
          policyName: v.policyName,
          enforcementLevel: v.level,
          message: v.message,
          ...attribute(v.urn),
        }),
      );
      const args: StackValidationArgs = {
        resources,
        getConfig: <T extends object>() => active.getConfig() as T,
        stackTags: EMPTY_TAGS,
        notApplicable: throwNotApplicable,
      };
      try {
        const pending = settle(active.policy.validateStack(args, report));
        if (pending) await pending;
      } catch (error) {
        if (error instanceof NotApplicableError) continue;
        if (error instanceof UnknownValueError) {
          violations.push({
            policyName: active.policy.name,
            enforcementLevel: "advisory",
            message: unknownDuringPreview(active.policy.name, error),
            ...attribute(undefined),
          });
          continue;
        }
        throw new PolicyEvaluationError(active.policy.name, error);
      }
    }
  }

  const mandatoryCount = violations.filter((violation) => violation.enforcementLevel === "mandatory").length;
  return {
    stack: plan.stack,
    violations,
    mandatoryCount,
    advisoryCount: violations.length - mandatoryCount,
  };
}
