import type {
  EngineEvent,
  OpType,
  StepEventMetadata,
  StepEventStateMetadata,
} from "@pulumi/pulumi/automation";
import { urnName } from "../engine/events";
import { DEFAULT_EXPECTED_DRIFT, deployedVersionsOf, publishedVersionsOf } from "./codedeploy";

export {
  CODEDEPLOY_ALIAS_DRIFT,
  CODEDEPLOY_SHIFT_DRIFT,
  DEFAULT_EXPECTED_DRIFT,
  TRAFFIC_SHIFT_RESOURCE_TYPE,
} from "./codedeploy";

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
  /**
   * True when the rule's properties are to be judged from the live state (the refresh result's
   * `new` outputs), whatever the step's op and diff say. Since Pulumi 3.120 a refresh diffs the
   * live state against the desired one with the resource's `ignoreChanges`, so a property the
   * program ignores is never in the diff, and a step where only such properties changed is `same`
   * (with `PULUMI_ENABLE_LEGACY_REFRESH_DIFF`, or before 3.120, any output change is an `update`).
   * @default never: the step's diff decides
   */
  judgeLiveState?: (step: StepEventMetadata, context: DriftContext) => boolean;
}

/** What the refresh says about the stack as a whole, for rules that depend on other resources. */
export interface DriftContext {
  /** The version each TrafficShift last deployed (its recorded target), by `<function name>:<alias>`. */
  deployedVersions: ReadonlyMap<string, string>;
  /**
   * The latest version each function published, as the stack recorded it, by function name: the
   * version a canary deployment under way shifts the alias to.
   */
  publishedVersions: ReadonlyMap<string, string>;
}

