import { randomUUID } from "node:crypto";
import pg from "pg";
import { LOCK_NAMESPACE, SCHEDULER_LOCK } from "./pg-schema";
import type { PgJobStore, PgJobStoreOptions } from "./pg-store";
import type { ClaimedJob, JobCluster, StackHolder } from "./store-api";
import type { Job, JobEvent, JobKind } from "./types";

/** The default lease: a replica silent this long has died; its running jobs become `interrupted`. */
export const DEFAULT_LEASE_MS = 15_000;
/** Jobs claimed at once. */
const CLAIM_BATCH = 20;
const ACTIVE_SQL = "state IN ('queued', 'running')";

interface Followed {
  listeners: Set<(event: JobEvent) => void>;
  /** The last event handed to the listeners (undefined: none yet). */
  delivered?: number;
  /** Fetches run one after the other: events go out in order, once each. */
  chain: Promise<void>;
}

/** The job as a `job` event carries it (without its report). */
function summary(job: Job): Job {
  const { result: _result, ...rest } = job;
  return rest;
}

/**
 * The replicas' coordination, on PostgreSQL's own locking:
 * - exclusivity: a job is admitted under transaction advisory locks on its stacks (sorted, so two
 *   admissions never deadlock); a stack's queue is the active jobs on it in arrival order, and a
 *   queued job is claimed (`FOR UPDATE SKIP LOCKED`) by one replica once it heads all its queues;
 * - leases: each replica renews its row in platform_replicas every lease/3; a running job whose
 *   owner's lease has lapsed is marked `interrupted` by any replica, freeing its stacks;
 * - events: committed events are announced by NOTIFY; followers fetch what they have not seen;
 * - schedules: the replica holding a session advisory lock is the leader (the lock goes with its
 *   connection, so another replica takes over within a heartbeat).
 */
export class PgCluster implements JobCluster {
  readonly replicaId: string;
  readonly leaseMs: number;
  onWork: (() => void) | undefined;
  onCancelRequested: ((jobId: string, reason: string) => void) | undefined;
  onLeaseLost: ((jobIds: string[]) => void) | undefined;
  runningHere: (() => string[]) | undefined;
  private listener: pg.Client | undefined;
  private isLeader = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private beating = false;
  private readonly followed = new Map<string, Followed>();

