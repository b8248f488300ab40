import type {
  EngineEvent,
  OpMap,
  OpType,
  PolicyEvent,
  StepEventMetadata,
  SummaryEvent,
} from "@pulumi/pulumi/automation";
import type { PolicyViolation } from "./types";

/** A resource's URN as the engine writes it: `urn:pulumi:<stack>::<project>::<type chain>::<name>`. */
export function resourceUrn(
  stack: string,
  project: string,
  type: string,
  name: string,
  parentTypes: string[] = [],
) {
  return `urn:pulumi:${stack}::${project}::${[...parentTypes, type].join("$")}::${name}`;
}

/**
 * A summary event as the CLI writes it: the policy packs that ran (name -> version) are under
 * `PolicyPacks` (apitype.SummaryEvent's JSON tag, kept for compatibility), which the Automation
 * API passes through unchanged although its type says `policyPacks`.
 */
export type CliSummaryEvent = Omit<SummaryEvent, "policyPacks"> & {
  PolicyPacks?: Record<string, string>;
  /** What the SDK's type declares; no CLI writes it. */
  policyPacks?: Record<string, string>;
};

/** The policy packs that ran, from a summary event: the CLI's `PolicyPacks` key, else `policyPacks`. */
export function summaryPolicyPacks(event: SummaryEvent | CliSummaryEvent): Record<string, string> {
  const cli = event as CliSummaryEvent;
  return cli.PolicyPacks ?? cli.policyPacks ?? {};
}

/** A summary event in the CLI's shape, typed as the SDK declares it (see CliSummaryEvent). */
export function cliSummaryEvent(fields: CliSummaryEvent): SummaryEvent {
  return fields as unknown as SummaryEvent;
}

/** The logical name at the end of a URN. */
export function urnName(urn: string): string {
  const index = urn.lastIndexOf("::");
  return index < 0 ? urn : urn.slice(index + 2);
}

/**
 * Builds engine events with increasing sequence numbers and Unix timestamps, as the Automation
 * API delivers them (for the offline and in-memory engines, and for test fixtures).
 */
export class EngineEventSequence {
  private sequence = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private event(fields: Omit<EngineEvent, "sequence" | "timestamp">): EngineEvent {
    return { sequence: this.sequence++, timestamp: Math.floor(this.now() / 1000), ...fields };
  }

  prelude(config: Record<string, string>): EngineEvent {
    return this.event({ preludeEvent: { config } });
  }

  resourcePre(metadata: StepEventMetadata, planning?: boolean): EngineEvent {
    return this.event({ resourcePreEvent: { metadata, planning } });
  }

  resOutputs(metadata: StepEventMetadata, planning?: boolean): EngineEvent {
    return this.event({ resOutputsEvent: { metadata, planning } });
  }

  diagnostic(message: string, severity: "info" | "warning" | "error", urn?: string): EngineEvent {
    return this.event({ diagnosticEvent: { message: `${message}\n`, color: "never", severity, urn } });
  }

  policy(violation: PolicyViolation, packName = "platform"): EngineEvent {
    const policyEvent: PolicyEvent = {
      resourceUrn: violation.urn,
      message: violation.message,
      color: "never",
      policyName: violation.policyName,
      policyPackName: violation.policyPackName ?? packName,
      policyPackVersion: "0.1.0",
      policyPackVersionTag: "v0.1.0",
      // The CLI writes apitype.EnforcementLevel (`advisory`, `mandatory`, `remediate`); the SDK's
      // type says `warning`.
      enforcementLevel: violation.enforcementLevel as PolicyEvent["enforcementLevel"],
    };
    return this.event({ policyEvent });
  }

  summary(resourceChanges: OpMap, durationSeconds: number): EngineEvent {
    return this.event({
      summaryEvent: cliSummaryEvent({
        maybeCorrupt: false,
        durationSeconds,
        resourceChanges,
        PolicyPacks: {},
      }),
    });
  }

  cancel(): EngineEvent {
    return this.event({ cancelEvent: {} });
  }
}

/** Step metadata for a resource without state details (a planned create, a same). */
export function stepMetadata(op: OpType, urn: string, type: string): StepEventMetadata {
  return { op, urn, type, provider: "" };
}

/** Adds `count` operations of kind `op` to a change summary. */
export function countOp(summary: OpMap, op: OpType, count = 1): OpMap {
  summary[op] = (summary[op] ?? 0) + count;
  return summary;
}

/**
 * A policy violation from a Pulumi CLI policy event: `mandatory` is mandatory, anything else
 * (`advisory` as the CLI writes it, `warning` as the SDK's type says, `remediate`) advisory.
 */
export function violationFromEvent(event: PolicyEvent): PolicyViolation {
  return {
    policyName: event.policyName,
    policyPackName: event.policyPackName,
    enforcementLevel: event.enforcementLevel === "mandatory" ? "mandatory" : "advisory",
    message: event.message.trim(),
    urn: event.resourceUrn,
    resourceType: event.resourceUrn ? urnType(event.resourceUrn) : undefined,
    resourceName: event.resourceUrn ? urnName(event.resourceUrn) : undefined,
  };
}

/** The resource type in a URN (the last of its type chain). */
export function urnType(urn: string): string | undefined {
  const parts = urn.split("::");
  if (parts.length < 4) return undefined;
  const chain = parts[parts.length - 2].split("$");
  return chain[chain.length - 1];
}

/** Counts of violations by enforcement level. */
export function countViolations(violations: PolicyViolation[]): {
  mandatoryCount: number;
  advisoryCount: number;
} {
  const mandatoryCount = violations.filter((violation) => violation.enforcementLevel === "mandatory").length;
  return { mandatoryCount, advisoryCount: violations.length - mandatoryCount };
}
