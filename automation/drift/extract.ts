import type {
  EngineEvent,
  OpType,
  StepEventMetadata,
  StepEventStateMetadata,
} from "@pulumi/pulumi/automation";
import { urnName } from "../engine/events";

/** How a secret value is shown. */
export const SECRET = "[secret]";

/** The engine's marker of a secret value in serialized state (`{ <sig>: <secret>, ciphertext|value }`). */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** One property whose live value differs from the recorded one. */
export interface PropertyDrift {
  /** The property path as the engine names it (`memorySize`, `tags.env`, `environment.variables["A"]`). */
  path: string;
  /** `update`, `add` (only live has it), `delete` (only the state has it), or a `-replace` variant. */
  kind: string;
  /** The value in the stack's state (secrets `[secret]`). */
  recorded: unknown;
  /** The value read from the cloud (secrets `[secret]`). */
  live: unknown;
}

/** A resource whose live state differs from the stack's state. */
export interface ResourceDrift {
  urn: string;
  type: string;
  name: string;
  /** The physical id of the recorded state (several states of one URN differ in it). */
  id?: string;
  /** True for a replaced resource's old state, which the engine still has to delete. */
  pendingDeletion?: boolean;
  /** `update` (properties changed) or `delete` (the resource is gone). */
  change: "update" | "delete";
  properties: PropertyDrift[];
  /** Why differences that are usually expected (e.g. CodeDeploy's on the alias) are drift here. */
  reason?: string;
}

/** Differences that something else owns by design: shown, but not drift. */
export interface ExpectedDriftRule {
  type: string;
  /** Top-level properties the rule covers (a path's first segment). */
  properties: string[];
  /** Only resources whose `name` property is this one. @default any */
  resourceName?: string;
  reason: string;
  /**
   * A condition on the live resource: returns why its differences are drift after all, or
   * undefined when they are expected. @default always expected
   */
  driftReason?: (step: StepEventMetadata, context: DriftContext) => string | undefined;
}

/** What the refresh says about the stack as a whole, for rules that depend on other resources. */
export interface DriftContext {
  /** The version each TrafficShift last deployed (its recorded target), by `<function name>:<alias>`. */
  deployedVersions: ReadonlyMap<string, string>;
}

export interface ExpectedDrift extends ResourceDrift {
  reason: string;
}

/**
 * CodeDeploy shifts the `live` alias between function versions: its `functionVersion` and
 * `routingConfig` change after every deployment, and Pulumi ignores them (ignoreChanges). That is
 * expected only while the alias is where the stack's TrafficShift last put it: on the recorded
 * target version, with no other version weighted. Anywhere else, it was moved outside Pulumi.
 */
export const CODEDEPLOY_ALIAS_DRIFT: ExpectedDriftRule = {
  type: "aws:lambda/alias:Alias",
  properties: ["functionVersion", "routingConfig"],
  resourceName: "live",
  reason: "CodeDeploy shifts the live alias between versions (traffic shifting)",
  driftReason: aliasNotOnDeployedVersion,
};

/** The type of the TrafficShift dynamic resource (`pulumi-nodejs:dynamic/platform:TrafficShift`). */
const TRAFFIC_SHIFT_TYPE = /^pulumi-nodejs:dynamic(\/[^:]*)?:TrafficShift$/;

/** `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` or a name -> the name. */
function functionNameOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(value);
  return arn ? arn[1] : value;
}

function aliasNotOnDeployedVersion(step: StepEventMetadata, context: DriftContext): string | undefined {
  const live = (step.new?.outputs ?? step.new?.inputs ?? {}) as Record<string, unknown>;
  const recorded = (step.old?.outputs ?? step.old?.inputs ?? {}) as Record<string, unknown>;
  const functionName = functionNameOf(live.functionName ?? recorded.functionName);
  const aliasName = String(live.name ?? recorded.name);
  const alias = `${functionName}:${aliasName}`;
  const deployed = context.deployedVersions.get(alias);
  if (deployed === undefined) {
    return `no TrafficShift of ${alias} in the stack, so CodeDeploy does not own this alias`;
  }
  const version = live.functionVersion;
  if (version !== deployed) {
    return `alias ${alias} is on version ${String(version)}, but the stack last deployed version ${deployed}`;
  }
  const routing = live.routingConfig as
    | { additionalVersionWeights?: Record<string, number> }
    | null
    | undefined;
  const weights = Object.entries(routing?.additionalVersionWeights ?? {});
  if (weights.length > 0) {
    const shares = weights.map(([other, weight]) => `${Math.round(weight * 100)}% to version ${other}`);
    return `alias ${alias} sends ${shares.join(", ")}, but the stack last deployed version ${deployed} alone`;
  }
  return undefined;
}

