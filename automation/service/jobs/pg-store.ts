import pg from "pg";
import type { StoreHealth } from "./group-commit";
import { DEFAULT_LEASE_MS, PgCluster } from "./pg-cluster";
import { PgGroupCommit } from "./pg-group-commit";
import { migrate } from "./pg-schema";
import type { RetentionPolicy } from "./retention";
import type { JobQuery, JobStoreApi, StackStatusRow } from "./store-api";
import {
  FINISHED_STATES,
  type Job,
  type JobEvent,
  type JobKind,
  type JobRegion,
  type JobState,
} from "./types";

/** Jobs pruned per call (a batch, then the next on a later turn). */
const PRUNE_BATCH = 500;
const FINISHED_SQL = [...FINISHED_STATES].map((state) => `'${state}'`).join(", ");

export interface PgJobStoreOptions {
  /** `postgres://user:password@host:port/database` (PLATFORM_DATABASE_URL). */
  url: string;
  /** How long a replica's jobs survive it without a heartbeat. @default 15000 */
  leaseMs?: number;
  /** This replica's id. @default a random one */
  replicaId?: string;
  /** Connections in the pool. @default 10 */
  poolSize?: number;
}

/** The PostgreSQL job store cannot be opened (unreachable, refused, a migration failed). */
export class DatabaseOpenError extends Error {
  constructor(url: string, reason: string) {
    super(
      `cannot open the job store ${url}: ${reason} (check PLATFORM_DATABASE_URL and that the database is up)`,
    );
    this.name = "DatabaseOpenError";
  }
}

/** The URL without its password (what logs and /healthz may show). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

/**
 * The job store on PostgreSQL, shared by the service's replicas (PLATFORM_DATABASE_URL). Same
 * contract as the SQLite JobStore: a turn's writes are committed in one transaction
 * (PgGroupCommit), a write never throws (failed commits are retried in order while the store is
 * `degraded`), reads see committed data plus this process's own job documents not yet committed.
 * Each committed event is announced with NOTIFY, so that every replica can stream it live.
 * `open()` connects and migrates; `cluster` coordinates the replicas.
 */
export class PgJobStore implements JobStoreApi {
  readonly file: string;
  readonly pool: pg.Pool;
  readonly cluster: PgCluster;
  private readonly commits: PgGroupCommit;
  private closed = false;

