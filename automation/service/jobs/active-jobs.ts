import { randomUUID } from "node:crypto";
import { reasonText } from "../../engine/errors";
import type { Engine } from "../../engine/types";
import type { HealthGate } from "../../rollout/health";
import type { StageInfo } from "../../rollout/targets";
import { DONE_STATES, type RegionTarget } from "../../rollout/types";
import { runJob } from "./run";
import type { JobStoreApi } from "./store-api";
import {
  FINISHED_STATES,
  type Job,
  type JobEvent,
  type JobRegion,
  type JobRequest,
  type JobState,
} from "./types";

/** A queued or running job, in memory. */
export interface ActiveJob {
  job: Job;
  info: StageInfo;
  targets: RegionTarget[];
  stacks: string[];
  /** Aborted by a cancel or by shutdown. */
  controller: AbortController;
  seq: number;
  done: Promise<void>;
  resolveDone: () => void;
  /** The job's JSON document as last saved (what the store has), made once per change. */
  json?: string;
  /** False until the job's first write is committed: only then is it accepted, and may it start. */
  committed: boolean;
  /**
   * Cluster: another replica marked the job interrupted (this one missed its lease: paused, cut
   * off). It is aborted, and writes nothing more: the job's record is the other replica's now.
   */
  leaseLost?: boolean;
}

export type JobListener = (event: JobEvent) => void;

export interface ActiveJobsOptions {
  store: JobStoreApi;
  engine: Engine;
  projectDir: string;
  /** The revision a rollout deploys. */
  revision: (projectDir: string, stage: string) => Promise<string>;
  /** The health gate of a stage's rollout. */
  health: (stage: StageInfo) => HealthGate;
  /** Called once per job as it finishes (metrics). */
  onFinished?: (job: Job) => void;
  /** Called once a job has left its stacks (finished, or refused): the jobs behind it may start. */
  onReleased: (jobId: string, stacks: string[]) => void;
  clock: () => Date;
}

/**
 * The jobs this process holds (queued or running), in both modes, and how one runs: started,
 * run by runJob, its regions' progress recorded, finished or cancelled. Every state change and
 * event is written to the store before listeners hear of it.
 */
export class ActiveJobs {
  private readonly active = new Map<string, ActiveJob>();
  private readonly listeners = new Map<string, Set<JobListener>>();

  constructor(private readonly options: ActiveJobsOptions) {}

  get size(): number {
    return this.active.size;
  }

  get(id: string): ActiveJob | undefined {
    return this.active.get(id);
  }

  /** The jobs held, in the order they came. */
  all(): ActiveJob[] {
    return [...this.active.values()];
  }

  /** Whether a job of this kind for this stage is queued or running here. */
  hasActive(stage: string, kind: Job["kind"]): boolean {
    for (const { job } of this.active.values()) if (job.stage === stage && job.kind === kind) return true;
    return false;
  }

  /** A new job (queued) for this request. */
  newJob(request: JobRequest, info: StageInfo, targets: RegionTarget[]): Job {
    return {
      id: randomUUID(),
      kind: request.kind,
      stage: info.stage,
      state: "queued",
      trigger: request.trigger ?? "api",
      engine: this.options.engine.kind,
      options: withoutUndefined(request.options ?? {}),
      regions: targets.map((target) => ({
        region: target.region,
        stackName: target.stackName,
        primary: target.primary,
        state: "pending",
        elapsedMs: 0,
        gates: [],
      })),
      createdAt: this.options.clock().toISOString(),
    };
  }

  /** Holds a job from now on (not yet started). */
  add(entry: Pick<ActiveJob, "job" | "info" | "targets" | "stacks" | "seq" | "committed">): ActiveJob {
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const active: ActiveJob = { ...entry, controller: new AbortController(), done, resolveDone };
    this.active.set(entry.job.id, active);
    return active;
  }

  /** Lets go of a job that was never accepted (its first commit failed): it never ran. */
  forget(active: ActiveJob): void {
    this.active.delete(active.job.id);
    this.listeners.delete(active.job.id);
    active.resolveDone();
  }

  start(active: ActiveJob): void {
    const { job } = active;
    job.state = "running";
    job.startedAt = this.options.clock().toISOString();
    this.begin(active);
  }

  /** Records that the job runs (its document, its stacks' last job, an event) and runs it. */
  begin(active: ActiveJob): void {
    const { job } = active;
    const { store } = this.options;
    store.transaction(() => {
      this.save(active);
      for (const stackName of active.stacks) store.setLastJob(stackName, job);
      this.emit(active, "job", jobSummary(job));
    });
    void this.execute(active);
  }

  /**
   * Cancels a job held here: a queued one at once, a running one by aborting its operations (the
   * engine cancels the stack's update; the job ends `cancelled` when they have stopped).
   */
  cancel(active: ActiveJob, reason: string): Job {
    if (active.job.state === "queued") {
      this.finish(active, "cancelled", `${reason} before it started`);
    } else if (!active.controller.signal.aborted) {
      active.job.cancelRequested = true;
      this.save(active);
      active.controller.abort(new Error(reason));
    }
    return this.view(active.job);
  }

