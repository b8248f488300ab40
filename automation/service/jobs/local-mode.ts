import type { StageInfo } from "../../rollout/targets";
import type { RegionTarget } from "../../rollout/types";
import { type ActiveJobs, type JobListener, jobSummary } from "./active-jobs";
import { JobFinishedError, JobNotFoundError, QueueFullError, StackBusyError } from "./errors";
import type { JobMode } from "./job-mode";
import { StackQueues } from "./stack-queues";
import { JobStore } from "./store";
import type { JobStoreApi } from "./store-api";
import type { Job, JobKind, JobRequest } from "./types";

export interface LocalModeOptions {
  store: JobStoreApi;
  jobs: ActiveJobs;
  /** Jobs that may wait for their stacks at once. */
  queueLimit: number;
  clock: () => Date;
}

/**
 * One process runs every job of its store: one FIFO queue per stack in memory (StackQueues); a job
 * runs once it heads the queue of each of its stacks. A job on a busy stack is refused
 * (StackBusyError) unless it asks to queue, and may queue only while fewer than `queueLimit` wait.
 * On construction, jobs the store still has as queued or running (the process died) are marked
 * `interrupted`.
 */
export class LocalMode implements JobMode {
  private readonly store: JobStoreApi;
  private readonly jobs: ActiveJobs;
  private readonly queues = new StackQueues();

  constructor(private readonly options: LocalModeOptions) {
    this.store = options.store;
    this.jobs = options.jobs;
    this.interruptLeftovers();
  }

  /**
   * Records the job, and once that is committed starts it, queues it, or rejects it. A job whose
   * first commit fails is dropped, never ran and holds nothing.
   */
  async submit(request: JobRequest, info: StageInfo, targets: RegionTarget[]): Promise<Job> {
    const stacks = targets.map((target) => target.stackName);
    const busy = request.queue ? undefined : this.busyWith(stacks);
    if (busy) {
      const state = busy.job.state === "running" ? "running" : "queued";
      throw new StackBusyError(busy.stackName, busy.job.id, state);
    }
    const limit = this.options.queueLimit;
    if (request.queue && this.busyWith(stacks) && this.waitingCount() >= limit)
      throw new QueueFullError(limit);

    const job = this.jobs.newJob(request, info, targets);
    const active = this.jobs.add({ job, info, targets, stacks, seq: 0, committed: false });
    // Held in the stacks' queues from now on, so that a job asked for meanwhile waits behind it.
    this.queues.join(job.id, stacks);
    this.store.transaction(() => {
      this.store.insertJob(job);
      this.jobs.emit(active, "job", jobSummary(job));
    });
    try {
      await this.store.commitOrFail();
    } catch (error) {
      this.store.discardJob(job.id);
      this.jobs.forget(active);
      this.startNext(this.queues.leave(job.id, stacks));
      throw error;
    }
    active.committed = true;
    if (job.state === "queued" && this.queues.isHead(job.id, stacks)) this.jobs.start(active);
    return this.jobs.view(job);
  }

  released(jobId: string, stacks: string[]): void {
    this.startNext(this.queues.leave(jobId, stacks));
  }

  /** Every job of the store ran here: one not held here has finished, or never was. */
  cancelNotHere(id: string): never {
    const stored = this.store.getJob(id) as Job | undefined;
    if (!stored) throw new JobNotFoundError(id);
    throw new JobFinishedError(stored);
  }

  subscribe(jobId: string, listener: JobListener): () => void {
    return this.jobs.listen(jobId, listener);
  }

  hasActiveAnywhere(stage: string, kind: JobKind): Promise<boolean> {
    return Promise.resolve(this.jobs.hasActive(stage, kind));
  }

  /** Jobs accepted that wait for their stacks. */
  private waitingCount(): number {
    let count = 0;
    for (const { job } of this.jobs.all()) if (job.state === "queued") count++;
    return count;
  }

  /** Starts those of these jobs that now hold all their stacks (on the next turn of the event loop). */
  private startNext(next: string[]): void {
    if (next.length === 0) return;
    // On the next turn: a run of quick jobs must not starve the HTTP server.
    setImmediate(() => {
      for (const id of next) {
        const candidate = this.jobs.get(id);
        // One not yet committed is started by its submit, once it is.
        if (
          candidate?.committed &&
          candidate.job.state === "queued" &&
          this.queues.isHead(id, candidate.stacks)
        ) {
          this.jobs.start(candidate);
        }
      }
    });
  }

  /**
   * The job a new job on these stacks would have to wait for: one running on any of them, else the
   * first in line for one (queued behind a stack that is not among these, or about to start).
   */
  private busyWith(stacks: string[]): { stackName: string; job: Job } | undefined {
    let queued: { stackName: string; job: Job } | undefined;
    for (const stackName of stacks) {
      const head = this.queues.head(stackName);
      const job = head === undefined ? undefined : this.jobs.get(head)?.job;
      if (!job) continue;
      if (job.state === "running") return { stackName, job };
      queued ??= { stackName, job };
    }
    return queued;
  }

  /** Jobs the store has as queued or running belong to a process that died: they are interrupted. */
  private interruptLeftovers(): void {
    // A shared store's leftovers are its replicas' (their leases say when they died).
    const store = this.store;
    if (!(store instanceof JobStore)) return;
    const leftovers = store.jobsInStates(["queued", "running"]);
    const statuses = leftovers.length > 0 ? store.stackStatuses() : new Map();
    const now = this.options.clock();
    for (const job of leftovers) {
      const was = job.state;
      job.state = "interrupted";
      job.finishedAt = now.toISOString();
      job.durationMs = job.startedAt ? now.getTime() - Date.parse(job.startedAt) : 0;
      job.error = `interrupted: the service stopped while the job was ${was}`;
      for (const region of job.regions) {
        if (region.state === "running" || region.state === "pending") {
          region.state = "interrupted";
          region.message = job.error;
        }
      }
      store.transaction(() => {
        store.updateJob(job);
        for (const { stackName } of job.regions) {
          // A job that ran is its stacks' last job; so is one an earlier version recorded as such
          // when it was queued.
          if (job.startedAt || statuses.get(stackName)?.lastJob?.id === job.id) {
            store.setLastJob(stackName, job);
          }
        }
        store.appendEvent({
          jobId: job.id,
          seq: store.lastSeq(job.id) + 1,
          type: "job",
          data: jobSummary(job),
          at: job.finishedAt!,
        });
      });
    }
  }
}