export interface ExpectedDrift extends ResourceDrift {
  reason: string;
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

/** One property's recorded and live values (from inputs or outputs); a secret on either side hides both. */
function propertyDrift(
  metadata: StepEventMetadata,
  propertyPath: string,
  kind: string,
  inputs: boolean,
): PropertyDrift {
  const before = valueAt(stateValues(metadata.old, inputs), propertyPath);
  const after = valueAt(stateValues(metadata.new, inputs), propertyPath);
  // The live value of a secret is as sensitive as the recorded one.
  const secret = before === SECRET || after === SECRET;
  return { path: propertyPath, kind, recorded: secret ? SECRET : before, live: secret ? SECRET : after };
}

/** The top-level outputs (of `keys`, else all) whose recorded and live values differ. */
function changedOutputs(metadata: StepEventMetadata, keys?: readonly string[]): PropertyDrift[] {
  const before = stateValues(metadata.old, false);
  const after = stateValues(metadata.new, false);
  const candidates = keys ?? [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return candidates
    .filter((key) => !key.startsWith("__") && canonical(before[key]) !== canonical(after[key]))
    .sort()
    .map((key) =>
      propertyDrift(metadata, key, key in before ? (key in after ? "update" : "delete") : "add", false),
    );
}

/** The differences of a refresh step: from its detailed diff, its diff keys, or old vs new state. */
function propertyDrifts(metadata: StepEventMetadata): PropertyDrift[] {
  if (metadata.detailedDiff && Object.keys(metadata.detailedDiff).length > 0) {
    return Object.entries(metadata.detailedDiff).map(([propertyPath, diff]) =>
      propertyDrift(metadata, propertyPath, diff.diffKind, diff.inputDiff),
    );
  }
  if (metadata.diffs && metadata.diffs.length > 0) {
    return metadata.diffs.map((key) => propertyDrift(metadata, key, "update", false));
  }
  return changedOutputs(metadata);
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

/** The rule is about this resource (its type and name), whichever property. */
function ruleCoversResource(rule: ExpectedDriftRule, metadata: StepEventMetadata): boolean {
  if (metadata.type !== rule.type) return false;
  const name = resourceNameOf(metadata);
  return rule.resourceName === undefined || name === undefined || name === rule.resourceName;
}

function rootOf(propertyPath: string): string | number | undefined {
  return parsePropertyPath(propertyPath)[0];
}

function matchesRule(rule: ExpectedDriftRule, metadata: StepEventMetadata, propertyPath: string): boolean {
  const root = rootOf(propertyPath);
  return typeof root === "string" && rule.properties.includes(root) && ruleCoversResource(rule, metadata);
}

/** Set in the live state: not absent, null or empty. */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && canonical(value) !== "{}" && canonical(value) !== "[]";
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

/** What rules need to know of the stack: deployed and published versions, from the live states' records. */
function contextOf(steps: Step[]): DriftContext {
  // A state pending deletion (e.g. a replaced TrafficShift) is not the one deploying the alias now.
  const metadata = steps
    .filter((step) => !step.pendingDeletion)
    .flatMap(({ pre, result }) => [pre, result].filter((candidate) => candidate !== undefined));
  return { deployedVersions: deployedVersionsOf(metadata), publishedVersions: publishedVersionsOf(metadata) };
}

/**
 * Drift from the events of a preview-only refresh, as the Automation API delivers them (or as
 * `pulumi refresh --preview-only --event-log` writes them): per refreshed state, the
 * `resourcePreEvent` (op `refresh`) and the `resOutputsEvent` whose op is the refresh's result
 * (`same`, `update`, `delete`), with `old` (the recorded state) and `new` (the live state), `diffs`
 * and `detailedDiff` when the engine computed them. Steps are keyed by URN and state, so that
 * every state of a URN (e.g. a replaced resource pending deletion next to its replacement) is
 * reported, and the findings do not depend on the order of the events. Differences matched by an
 * expected rule (by default CodeDeploy's on the live alias and its TrafficShift, while the alias is
 * on the version the TrafficShift last deployed) are listed apart and are not drift. The alias is
 * judged from its live state, so the report is the same whether the engine diffs a refresh against
 * the desired state (Pulumi >= 3.120: ignored properties never in the diff, the moved alias `same`)
 * or only compares outputs (before, or with PULUMI_ENABLE_LEGACY_REFRESH_DIFF). Secrets are masked.
 */
export function extractDrift(
  events: EngineEvent[],
  options: { expected?: readonly ExpectedDriftRule[] } = {},
): DriftFindings {
  const rules = options.expected ?? DEFAULT_EXPECTED_DRIFT;
  const steps = refreshSteps(events);
  const context = contextOf(steps);
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
    if (GONE_OPS.has(metadata.op) || (metadata.op === "refresh" && metadata.old && !metadata.new && result)) {
      findings.drifted.push({ ...base, change: "delete", properties: [] });
      continue;
    }
    const unexpected: PropertyDrift[] = [];
    const reasons = new Set<string>();
    const expectedByRule = new Map<ExpectedDriftRule, PropertyDrift[]>();
    const addExpected = (rule: ExpectedDriftRule, properties: PropertyDrift[]) =>
      expectedByRule.set(rule, [...(expectedByRule.get(rule) ?? []), ...properties]);

    // Rules judged from the live state see the result whatever its op: a `same` step still carries
    // the live outputs. A state pending deletion is judged by its diff alone.
    const liveRules =
      result?.new && !pendingDeletion
        ? rules.filter((rule) => ruleCoversResource(rule, result) && rule.judgeLiveState?.(result, context))
        : [];
    const judgedRoots = new Set(liveRules.flatMap((rule) => rule.properties));
    for (const rule of liveRules) {
      const changed = changedOutputs(result!, rule.properties);
      const driftReason = rule.driftReason?.(result!, context);
      if (driftReason === undefined) {
        if (changed.length > 0) addExpected(rule, changed);
        continue;
      }
      // The state may already hold the live values (a refresh adopted them): the drift is still
      // there, since it is judged against where the stack put the resource, so show them.
      const live = stateValues(result!.new, false);
      const shown =
        changed.length > 0
          ? changed
          : rule.properties
              .filter((key) => isSet(live[key]))
              .map((key) => propertyDrift(result!, key, "update", false));
      unexpected.push(...shown);
      if (shown.length > 0) reasons.add(driftReason);
    }

    if (result?.op !== "same" && CHANGED_OPS.has(metadata.op)) {
      for (const property of propertyDrifts(metadata)) {
        const root = rootOf(property.path);
        if (typeof root === "string" && judgedRoots.has(root)) continue;
        const rule = rules.find((candidate) => matchesRule(candidate, metadata, property.path));
        const driftReason = rule?.driftReason?.(metadata, context);
        if (rule && driftReason === undefined) {
          addExpected(rule, [property]);
        } else {
          unexpected.push(property);
          if (driftReason) reasons.add(driftReason);
        }
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