  finish(active: ActiveJob, state: JobState, error?: string): void {
    const { job } = active;
    if (FINISHED_STATES.has(job.state)) return;
    const { store } = this.options;
    const finishedAt = this.options.clock();
    job.state = state;
    job.finishedAt = finishedAt.toISOString();
    job.durationMs = job.startedAt ? finishedAt.getTime() - Date.parse(job.startedAt) : 0;
    if (error !== undefined) job.error = error;
    if (!active.leaseLost) {
      store.transaction(() => {
        this.save(active);
        // A stack's last job is the last one that ran on it: one cancelled while it waited never did.
        if (job.startedAt) for (const stackName of active.stacks) store.setLastJob(stackName, job);
        this.emit(active, "job", jobSummary(job));
      });
    }
    this.active.delete(job.id);
    active.resolveDone();
    this.listeners.delete(job.id);
    try {
      this.options.onFinished?.(job);
    } catch {
      // Metrics must not break the job's bookkeeping.
    }
    this.options.onReleased(job.id, active.stacks);
  }

  save(active: ActiveJob): void {
    if (active.leaseLost) return;
    active.json = JSON.stringify(active.job);
    this.options.store.updateJob(active.job, active.json);
  }

  emit(active: ActiveJob, type: JobEvent["type"], data: unknown): void {
    if (active.leaseLost) return;
    const event: JobEvent = {
      jobId: active.job.id,
      seq: ++active.seq,
      type,
      data,
      at: this.options.clock().toISOString(),
    };
    this.options.store.appendEvent(event);
    const listeners = this.listeners.get(active.job.id);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // A broken listener (a closed connection) must not break the job.
      }
    }
  }

  /** Listens to the events this process writes for a job; returns the function that stops listening. */
  listen(jobId: string, listener: JobListener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
  }

  /** A copy of the job, with its duration so far while running. */
  view(job: Job): Job {
    if (job.state !== "running" || !job.startedAt) return { ...job };
    return { ...job, durationMs: this.options.clock().getTime() - Date.parse(job.startedAt) };
  }

  /**
   * A held job's JSON document (with its duration so far while running), or undefined when the
   * job is not held here. Serialized once per change of the job, not once per read.
   */
  json(id: string): string | undefined {
    const active = this.active.get(id);
    if (!active) return undefined;
    const { job } = active;
    active.json ??= JSON.stringify(job);
    if (job.state !== "running" || !job.startedAt || job.durationMs !== undefined) return active.json;
    const durationMs = this.options.clock().getTime() - Date.parse(job.startedAt);
    return `${active.json.slice(0, -1)},"durationMs":${durationMs}}`;
  }

  private async execute(active: ActiveJob): Promise<void> {
    const { job } = active;
    let state: JobState = "failed";
    let error: string | undefined;
    try {
      const outcome = await runJob({
        job,
        info: active.info,
        targets: active.targets,
        engine: this.options.engine,
        signal: active.controller.signal,
        projectDir: this.options.projectDir,
        revision: this.options.revision,
        health: this.options.health,
        onRegion: (region) => this.regionChanged(active, region),
        onEvent: (type, data) => this.emit(active, type, data),
        onRevision: (revision) => {
          job.revision = revision;
          this.options.store.transaction(() => {
            this.save(active);
            this.emit(active, "job", jobSummary(job));
          });
        },
      });
      state = outcome.state;
      error = outcome.error;
      job.result = outcome.result;
    } catch (thrown) {
      error = active.controller.signal.aborted
        ? `cancelled: ${reasonText(active.controller.signal.reason)}`
        : (thrown as Error).message;
      state = active.controller.signal.aborted ? "cancelled" : "failed";
    }
    this.finish(active, state, error);
  }

  private regionChanged(active: ActiveJob, region: JobRegion): void {
    const { job } = active;
    const index = job.regions.findIndex((entry) => entry.stackName === region.stackName);
    if (index === -1) return;
    if (active.leaseLost) return;
    job.regions[index] = region;
    const { store } = this.options;
    const at = this.options.clock().toISOString();
    store.transaction(() => {
      this.save(active);
      if (FINISHED_REGION_STATES.has(region.state)) {
        if (job.kind === "rollout" && !job.options.dryRun && region.state !== "skipped") {
          store.setRollout(region.stackName, job.id, region, at);
        }
        if (job.kind === "drift" && region.state !== "cancelled") {
          store.setDrift(region.stackName, job.id, region, at);
        }
      }
      this.emit(active, "region", region);
    });
  }
}

/** Region states in which a region is done: the rollout's, and a drift check's. */
const FINISHED_REGION_STATES: ReadonlySet<string> = new Set<string>([
  ...DONE_STATES,
  "clean",
  "drifted",
  "remediated",
]);

/** The job as a `job` event carries it: everything but the (large) final report. */
export function jobSummary(job: Job): Job {
  const { result: _result, ...summary } = job;
  return summary;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}
