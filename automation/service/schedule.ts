import { Cron } from "croner";
import { isCronExpression, SettingsError } from "../../components/settings";
import type { JobManager } from "./jobs/manager";
import type { JobStoreApi } from "./jobs/store-api";
import { listStagesWith } from "./stacks";

export interface DriftSchedule {
  stage: string;
  /** The cron expression (UTC). */
  expression: string;
  /** Where it comes from: `DRIFT_SCHEDULE` or the stage's `platform:driftSchedule`. */
  source: "DRIFT_SCHEDULE" | "platform:driftSchedule";
  nextRun: Date | null;
}

export interface ScheduleOptions {
  manager: JobManager;
  store: JobStoreApi;
  /** `DRIFT_SCHEDULE`: applies to every stage, over their settings. */
  override?: string;
  /**
   * Whether this replica fires the schedules (replicas: the one holding the scheduler's lock).
   * @default every firing is this process's
   */
  isLeader?: () => boolean;
  /** Told of each scheduled check that did not start (a check of the stage still queued or running, ...). */
  onSkip?: (stage: string, reason: string) => void;
}

/**
 * Starts scheduled drift checks: for each stage, `DRIFT_SCHEDULE` when set, else the stage's
 * `platform:driftSchedule`. Each firing submits a queued drift job (trigger `schedule`) unless a
 * drift check of the stage is already queued or running. Returns the schedules and a stop function.
 *
 * @throws SettingsError when `DRIFT_SCHEDULE` is not a cron expression.
 */
export function startDriftSchedules(options: ScheduleOptions): {
  schedules: DriftSchedule[];
  stop: () => void;
} {
  const override = options.override?.trim();
  if (override && !isCronExpression(override)) {
    throw new SettingsError("service", [
      `DRIFT_SCHEDULE must be a cron expression of 5 or 6 fields (e.g. "0 */6 * * *"), got ${JSON.stringify(override)}`,
    ]);
  }
  const jobs: Cron[] = [];
  const schedules: DriftSchedule[] = [];
  for (const stage of listStagesWith(options.manager.stages).stages) {
    if (stage.error) continue;
    const expression = override || stageSchedule(options, stage.stage);
    if (!expression) continue;
    const cron = new Cron(
      expression,
      { timezone: "Etc/UTC", protect: true, name: `drift-${stage.stage}` },
      async () => {
        if (!options.manager.accepting) return;
        if (options.isLeader && !options.isLeader()) return;
        const active = options.isLeader
          ? await options.manager.hasActiveAnywhere(stage.stage, "drift").catch(() => true)
          : options.manager.hasActive(stage.stage, "drift");
        if (active) {
          options.onSkip?.(stage.stage, "a drift check of the stage is still queued or running");
          return;
        }
        options.manager
          .submit({ kind: "drift", stage: stage.stage, queue: true, trigger: "schedule" })
          .catch((error: Error) => options.onSkip?.(stage.stage, error.message));
      },
    );
    jobs.push(cron);
    schedules.push({
      stage: stage.stage,
      expression,
      source: override ? "DRIFT_SCHEDULE" : "platform:driftSchedule",
      nextRun: cron.nextRun(),
    });
  }
  return {
    schedules,
    stop: () => {
      for (const cron of jobs) cron.stop();
    },
  };
}

function stageSchedule(options: ScheduleOptions, stage: string): string | undefined {
  return options.manager.stageInfo(stage)?.driftSchedule;
}
