/**
 * The difference between two offline plans of one stack (a base revision and the working tree):
 * resources matched by URN, their inputs compared path by path, policy findings and the monthly
 * cost compared. Pure functions: the command plans, this compares, render.ts prints.
 */
import { createHash } from "node:crypto";
import type { CostEstimate } from "../cost/estimate";
import type { RecordedResource } from "../plan/mocks";
import { SECRET_PLACEHOLDER } from "../plan/stack-config";
import type { PlanResult } from "../plan/types";
import type { PolicyReport, Violation } from "../policy/evaluate";
import { replacementCauses } from "./replacement";

/** One changed input; values are short JSON texts, `[secret]` for anything secret on either side. */
export interface InputChange {
  /** `memorySize`, `environment.variables.TABLE_NAME`, `policy.Statement[0].Action`. */
  path: string;
  /** Undefined when the input did not exist at the base. */
  before?: string;
  /** Undefined when the input no longer exists. */
  after?: string;
  secret: boolean;
}

export type ChangeKind = "add" | "remove" | "replace" | "update";

export interface ResourceChange {
  kind: ChangeKind;
  urn: string;
  type: string;
  name: string;
  /** Changed inputs (update and replace); empty for add and remove. */
  inputs: InputChange[];
  /** The changed inputs that force the replacement (see replacement.ts). */
  replacedBecause: string[];
}

export interface FindingChange {
  change: "introduced" | "fixed";
  policyName: string;
  enforcementLevel: Violation["enforcementLevel"];
  resourceName?: string;
  urn?: string;
  message: string;
}

export interface CostLineChange {
  item: string;
  before: number;
  after: number;
}

export interface CostDelta {
  before: number;
  after: number;
  /** Lines whose cost changed (a function's, API Gateway's, DynamoDB's), in US dollars a month. */
  lines: CostLineChange[];
}

export interface PlanDiff {
  stack: string;
  /** The base revision as given (`HEAD~1`) and the commit it named. */
  base: { ref: string; commit: string; exists: boolean };
  resources: ResourceChange[];
  /** Custom resources present on both sides with no input change. */
  unchanged: number;
  policy: FindingChange[];
  /** Undefined when the stack has no cost model (not an application stack). */
  cost?: CostDelta;
}

export interface DiffSide {
  plan?: PlanResult;
  policy?: PolicyReport;
  cost?: CostEstimate;
}

