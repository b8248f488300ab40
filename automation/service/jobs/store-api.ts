import type { StoreHealth } from "./group-commit";
import type { RetentionPolicy } from "./retention";
import type { Job, JobEvent, JobKind, JobRegion, JobState } from "./types";

/** A value, or a promise of it: the SQLite store answers at once, the PostgreSQL store later. */
export type Awaitable<T> = T | Promise<T>;

/** What the stack grid shows of one region stack: its last job, rollout and drift check. */
export interface StackStatusRow {
  stackName: string;
  lastJob?: { id: string; kind: JobKind; state: JobState; createdAt: string; finishedAt?: string };
  rollout?: { jobId: string; state: string; at: string };
  drift?: { jobId: string; state: string; driftedCount?: number; at: string };
}

export interface JobQuery {
  stage?: string;
  kind?: JobKind;
  state?: JobState;
  /** @default 50 */
  limit?: number;
}

/**
 * The job store, as the job manager, the HTTP API, the metrics and the schedules use it. Two
 * implement it: JobStore (SQLite, one process: the embedded default) and PgJobStore (PostgreSQL,
 * shared by replicas). Both pass test/service/store-contract.ts.
 *
 * Writes never throw and never wait: they are grouped and committed at the end of the turn of the
 * event loop (whenCommitted / commitOrFail say when). Reads answer what is committed, plus this
 * process's own writes not yet committed (job documents and stack statuses, not events).
 */
export interface JobStoreApi {
  /** Where the jobs are: the SQLite file, or the PostgreSQL URL without its password. */
  readonly file: string;
  /** Whether writes are being committed, and if not, why. */
  readonly health: StoreHealth;
  /** Told when writes start failing and when they recover. */
  onHealthChange: ((health: StoreHealth) => void) | undefined;
  /** @throws StoreUnavailableError while writes fail (what refuses new jobs). */
  assertWritable(): void;

  insertJob(job: Job): void;
  /** Writes the job's document (`json`, when the caller has serialized it already). */
  updateJob(job: Job, json?: string): void;
  appendEvent(event: JobEvent): void;
  /** Records the job as the last one to run on the stack. */
  setLastJob(stackName: string, job: Job): void;
  setRollout(stackName: string, jobId: string, region: JobRegion, at: string): void;
  setDrift(stackName: string, jobId: string, region: JobRegion, at: string): void;
  /** Runs `body`, whose writes commit together. */
  transaction<T>(body: () => T): T;
  /** Takes back the writes of a job whose first commit failed. */
  discardJob(jobId: string): void;
  /** Commits the writes so far (SQLite: before it returns; PostgreSQL: starts the commit). */
  flush(): void;
  /** Resolves once the writes made so far are committed. */
  whenCommitted(): Promise<void>;
  /** Like whenCommitted, but rejects with StoreUnavailableError when the commit fails. */
  commitOrFail(): Promise<void>;

  /** The job's stored JSON document, as written. */
  getJobJson(id: string): Awaitable<string | undefined>;
  getJob(id: string): Awaitable<Job | undefined>;
  /** Newest first. */
  listJobs(query?: JobQuery): Awaitable<Job[]>;
  /** Jobs in these states, oldest first. */
  jobsInStates(states: JobState[]): Awaitable<Job[]>;
  /** The job's committed events with `seq` above `afterSeq`, in order. */
  eventsAfter(jobId: string, afterSeq?: number): Awaitable<JobEvent[]>;
  /** The job's last event's `seq` (0 when it has none). */
  lastSeq(jobId: string): Awaitable<number>;
  countByKindAndState(): Awaitable<{ kind: JobKind; state: JobState; count: number }[]>;
  stackStatuses(): Awaitable<Map<string, StackStatusRow>>;
  /** Prunes finished jobs beyond the policy, a batch at a time; returns how many it pruned. */
  prune(policy: RetentionPolicy, now?: number): Awaitable<number>;
  /** Commits what is pending and closes; returns the writes lost. */
  close(): Awaitable<number>;
}

/** A job holding (or first in line for) a stack another job asked for. */
export interface StackHolder {
  stackName: string;
  jobId: string;
  state: "running" | "queued";
}

/** A queued job this replica has just claimed (now `running`, owned by it). */
export interface ClaimedJob {
  job: Job;
  /** Its last event's `seq`: the next event is `lastSeq + 1`. */
  lastSeq: number;
}

/**
 * What replicas share besides the store (PgJobStore's cluster): per-stack exclusivity and the
 * FIFO queue across replicas, leases on running jobs, events and cancels from other replicas,
 * and the leader that fires schedules. The SQLite store has none: one process holds it.
 */
export interface JobCluster {
  /** This replica's id (a job's `owner`). */
  readonly replicaId: string;
  /** How long a replica's jobs survive it without a heartbeat (then `interrupted`). */
  readonly leaseMs: number;
  /**
   * Records a new job and its first event in one transaction, unless one of its stacks is held
   * and it did not ask to queue (then `busy`), or it would wait and `queueLimit` jobs wait already
   * (`queueFull`). Stacks are locked (advisory locks) while it decides. A job whose stacks are
   * free is recorded running on this replica (`claimed`); else queued, for any replica to claim.
   */
  admit(
    job: Job,
    first: JobEvent,
    stacks: string[],
    options: { queue: boolean; queueLimit: number; now: Date },
  ): Promise<{ busy?: StackHolder; queueFull?: boolean; claimed?: ClaimedJob }>;
  /** Claims the queued jobs that head the queue of every one of their stacks (oldest first). */
  claim(now: Date): Promise<ClaimedJob[]>;
  /** Whether a job of this kind for this stage is queued or running on any replica. */
  hasActive(stage: string, kind: JobKind): Promise<boolean>;
  /**
   * Cancels a job this replica is not running: a queued one at once (`cancelled`), a running one
   * by asking its replica (`requested`: the job with `cancelRequested`); `finished`: it had ended.
   * Undefined when there is no such job.
   */
  cancel(
    id: string,
    reason: string,
    now: Date,
  ): Promise<{ job: Job; outcome: "cancelled" | "requested" | "finished" } | undefined>;
  /** Follows a job's committed events, whichever replica writes them; returns the unfollow. */
  follow(jobId: string, listener: (event: JobEvent) => void): () => void;
  /** True while this replica holds the scheduler's lock (it alone fires schedules). */
  readonly leader: boolean;
  /** Called when there may be work to claim (a job accepted, finished or interrupted anywhere). */
  onWork: (() => void) | undefined;
  /** Called when another replica asks to cancel a job this one runs. */
  onCancelRequested: ((jobId: string, reason: string) => void) | undefined;
  /** The jobs this replica runs (checked against the store at each heartbeat). */
  runningHere: (() => string[]) | undefined;
  /** Called with the ids of running jobs this replica no longer owns (its lease lapsed). */
  onLeaseLost: ((jobIds: string[]) => void) | undefined;
}