/** The recorded target version of every TrafficShift the refresh saw (changed or not). */
function deployedVersionsOf(steps: Iterable<StepEventMetadata>): Map<string, string> {
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

export interface DriftFindings {
  /** Resources with at least one unexpected difference (only those differences listed). */
  drifted: ResourceDrift[];
  /** Resources with expected differences (only those listed), e.g. CodeDeploy's alias changes. */
  expected: ExpectedDrift[];
}

function isSecretValue(value: unknown): boolean {
  return (
    value === SECRET ||
    (typeof value === "object" &&
      value !== null &&
      (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG_VALUE)
  );
}

/** A value with every secret (marker object or `[secret]`) replaced by `[secret]`. */
export function maskSecrets(value: unknown): unknown {
  if (isSecretValue(value)) return SECRET;
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, maskSecrets(child)]));
  }
  return value;
}

/** Splits a property path (`a.b[0]["c.d"]`) into its segments. */
export function parsePropertyPath(propertyPath: string): (string | number)[] {
  const segments: (string | number)[] = [];
  const pattern = /\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\.?([^.[\]]+)/g;
  for (const match of propertyPath.matchAll(pattern)) {
    if (match[1] !== undefined) segments.push(Number(match[1]));
    else if (match[2] !== undefined) segments.push(match[2].replace(/\\(.)/g, "$1"));
    else if (match[3] !== undefined) segments.push(match[3]);
  }
  return segments;
}

/** The value at a property path; a secret anywhere on the way is `[secret]`. */
function valueAt(root: unknown, propertyPath: string): unknown {
  let value = root;
  for (const segment of parsePropertyPath(propertyPath)) {
    if (isSecretValue(value)) return SECRET;
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return maskSecrets(value);
}

/** JSON with sorted keys, to compare values by content. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, child) =>
    child && typeof child === "object" && !Array.isArray(child)
      ? Object.fromEntries(Object.entries(child).sort(([a], [b]) => a.localeCompare(b)))
      : child,
  );
}

function stateValues(state: StepEventStateMetadata | undefined, inputs: boolean): Record<string, unknown> {
  return ((inputs ? state?.inputs : state?.outputs) ?? {}) as Record<string, unknown>;
}

/** The differences of a refresh step: from its detailed diff, its diff keys, or old vs new state. */
function propertyDrifts(metadata: StepEventMetadata): PropertyDrift[] {
  const { old: recorded, new: live } = metadata;
  const drift = (propertyPath: string, kind: string, inputs: boolean): PropertyDrift => {
    const before = valueAt(stateValues(recorded, inputs), propertyPath);
    const after = valueAt(stateValues(live, inputs), propertyPath);
    // A secret on either side hides both: the live value of a secret is as sensitive as the recorded one.
    const secret = before === SECRET || after === SECRET;
    return { path: propertyPath, kind, recorded: secret ? SECRET : before, live: secret ? SECRET : after };
  };
  if (metadata.detailedDiff && Object.keys(metadata.detailedDiff).length > 0) {
    return Object.entries(metadata.detailedDiff).map(([propertyPath, diff]) =>
      drift(propertyPath, diff.diffKind, diff.inputDiff),
    );
  }
  if (metadata.diffs && metadata.diffs.length > 0) {
    return metadata.diffs.map((key) => drift(key, "update", false));
  }
  const before = stateValues(recorded, false);
  const after = stateValues(live, false);
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => !key.startsWith("__"),
  );
  return keys
    .filter((key) => canonical(before[key]) !== canonical(after[key]))
    .sort()
    .map((key) => drift(key, key in before ? (key in after ? "update" : "delete") : "add", false));
}

const IGNORED_TYPES = /^pulumi:(pulumi:Stack|providers:)/;
/** Result ops of a refresh step that mean "the live state differs". */
const CHANGED_OPS: ReadonlySet<OpType> = new Set(["update", "refresh", "replace", "read"]);
const GONE_OPS: ReadonlySet<OpType> = new Set(["delete", "discard", "read-discard" as OpType]);

function resourceNameOf(metadata: StepEventMetadata): unknown {
  return (
    metadata.new?.outputs?.name ??
    metadata.old?.outputs?.name ??
    metadata.new?.inputs?.name ??
    metadata.old?.inputs?.name
  );
}

function matchesRule(rule: ExpectedDriftRule, metadata: StepEventMetadata, propertyPath: string): boolean {
  if (metadata.type !== rule.type) return false;
  const root = parsePropertyPath(propertyPath)[0];
  if (typeof root !== "string" || !rule.properties.includes(root)) return false;
  const name = resourceNameOf(metadata);
  return rule.resourceName === undefined || name === undefined || name === rule.resourceName;
}

/** Which state of a URN a step is about: the recorded one (its physical id, pending deletion or not). */
interface StateKey {
  id: string;
  pendingDeletion: boolean;
}

function stateKeyOf(metadata: StepEventMetadata): StateKey {
  // The recorded state identifies the step: the pre-event and the result of one refresh step carry
  // the same `old`, while two states of one URN (a resource and its replaced predecessor pending
  // deletion) differ in id and `delete`.
  const state = metadata.old ?? metadata.new;
  return { id: String(state?.id ?? ""), pendingDeletion: state?.delete === true };
}