/** The pulumi secret wrapper @pulumi/pulumi leaves in deserialized inputs. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const isSecret = (value: unknown): boolean =>
  typeof value === "object" && value !== null && SECRET_SIG_KEY in value;
const isAsset = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && ("$archive" in value || "$asset" in value);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A JSON text holding an object or array (policy documents, dashboard bodies): compared inside. */
function parseJsonDocument(value: unknown): unknown {
  if (typeof value !== "string" || !/^\s*[[{]/.test(value)) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

const MAX_VALUE = 80;

/** A short display of a value: JSON, cut at 80 characters; an asset by its content hash. */
function display(value: unknown): string {
  if (isAsset(value)) {
    const hash = createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 12);
    return `${"$archive" in value ? "archive" : "asset"} ${hash}`;
  }
  const text = JSON.stringify(value) ?? "undefined";
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

const childPath = (path: string, key: string) =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`;

/** Every path where `before` and `after` differ, leaves only, secrets masked. */
export function diffInputs(before: unknown, after: unknown, path = ""): InputChange[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const secret =
    isSecret(before) || isSecret(after) || before === SECRET_PLACEHOLDER || after === SECRET_PLACEHOLDER;
  if (secret) {
    return [
      {
        path,
        before: before === undefined ? undefined : SECRET_PLACEHOLDER,
        after: after === undefined ? undefined : SECRET_PLACEHOLDER,
        secret: true,
      },
    ];
  }
  const beforeDoc = parseJsonDocument(before);
  const afterDoc = parseJsonDocument(after);
  if (beforeDoc !== undefined && afterDoc !== undefined) return diffInputs(beforeDoc, afterDoc, path);
  if (isPlainObject(before) && isPlainObject(after) && !isAsset(before) && !isAsset(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffInputs(before[key], after[key], childPath(path, key)));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item, index) => diffInputs(item, after[index], `${path}[${index}]`));
  }
  return [
    {
      path,
      before: before === undefined ? undefined : display(before),
      after: after === undefined ? undefined : display(after),
      secret: false,
    },
  ];
}

/** True when `path` is `ignored` or inside it (`functionVersion`, `routingConfig.additionalVersionWeights`). */
function isIgnored(path: string, ignoreChanges: readonly string[]): boolean {
  return ignoreChanges.some(
    (ignored) => path === ignored || path.startsWith(`${ignored}.`) || path.startsWith(`${ignored}[`),
  );
}

/** Component resources and the stack root carry no inputs: only custom resources are compared. */
const compared = (plan: PlanResult | undefined) =>
  new Map((plan?.resources ?? []).filter((r) => r.custom).map((r) => [r.urn, r] as const));

/** Added, removed, replaced and updated resources, matched by URN (the engine's identity). */
export function diffResources(
  base: PlanResult | undefined,
  head: PlanResult,
): { changes: ResourceChange[]; unchanged: number } {
  const before = compared(base);
  const after = compared(head);
  const changes: ResourceChange[] = [];
  let unchanged = 0;
  const describe = (resource: RecordedResource) => ({
    urn: resource.urn,
    type: resource.type,
    name: resource.name,
  });
  for (const [urn, resource] of after) {
    const previous = before.get(urn);
    if (!previous) {
      changes.push({ kind: "add", ...describe(resource), inputs: [], replacedBecause: [] });
      continue;
    }
    const inputs = diffInputs(previous.inputs, resource.inputs).filter(
      (change) => !isIgnored(change.path, resource.ignoreChanges ?? []),
    );
    if (inputs.length === 0) {
      unchanged += 1;
      continue;
    }
    const replacedBecause = replacementCauses(
      resource.type,
      inputs.map((change) => change.path),
    );
    changes.push({
      kind: replacedBecause.length > 0 ? "replace" : "update",
      ...describe(resource),
      inputs,
      replacedBecause,
    });
  }
  for (const [urn, resource] of before) {
    if (!after.has(urn))
      changes.push({ kind: "remove", ...describe(resource), inputs: [], replacedBecause: [] });
  }
  const order: ChangeKind[] = ["add", "replace", "update", "remove"];
  changes.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.urn.localeCompare(b.urn));
  return { changes, unchanged };
}

const findingKey = (violation: Violation) =>
  `${violation.policyName}\u0000${violation.urn ?? ""}\u0000${violation.message}`;

/** Findings only the working tree has (introduced) and only the base has (fixed). */
export function diffFindings(base: PolicyReport | undefined, head: PolicyReport): FindingChange[] {
  const beforeKeys = new Set((base?.violations ?? []).map(findingKey));
  const afterKeys = new Set(head.violations.map(findingKey));
  const pick = (violation: Violation, change: FindingChange["change"]): FindingChange => ({
    change,
    policyName: violation.policyName,
    enforcementLevel: violation.enforcementLevel,
    resourceName: violation.resourceName,
    urn: violation.urn,
    message: violation.message,
  });
  return [
    ...head.violations.filter((v) => !beforeKeys.has(findingKey(v))).map((v) => pick(v, "introduced")),
    ...(base?.violations ?? []).filter((v) => !afterKeys.has(findingKey(v))).map((v) => pick(v, "fixed")),
  ];
}

function costLines(estimate: CostEstimate | undefined): Map<string, number> {
  const lines = new Map<string, number>();
  for (const line of estimate?.lambda ?? []) lines.set(`Lambda ${line.functionName}`, line.cost);
  for (const line of estimate?.services ?? []) {
    const item = `${line.service} ${line.item}`;
    lines.set(item, (lines.get(item) ?? 0) + line.cost);
  }
  return lines;
}

/** The monthly cost before and after, and the lines that changed by at least a hundredth of a cent. */
export function diffCost(base: CostEstimate | undefined, head: CostEstimate): CostDelta {
  const before = costLines(base);
  const after = costLines(head);
  const lines: CostLineChange[] = [];
  for (const item of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const change = { item, before: before.get(item) ?? 0, after: after.get(item) ?? 0 };
    if (Math.abs(change.after - change.before) >= 0.0001) lines.push(change);
  }
  return { before: base?.total ?? 0, after: head.total, lines };
}

/** The whole difference; `base.plan` is undefined when the stack did not exist at the base revision. */
export function diffPlans(
  stack: string,
  baseRevision: PlanDiff["base"],
  base: DiffSide,
  head: Required<Pick<DiffSide, "plan" | "policy">> & Pick<DiffSide, "cost">,
): PlanDiff {
  const { changes, unchanged } = diffResources(base.plan, head.plan);
  return {
    stack,
    base: baseRevision,
    resources: changes,
    unchanged,
    policy: diffFindings(base.policy, head.policy),
    cost: head.cost ? diffCost(base.cost, head.cost) : undefined,
  };
}
