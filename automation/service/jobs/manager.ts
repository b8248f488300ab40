import { SettingsError } from "../../../components/settings";
import type { Engine } from "../../engine/types";
import { PROJECT_DIR } from "../../plan/plan";
import { createHealthGate, type HealthGate } from "../../rollout/health";
import { computeRevision } from "../../rollout/revision";
import { RolloutUsageError, type StageInfo, selectTargets } from "../../rollout/targets";
import type { RegionTarget } from "../../rollout/types";
import { StageCatalog } from "../stacks";
import { ActiveJobs, type JobListener } from "./active-jobs";
import { ClusterMode } from "./cluster-mode";
import { JobRequestError, ServiceStoppingError } from "./errors";
import type { JobMode } from "./job-mode";
import { LocalMode } from "./local-mode";
import type { Awaitable, JobCluster, JobStoreApi } from "./store-api";
import type { Job, JobEvent, JobRequest } from "./types";

export { type JobListener, jobSummary } from "./active-jobs";
export {
  JobFinishedError,
  JobNotFoundError,
  JobRequestError,
  QueueFullError,
  ServiceStoppingError,
  StackBusyError,
} from "./errors";

export interface JobManagerOptions {
  store: JobStoreApi;
  /**
   * The replicas' coordination (PgJobStore's cluster): exclusivity, the queue, cancels and events
   * across replicas. Without it, this process alone runs the store's jobs.
   */
  cluster?: JobCluster;
  engine: Engine;
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** Where stage settings come from. @default new StageCatalog(projectDir) */
  stages?: StageCatalog;
  /** The revision a rollout deploys. @default computeRevision (git commit, else a hash of the program) */
  revision?: (projectDir: string, stage: string) => Promise<string>;
  /** The health gate of a stage's rollout. @default createHealthGate({ app }) */
  health?: (stage: StageInfo) => HealthGate;
  /** Jobs that may wait for their stacks (`queue: true`) at once; more get QueueFullError. @default 100 */
  queueLimit?: number;
  /** Called once per job as it finishes (metrics). */
  onFinished?: (job: Job) => void;
  /** @default () => new Date() */
  clock?: () => Date;
}

/** The default of JobManagerOptions.queueLimit (PLATFORM_QUEUE_LIMIT). */
export const DEFAULT_QUEUE_LIMIT = 100;

/**
 * Accepts, runs, cancels and records jobs. One job per stack at a time: a job touching a busy stack
 * is rejected (StackBusyError) or, when it asks to queue, waits its turn in arrival order. Every
 * state change and event is written to the store before listeners hear of it; on construction, jobs
 * the store still has as queued or running (the process died) are marked `interrupted`.
 *
 * What both modes share is here and in ActiveJobs (the jobs this process runs); how jobs are
 * admitted, queued and started is the mode's: LocalMode (one process) or, with `cluster`,
 * ClusterMode (replicas sharing a PostgreSQL store).
 */
export class JobManager {
  readonly engine: Engine;
  readonly stages: StageCatalog;
  private readonly store: JobStoreApi;
  private readonly jobs: ActiveJobs;
  private readonly mode: JobMode;
  private readonly stopping = new AbortController();

  constructor(options: JobManagerOptions) {
    this.store = options.store;
    this.engine = options.engine;
    const projectDir = options.projectDir ?? PROJECT_DIR;
    this.stages = options.stages ?? new StageCatalog(projectDir);
    const clock = options.clock ?? (() => new Date());
    this.jobs = new ActiveJobs({
      store: this.store,
      engine: this.engine,
      projectDir,
      revision: options.revision ?? computeRevision,
      // The offline engine's local clouds serve a real API but have no CloudWatch alarms.
      health:
        options.health ??
        ((info) =>
          createHealthGate({ app: info.app, alarms: this.engine.kind === "offline" ? false : undefined })),
      onFinished: options.onFinished,
      onReleased: (jobId, stacks) => this.mode.released(jobId, stacks),
      clock,
    });
    const queueLimit = options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    this.mode = options.cluster
      ? new ClusterMode({
          cluster: options.cluster,
          store: this.store,
          jobs: this.jobs,
          stages: this.stages,
          queueLimit,
          stopping: this.stopping.signal,
          clock,
        })
      : new LocalMode({ store: this.store, jobs: this.jobs, queueLimit, clock });
  }

  /** False once `shutdown` was called. */
  get accepting(): boolean {
    return !this.stopping.signal.aborted;
  }

  /** Queued and running jobs. */
  get activeCount(): number {
    return this.jobs.size;
  }

  /** Whether a job of this kind for this stage is queued or running. */
  hasActive(stage: string, kind: Job["kind"]): boolean {
    return this.jobs.hasActive(stage, kind);
  }

  /** A stage's settings, or undefined when it has none or they are invalid. */
  stageInfo(stage: string): StageInfo | undefined {
    try {
      return this.stages.read(stage);
    } catch {
      return undefined;
    }
  }

