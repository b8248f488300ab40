import type { StageInfo } from "../../rollout/targets";
import type { RegionTarget } from "../../rollout/types";
import type { JobListener } from "./active-jobs";
import type { Awaitable } from "./store-api";
import type { Job, JobKind, JobRequest } from "./types";

/**
 * What the job manager's two modes do differently: LocalMode (one process, its SQLite store) and
 * ClusterMode (replicas sharing a PostgreSQL store). Both hold the jobs they run in ActiveJobs.
 */
export interface JobMode {
  /**
   * Admits a valid job: records it, and then runs it, queues it behind the jobs holding its stacks
   * (`queue: true`), or refuses it.
   *
   * @throws StackBusyError, QueueFullError, StoreUnavailableError
   */
  submit(request: JobRequest, info: StageInfo, targets: RegionTarget[]): Promise<Job>;
  /** A job held here has left these stacks (finished, or refused): starts what waited for them. */
  released(jobId: string, stacks: string[]): void;
  /**
   * Cancels a job this process does not hold.
   *
   * @throws JobNotFoundError, JobFinishedError
   */
  cancelNotHere(id: string, reason: string): Awaitable<Job>;
  /** Listens to a job's events from now on; returns the function that stops listening. */
  subscribe(jobId: string, listener: JobListener): () => void;
  /** Whether a job of this kind for this stage is queued or running, on any replica. */
  hasActiveAnywhere(stage: string, kind: JobKind): Promise<boolean>;
}
