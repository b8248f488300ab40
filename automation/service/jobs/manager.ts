import { randomUUID } from "node:crypto";
import { SettingsError } from "../../../components/settings";
import { reasonText } from "../../engine/errors";
import type { Engine } from "../../engine/types";
import { PROJECT_DIR } from "../../plan/plan";
import { createHealthGate, type HealthGate } from "../../rollout/health";
import { computeRevision } from "../../rollout/revision";
import { RolloutUsageError, type StageInfo, selectTargets } from "../../rollout/targets";
import { DONE_STATES, type RegionTarget } from "../../rollout/types";
import { StageCatalog } from "../stacks";
import { runJob } from "./run";
import { StackQueues } from "./stack-queues";
import { JobStore, StoreUnavailableError } from "./store";
import type { Awaitable, ClaimedJob, JobCluster, JobStoreApi } from "./store-api";
import {
  FINISHED_STATES,
  type Job,
  type JobEvent,
  type JobRegion,
  type JobRequest,
  type JobState,
} from "./types";

/** Bad input for a job (unknown stage or region, invalid stage settings): HTTP 400. */
export class JobRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobRequestError";
  }
}

/** A stack of the job is busy and the request did not ask to queue: HTTP 409. */
export class StackBusyError extends Error {
  constructor(
    readonly stackName: string,
    readonly jobId: string,
    readonly jobState: "running" | "queued",
  ) {
    super(
      jobState === "running"
        ? `stack "${stackName}" is busy with job ${jobId}; retry when it has finished, or ask to queue`
        : `stack "${stackName}" is busy: job ${jobId} is queued for it; retry when it has finished, or ask to queue`,
    );
    this.name = "StackBusyError";
  }
}

/** Too many jobs wait for their stacks already (`queue: true`): HTTP 429. */
export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(
      `the job queue is full: ${limit} job(s) are waiting for their stacks (the limit, PLATFORM_QUEUE_LIMIT=${limit}); retry when some have run`,
    );
    this.name = "QueueFullError";
  }
}

/** The service is stopping and takes no new jobs: HTTP 503. */
export class ServiceStoppingError extends Error {
  constructor() {
    super("the service is stopping and takes no new jobs");
    this.name = "ServiceStoppingError";
  }
}

export class JobNotFoundError extends Error {
  constructor(readonly jobId: string) {
    super(`no job ${jobId}`);
    this.name = "JobNotFoundError";
  }
}

/** Cancel of a job that already finished: HTTP 409. */
export class JobFinishedError extends Error {
  constructor(readonly job: Job) {
    super(`job ${job.id} has already finished (${job.state})`);
    this.name = "JobFinishedError";
  }
}

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

/** A queued or running job, in memory. */
interface ActiveJob {
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

/** The default of JobManagerOptions.queueLimit (PLATFORM_QUEUE_LIMIT). */
export const DEFAULT_QUEUE_LIMIT = 100;

export type JobListener = (event: JobEvent) => void;

/**
 * Accepts, runs, cancels and records jobs. One job per stack at a time: a job touching a busy stack
 * is rejected (StackBusyError) or, when it asks to queue, waits its turn in arrival order. Every
 * state change and event is written to the store before listeners hear of it; on construction, jobs
 * the store still has as queued or running (the process died) are marked `interrupted`.
 */
export class JobManager {
  readonly engine: Engine;
  private readonly store: JobStoreApi;
  private readonly cluster?: JobCluster;
  /** The claim in progress (cluster), and whether to claim again once it is done. */
  private claiming?: Promise<void>;
  private claimAgain = false;
  private readonly projectDir: string;
  readonly stages: StageCatalog;
  private readonly queues = new StackQueues();
  private readonly active = new Map<string, ActiveJob>();
  private readonly listeners = new Map<string, Set<JobListener>>();
  private readonly stopping = new AbortController();
  private readonly clock: () => Date;

  constructor(private readonly options: JobManagerOptions) {
    this.store = options.store;
    this.engine = options.engine;
    this.projectDir = options.projectDir ?? PROJECT_DIR;
    this.stages = options.stages ?? new StageCatalog(this.projectDir);
    this.clock = options.clock ?? (() => new Date());
    this.cluster = options.cluster;
    if (this.cluster) {
      this.cluster.onWork = () => void this.claimWork();
      this.cluster.onCancelRequested = (id, reason) => {
        const active = this.active.get(id);
        if (active) this.cancel(id, reason);
      };
      this.cluster.runningHere = () => [...this.active.keys()];
      this.cluster.onLeaseLost = (ids) => {
        for (const id of ids) {
          const active = this.active.get(id);
          if (!active) continue;
          active.leaseLost = true;
          active.controller.abort(new Error("this replica's lease on the job lapsed"));
        }
      };
      setImmediate(() => void this.claimWork());
    } else {
      this.interruptLeftovers();
    }
  }

