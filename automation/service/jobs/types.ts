import type { RemediationMode } from "../../drift/detect";
import type { Engine } from "../../engine/types";
import type { GateResult } from "../../rollout/types";

/** What a job does to a stage's region stacks. */
export const JOB_KINDS = ["preview", "rollout", "drift"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * `queued` (waiting for a busy stack), `running`, then one of `succeeded`, `failed`, `cancelled`,
 * or `interrupted` (the service stopped while the job was queued or running).
 */
export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINISHED_STATES: ReadonlySet<JobState> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "interrupted",
]);

/** Who started a job. */
export type JobTrigger = "api" | "schedule";

/** The options a job was asked with (only those given). */
export interface JobOptions {
  /** Regions deployed (or checked) at once after the canary. */
  parallelism?: number;
  /** Rollout: preview every region and change nothing. */
  dryRun?: boolean;
  /** Rollout: when a region fails, cancel the regions in flight. */
  cancelInFlight?: boolean;
  /** Drift: fix drifted stacks with `up` or `refresh`. */
  remediate?: RemediationMode;
}

/** A gate of a region in a job: rollout `preview`, `up`, `health`; drift `drift`, `remediate`. */
export type JobGate = GateResult["gate"] | "drift" | "remediate";

export interface JobGateResult {
  gate: JobGate;
  state: GateResult["state"];
  elapsedMs: number;
  message?: string;
}

/**
 * Where one region stack of a job is. Rollouts and previews use the rollout's region states
 * (`pending`, `running`, `succeeded`, `upToDate`, `previewed`, `failed`, `skipped`, `cancelled`);
 * drift checks `pending`, `running`, `clean`, `drifted`, `remediated`, `failed`, `cancelled`.
 */
export interface JobRegion {
  region: string;
  stackName: string;
  primary: boolean;
  state: string;
  /** The gate running, or the one the region ended at. */
  gate?: JobGate;
  message?: string;
  elapsedMs: number;
  gates: JobGateResult[];
  /** Drift checks: resources that drifted (expected CodeDeploy changes excluded). */
  driftedCount?: number;
}

/** A job as the API shows it (`GET /jobs/:id`). */
export interface Job {
  id: string;
  kind: JobKind;
  stage: string;
  state: JobState;
  trigger: JobTrigger;
  /** The engine that ran (or will run) it. */
  engine: Engine["kind"];
  options: JobOptions;
  /** The revision a rollout deploys (and records on each stack). */
  revision?: string;
  regions: JobRegion[];
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** From start to finish, or to now while running. */
  durationMs?: number;
  /** Why the job failed, was cancelled or interrupted. */
  error?: string;
  /** Set once a cancel was asked while the job was running. */
  cancelRequested?: boolean;
  /** The final report: the rollout report, or the drift report. */
  result?: unknown;
}

/** One entry of a job's event log (an SSE message: `id` is `seq`, `event` is `type`). */
export interface JobEvent {
  jobId: string;
  /** 1-based, per job. */
  seq: number;
  /**
   * `job` (the job's state changed: data is the job without its result), `region` (a region's
   * status: data is a JobRegion), `wave` (a rollout wave started), `engine` (an engine event of a
   * region's gate: `{region, stackName, gate, event}`).
   */
  type: "job" | "region" | "wave" | "engine";
  data: unknown;
  /** ISO time it happened. */
  at: string;
}

/** A request for a job. */
export interface JobRequest {
  kind: JobKind;
  stage: string;
  /** Some of the stage's regions; all of them when absent. */
  regions?: string[];
  options?: JobOptions;
  /** Wait for busy stacks (in order) instead of being rejected. */
  queue?: boolean;
  trigger?: JobTrigger;
}