  private constructor(options: PgJobStoreOptions) {
    this.file = redactUrl(options.url);
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // A replica stopped (paused, cut off) inside a transaction would hold its jobs' rows, and the
      // replica reaping its jobs skips locked rows: the server ends such a session after a lease.
      options: `-c idle_in_transaction_session_timeout=${options.leaseMs ?? DEFAULT_LEASE_MS}`,
    });
    // A connection's error (the server restarted, or ended a session stuck in a transaction) must
    // not crash the process: the query in flight fails (and is retried), the pool reconnects.
    this.pool.on("error", () => {});
    this.pool.on("connect", (client) => client.on("error", () => {}));
    // `this.flush()`, looked up at each turn (as the SQLite store does).
    this.commits = new PgGroupCommit(this.pool, this.file, () => setImmediate(() => this.flush()));
    this.cluster = new PgCluster(this, options);
  }

  /** Connects, applies the migrations and joins the cluster (heartbeat, LISTEN). */
  static async open(options: PgJobStoreOptions): Promise<PgJobStore> {
    const store = new PgJobStore(options);
    try {
      await migrate(store.pool);
      await store.cluster.start();
    } catch (error) {
      await store.cluster.stop().catch(() => {});
      await store.pool.end().catch(() => {});
      throw new DatabaseOpenError(store.file, (error as Error).message);
    }
    return store;
  }

  get health(): StoreHealth {
    return this.commits.health;
  }

  get onHealthChange(): ((health: StoreHealth) => void) | undefined {
    return this.commits.onHealthChange;
  }

  set onHealthChange(listener: ((health: StoreHealth) => void) | undefined) {
    this.commits.onHealthChange = listener;
  }

  assertWritable(): void {
    this.commits.assertWritable();
  }

  insertJob(job: Job): void {
    const json = JSON.stringify(job);
    this.commits.write(
      {
        text: "INSERT INTO platform_jobs (id, created, kind, stage, state, stacks, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        values: [job.id, Date.parse(job.createdAt), job.kind, job.stage, job.state, stacksOf(job), json],
      },
      job.id,
      json,
    );
  }

  updateJob(job: Job, json = JSON.stringify(job)): void {
    const batch = this.commits.write(
      {
        // A finished job never changes (a replica whose lease lapsed cannot overwrite `interrupted`).
        text: `UPDATE platform_jobs SET state = $1, doc = $2 WHERE id = $3 AND state NOT IN (${FINISHED_SQL})`,
        values: [job.state, json, job.id],
      },
      job.id,
      json,
    );
    if (FINISHED_STATES.has(job.state)) batch.work = true;
  }

  appendEvent(event: JobEvent): void {
    const batch = this.commits.write({
      text: "INSERT INTO platform_events (job_id, seq, type, data, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
      values: [event.jobId, event.seq, event.type, JSON.stringify(event.data), event.at],
    });
    const range = batch.events.get(event.jobId);
    if (range) range.last = Math.max(range.last, event.seq);
    else batch.events.set(event.jobId, { first: event.seq, last: event.seq });
  }

  setLastJob(stackName: string, job: Job): void {
    const { id, kind, state, createdAt, finishedAt } = job;
    this.setStatus(stackName, "last_job", { id, kind, state, createdAt, finishedAt });
  }

  setRollout(stackName: string, jobId: string, region: JobRegion, at: string): void {
    this.setStatus(stackName, "rollout", { jobId, state: region.state, at });
  }

  setDrift(stackName: string, jobId: string, region: JobRegion, at: string): void {
    this.setStatus(stackName, "drift", { jobId, state: region.state, driftedCount: region.driftedCount, at });
  }

  transaction<T>(body: () => T): T {
    return body();
  }

  /** Jobs are admitted in a transaction of their own (cluster.admit): nothing to take back. */
  discardJob(_jobId: string): void {}

  flush(): void {
    this.commits.flush();
  }

  whenCommitted(): Promise<void> {
    return this.commits.whenCommitted();
  }

  commitOrFail(): Promise<void> {
    return this.commits.commitOrFail();
  }

  async getJobJson(id: string): Promise<string | undefined> {
    const unsaved = this.commits.unsavedDoc(id);
    if (unsaved !== undefined) return unsaved;
    const { rows } = await this.pool.query<{ doc: string }>("SELECT doc FROM platform_jobs WHERE id = $1", [
      id,
    ]);
    return rows[0]?.doc;
  }

  async getJob(id: string): Promise<Job | undefined> {
    const json = await this.getJobJson(id);
    return json === undefined ? undefined : (JSON.parse(json) as Job);
  }

  async listJobs(query: JobQuery = {}): Promise<Job[]> {
    const where: string[] = [];
    const values: (string | number)[] = [];
    for (const key of ["stage", "kind", "state"] as const) {
      const value = query[key];
      if (value !== undefined) {
        values.push(value);
        where.push(`${key} = $${values.length}`);
      }
    }
    values.push(query.limit ?? 50);
    const { rows } = await this.pool.query<{ id: string; doc: string }>(
      `SELECT id, doc FROM platform_jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created DESC, arrival DESC LIMIT $${values.length}`,
      values,
    );
    return rows.map((row) => JSON.parse(this.commits.unsavedDoc(row.id) ?? row.doc) as Job);
  }

  async jobsInStates(states: JobState[]): Promise<Job[]> {
    const { rows } = await this.pool.query<{ doc: string }>(
      "SELECT doc FROM platform_jobs WHERE state = ANY($1) ORDER BY created, arrival",
      [states],
    );
    return rows.map((row) => JSON.parse(row.doc) as Job);
  }

  async eventsAfter(jobId: string, afterSeq = 0): Promise<JobEvent[]> {
    const { rows } = await this.pool.query<{ seq: number; type: JobEvent["type"]; data: string; at: string }>(
      "SELECT seq, type, data, at FROM platform_events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
      [jobId, afterSeq],
    );
    return rows.map((row) => ({
      jobId,
      seq: row.seq,
      type: row.type,
      data: JSON.parse(row.data),
      at: row.at,
    }));
  }

  async lastSeq(jobId: string): Promise<number> {
    const { rows } = await this.pool.query<{ seq: number | null }>(
      "SELECT MAX(seq) AS seq FROM platform_events WHERE job_id = $1",
      [jobId],
    );
    return rows[0]?.seq ?? 0;
  }

  async countByKindAndState(): Promise<{ kind: JobKind; state: JobState; count: number }[]> {
    const { rows } = await this.pool.query<{ kind: JobKind; state: JobState; count: number }>(
      "SELECT kind, state, COUNT(*)::int AS count FROM platform_jobs GROUP BY kind, state ORDER BY kind, state",
    );
    return rows;
  }

  async stackStatuses(): Promise<Map<string, StackStatusRow>> {
    const { rows } = await this.pool.query<{
      stack_name: string;
      last_job: string | null;
      rollout: string | null;
      drift: string | null;
    }>("SELECT stack_name, last_job, rollout, drift FROM platform_stack_status");
    return new Map(
      rows.map((row) => [
        row.stack_name,
        {
          stackName: row.stack_name,
          lastJob: row.last_job ? JSON.parse(row.last_job) : undefined,
          rollout: row.rollout ? JSON.parse(row.rollout) : undefined,
          drift: row.drift ? JSON.parse(row.drift) : undefined,
        },
      ]),
    );
  }

  /**
   * Prunes finished jobs (and their events) beyond the policy, oldest first, never one a stack
   * shows; at most PRUNE_BATCH per call, in a transaction of its own. None while degraded.
   */
  async prune(policy: RetentionPolicy, now = Date.now()): Promise<number> {
    if (this.commits.degraded || (policy.maxAgeMs === undefined && policy.maxCount === undefined)) return 0;
    const beyond: string[] = [];
    const values: number[] = [];
    if (policy.maxAgeMs !== undefined) {
      values.push(now - policy.maxAgeMs);
      beyond.push(`created < $${values.length}`);
    }
    if (policy.maxCount !== undefined) {
      values.push(policy.maxCount);
      beyond.push(
        `id IN (SELECT id FROM platform_jobs WHERE state IN (${FINISHED_SQL}) ORDER BY created DESC, arrival DESC OFFSET $${values.length})`,
      );
    }
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<{ id: string }>(
        `DELETE FROM platform_jobs WHERE id IN (
           SELECT id FROM platform_jobs WHERE state IN (${FINISHED_SQL}) AND (${beyond.join(" OR ")})
           AND id NOT IN (
             SELECT last_job::json->>'id' FROM platform_stack_status WHERE last_job IS NOT NULL
             UNION SELECT rollout::json->>'jobId' FROM platform_stack_status WHERE rollout IS NOT NULL
             UNION SELECT drift::json->>'jobId' FROM platform_stack_status WHERE drift IS NOT NULL)
           ORDER BY created, arrival LIMIT ${PRUNE_BATCH})
         RETURNING id`,
        values,
      );
      if (rows.length > 0) {
        await client.query("DELETE FROM platform_events WHERE job_id = ANY($1)", [rows.map((row) => row.id)]);
      }
      await client.query("COMMIT");
      return rows.length;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** Commits what is pending, leaves the cluster (its jobs are no longer leased) and disconnects. */
  async close(): Promise<number> {
    if (this.closed) return 0;
    this.closed = true;
    // One last attempt per batch when degraded: what still fails is lost (and counted).
    const lost = await this.commits.close();
    await this.cluster.stop();
    await this.pool.end();
    return lost;
  }

  private setStatus(stackName: string, column: "last_job" | "rollout" | "drift", ref: object): void {
    this.commits.write({
      text: `INSERT INTO platform_stack_status (stack_name, ${column}) VALUES ($1, $2) ON CONFLICT (stack_name) DO UPDATE SET ${column} = excluded.${column}`,
      values: [stackName, JSON.stringify(ref)],
    });
  }
}

/** The region stacks a job touches. */
export function stacksOf(job: Job): string[] {
  return job.regions.map((region) => region.stackName);
}