  /** False once `shutdown` was called. */
  get accepting(): boolean {
    return !this.stopping.signal.aborted;
  }

  /** Queued and running jobs. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Whether a job of this kind for this stage is queued or running. */
  hasActive(stage: string, kind: Job["kind"]): boolean {
    for (const { job } of this.active.values()) if (job.stage === stage && job.kind === kind) return true;
    return false;
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
    const stacks = targets.map((target) => target.stackName);
    if (this.cluster) return this.submitToCluster(this.cluster, request, info, targets);
    const busy = request.queue ? undefined : this.busyWith(stacks);
    if (busy) {
      const state = busy.job.state === "running" ? "running" : "queued";
      throw new StackBusyError(busy.stackName, busy.job.id, state);
    }
    const limit = this.options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    if (request.queue && this.busyWith(stacks) && this.waitingCount() >= limit)
      throw new QueueFullError(limit);

    const job = this.newJob(request, info, targets);
    const controller = new AbortController();
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const active: ActiveJob = {
      job,
      info,
      targets,
      stacks,
      controller,
      seq: 0,
      done,
      resolveDone,
      committed: false,
    };
    // Held in the stacks' queues from now on, so that a job asked for meanwhile waits behind it.
    this.active.set(job.id, active);
    this.queues.join(job.id, stacks);
    this.store.transaction(() => {
      this.store.insertJob(job);
      this.emit(active, "job", jobSummary(job));
    });
    try {
      await this.store.commitOrFail();
    } catch (error) {
      this.store.discardJob(job.id);
      this.active.delete(job.id);
      this.listeners.delete(job.id);
      active.resolveDone();
      this.startNext(this.queues.leave(job.id, stacks));
      throw error;
    }
    active.committed = true;
    if (job.state === "queued" && this.queues.isHead(job.id, stacks)) this.start(active);
    return this.view(job);
  }

  /** A new job (queued) for this request. */
  private newJob(request: JobRequest, info: StageInfo, targets: RegionTarget[]): Job {
    return {
      id: randomUUID(),
      kind: request.kind,
      stage: info.stage,
      state: "queued",
      trigger: request.trigger ?? "api",
      engine: this.engine.kind,
      options: withoutUndefined(request.options ?? {}),
      regions: targets.map((target) => ({
        region: target.region,
        stackName: target.stackName,
        primary: target.primary,
        state: "pending",
        elapsedMs: 0,
        gates: [],
      })),
      createdAt: this.clock().toISOString(),
    };
  }

