import type { StepEventMetadata } from "@pulumi/pulumi/automation";
import type { DriftContext, ExpectedDriftRule } from "./extract";

// CodeDeploy's traffic shifting, as drift rules: where the `live` alias may be without being drift.

const CODEDEPLOY_REASON = "CodeDeploy shifts the live alias between versions (traffic shifting)";

/** `<function name>:<alias name>` of an alias step (`aliasProperty` `name`) or a TrafficShift's (`aliasName`). */
function aliasKeyOf(step: StepEventMetadata, aliasProperty: "name" | "aliasName" = "name"): string {
  const live = (step.new?.outputs ?? step.new?.inputs ?? {}) as Record<string, unknown>;
  const recorded = (step.old?.outputs ?? step.old?.inputs ?? {}) as Record<string, unknown>;
  const aliasName = live[aliasProperty] ?? recorded[aliasProperty];
  return `${functionNameOf(live.functionName ?? recorded.functionName)}:${String(aliasName)}`;
}

/**
 * CodeDeploy shifts the `live` alias between function versions: its `functionVersion` and
 * `routingConfig` change after every deployment, and Pulumi ignores them (ignoreChanges). That is
 * expected only while the alias is where the stack's TrafficShift last put it: on the recorded
 * target version, with no other version weighted, or weighted only to the version the function
 * last published (a deployment under way). Anywhere else, it was moved outside Pulumi. Judged from
 * the alias's live state when a TrafficShift deploys it, as a refresh reports the alias `same`
 * when only these ignored properties changed.
 */
export const CODEDEPLOY_ALIAS_DRIFT: ExpectedDriftRule = {
  type: "aws:lambda/alias:Alias",
  properties: ["functionVersion", "routingConfig"],
  resourceName: "live",
  reason: CODEDEPLOY_REASON,
  driftReason: aliasNotOnDeployedVersion,
  judgeLiveState: (step, context) => context.deployedVersions.has(aliasKeyOf(step)),
};

/** The type of the TrafficShift dynamic resource. */
export const TRAFFIC_SHIFT_RESOURCE_TYPE = "pulumi-nodejs:dynamic/platform:TrafficShift";

/**
 * The TrafficShift's refresh reads where the alias is (`currentVersion`, `additionalVersionWeights`):
 * the same fact as the alias's own live state, so it is expected or drift for the same reason.
 */
export const CODEDEPLOY_SHIFT_DRIFT: ExpectedDriftRule = {
  type: TRAFFIC_SHIFT_RESOURCE_TYPE,
  properties: ["currentVersion", "additionalVersionWeights"],
  reason: CODEDEPLOY_REASON,
  driftReason: shiftNotOnDeployedVersion,
  judgeLiveState: (step, context) => context.deployedVersions.has(aliasKeyOf(step, "aliasName")),
};

/** The rules `extractDrift` applies unless told otherwise. */
export const DEFAULT_EXPECTED_DRIFT: readonly ExpectedDriftRule[] = [
  CODEDEPLOY_ALIAS_DRIFT,
  CODEDEPLOY_SHIFT_DRIFT,
];

/** The type of the TrafficShift dynamic resource (`pulumi-nodejs:dynamic/platform:TrafficShift`). */
const TRAFFIC_SHIFT_TYPE = /^pulumi-nodejs:dynamic(\/[^:]*)?:TrafficShift$/;
const FUNCTION_TYPE = "aws:lambda/function:Function";

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` or a name -> the name. */
function functionNameOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(value);
  return arn ? arn[1] : value;
}

/** Why an alias at `version` with `weights` is not where the stack put it, or undefined when it is. */
function aliasPlacementDrift(
  alias: string,
  functionName: string | undefined,
  version: unknown,
  weights: Record<string, number>,
  context: DriftContext,
): string | undefined {
  const deployed = context.deployedVersions.get(alias);
  if (deployed === undefined) {
    return `no TrafficShift of ${alias} in the stack, so CodeDeploy does not own this alias`;
  }
  if (version !== deployed) {
    return `alias ${alias} is on version ${String(version)}, but the stack last deployed version ${deployed}`;
  }
  const shares = Object.entries(weights);
  if (shares.length === 0) return undefined;
  // A canary deployment under way: the alias still on the deployed version, some traffic on the
  // version the function just published (the TrafficShift records its new target once it ends).
  const published = functionName === undefined ? undefined : context.publishedVersions.get(functionName);
  if (published !== undefined && published !== deployed && shares.every(([other]) => other === published)) {
    return undefined;
  }
  const described = shares.map(([other, weight]) => `${Math.round(weight * 100)}% to version ${other}`);
  return `alias ${alias} sends ${described.join(", ")}, but the stack last deployed version ${deployed} alone`;
}

function aliasNotOnDeployedVersion(step: StepEventMetadata, context: DriftContext): string | undefined {
  const live = (step.new?.outputs ?? step.new?.inputs ?? {}) as Record<string, unknown>;
  const recorded = (step.old?.outputs ?? step.old?.inputs ?? {}) as Record<string, unknown>;
  const routing = live.routingConfig as
    | { additionalVersionWeights?: Record<string, number> }
    | null
    | undefined;
  return aliasPlacementDrift(
    aliasKeyOf(step),
    functionNameOf(live.functionName ?? recorded.functionName),
    live.functionVersion,
    routing?.additionalVersionWeights ?? {},
    context,
  );
}

function shiftNotOnDeployedVersion(step: StepEventMetadata, context: DriftContext): string | undefined {
  const live = (step.new?.outputs ?? step.new?.inputs ?? {}) as Record<string, unknown>;
  const recorded = (step.old?.outputs ?? step.old?.inputs ?? {}) as Record<string, unknown>;
  return aliasPlacementDrift(
    aliasKeyOf(step, "aliasName"),
    functionNameOf(live.functionName ?? recorded.functionName),
    live.currentVersion,
    (live.additionalVersionWeights as Record<string, number> | undefined) ?? {},
    context,
  );
}

/** The recorded target version of every TrafficShift the refresh saw (changed or not). */
export function deployedVersionsOf(steps: Iterable<StepEventMetadata>): Map<string, string> {
  const versions = new Map<string, string>();
  for (const step of steps) {
    if (!TRAFFIC_SHIFT_TYPE.test(step.type)) continue;
    const recorded = (step.old?.outputs ?? step.old?.inputs ?? {}) as Record<string, unknown>;
    const functionName = functionNameOf(recorded.functionName);
    if (
      functionName &&
      typeof recorded.aliasName === "string" &&
      typeof recorded.targetVersion === "string"
    ) {
      versions.set(`${functionName}:${recorded.aliasName}`, recorded.targetVersion);
    }
  }
  return versions;
}

/** The recorded latest published version of every function the refresh saw. */
export function publishedVersionsOf(steps: Iterable<StepEventMetadata>): Map<string, string> {
  const versions = new Map<string, string>();
  for (const step of steps) {
    if (step.type !== FUNCTION_TYPE) continue;
    const recorded = (step.old?.outputs ?? {}) as Record<string, unknown>;
    const functionName = functionNameOf(recorded.name);
    // `$LATEST` is what an unpublished function reports: no version to shift to.
    if (functionName && typeof recorded.version === "string" && recorded.version !== "$LATEST") {
      versions.set(functionName, recorded.version);
    }
  }
  return versions;
}
