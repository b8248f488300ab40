import type { EngineEvent } from "@pulumi/pulumi/automation";
import pLimit from "p-limit";
import { reasonText } from "../engine/errors";
import { describeEngineFailures, engineFailures } from "../engine/failures";
import type { Engine, StackRef } from "../engine/types";
import type { EventLog } from "./event-log";
import {
  type DriftFindings,
  type ExpectedDrift,
  type ExpectedDriftRule,
  extractDrift,
  type ResourceDrift,
} from "./extract";

/** How drift is fixed, when asked: `up` restores the code's desired state, `refresh` accepts the live one. */
export type RemediationMode = "up" | "refresh";
export const REMEDIATION_MODES: readonly RemediationMode[] = ["up", "refresh"];

export interface StackDriftReport extends StackRef {
  /** `clean`: no drift (expected differences aside); `error`: the check itself failed. */
  state: "clean" | "drifted" | "error";
  drifted: ResourceDrift[];
  expected: ExpectedDrift[];
  error?: string;
  remediation?: StackRemediation;
}

/**
 * How a stack's remediation went. `succeeded` only when the drift check run after it finds no
 * drift left; drift it left is in `remaining`.
 */
export interface StackRemediation {
  mode: RemediationMode;
  state: "succeeded" | "failed";
  message?: string;
  /** The resources still drifted when the remediation was checked again. */
  remaining?: ResourceDrift[];
}

export interface DriftReport {
  stage: string;
  stacks: StackDriftReport[];
  /** Drifted resources over all stacks. */
  driftedCount: number;
}

export interface DetectDriftOptions {
  engine: Engine;
  stage: string;
  stacks: StackRef[];
  /** Stacks checked at once. @default 4 */
  parallelism?: number;
  signal?: AbortSignal;
  expected?: ExpectedDriftRule[];
  /** Called as each stack's check ends. */
  onStack?: (report: StackDriftReport) => void;
}

function stackReport(stack: StackRef, findings: DriftFindings): StackDriftReport {
  return {
    stage: stack.stage,
    region: stack.region,
    stackName: stack.stackName,
    state: findings.drifted.length > 0 ? "drifted" : "clean",
    drifted: findings.drifted,
    expected: findings.expected,
  };
}

function errorReport(stack: StackRef, error: string): StackDriftReport {
  return { ...stack, state: "error", drifted: [], expected: [], error };
}

/**
 * A stack's drift from the events of its preview-only refresh, live or from a saved log: the same
 * extraction either way. A refresh whose events report a failure (a resOpFailedEvent, an error
 * diagnostic) could not read the live state, so the stack is `error`, naming the resource and
 * the engine's diagnostic, rather than clean.
 */
export function stackReportFromEvents(
  stack: StackRef,
  events: EngineEvent[],
  options: { expected?: ExpectedDriftRule[] } = {},
): StackDriftReport {
  const failures = engineFailures(events);
  if (failures.length > 0) return errorReport(stack, describeEngineFailures(failures));
  return stackReport(stack, extractDrift(events, { expected: options.expected }));
}

/**
 * The drift report of saved event logs (`pulumi refresh --preview-only --event-log <file>`), one
 * per stack, without running the engine: each stack as a live check would report it. A log that
 * ends before the engine's summary is an unfinished refresh, so its stack is `error`.
 */
export function driftFromEventLogs(
  stage: string,
  logs: { stack: StackRef; log: EventLog }[],
  options: { expected?: ExpectedDriftRule[] } = {},
): DriftReport {
  const stacks = logs.map(({ stack, log }) => {
    const report = stackReportFromEvents(stack, log.events, options);
    if (log.complete) return report;
    const unfinished = `the event log ${log.file} ends before the engine's summary: the refresh did not finish`;
    return errorReport(stack, report.state === "error" ? `${report.error}; ${unfinished}` : unfinished);
  });
  return {
    stage,
    stacks,
    driftedCount: stacks.reduce((count, stack) => count + stack.drifted.length, 0),
  };
}

