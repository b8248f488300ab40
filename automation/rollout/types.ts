import type { EngineEvent, OpMap } from "@pulumi/pulumi/automation";
import type { PolicyViolation, StackOutputs, StackRef } from "../engine/types";

/** The gates a region passes, in order. */
export const GATES = ["preview", "up", "health"] as const;
export type Gate = (typeof GATES)[number];

/**
 * Where a region is: `pending` (not started), `running`, then one of `succeeded`, `upToDate`
 * (already at the target revision: nothing done), `previewed` (dry run), `failed`, `skipped`
 * (not started because the rollout halted) or `cancelled` (stopped while running).
 */
export type RegionState =
  | "pending"
  | "running"
  | "succeeded"
  | "upToDate"
  | "previewed"
  | "failed"
  | "skipped"
  | "cancelled";

/** One region of a rollout: its stack and whether it is the stage's primary (canary) region. */
export interface RegionTarget extends StackRef {
  primary: boolean;
}

/** The canary wave (one region), then the others with bounded parallelism. */
export interface RolloutWave {
  /** 1-based. */
  index: number;
  kind: "canary" | "regions";
  targets: RegionTarget[];
  /** How many regions of the wave run at once. */
  parallelism: number;
}

export interface GateResult {
  gate: Gate;
  state: "succeeded" | "failed" | "cancelled";
  elapsedMs: number;
  message?: string;
}

export interface RegionReport {
  region: string;
  stackName: string;
  primary: boolean;
  wave: number;
  state: RegionState;
  /** The gate the region stopped at (failed, cancelled) or the last it passed. */
  gate?: Gate;
  /** Why it failed, was cancelled or skipped. */
  message?: string;
  elapsedMs: number;
  gates: GateResult[];
  /** The preview's planned changes. */
  changeSummary?: OpMap;
  violations?: PolicyViolation[];
  outputs?: StackOutputs;
}

export interface RolloutFailure {
  region: string;
  stackName: string;
  gate: Gate;
  message: string;
}

export interface RolloutReport {
  stage: string;
  /** The revision deployed (and recorded on each stack). */
  revision?: string;
  dryRun: boolean;
  parallelism: number;
  /** `failed` when a region failed, `cancelled` when the abort signal stopped the rollout. */
  status: "succeeded" | "failed" | "cancelled";
  /** The first failure (the one that halted the rollout). */
  failure?: RolloutFailure;
  waves: {
    index: number;
    kind: RolloutWave["kind"];
    regions: string[];
    stackNames: string[];
    parallelism: number;
  }[];
  regions: RegionReport[];
  elapsedMs: number;
}

/** Progress of a rollout, for the CLI's live view and the HTTP service's event stream. */
export type RolloutEvent =
  | {
      type: "rollout-started";
      stage: string;
      revision?: string;
      dryRun: boolean;
      waves: RolloutReport["waves"];
    }
  | { type: "wave-started"; stage: string; wave: number; regions: string[] }
  | {
      type: "region";
      stage: string;
      region: string;
      stackName: string;
      wave: number;
      /** The gate being run (state `running`) or the one the region ended at. */
      gate?: Gate;
      state: RegionState;
      /** Since the region started (0 for regions never started). */
      elapsedMs: number;
      message?: string;
      /** The gates the region has passed (or failed at) so far. */
      gates: GateResult[];
    }
  | { type: "engine"; stage: string; region: string; stackName: string; gate: Gate; event: EngineEvent }
  | { type: "rollout-finished"; report: RolloutReport };

export type RolloutListener = (event: RolloutEvent) => void;

/** The terminal states (a region in one of them is done). */
export const DONE_STATES: ReadonlySet<RegionState> = new Set([
  "succeeded",
  "upToDate",
  "previewed",
  "failed",
  "skipped",
  "cancelled",
]);