interface Step extends StateKey {
  urn: string;
  pre?: StepEventMetadata;
  result?: StepEventMetadata;
  /** The result's event sequence: of two results for one state, the later one counts. */
  resultSequence: number;
}

/** Order of the report: by URN, then the live state before one pending deletion, then by id. */
function compareSteps(a: Omit<Step, "resultSequence">, b: Omit<Step, "resultSequence">): number {
  if (a.urn !== b.urn) return a.urn < b.urn ? -1 : 1;
  if (a.pendingDeletion !== b.pendingDeletion) return a.pendingDeletion ? 1 : -1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The refresh steps of an event stream, one per URN and state, whatever order the events came in. */
function refreshSteps(events: EngineEvent[]): Step[] {
  const steps = new Map<string, Step>();
  for (const event of events) {
    const pre = event.resourcePreEvent?.metadata;
    const result = event.resOutputsEvent?.metadata ?? event.resOpFailedEvent?.metadata;
    const metadata = result ?? pre;
    if (!metadata || IGNORED_TYPES.test(metadata.type)) continue;
    const key = stateKeyOf(metadata);
    const id = JSON.stringify([metadata.urn, key.id, key.pendingDeletion]);
    const step = steps.get(id) ?? { urn: metadata.urn, ...key, resultSequence: Number.NEGATIVE_INFINITY };
    const sequence = typeof event.sequence === "number" ? event.sequence : 0;
    if (result && sequence >= step.resultSequence) {
      step.result = result;
      step.resultSequence = sequence;
    } else if (!result) {
      step.pre = pre;
    }
    steps.set(id, step);
  }
  return [...steps.values()].sort(compareSteps);
}

/** The recorded target version of every TrafficShift the refresh saw, changed or not. */
function deployedVersionsOfSteps(steps: Step[]): Map<string, string> {
  // A TrafficShift pending deletion is not the one deploying the alias now.
  return deployedVersionsOf(
    steps
      .filter((step) => !step.pendingDeletion)
      .flatMap(({ pre, result }) => [pre, result].filter((metadata) => metadata !== undefined)),
  );
}

/**
 * Drift from the events of a preview-only refresh, as the Automation API delivers them (or as
 * `pulumi refresh --preview-only --event-log` writes them): per refreshed state, the
 * `resourcePreEvent` (op `refresh`) and the `resOutputsEvent` whose op is the refresh's result
 * (`same`, `update`, `delete`), with `old` (the recorded state) and `new` (the live state), `diffs`
 * and `detailedDiff` when the engine computed them. Steps are keyed by URN and state, so that
 * every state of a URN (e.g. a replaced resource pending deletion next to its replacement) is
 * reported, and the findings do not depend on the order of the events. Differences matched by an
 * expected rule (by default CodeDeploy's on the live alias, while it is on the version the stack's
 * TrafficShift last deployed) are listed apart and are not drift. Secrets are masked.
 */
export function extractDrift(
  events: EngineEvent[],
  options: { expected?: ExpectedDriftRule[] } = {},
): DriftFindings {
  const rules = options.expected ?? [CODEDEPLOY_ALIAS_DRIFT];
  const steps = refreshSteps(events);
  const context: DriftContext = { deployedVersions: deployedVersionsOfSteps(steps) };
  const findings: DriftFindings = { drifted: [], expected: [] };
  for (const { urn, id, pendingDeletion, pre, result } of steps) {
    const metadata = result ?? pre!;
    const base = {
      urn,
      type: metadata.type,
      name: urnName(urn),
      id,
      ...(pendingDeletion ? { pendingDeletion: true } : {}),
    };
    if (result?.op === "same") continue;
    if (GONE_OPS.has(metadata.op) || (metadata.op === "refresh" && metadata.old && !metadata.new && result)) {
      findings.drifted.push({ ...base, change: "delete", properties: [] });
      continue;
    }
    if (!CHANGED_OPS.has(metadata.op)) continue;
    const properties = propertyDrifts(metadata);
    const unexpected: PropertyDrift[] = [];
    const reasons = new Set<string>();
    const expectedByRule = new Map<ExpectedDriftRule, PropertyDrift[]>();
    for (const property of properties) {
      const rule = rules.find((candidate) => matchesRule(candidate, metadata, property.path));
      const driftReason = rule?.driftReason?.(metadata, context);
      if (rule && driftReason === undefined) {
        expectedByRule.set(rule, [...(expectedByRule.get(rule) ?? []), property]);
      } else {
        unexpected.push(property);
        if (driftReason) reasons.add(driftReason);
      }
    }
    if (unexpected.length > 0) {
      const reason = reasons.size > 0 ? { reason: [...reasons].join("; ") } : {};
      findings.drifted.push({ ...base, change: "update", properties: unexpected, ...reason });
    }
    for (const [rule, expected] of expectedByRule) {
      findings.expected.push({ ...base, change: "update", properties: expected, reason: rule.reason });
    }
  }
  return findings;
}