  /**
   * Accepts a job: validates the stage and regions, records it, and once that is committed starts
   * it, queues it behind the jobs holding its stacks (`queue: true`), or rejects it
   * (StackBusyError). A job whose first commit fails is dropped, never ran and holds nothing
   * (StoreUnavailableError: HTTP 503).
   *
   * @throws JobRequestError, StackBusyError, QueueFullError, ServiceStoppingError, StoreUnavailableError
   */
  async submit(request: JobRequest): Promise<Job> {
    if (!this.accepting) throw new ServiceStoppingError();
    const { info, targets } = this.resolve(request);
    this.store.assertWritable();
    return this.mode.submit(request, info, targets);
  }

  /**
   * A queued or running job's JSON document (with its duration so far while running), or
   * undefined when the job is not active. It is serialized once per change of the job, not once
   * per read: a watched job is read far more often than it changes.
   */
  activeJobJson(id: string): string | undefined {
    return this.jobs.json(id);
  }

  /**
   * A job (with its duration so far while running), read at once: one this process runs, or one in
   * a store that answers at once (SQLite). `find` reads any store.
   */
  get(id: string): Job | undefined {
    const active = this.jobs.get(id);
    if (active) return this.jobs.view(active.job);
    const stored = this.store.getJob(id);
    return stored instanceof Promise ? undefined : stored;
  }

  /** A job (with its duration so far while running), whichever replica runs it. */
  async find(id: string): Promise<Job | undefined> {
    const active = this.jobs.get(id);
    return active ? this.jobs.view(active.job) : await this.store.getJob(id);
  }

  /** Whether a job of this kind for this stage is queued or running, on any replica. */
  hasActiveAnywhere(stage: string, kind: Job["kind"]): Promise<boolean> {
    return this.mode.hasActiveAnywhere(stage, kind);
  }

  /**
   * Cancels a job: a queued one at once, a running one by aborting its operations (the engine
   * cancels the stack's update; the job ends `cancelled` when they have stopped).
   *
   * @throws JobNotFoundError, JobFinishedError
   */
  cancel(id: string, reason = "cancelled by request"): Awaitable<Job> {
    const active = this.jobs.get(id);
    if (!active) return this.mode.cancelNotHere(id, reason);
    return this.jobs.cancel(active, reason);
  }

  /**
   * Listens to a job's events from now on; returns the function that stops listening. Events may
   * reach the listener before `eventsAfter` (called after this) returns them too: skip by `seq`.
   * With a cluster, the events are the committed ones, whichever replica writes them.
   */
  subscribe(jobId: string, listener: JobListener): () => void {
    return this.mode.subscribe(jobId, listener);
  }

  eventsAfter(jobId: string, afterSeq: number): Awaitable<JobEvent[]> {
    return this.store.eventsAfter(jobId, afterSeq);
  }

  /**
   * Stops taking jobs, cancels the queued ones, aborts the running ones and waits for them to end
   * (at most `graceMs`). A running job ends only once the engine has stopped its operations (the
   * Pulumi CLI's clean cancel releases the stack's lock), so waiting is what keeps stacks unlocked;
   * a job still running after `graceMs` is marked `interrupted`, naming the stacks its operations
   * may still hold.
   */
  async shutdown(graceMs = 30_000): Promise<void> {
    if (this.stopping.signal.aborted) return;
    const reason = "the service is stopping";
    for (const active of this.jobs.all()) {
      if (active.job.state === "queued") this.jobs.finish(active, "cancelled", `cancelled: ${reason}`);
    }
    const running = this.jobs.all();
    for (const active of running) {
      active.job.cancelRequested = true;
      this.jobs.save(active);
    }
    this.stopping.abort(new Error(reason));
    for (const active of running) active.controller.abort(new Error(reason));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(running.map((active) => active.done)), timeout]);
    clearTimeout(timer);
    for (const active of this.jobs.all()) {
      const stacks = active.stacks.join(", ");
      this.jobs.finish(
        active,
        "interrupted",
        `interrupted: ${reason} and the job did not stop within ${graceMs} ms; its engine operations may still hold stacks ${stacks} until they end (then \`pulumi stack -s <stack>\` shows whether one is still locked; \`pulumi cancel -s <stack>\` releases it)`,
      );
    }
  }

  /** The request's stage settings and region targets. @throws JobRequestError */
  private resolve(request: JobRequest): { info: StageInfo; targets: RegionTarget[] } {
    try {
      const info = this.stages.read(request.stage);
      return { info, targets: selectTargets(info, request.regions) };
    } catch (error) {
      if (error instanceof RolloutUsageError) throw new JobRequestError(error.message);
      if (error instanceof SettingsError) {
        throw new JobRequestError(`the settings of stage "${request.stage}" are invalid: ${error.message}`);
      }
      throw error;
    }
  }
}
