import pLimit from "p-limit";
import { detectDrift, remediateDrift, type StackDriftReport } from "../../drift/detect";
import { reasonText } from "../../engine/errors";
import type { Engine } from "../../engine/types";
import type { HealthGate } from "../../rollout/health";
import { runRollout } from "../../rollout/orchestrator";
import type { StageInfo } from "../../rollout/targets";
import type { RegionTarget, RolloutEvent } from "../../rollout/types";
import type { Job, JobEvent, JobGateResult, JobRegion, JobState } from "./types";

export interface JobContext {
  job: Job;
  info: StageInfo;
  targets: RegionTarget[];
  engine: Engine;
  /** Aborted by a cancel or by the service stopping. */
  signal: AbortSignal;
  projectDir: string;
  revision: (projectDir: string, stage: string) => Promise<string>;
  health: (info: StageInfo) => HealthGate;
  /** A region's new status (replaces the previous one). */
  onRegion: (region: JobRegion) => void;
  /** Other events for the job's stream (`wave`, `engine`). */
  onEvent: (type: JobEvent["type"], data: unknown) => void;
  /** The revision a rollout deploys, once known. */
  onRevision: (revision: string) => void;
}

export interface JobOutcome {
  state: JobState;
  error?: string;
  /** The rollout or drift report. */
  result?: unknown;
}

/** Runs a job's operation to its end; never rejects for an operation's failure (the outcome says it). */
export function runJob(context: JobContext): Promise<JobOutcome> {
  switch (context.job.kind) {
    case "preview":
      return runRolloutJob(context, true);
    case "rollout":
      return runRolloutJob(context, context.job.options.dryRun === true);
    case "drift":
      return runDriftJob(context);
  }
}

function cancelledOutcome(signal: AbortSignal, result?: unknown): JobOutcome {
  return { state: "cancelled", error: `cancelled: ${reasonText(signal.reason)}`, result };
}

async function runRolloutJob(context: JobContext, dryRun: boolean): Promise<JobOutcome> {
  const { job, info, engine, signal } = context;
  let revision: string | undefined;
  if (job.kind === "rollout" && !dryRun) {
    revision = await context.revision(context.projectDir, info.stage);
    context.onRevision(revision);
  }
  const regionOf = new Map(job.regions.map((region) => [region.stackName, region]));
  const report = await runRollout({
    engine,
    stage: info.stage,
    targets: context.targets,
    parallelism: job.options.parallelism ?? info.parallelism,
    revision,
    dryRun,
    cancelInFlight: job.options.cancelInFlight,
    signal,
    health: context.health(info),
    app: info.app,
    onEvent: (event: RolloutEvent) => {
      if (event.type === "region") {
        const previous = regionOf.get(event.stackName);
        if (!previous) return;
        const region: JobRegion = {
          region: event.region,
          stackName: event.stackName,
          primary: previous.primary,
          state: event.state,
          gate: event.gate,
          message: event.message,
          elapsedMs: Math.round(event.elapsedMs),
          gates: event.gates.map(roundGate),
        };
        regionOf.set(event.stackName, region);
        context.onRegion(region);
      } else if (event.type === "wave-started") {
        context.onEvent("wave", { wave: event.wave, regions: event.regions });
      } else if (event.type === "engine") {
        context.onEvent("engine", {
          region: event.region,
          stackName: event.stackName,
          gate: event.gate,
          event: event.event,
        });
      }
    },
  });
  if (report.status === "cancelled" && signal.aborted) return cancelledOutcome(signal, report);
  if (report.status === "succeeded") {
    // A dry run (preview) whose regions failed still ran to the end: the job failed.
    const failed = report.regions.filter((region) => region.state === "failed");
    if (failed.length === 0) return { state: "succeeded", result: report };
    return {
      state: "failed",
      result: report,
      error: failed
        .map((region) => `${region.region} failed at ${region.gate}: ${region.message}`)
        .join("; "),
    };
  }
  const failure = report.failure;
  return {
    state: report.status === "cancelled" ? "cancelled" : "failed",
    result: report,
    error: failure
      ? `${failure.region} (stack ${failure.stackName}) failed at ${failure.gate}: ${failure.message}`
      : `rollout ${report.status}`,
  };
}

