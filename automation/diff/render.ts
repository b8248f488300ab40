import { formatUsd } from "../cost/render";
import type { ChangeKind, CostDelta, FindingChange, InputChange, PlanDiff, ResourceChange } from "./compare";

/** The first line of a diff's markdown: the PR workflow finds its own comment by it. */
export const MARKDOWN_MARKER = "<!-- platform-diff -->";

/** Lists longer than this are collapsed in markdown (a reviewer opens them when needed). */
const COLLAPSE_AFTER = 10;

const VERB: Record<ChangeKind, string> = {
  add: "add",
  replace: "replace",
  update: "update",
  remove: "remove",
};
const SYMBOL: Record<ChangeKind, string> = { add: "+", replace: "+-", update: "~", remove: "-" };

const count = (diff: PlanDiff, kind: ChangeKind) => diff.resources.filter((r) => r.kind === kind).length;

/** Dollars; under a dollar with 4 decimals, so that a small change does not read as $0.01 -> $0.01. */
function usd(amount: number): string {
  if (Math.abs(amount) >= 1 || amount === 0) return formatUsd(amount);
  return `${amount < 0 ? "-" : ""}$${Math.abs(amount).toFixed(4)}`;
}

function signedUsd(amount: number): string {
  return amount > 0 ? `+${usd(amount)}` : amount < 0 ? usd(amount) : "±$0.00";
}

/** `2 to add, 1 to replace, 3 to update, 0 to remove; policy: 1 introduced, 0 fixed; cost: ...`. */
export function summaryLine(diff: PlanDiff): string {
  const resources = (["add", "replace", "update", "remove"] as const)
    .map((kind) => `${count(diff, kind)} to ${VERB[kind]}`)
    .join(", ");
  const introduced = diff.policy.filter((f) => f.change === "introduced");
  const mandatory = introduced.filter((f) => f.enforcementLevel === "mandatory").length;
  const policy = `policy: ${introduced.length} finding(s) introduced${mandatory > 0 ? ` (${mandatory} mandatory)` : ""}, ${diff.policy.length - introduced.length} fixed`;
  const cost = diff.cost
    ? `cost: ${usd(diff.cost.before)} -> ${usd(diff.cost.after)} a month (${signedUsd(diff.cost.after - diff.cost.before)})`
    : "cost: no cost model for this stack";
  return `${resources}; ${policy}; ${cost}`;
}

const baseLabel = (diff: PlanDiff) => `${diff.base.ref} (${diff.base.commit.slice(0, 12)})`;

const inputText = (change: InputChange) =>
  `${change.path}: ${change.before ?? "(none)"} -> ${change.after ?? "(none)"}`;

/** The diff as plain text, for a terminal. */
export function renderDiffText(diff: PlanDiff): string {
  const lines = [`Diff of stack ${diff.stack}: base ${baseLabel(diff)} -> working tree`, summaryLine(diff)];
  if (!diff.base.exists)
    lines.push(`The stack has no stack file at ${diff.base.ref}: every resource is new.`);
  if (diff.resources.length > 0) lines.push("", "Resources:");
  for (const resource of diff.resources) {
    const because =
      resource.replacedBecause.length > 0
        ? ` (replaced because ${resource.replacedBecause.join(", ")} changed)`
        : "";
    lines.push(`  ${SYMBOL[resource.kind].padEnd(2)} ${resource.type}  ${resource.name}${because}`);
    for (const change of resource.inputs) lines.push(`       ${inputText(change)}`);
  }
  lines.push(`  (${diff.unchanged} resource(s) unchanged)`);
  if (diff.policy.length > 0) lines.push("", "Policy findings:");
  for (const finding of diff.policy) {
    lines.push(
      `  ${finding.change} ${finding.enforcementLevel} ${finding.policyName}${finding.resourceName ? ` on ${finding.resourceName}` : ""}: ${finding.message}`,
    );
  }
  if (diff.cost && diff.cost.lines.length > 0) {
    lines.push("", "Monthly cost:");
    for (const line of diff.cost.lines) {
      lines.push(
        `  ${line.item}: ${usd(line.before)} -> ${usd(line.after)} (${signedUsd(line.after - line.before)})`,
      );
    }
  }
  return lines.join("\n");
}

