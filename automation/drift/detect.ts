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
  remediation?: { mode: RemediationMode; state: "succeeded" | "failed"; message?: string };
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

/**
 * Checks every stack for drift with a preview-only refresh (nothing is written) and extracts the
 * drift from its step events. A stack whose check fails is reported with state `error`.
 */
export async function detectDrift(options: DetectDriftOptions): Promise<DriftReport> {
  const limit = pLimit(Math.max(1, options.parallelism ?? 4));
  const stacks = await Promise.all(
    options.stacks.map((stack) =>
      limit(async (): Promise<StackDriftReport> => {
        let report: StackDriftReport;
        try {
          const result = await options.engine.refreshPreview(stack, { signal: options.signal });
          report = stackReportFromEvents(stack, result.events, { expected: options.expected });
        } catch (error) {
          report = errorReport(
            stack,
            options.signal?.aborted
              ? `cancelled: ${reasonText(options.signal.reason)}`
              : (error as Error).message,
          );
        }
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
}

/**
 * Remediates the drifted stacks of a report, explicitly: `up` deploys the code's desired state
 * (overwriting the live changes), `refresh` adopts the live state into the stack's state.
 * Each stack's `remediation` says how it went.
 */
export async function remediateDrift(report: DriftReport, options: RemediateOptions): Promise<DriftReport> {
  const limit = pLimit(Math.max(1, options.parallelism ?? 4));
  await Promise.all(
    report.stacks
      .filter((stack) => stack.state === "drifted")
      .map((stack) =>
        limit(async () => {
          const ref: StackRef = { stage: stack.stage, region: stack.region, stackName: stack.stackName };
          try {
            if (options.mode === "up") {
              await options.engine.up(ref, { signal: options.signal, revision: options.revision });
            } else {
              await options.engine.refresh(ref, { signal: options.signal });
            }
            stack.remediation = { mode: options.mode, state: "succeeded" };
          } catch (error) {
            stack.remediation = { mode: options.mode, state: "failed", message: (error as Error).message };
          }
        }),
      ),
  );
  return report;
}