function roundGate<T extends { elapsedMs: number }>(gate: T): T {
  return { ...gate, elapsedMs: Math.round(gate.elapsedMs) };
}

async function runDriftJob(context: JobContext): Promise<JobOutcome> {
  const { job, info, engine, signal } = context;
  const remediate = job.options.remediate;
  const revision = remediate === "up" ? await context.revision(context.projectDir, info.stage) : undefined;
  if (revision) context.onRevision(revision);
  const limit = pLimit(job.options.parallelism ?? info.parallelism);
  const stacks = await Promise.all(
    context.targets.map((target, index) =>
      limit(async (): Promise<StackDriftReport> => {
        const base = job.regions[index];
        const started = performance.now();
        const gates: JobGateResult[] = [];
        const update = (state: string, gate: JobRegion["gate"], extra: Partial<JobRegion> = {}) =>
          context.onRegion({
            ...base,
            state,
            gate,
            gates: [...gates],
            elapsedMs: Math.round(performance.now() - started),
            ...extra,
          });
        if (signal.aborted) {
          update("cancelled", undefined, { message: `not started: ${reasonText(signal.reason)}` });
          return { ...target, state: "error", drifted: [], expected: [], error: "cancelled" };
        }
        update("running", "drift");
        const gateStart = performance.now();
        const report = (await detectDrift({ engine, stage: info.stage, stacks: [target], signal })).stacks[0];
        const elapsed = () => Math.round(performance.now() - gateStart);
        if (report.state === "error") {
          const cancelled = signal.aborted;
          gates.push({
            gate: "drift",
            state: cancelled ? "cancelled" : "failed",
            elapsedMs: elapsed(),
            message: report.error,
          });
          update(cancelled ? "cancelled" : "failed", "drift", { message: report.error });
          return report;
        }
        gates.push({ gate: "drift", state: "succeeded", elapsedMs: elapsed() });
        const driftedCount = report.drifted.length;
        if (report.state === "clean" || !remediate) {
          update(report.state, "drift", {
            driftedCount,
            message: driftedCount > 0 ? `${driftedCount} resource(s) drifted` : undefined,
          });
          return report;
        }
        update("running", "remediate", { driftedCount });
        const remediateStart = performance.now();
        await remediateDrift(
          { stage: info.stage, stacks: [report], driftedCount },
          { engine, mode: remediate, revision, signal },
        );
        const remediation = report.remediation!;
        const remediateState =
          remediation.state === "succeeded" ? "succeeded" : signal.aborted ? "cancelled" : "failed";
        gates.push({
          gate: "remediate",
          state: remediateState,
          elapsedMs: Math.round(performance.now() - remediateStart),
          message: remediation.message,
        });
        update(remediateState === "succeeded" ? "remediated" : remediateState, "remediate", {
          driftedCount,
          message:
            remediateState === "succeeded"
              ? `${driftedCount} resource(s) remediated with ${remediate}`
              : remediation.message,
        });
        return report;
      }),
    ),
  );
  const result = {
    stage: info.stage,
    stacks,
    driftedCount: stacks.reduce((count, stack) => count + stack.drifted.length, 0),
  };
  if (signal.aborted) return cancelledOutcome(signal, result);
  const errors = stacks.filter((stack) => stack.state === "error");
  const failedRemediations = stacks.filter((stack) => stack.remediation?.state === "failed");
  if (errors.length > 0 || failedRemediations.length > 0) {
    return {
      state: "failed",
      result,
      error: [
        ...errors.map(
          (stack) => `drift check of ${stack.stackName} (${stack.region}) failed: ${stack.error}`,
        ),
        ...failedRemediations.map(
          (stack) =>
            `remediation of ${stack.stackName} (${stack.region}) failed: ${stack.remediation?.message}`,
        ),
      ].join("; "),
    };
  }
  return { state: "succeeded", result };
}