/** A markdown table cell: pipes escaped, one line, code spans safe. */
function cell(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}
const code = (text: string) => `\`${cell(text).replace(/`/g, "'")}\``;

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => " --- ").join("|")}|`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ];
}

/** A block, collapsed under `summary` when its list is long. */
function collapsible(summary: string, size: number, body: string[]): string[] {
  if (size <= COLLAPSE_AFTER) return [`**${summary}**`, "", ...body];
  return ["<details>", `<summary>${summary}</summary>`, "", ...body, "", "</details>"];
}

function resourceRows(resources: ResourceChange[]): string[][] {
  return resources.map((resource) => [
    `${SYMBOL[resource.kind]} ${VERB[resource.kind]}`,
    code(resource.name),
    code(resource.type),
    resource.kind === "replace"
      ? `${resource.replacedBecause.map(code).join(", ")} forces replacement`
      : resource.inputs.length > 0
        ? `${resource.inputs.length} input(s)`
        : "",
  ]);
}

function inputRows(resources: ResourceChange[]): string[][] {
  return resources.flatMap((resource) =>
    resource.inputs.map((change) => [
      code(resource.name),
      code(change.path),
      change.before === undefined ? "_(none)_" : code(change.before),
      change.after === undefined ? "_(none)_" : code(change.after),
    ]),
  );
}

function findingRows(findings: FindingChange[]): string[][] {
  return findings.map((finding) => [
    finding.change === "introduced" ? "introduced" : "fixed",
    finding.enforcementLevel,
    code(finding.policyName),
    finding.resourceName ? code(finding.resourceName) : "(stack)",
    cell(finding.message),
  ]);
}

function costRows(cost: CostDelta): string[][] {
  return [
    ...cost.lines.map((line) => [
      cell(line.item),
      usd(line.before),
      usd(line.after),
      signedUsd(line.after - line.before),
    ]),
    ["**Total**", usd(cost.before), usd(cost.after), `**${signedUsd(cost.after - cost.before)}**`],
  ];
}

/** The diff as a pull-request comment: a summary line, then tables, long lists collapsed. */
export function renderDiffMarkdown(diff: PlanDiff): string {
  const lines = [
    MARKDOWN_MARKER,
    `### \`platform diff ${diff.stack}\`: base ${code(diff.base.ref)} (${diff.base.commit.slice(0, 12)}) -> this change`,
    "",
    summaryLine(diff),
  ];
  if (!diff.base.exists)
    lines.push("", `The stack has no stack file at ${code(diff.base.ref)}: every resource is new.`);
  if (diff.resources.length > 0) {
    lines.push(
      "",
      ...collapsible(
        `Resources (${diff.resources.length} changed, ${diff.unchanged} unchanged)`,
        diff.resources.length,
        table(["", "Resource", "Type", "Inputs"], resourceRows(diff.resources)),
      ),
    );
    const inputs = inputRows(diff.resources);
    if (inputs.length > 0) {
      // Always collapsed: the table above says what changes, this says how.
      lines.push(
        "",
        "<details>",
        `<summary>Changed inputs (${inputs.length})</summary>`,
        "",
        ...table(["Resource", "Input", "Before", "After"], inputs),
        "",
        "</details>",
      );
    }
  } else {
    lines.push("", `No resource changes (${diff.unchanged} unchanged).`);
  }
  if (diff.policy.length > 0) {
    lines.push(
      "",
      ...collapsible(
        `Policy findings (${diff.policy.length})`,
        diff.policy.length,
        table(["", "Level", "Policy", "Resource", "Message"], findingRows(diff.policy)),
      ),
    );
  }
  if (diff.cost && diff.cost.lines.length > 0) {
    lines.push(
      "",
      "**Monthly cost**",
      "",
      ...table(["Item", "Before", "After", "Change"], costRows(diff.cost)),
    );
  }
  return lines.join("\n");
}

/** The diff as JSON (every value as compared; secrets already masked). */
export function diffToJson(diff: PlanDiff): object {
  return {
    ...diff,
    summary: {
      add: count(diff, "add"),
      replace: count(diff, "replace"),
      update: count(diff, "update"),
      remove: count(diff, "remove"),
      unchanged: diff.unchanged,
      findingsIntroduced: diff.policy.filter((f) => f.change === "introduced").length,
      findingsFixed: diff.policy.filter((f) => f.change === "fixed").length,
      monthlyCostDelta: diff.cost ? diff.cost.after - diff.cost.before : null,
    },
  };
}
