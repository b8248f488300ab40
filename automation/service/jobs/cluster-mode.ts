import { type StageInfo, selectTargets } from "../../rollout/targets";
import type { RegionTarget } from "../../rollout/types";
import type { StageCatalog } from "../stacks";
import { type ActiveJobs, type JobListener, jobSummary } from "./active-jobs";
import { JobFinishedError, JobNotFoundError, QueueFullError, StackBusyError } from "./errors";
import { StoreUnavailableError } from "./group-commit";
import type { JobMode } from "./job-mode";
import type { ClaimedJob, JobCluster, JobStoreApi } from "./store-api";
import type { Job, JobEvent, JobKind, JobRequest } from "./types";

export interface ClusterModeOptions {
  cluster: JobCluster;
  store: JobStoreApi;
  jobs: ActiveJobs;
  stages: StageCatalog;
  /** Jobs that may wait for their stacks at once, over all replicas. */
  queueLimit: number;
  /** Aborted once the manager stops taking jobs: then it claims none. */
  stopping: AbortSignal;
  clock: () => Date;
}

/**
 * Replicas share the jobs of a PostgreSQL store (its JobCluster, pg-cluster.ts): a job is admitted
 * under its stacks' locks, runs at once on the replica that accepted it when its stacks are free,
 * else waits in the shared queue until a replica claims it (told by NOTIFY, and at each heartbeat).
 * Cancels of jobs other replicas run go through the store; events are followed as committed,
 * whichever replica writes them; a job whose lease this replica lost is aborted and written no more.
 */
export class ClusterMode implements JobMode {
  private readonly cluster: JobCluster;
  private readonly jobs: ActiveJobs;
  /** The claim in progress, and whether to claim again once it is done. */
  private claiming?: Promise<void>;
  private claimAgain = false;

  constructor(private readonly options: ClusterModeOptions) {
    this.cluster = options.cluster;
    this.jobs = options.jobs;
    this.cluster.onWork = () => void this.claimWork();
    this.cluster.onCancelRequested = (id, reason) => {
      const active = this.jobs.get(id);
      if (active) this.jobs.cancel(active, reason);
    };
    this.cluster.runningHere = () => this.jobs.all().map((active) => active.job.id);
    this.cluster.onLeaseLost = (ids) => {
      for (const id of ids) {
        const active = this.jobs.get(id);
        if (!active) continue;
        active.leaseLost = true;
        active.controller.abort(new Error("this replica's lease on the job lapsed"));
      }
    };
    setImmediate(() => void this.claimWork());
  }

  /**
   * Submits to the replicas' shared store: admitted (or refused: busy stack, full queue) in one
   * transaction under the stacks' locks. On free stacks it runs here at once; a job that waits is
   * claimed, once it heads its stacks' queues, by whichever replica gets to it first.
   */
  async submit(request: JobRequest, info: StageInfo, targets: RegionTarget[]): Promise<Job> {
    const job = this.jobs.newJob(request, info, targets);
    const first: JobEvent = { jobId: job.id, seq: 1, type: "job", data: jobSummary(job), at: job.createdAt };
    const limit = this.options.queueLimit;
    const stacks = targets.map((target) => target.stackName);
    let outcome: Awaited<ReturnType<JobCluster["admit"]>>;
    try {
      outcome = await this.cluster.admit(job, first, stacks, {
        queue: request.queue === true,
        queueLimit: limit,
        now: this.options.clock(),
      });
    } catch (error) {
      // Not recorded, so not accepted: the client may retry (HTTP 503).
      throw new StoreUnavailableError(
        `the job store cannot record the job: ${(error as Error).message}; retry when the database is reachable`,
        5,
      );
    }
    if (outcome.busy)
      throw new StackBusyError(outcome.busy.stackName, outcome.busy.jobId, outcome.busy.state);
    if (outcome.queueFull) throw new QueueFullError(limit);
    if (outcome.claimed) this.startClaimed(outcome.claimed);
    const active = this.jobs.get(job.id);
    return active ? this.jobs.view(active.job) : ((await this.options.store.getJob(job.id)) ?? job);
  }

  /** The store announces (platform_work) every job that ends: claimWork takes what waited for it. */
  released(): void {}

  /** Cancels a job this replica does not run: queued (at once) or running on another replica. */
  async cancelNotHere(id: string, reason: string): Promise<Job> {
    const cancelled = await this.cluster.cancel(id, reason, this.options.clock());
    if (!cancelled) throw new JobNotFoundError(id);
    if (cancelled.outcome === "finished") throw new JobFinishedError(cancelled.job);
    return cancelled.job;
  }

  /** The job's committed events, whichever replica writes them. */
  subscribe(jobId: string, listener: JobListener): () => void {
    return this.cluster.follow(jobId, listener);
  }

  hasActiveAnywhere(stage: string, kind: JobKind): Promise<boolean> {
    return this.cluster.hasActive(stage, kind);
  }

  /** Claims the queued jobs this replica may start now, and starts them (one claim at a time). */
  private claimWork(): Promise<void> {
    const cluster = this.cluster;
    if (this.options.stopping.aborted) return Promise.resolve();
    if (this.claiming) {
      this.claimAgain = true;
      return this.claiming;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        let claimed: ClaimedJob[] = [];
        try {
          claimed = this.options.stopping.aborted ? [] : await cluster.claim(this.options.clock());
        } catch {
          // The database is unreachable: the next heartbeat looks for work again.
        }
        for (const entry of claimed) this.startClaimed(entry);
      } while (this.claimAgain);
    })().finally(() => {
      this.claiming = undefined;
    });
    return this.claiming;
  }

  /** Runs a job claimed from the shared queue (accepted by any replica). */
  private startClaimed({ job, lastSeq }: ClaimedJob): void {
    const active = this.jobs.add({
      job,
      info: undefined as unknown as StageInfo,
      targets: [],
      stacks: job.regions.map((region) => region.stackName),
      seq: lastSeq,
      committed: true,
    });
    try {
      active.info = this.options.stages.read(job.stage);
      active.targets = selectTargets(
        active.info,
        job.regions.map((region) => region.region),
      );
    } catch (error) {
      this.jobs.finish(
        active,
        "failed",
        `the settings of stage "${job.stage}" cannot be read: ${(error as Error).message}`,
      );
      return;
    }
    this.jobs.begin(active);
  }
}