  /**
   * Submits to the replicas' shared store: admitted (or refused: busy stack, full queue) in one
   * transaction under the stacks' locks. On free stacks it runs here at once; a job that waits is
   * claimed, once it heads its stacks' queues, by whichever replica gets to it first.
   */
  private async submitToCluster(
    cluster: JobCluster,
    request: JobRequest,
    info: StageInfo,
    targets: RegionTarget[],
  ): Promise<Job> {
    const job = this.newJob(request, info, targets);
    const first: JobEvent = { jobId: job.id, seq: 1, type: "job", data: jobSummary(job), at: job.createdAt };
    const limit = this.options.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    const stacks = targets.map((target) => target.stackName);
    let outcome: Awaited<ReturnType<JobCluster["admit"]>>;
    try {
      outcome = await cluster.admit(job, first, stacks, {
        queue: request.queue === true,
        queueLimit: limit,
        now: this.clock(),
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
    const active = this.active.get(job.id);
    return active ? this.view(active.job) : ((await this.store.getJob(job.id)) ?? job);
  }

  /** Claims the queued jobs this replica may start now, and starts them (one claim at a time). */
  private claimWork(): Promise<void> {
    const cluster = this.cluster;
    if (!cluster || !this.accepting) return Promise.resolve();
    if (this.claiming) {
      this.claimAgain = true;
      return this.claiming;
    }
    this.claiming = (async () => {
      do {
        this.claimAgain = false;
        let claimed: ClaimedJob[] = [];
        try {
          claimed = this.accepting ? await cluster.claim(this.clock()) : [];
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
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const active: ActiveJob = {
      job,
      info: undefined as unknown as StageInfo,
      targets: [],
      stacks: job.regions.map((region) => region.stackName),
      controller: new AbortController(),
      seq: lastSeq,
      done,
      resolveDone,
      committed: true,
    };
    this.active.set(job.id, active);
    try {
      active.info = this.stages.read(job.stage);
      active.targets = selectTargets(
        active.info,
        job.regions.map((region) => region.region),
      );
    } catch (error) {
      this.finish(
        active,
        "failed",
        `the settings of stage "${job.stage}" cannot be read: ${(error as Error).message}`,
      );
      return;
    }
    this.begin(active);
  }

  /** Jobs accepted that wait for their stacks. */
  private waitingCount(): number {
    let count = 0;
    for (const { job } of this.active.values()) if (job.state === "queued") count++;
    return count;
  }

  /** Starts those of these jobs that now hold all their stacks (on the next turn of the event loop). */
  private startNext(next: string[]): void {
    if (next.length === 0) return;
    // On the next turn: a run of quick jobs must not starve the HTTP server.
    setImmediate(() => {
      for (const id of next) {
        const candidate = this.active.get(id);
        // One not yet committed is started by its submit, once it is.
        if (
          candidate?.committed &&
          candidate.job.state === "queued" &&
          this.queues.isHead(id, candidate.stacks)
        ) {
          this.start(candidate);
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
      const job = head === undefined ? undefined : this.active.get(head)?.job;
      if (!job) continue;
      if (job.state === "running") return { stackName, job };
      queued ??= { stackName, job };
    }
    return queued;
  }

  /**
   * A queued or running job's JSON document (with its duration so far while running), or
   * undefined when the job is not active. It is serialized once per change of the job, not once
   * per read: a watched job is read far more often than it changes.
   */
  activeJobJson(id: string): string | undefined {
    const active = this.active.get(id);
    if (!active) return undefined;
    const { job } = active;
    active.json ??= JSON.stringify(job);
    if (job.state !== "running" || !job.startedAt || job.durationMs !== undefined) return active.json;
    const durationMs = this.clock().getTime() - Date.parse(job.startedAt);
    return `${active.json.slice(0, -1)},"durationMs":${durationMs}}`;
  }

  /**
   * A job (with its duration so far while running), read at once: one this process runs, or one in
   * a store that answers at once (SQLite). `find` reads any store.
   */
  get(id: string): Job | undefined {
    const active = this.active.get(id);
    if (active) return this.view(active.job);
    const stored = this.store.getJob(id);
    return stored instanceof Promise ? undefined : stored;
  }

  /** A job (with its duration so far while running), whichever replica runs it. */
  async find(id: string): Promise<Job | undefined> {
    const active = this.active.get(id);
    return active ? this.view(active.job) : await this.store.getJob(id);
  }

  /** Whether a job of this kind for this stage is queued or running, on any replica. */
  hasActiveAnywhere(stage: string, kind: Job["kind"]): Promise<boolean> {
    return this.cluster ? this.cluster.hasActive(stage, kind) : Promise.resolve(this.hasActive(stage, kind));
  }

  /**
   * Cancels a job: a queued one at once, a running one by aborting its operations (the engine
   * cancels the stack's update; the job ends `cancelled` when they have stopped).
   *
   * @throws JobNotFoundError, JobFinishedError
   */
  cancel(id: string, reason = "cancelled by request"): Awaitable<Job> {
    const active = this.active.get(id);
    if (!active && this.cluster) return this.cancelElsewhere(this.cluster, id, reason);
    if (!active) {
      const stored = this.store.getJob(id) as Job | undefined;
      if (!stored) throw new JobNotFoundError(id);
      throw new JobFinishedError(stored);
    }
    if (active.job.state === "queued") {
      this.finish(active, "cancelled", `${reason} before it started`);
    } else if (!active.controller.signal.aborted) {
      active.job.cancelRequested = true;
      this.save(active);
      active.controller.abort(new Error(reason));
    }
    return this.view(active.job);
  }

  /** Cancels a job this replica does not run: queued (at once) or running on another replica. */
  private async cancelElsewhere(cluster: JobCluster, id: string, reason: string): Promise<Job> {
    const cancelled = await cluster.cancel(id, reason, this.clock());
    if (!cancelled) throw new JobNotFoundError(id);
    if (cancelled.outcome === "finished") throw new JobFinishedError(cancelled.job);
    return cancelled.job;
  }

  /**
   * Listens to a job's events from now on; returns the function that stops listening. Events may
   * reach the listener before `eventsAfter` (called after this) returns them too: skip by `seq`.
   * With a cluster, the events are the committed ones, whichever replica writes them.
   */
  subscribe(jobId: string, listener: JobListener): () => void {
    if (this.cluster) return this.cluster.follow(jobId, listener);
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
    for (const active of [...this.active.values()]) {
      if (active.job.state === "queued") this.finish(active, "cancelled", `cancelled: ${reason}`);
    }
    const running = [...this.active.values()];
    for (const active of running) {
      active.job.cancelRequested = true;
      this.save(active);
    }
    this.stopping.abort(new Error(reason));
    for (const active of running) active.controller.abort(new Error(reason));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(running.map((active) => active.done)), timeout]);
    clearTimeout(timer);
    for (const active of [...this.active.values()]) {
      const stacks = active.stacks.join(", ");
      this.finish(
        active,
        "interrupted",
        `interrupted: ${reason} and the job did not stop within ${graceMs} ms; its engine operations may still hold stacks ${stacks} until they end (then \`pulumi stack -s <stack>\` shows whether one is still locked; \`pulumi cancel -s <stack>\` releases it)`,
      );
    }
  }

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

  private start(active: ActiveJob): void {
    const { job } = active;
    job.state = "running";
    job.startedAt = this.clock().toISOString();
    this.begin(active);
  }

  /** Records that the job runs (its document, its stacks' last job, an event) and runs it. */
  private begin(active: ActiveJob): void {
    const { job } = active;
    this.store.transaction(() => {
      this.save(active);
      for (const stackName of active.stacks) this.store.setLastJob(stackName, job);
      this.emit(active, "job", jobSummary(job));
    });
    void this.execute(active);
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
        engine: this.engine,
        signal: active.controller.signal,
        projectDir: this.projectDir,
        revision: this.options.revision ?? computeRevision,
        // The offline engine's local clouds serve a real API but have no CloudWatch alarms.
        health:
          this.options.health ??
          ((info) =>
            createHealthGate({ app: info.app, alarms: this.engine.kind === "offline" ? false : undefined })),
        onRegion: (region) => this.regionChanged(active, region),
        onEvent: (type, data) => this.emit(active, type, data),
        onRevision: (revision) => {
          job.revision = revision;
          this.store.transaction(() => {
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
    const at = this.clock().toISOString();
    this.store.transaction(() => {
      this.save(active);
      if (FINISHED_REGION_STATES.has(region.state)) {
        if (job.kind === "rollout" && !job.options.dryRun && region.state !== "skipped") {
          this.store.setRollout(region.stackName, job.id, region, at);
        }
        if (job.kind === "drift" && region.state !== "cancelled") {
          this.store.setDrift(region.stackName, job.id, region, at);
        }
      }
      this.emit(active, "region", region);
    });
  }

  private finish(active: ActiveJob, state: JobState, error?: string): void {
    const { job } = active;
    if (FINISHED_STATES.has(job.state)) return;
    const finishedAt = this.clock();
    job.state = state;
    job.finishedAt = finishedAt.toISOString();
    job.durationMs = job.startedAt ? finishedAt.getTime() - Date.parse(job.startedAt) : 0;
    if (error !== undefined) job.error = error;
    if (!active.leaseLost) {
      this.store.transaction(() => {
        this.save(active);
        // A stack's last job is the last one that ran on it: one cancelled while it waited never did.
        if (job.startedAt) for (const stackName of active.stacks) this.store.setLastJob(stackName, job);
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
    this.startNext(this.queues.leave(job.id, active.stacks));
  }

  private save(active: ActiveJob): void {
    if (active.leaseLost) return;
    active.json = JSON.stringify(active.job);
    this.store.updateJob(active.job, active.json);
  }

  private emit(active: ActiveJob, type: JobEvent["type"], data: unknown): void {
    if (active.leaseLost) return;
    const event: JobEvent = {
      jobId: active.job.id,
      seq: ++active.seq,
      type,
      data,
      at: this.clock().toISOString(),
    };
    this.store.appendEvent(event);
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

  /** Jobs the store has as queued or running belong to a process that died: they are interrupted. */
  private interruptLeftovers(): void {
    // A shared store's leftovers are its replicas' (their leases say when they died).
    const store = this.store;
    if (!(store instanceof JobStore)) return;
    const leftovers = store.jobsInStates(["queued", "running"]);
    const statuses = leftovers.length > 0 ? store.stackStatuses() : new Map();
    const now = this.clock();
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

  private view(job: Job): Job {
    if (job.state !== "running" || !job.startedAt) return { ...job };
    return { ...job, durationMs: this.clock().getTime() - Date.parse(job.startedAt) };
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