  constructor(
    private readonly store: PgJobStore,
    private readonly options: PgJobStoreOptions,
  ) {
    this.replicaId = options.replicaId ?? randomUUID();
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  get leader(): boolean {
    return this.isLeader;
  }

  /** Joins: a first heartbeat, LISTEN, then a heartbeat every lease/3. */
  async start(): Promise<void> {
    await this.heartbeat();
    await this.connectListener();
    await this.tryToLead();
    this.timer = setInterval(() => void this.beat(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Leaves: no more heartbeats; the row goes (this replica's jobs have ended), the lock too. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const listener = this.listener;
    this.listener = undefined;
    this.isLeader = false;
    await listener?.end().catch(() => {});
    await this.store.pool
      .query("DELETE FROM platform_replicas WHERE id = $1", [this.replicaId])
      .catch(() => {});
  }

  async admit(
    job: Job,
    first: JobEvent,
    stacks: string[],
    options: { queue: boolean; queueLimit: number; now: Date },
  ): Promise<{ busy?: StackHolder; queueFull?: boolean; claimed?: ClaimedJob }> {
    const client = await this.store.pool.connect();
    try {
      await client.query("BEGIN");
      for (const stackName of [...stacks].sort()) {
        await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [LOCK_NAMESPACE, stackName]);
      }
      const { rows } = await client.query<{ id: string; state: "running" | "queued"; stacks: string[] }>(
        `SELECT id, state, stacks FROM platform_jobs WHERE ${ACTIVE_SQL} AND stacks && $1
         ORDER BY (state = 'running') DESC, arrival LIMIT 1`,
        [stacks],
      );
      const holder = rows[0];
      if (holder) {
        const stackName = stacks.find((name) => holder.stacks.includes(name)) ?? stacks[0];
        const busy = { stackName, jobId: holder.id, state: holder.state };
        if (!options.queue) {
          await client.query("ROLLBACK");
          return { busy };
        }
        const waiting = await client.query<{ count: number }>(
          "SELECT COUNT(*)::int AS count FROM platform_jobs WHERE state = 'queued'",
        );
        if ((waiting.rows[0]?.count ?? 0) >= options.queueLimit) {
          await client.query("ROLLBACK");
          return { queueFull: true };
        }
      }
      // Free stacks: the job runs here at once (the replica that accepted it, as one process would).
      const running: Job | undefined = holder
        ? undefined
        : { ...job, state: "running", startedAt: options.now.toISOString() };
      const stored = running ?? job;
      await client.query(
        "INSERT INTO platform_jobs (id, created, kind, stage, state, stacks, owner, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
          job.id,
          Date.parse(job.createdAt),
          job.kind,
          job.stage,
          stored.state,
          stacks,
          running ? this.replicaId : null,
          JSON.stringify(stored),
        ],
      );
      await client.query(
        "INSERT INTO platform_events (job_id, seq, type, data, at) VALUES ($1, $2, $3, $4, $5)",
        [first.jobId, first.seq, first.type, JSON.stringify(first.data), first.at],
      );
      await client.query("SELECT pg_notify('platform_events', $1)", [`${first.seq}-${first.seq}:${job.id}`]);
      if (!running) await client.query("SELECT pg_notify('platform_work', '')");
      await client.query("COMMIT");
      return running ? { claimed: { job: running, lastSeq: first.seq } } : {};
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async claim(now: Date): Promise<ClaimedJob[]> {
    if (this.stopped) return [];
    const client = await this.store.pool.connect();
    try {
      await client.query("BEGIN");
      // A stack's queue is its active jobs in arrival order; a queued job may run when it heads the
      // queue of every one of its stacks. The heads are found in one pass over the active jobs
      // (a deep queue costs a sort, not a probe per waiting job).
      const { rows } = await client.query<{ id: string; doc: string }>(
        `WITH active AS (
           SELECT id, arrival, unnest(stacks) AS stack FROM platform_jobs WHERE ${ACTIVE_SQL}
         ), heads AS (
           SELECT DISTINCT ON (stack) stack, id FROM active ORDER BY stack, arrival
         ), ready AS (
           SELECT a.id FROM active a LEFT JOIN heads h ON h.stack = a.stack AND h.id = a.id
           GROUP BY a.id HAVING bool_and(h.id IS NOT NULL)
         )
         SELECT j.id, j.doc FROM platform_jobs j JOIN ready r ON r.id = j.id WHERE j.state = 'queued'
         ORDER BY j.arrival LIMIT ${CLAIM_BATCH} FOR UPDATE OF j SKIP LOCKED`,
      );
      const claimed: ClaimedJob[] = [];
      for (const row of rows) {
        const job = JSON.parse(row.doc) as Job;
        job.state = "running";
        job.startedAt = now.toISOString();
        await client.query("UPDATE platform_jobs SET state = 'running', owner = $1, doc = $2 WHERE id = $3", [
          this.replicaId,
          JSON.stringify(job),
          job.id,
        ]);
        const seq = await client.query<{ seq: number | null }>(
          "SELECT MAX(seq) AS seq FROM platform_events WHERE job_id = $1",
          [job.id],
        );
        claimed.push({ job, lastSeq: seq.rows[0]?.seq ?? 0 });
      }
      await client.query("COMMIT");
      return claimed;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async hasActive(stage: string, kind: JobKind): Promise<boolean> {
    const { rows } = await this.store.pool.query(
      `SELECT 1 FROM platform_jobs WHERE ${ACTIVE_SQL} AND stage = $1 AND kind = $2 LIMIT 1`,
      [stage, kind],
    );
    return rows.length > 0;
  }

  async cancel(
    id: string,
    reason: string,
    now: Date,
  ): Promise<{ job: Job; outcome: "cancelled" | "requested" | "finished" } | undefined> {
    const client = await this.store.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<{ doc: string; state: string }>(
        "SELECT doc, state FROM platform_jobs WHERE id = $1 FOR UPDATE",
        [id],
      );
      if (!rows[0]) {
        await client.query("ROLLBACK");
        return undefined;
      }
      const job = JSON.parse(rows[0].doc) as Job;
      let outcome: "cancelled" | "requested" | "finished" = "finished";
      if (rows[0].state === "queued") {
        outcome = "cancelled";
        job.state = "cancelled";
        job.finishedAt = now.toISOString();
        job.durationMs = 0;
        job.error = `${reason} before it started`;
        await this.finishInTransaction(client, job, false);
      } else if (rows[0].state === "running") {
        outcome = "requested";
        job.cancelRequested = true;
        await client.query("UPDATE platform_jobs SET cancel_reason = $1 WHERE id = $2", [reason, id]);
        await client.query("SELECT pg_notify('platform_cancel', $1)", [JSON.stringify({ id, reason })]);
      }
      await client.query("COMMIT");
      return { job, outcome };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  follow(jobId: string, listener: (event: JobEvent) => void): () => void {
    let entry = this.followed.get(jobId);
    if (!entry) {
      entry = { listeners: new Set(), chain: Promise.resolve() };
      this.followed.set(jobId, entry);
    }
    entry.listeners.add(listener);
    const followed = entry;
    return () => {
      followed.listeners.delete(listener);
      if (followed.listeners.size === 0 && this.followed.get(jobId) === followed) this.followed.delete(jobId);
    };
  }

  /**
   * A job's events `first` to `last` were committed: hand its followers those they have not had.
   * A new follower starts at `first` (what was committed before it followed is the replay's).
   */
  private announced(jobId: string, first: number, last: number): void {
    const entry = this.followed.get(jobId);
    if (!entry) return;
    entry.chain = entry.chain.then(async () => {
      const after = entry.delivered ?? first - 1;
      if (last <= after) return;
      const events = await this.store.eventsAfter(jobId, after).catch(() => []);
      for (const event of events) {
        entry.delivered = event.seq;
        for (const listener of [...entry.listeners]) {
          try {
            listener(event);
          } catch {
            // A closed connection's listener must not stop the others.
          }
        }
      }
    });
  }

  private async connectListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url });
    client.on("notification", (message) => {
      if (message.channel === "platform_events" && message.payload) {
        // `<first>-<last>:<job id>`
        const match = /^(\d+)-(\d+):(.+)$/.exec(message.payload);
        if (match) this.announced(match[3], Number(match[1]), Number(match[2]));
      } else if (message.channel === "platform_work") {
        this.onWork?.();
      } else if (message.channel === "platform_cancel" && message.payload) {
        const { id, reason } = JSON.parse(message.payload) as { id: string; reason: string };
        this.onCancelRequested?.(id, reason);
      }
    });
    // A lost connection loses the scheduler's lock with it; the next heartbeat reconnects.
    client.on("error", () => {
      if (this.listener === client) this.listener = undefined;
      this.isLeader = false;
    });
    client.on("end", () => {
      if (this.listener === client) this.listener = undefined;
      this.isLeader = false;
    });
    await client.connect();
    await client.query("LISTEN platform_events; LISTEN platform_work; LISTEN platform_cancel");
    this.listener = client;
    // Events committed while no connection listened: followers catch up.
    for (const [jobId, entry] of this.followed) {
      if (entry.delivered !== undefined) this.announced(jobId, entry.delivered + 1, Number.MAX_SAFE_INTEGER);
    }
  }

  /** Renews the lease, interrupts the jobs of replicas whose lease lapsed, tries to lead. */
  private async beat(): Promise<void> {
    if (this.beating || this.stopped) return;
    this.beating = true;
    try {
      const lost = await this.heartbeat();
      if (lost.length > 0) this.onLeaseLost?.(lost);
      const reaped = await this.reap();
      if (!this.listener) await this.connectListener();
      await this.tryToLead();
      // Notifications can be missed while reconnecting: look for work at every beat anyway.
      if (reaped > 0 || !this.stopped) this.onWork?.();
    } catch {
      // The database is unreachable: the next beat tries again (meanwhile, writes are retried).
    } finally {
      this.beating = false;
    }
  }

  /** Takes the scheduler's lock when no replica holds it (on the LISTEN connection: it goes with it). */
  private async tryToLead(): Promise<void> {
    if (this.isLeader || !this.listener) return;
    const { rows } = await this.listener.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1, $2) AS locked",
      [LOCK_NAMESPACE, SCHEDULER_LOCK],
    );
    this.isLeader = rows[0]?.locked === true;
  }

  /** Renews this replica's lease; returns the running jobs it thought it owned but no longer does. */
  private async heartbeat(): Promise<string[]> {
    await this.store.pool.query(
      `INSERT INTO platform_replicas (id, lease_until) VALUES ($1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until`,
      [this.replicaId, this.leaseMs],
    );
    const running = this.runningHere?.() ?? [];
    if (running.length === 0) return [];
    const { rows } = await this.store.pool.query<{ id: string }>(
      "SELECT id FROM platform_jobs WHERE id = ANY($1) AND (state <> 'running' OR owner IS DISTINCT FROM $2)",
      [running, this.replicaId],
    );
    return rows.map((row) => row.id);
  }

  /** Marks `interrupted` the running jobs of replicas whose lease has lapsed; returns how many. */
  private async reap(): Promise<number> {
    const client = await this.store.pool.connect();
    try {
      await client.query("BEGIN");
      // A heartbeat never waits long for a lock: the next one tries again.
      await client.query(`SET LOCAL lock_timeout = ${Math.max(100, Math.floor(this.leaseMs / 3))}`);
      const { rows } = await client.query<{ doc: string; owner: string | null }>(
        `SELECT j.doc, j.owner FROM platform_jobs j LEFT JOIN platform_replicas r ON r.id = j.owner
         WHERE j.state = 'running' AND (r.id IS NULL OR r.lease_until < now())
         FOR UPDATE OF j SKIP LOCKED`,
      );
      const now = new Date();
      for (const row of rows) {
        const job = JSON.parse(row.doc) as Job;
        job.state = "interrupted";
        job.finishedAt = now.toISOString();
        job.durationMs = job.startedAt ? now.getTime() - Date.parse(job.startedAt) : 0;
        job.error = `interrupted: replica ${row.owner ?? "(unknown)"} running the job stopped renewing its lease (${this.leaseMs} ms); its engine operations may still hold the stacks until they end (\`pulumi cancel -s <stack>\` releases one)`;
        for (const region of job.regions) {
          if (region.state === "running" || region.state === "pending") {
            region.state = "interrupted";
            region.message = job.error;
          }
        }
        await this.finishInTransaction(client, job, true);
      }
      await client.query(
        `DELETE FROM platform_replicas r WHERE r.lease_until < now()
         AND NOT EXISTS (SELECT 1 FROM platform_jobs j WHERE j.owner = r.id AND j.state = 'running')`,
      );
      await client.query("COMMIT");
      return rows.length;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** Writes a job's end (document, stacks' last job when it ran, terminal event) and announces it. */
  private async finishInTransaction(client: pg.PoolClient, job: Job, ran: boolean): Promise<void> {
    await client.query("UPDATE platform_jobs SET state = $1, doc = $2 WHERE id = $3", [
      job.state,
      JSON.stringify(job),
      job.id,
    ]);
    if (ran) {
      const { id, kind, state, createdAt, finishedAt } = job;
      const ref = JSON.stringify({ id, kind, state, createdAt, finishedAt });
      for (const { stackName } of job.regions) {
        await client.query(
          "INSERT INTO platform_stack_status (stack_name, last_job) VALUES ($1, $2) ON CONFLICT (stack_name) DO UPDATE SET last_job = excluded.last_job",
          [stackName, ref],
        );
      }
    }
    const { rows } = await client.query<{ seq: number }>(
      `INSERT INTO platform_events (job_id, seq, type, data, at)
       SELECT $1, COALESCE(MAX(seq), 0) + 1, 'job', $2, $3 FROM platform_events WHERE job_id = $1
       RETURNING seq`,
      [job.id, JSON.stringify(summary(job)), job.finishedAt],
    );
    const seq = rows[0]?.seq;
    await client.query("SELECT pg_notify('platform_events', $1)", [`${seq}-${seq}:${job.id}`]);
    await client.query("SELECT pg_notify('platform_work', '')");
  }
}
