import type { RecordedResource } from "./mocks";
import type { PlanResult } from "./types";

/** The JSON form of a plan: `{stack, resources: [{urn, type, name, parent, inputs}], outputs}`. */
export function planToJson(plan: PlanResult): object {
  return {
    stack: plan.stack,
    stage: plan.stage,
    region: plan.region,
    resources: plan.resources.map((r) => ({
      urn: r.urn,
      type: r.type,
      name: r.name,
      parent: r.parent ?? null,
      inputs: r.inputs,
    })),
    outputs: plan.outputs,
  };
}

/** The planned resource tree (type and logical name, children under their parent) and the outputs. */
export function renderPlanText(plan: PlanResult): string {
  const children = new Map<string | undefined, RecordedResource[]>();
  for (const resource of plan.resources) {
    const siblings = children.get(resource.parent) ?? [];
    siblings.push(resource);
    children.set(resource.parent, siblings);
  }
  const lines = [
    `Plan of stack ${plan.stack} (stage ${plan.stage}, region ${plan.region}): ${plan.resources.length} resources`,
    "",
  ];
  const walk = (parent: string | undefined, indent: string) => {
    const list = children.get(parent) ?? [];
    list.forEach((resource, index) => {
      const last = index === list.length - 1;
      const branch = parent === undefined ? "" : last ? "└─ " : "├─ ";
      lines.push(`${indent}${branch}${resource.type}  ${resource.name}`);
      walk(resource.urn, parent === undefined ? indent : `${indent}${last ? "   " : "│  "}`);
    });
  };
  walk(undefined, "");
  lines.push("", "Outputs:");
  for (const [key, value] of Object.entries(plan.outputs)) {
    lines.push(
      `  ${key}: ${typeof value === "string" ? value : JSON.stringify(value, null, 2).replace(/\n/g, "\n  ")}`,
    );
  }
  return lines.join("\n");
}
