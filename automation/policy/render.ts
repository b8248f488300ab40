import { createHash } from "node:crypto";
import type { Policy } from "@pulumi/policy";
import type { PolicyReport, Violation } from "./evaluate";

/** What a rendering says about the pack that produced a report. */
export interface PackInfo {
  name: string;
  version: string;
  policies: readonly Policy[];
  /** The config file the stage's levels came from, if any (shown in text output). */
  configSource?: string;
  /** Each policy's enforcement level for the stage (a SARIF rule's default level). */
  levels?: ReadonlyMap<string, string>;
}

/** Text output: a summary line, then violations grouped by policy and level, each naming its resource. */
export function renderPolicyText(report: PolicyReport, pack: PackInfo): string {
  const lines = [
    `Policy pack ${pack.name}@${pack.version} on stack ${report.stack}${pack.configSource ? ` (config ${pack.configSource})` : ""}: ${report.mandatoryCount} mandatory, ${report.advisoryCount} advisory violation(s)`,
  ];
  if (report.violations.length === 0) return `${lines[0]}\nNo policy violations.`;
  const groups = new Map<string, Violation[]>();
  for (const violation of report.violations) {
    const key = `${violation.policyName}\u0000${violation.enforcementLevel}`;
    groups.set(key, [...(groups.get(key) ?? []), violation]);
  }
  const ordered = [...groups.entries()].sort(([a], [b]) => {
    const [policyA, levelA] = a.split("\u0000");
    const [policyB, levelB] = b.split("\u0000");
    // Mandatory first: they block the deployment.
    return levelA === levelB ? policyA.localeCompare(policyB) : levelA === "mandatory" ? -1 : 1;
  });
  const descriptions = new Map(pack.policies.map((policy) => [policy.name, policy.description]));
  for (const [, violations] of ordered) {
    const { policyName, enforcementLevel } = violations[0];
    lines.push("", `${policyName} [${enforcementLevel}] (${violations.length})`);
    const description = descriptions.get(policyName);
    if (description) lines.push(`  ${description}`);
    for (const violation of violations) {
      const resource = violation.resourceName
        ? `${violation.resourceName} (${violation.resourceType ?? "resource"})`
        : (violation.urn ?? "stack");
      lines.push(`  - ${resource}: ${violation.message}`);
    }
  }
  return lines.join("\n");
}

/** JSON output: the report with the pack it came from. */
export function policyReportJson(report: PolicyReport, pack: PackInfo): object {
  return { pack: { name: pack.name, version: pack.version, config: pack.configSource ?? null }, ...report };
}

export const SARIF_SCHEMA =
  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
export const CROSSGUARD_URI = "https://www.pulumi.com/docs/iac/packages-and-automation/crossguard/";

const sarifLevel = (level: string): "error" | "warning" | "none" =>
  level === "mandatory" || level === "remediate" ? "error" : level === "disabled" ? "none" : "warning";

/**
 * SARIF 2.1.0 for code-scanning tools: one rule per policy of the pack, one result per violation
 * located in the stack's config file (`artifactUri`, e.g. `Pulumi.prod.yaml`) and, logically, at
 * the resource's URN. Mandatory violations are errors, advisory ones warnings.
 */
export function toSarif(report: PolicyReport, pack: PackInfo, artifactUri: string): object {
  const rules = pack.policies.map((policy) => ({
    id: policy.name,
    name: policy.name,
    shortDescription: { text: policy.description },
    fullDescription: { text: policy.description },
    help: { text: `${policy.description} Enforced by the ${pack.name} policy pack (policy/).` },
    defaultConfiguration: {
      level: sarifLevel(pack.levels?.get(policy.name) ?? policy.enforcementLevel ?? "mandatory"),
    },
    properties: { tags: ["pulumi", "crossguard", policy.name.split("-")[0]] },
  }));
  const ruleIndex = new Map(rules.map((rule, index) => [rule.id, index]));
  const results = report.violations.map((violation) => {
    // A policy may report under another name (the object form of reportViolation): give it a rule.
    if (!ruleIndex.has(violation.policyName)) {
      ruleIndex.set(violation.policyName, rules.length);
      rules.push({
        id: violation.policyName,
        name: violation.policyName,
        shortDescription: { text: violation.policyName },
        fullDescription: { text: violation.policyName },
        help: { text: violation.policyName },
        defaultConfiguration: { level: sarifLevel(violation.enforcementLevel) },
        properties: { tags: ["pulumi", "crossguard"] },
      });
    }
    const where = violation.urn ?? report.stack;
    return {
      ruleId: violation.policyName,
      ruleIndex: ruleIndex.get(violation.policyName)!,
      level: sarifLevel(violation.enforcementLevel),
      message: { text: violation.message },
      locations: [
        {
          physicalLocation: { artifactLocation: { uri: artifactUri }, region: { startLine: 1 } },
          logicalLocations: [
            {
              name: violation.resourceName ?? report.stack,
              fullyQualifiedName: where,
              kind: "resource",
            },
          ],
        },
      ],
      partialFingerprints: {
        "pulumiPolicyViolation/v1": createHash("sha256")
          .update(`${violation.policyName}\n${where}\n${violation.message}`)
          .digest("hex"),
      },
      properties: { enforcementLevel: violation.enforcementLevel, resourceType: violation.resourceType },
    };
  });
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: pack.name,
            version: pack.version,
            semanticVersion: pack.version,
            informationUri: CROSSGUARD_URI,
            rules,
          },
        },
        automationDetails: { id: `platform-policy/${report.stack}/` },
        results,
      },
    ],
  };
}
