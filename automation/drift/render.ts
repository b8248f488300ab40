import type { DriftReport, StackDriftReport } from "./detect";
import type { PropertyDrift, ResourceDrift } from "./extract";

/** A value on one line, long values shortened. */
function show(value: unknown): string {
  if (value === undefined) return "(none)";
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function propertyLine(property: PropertyDrift): string {
  return `      ${property.path}: ${show(property.recorded)} (recorded) -> ${show(property.live)} (live)`;
}

/** The resource, and which of its states when it is a replaced one still pending deletion. */
function title(resource: ResourceDrift): string {
  const state = resource.pendingDeletion
    ? ` (old state pending deletion, id ${resource.id ?? "unknown"})`
    : "";
  return `${resource.type} ${resource.name}${state}`;
}

function resourceLines(resource: ResourceDrift, mark: string): string[] {
  if (resource.change === "delete") {
    return [`  ${mark} ${title(resource)}: deleted outside Pulumi`, `      ${resource.urn}`];
  }
  return [`  ${mark} ${title(resource)}`, `      ${resource.urn}`, ...resource.properties.map(propertyLine)];
}

function stackLines(stack: StackDriftReport): string[] {
  const title = `${stack.stackName} (${stack.region})`;
  const lines: string[] = [];
  if (stack.state === "error") lines.push(`${title}: drift check failed: ${stack.error}`);
  else if (stack.state === "clean") lines.push(`${title}: no drift`);
  else lines.push(`${title}: ${stack.drifted.length} drifted resource${stack.drifted.length > 1 ? "s" : ""}`);
  for (const resource of stack.drifted) {
    lines.push(...resourceLines(resource, "~"));
    if (resource.reason) lines.push(`      why: ${resource.reason}`);
  }
  if (stack.expected.length > 0) {
    lines.push(`  expected differences (not drift):`);
    for (const resource of stack.expected) {
      lines.push(
        ...resourceLines(resource, "=").map((line) => `  ${line}`),
        `        why: ${resource.reason}`,
      );
    }
  }
  if (stack.remediation) {
    const { mode, state, message } = stack.remediation;
    lines.push(`  remediation (${mode}): ${state}${message ? `: ${message}` : ""}`);
  }
  return lines;
}

/** The drift report as text: per stack, each drifted resource and its changed properties. */
export function renderDriftText(report: DriftReport): string {
  const lines = [`Drift of stage ${report.stage}:`, ""];
  for (const stack of report.stacks) lines.push(...stackLines(stack), "");
  const drifted = report.stacks.filter((stack) => stack.state === "drifted").length;
  const failed = report.stacks.filter((stack) => stack.state === "error").length;
  lines.push(
    drifted === 0 && failed === 0
      ? `No drift in ${report.stacks.length} stack${report.stacks.length > 1 ? "s" : ""}.`
      : `${report.driftedCount} drifted resource${report.driftedCount === 1 ? "" : "s"} in ${drifted} stack${drifted === 1 ? "" : "s"}${failed ? `; ${failed} stack${failed > 1 ? "s" : ""} could not be checked` : ""}.`,
  );
  return lines.join("\n");
}

/** The drift report for machines. */
export function driftToJson(report: DriftReport): object {
  return report;
}