/** One stack's drift check: a preview-only refresh, its events read by stackReportFromEvents. */
async function checkStack(
  engine: Engine,
  stack: StackRef,
  options: { signal?: AbortSignal; expected?: ExpectedDriftRule[] },
): Promise<StackDriftReport> {
  try {
    const result = await engine.refreshPreview(stack, { signal: options.signal });
    return stackReportFromEvents(stack, result.events, { expected: options.expected });
  } catch (error) {
    return errorReport(
      stack,
      options.signal?.aborted ? `cancelled: ${reasonText(options.signal.reason)}` : (error as Error).message,
    );
  }
}

/**
 * Checks every stack for drift with a preview-only refresh (nothing is written) and extracts the
 * drift from its step events. A stack whose check fails is reported with state `error`.
 */
export async function detectDrift(options: DetectDriftOptions): Promise<DriftReport> {
  const limit = pLimit(Math.max(1, options.parallelism ?? 4));
  const stacks = await Promise.all(
    options.stacks.map((stack) =>
      limit(async (): Promise<StackDriftReport> => {
        const report = await checkStack(options.engine, stack, options);
        options.onStack?.(report);
        return report;
      }),
    ),
  );
  return {
    stage: options.stage,
    stacks,
    driftedCount: stacks.reduce((count, stack) => count + stack.drifted.length, 0),
  };
}

export interface RemediateOptions {
  engine: Engine;
  mode: RemediationMode;
  /** Recorded on stacks that `up` deploys (as a rollout would). */
  revision?: string;
  parallelism?: number;
  signal?: AbortSignal;
  /** The expected-drift rules of the check, for the check that follows each remediation. */
  expected?: ExpectedDriftRule[];
}

/** `aws:dynamodb/table:Table users-table (billingMode)`, for the message of drift a remediation left. */
function describeRemaining(resources: ResourceDrift[]): string {
  return resources
    .map((resource) => {
      const paths = resource.properties.map((property) => property.path);
      const what =
        resource.change === "delete" ? " (deleted)" : paths.length > 0 ? ` (${paths.join(", ")})` : "";
      return `${resource.type} ${resource.name}${what}`;
    })
    .join(", ");
}

/**
 * Remediates the drifted stacks of a report, explicitly: `up` deploys the code's desired state
 * with a refresh first (`pulumi up --refresh`: without it the update diffs against the recorded
 * state, which the preview-only check never changed, and leaves the live changes alone), `refresh`
 * adopts the live state into the stack's state. Each remediated stack is then checked again, and
 * its `remediation` says how it went: `succeeded` only when no drift is left.
 */
export async function remediateDrift(report: DriftReport, options: RemediateOptions): Promise<DriftReport> {
  const limit = pLimit(Math.max(1, options.parallelism ?? 4));
  await Promise.all(
    report.stacks
      .filter((stack) => stack.state === "drifted")
      .map((stack) =>
        limit(async () => {
          stack.remediation = await remediateStack(stack, options);
        }),
      ),
  );
  return report;
}

async function remediateStack(stack: StackDriftReport, options: RemediateOptions): Promise<StackRemediation> {
  const { mode, engine, signal } = options;
  const ref: StackRef = { stage: stack.stage, region: stack.region, stackName: stack.stackName };
  try {
    if (mode === "up") await engine.up(ref, { signal, revision: options.revision, refresh: true });
    else await engine.refresh(ref, { signal });
  } catch (error) {
    return { mode, state: "failed", message: (error as Error).message };
  }
  const check = await checkStack(engine, ref, { signal, expected: options.expected });
  if (check.state === "error") {
    return {
      mode,
      state: "failed",
      message: `${mode} ran, but the drift check after it failed: ${check.error}`,
    };
  }
  if (check.state === "drifted") {
    return {
      mode,
      state: "failed",
      message: `${mode} ran, but ${check.drifted.length} resource(s) still drifted: ${describeRemaining(check.drifted)}`,
      remaining: check.drifted,
    };
  }
  return { mode, state: "succeeded" };
}
