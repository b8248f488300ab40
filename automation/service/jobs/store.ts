import * as fs from "node:fs";
import * as path from "node:path";
import type Database from "better-sqlite3";
import { BUSY_TIMEOUT_MS, GroupCommit, type StoreHealth } from "./group-commit";
import type { RetentionPolicy } from "./retention";
import { createSchema } from "./sqlite-schema";
import type { JobQuery, JobStoreApi, StackStatusRow } from "./store-api";
import { acquireLock, describeStoreError, openDatabase, StoreOpenError } from "./store-open";

export { type StoreHealth, StoreUnavailableError } from "./group-commit";
export type { JobQuery, StackStatusRow } from "./store-api";
export { StoreInUseError, StoreOpenError } from "./store-open";

import {
  FINISHED_STATES,
  type Job,
  type JobEvent,
  type JobKind,
  type JobRegion,
  type JobState,
} from "./types";

/** How many finished jobs' documents getJobJson keeps in memory (about 1 KB each). */
const FINISHED_JSON_CACHE = 10_000;

interface JobRow {
  id: string;
  doc: string;
  state: JobState;
}

interface EventRow {
  job_id: string;
  seq: number;
  type: JobEvent["type"];
  data: string;
  at: string;
}

/** The store's file under a data directory. */
export function databaseFile(dataDir: string): string {
  return path.join(dataDir, "platform-jobs.sqlite");
}

/** Jobs pruned per turn of the event loop (a turn must stay short). */
const PRUNE_BATCH = 500;

/**
 * Jobs, their events and each stack's last rollout and drift state, in one SQLite file
 * (better-sqlite3, WAL). A job is stored as its JSON document plus the columns queries filter on.
 *
 * Writes are grouped (GroupCommit): the first write of a turn of the event loop opens a
 * transaction that commits at the end of that turn or at `flush()`, so that a job's many events
 * cost one commit instead of one each (a commit is ~50 µs here, an insert inside one ~5 µs).
 * The API answers for a job it accepted or cancelled once that is committed (whenCommitted).
 * A write never throws: when writes fail, the store is `degraded`, keeps them and retries them
 * in order; meanwhile reads of job documents and stack statuses see them (not events: a client
 * gets an event only once it is committed).
 */
export class JobStore implements JobStoreApi {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly lock?: Database.Database;
  private readonly commits: GroupCommit;
  private readonly finishedJson = new Map<string, string>();
  /** Job documents and stack statuses written since the last commit (what reads see while degraded). */
  private readonly pendingDocs = new Map<string, string>();
  private readonly pendingStatus = new Map<
    string,
    Partial<Record<"last_job" | "rollout" | "drift", string>>
  >();
  private readonly statements: {
    insertJob: Database.Statement<[string, number, string, string, string, string]>;
    updateJob: Database.Statement<[string, string, string]>;
    getJob: Database.Statement<[string], JobRow>;
    insertEvent: Database.Statement<[string, number, string, string, string]>;
    eventsAfter: Database.Statement<[string, number], EventRow>;
    lastSeq: Database.Statement<[string], { seq: number | null }>;
    countByKindState: Database.Statement<[], { kind: JobKind; state: JobState; count: number }>;
    stackStatus: Database.Statement<
      [],
      { stack_name: string; last_job: string | null; rollout: string | null; drift: string | null }
    >;
    setLastJob: Database.Statement<[string, string]>;
    setRollout: Database.Statement<[string, string]>;
    setDrift: Database.Statement<[string, string]>;
    deleteJob: Database.Statement<[string]>;
    deleteEvents: Database.Statement<[string]>;
  };

  /**
   * Opens (or creates) the store; `file` may be `:memory:`. `lock` (what the service does) takes
   * the store for this process alone.
   *
   * @throws StoreOpenError naming the file and the cause; StoreInUseError.
   */
  constructor(file: string, options: { lock?: boolean } = {}) {
    this.file = file;
    if (file !== ":memory:") {
      try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
      } catch (error) {
        throw new StoreOpenError(file, describeStoreError(error, file));
      }
      if (options.lock) this.lock = acquireLock(file);
    }
    try {
      this.db = openDatabase(file, (db) => {
        db.pragma("journal_mode = WAL");
        // WAL + NORMAL: a commit survives a process crash; only a power loss can take the last ones.
        db.pragma("synchronous = NORMAL");
        db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
        createSchema(db);
        if (this.lock) {
          db.prepare(
            "INSERT INTO meta (key, value) VALUES ('holder_pid', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          ).run(String(process.pid));
        }
      });
    } catch (error) {
      this.lock?.close();
      throw error;
    }
    this.statements = {
      insertJob: this.db.prepare(
        "INSERT INTO jobs (id, created, kind, stage, state, doc) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      updateJob: this.db.prepare("UPDATE jobs SET state = ?, doc = ? WHERE id = ?"),
      getJob: this.db.prepare("SELECT id, doc, state FROM jobs WHERE id = ?"),
      insertEvent: this.db.prepare("INSERT INTO events (job_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)"),
      eventsAfter: this.db.prepare(
        "SELECT job_id, seq, type, data, at FROM events WHERE job_id = ? AND seq > ? ORDER BY seq",
      ),
      lastSeq: this.db.prepare("SELECT MAX(seq) AS seq FROM events WHERE job_id = ?"),
      countByKindState: this.db.prepare(
        "SELECT kind, state, count FROM job_counts WHERE count > 0 ORDER BY kind, state",
      ),
      stackStatus: this.db.prepare("SELECT stack_name, last_job, rollout, drift FROM stack_status"),
      setLastJob: this.db.prepare(
        "INSERT INTO stack_status (stack_name, last_job) VALUES (?, ?) ON CONFLICT (stack_name) DO UPDATE SET last_job = excluded.last_job",
      ),
      setRollout: this.db.prepare(
        "INSERT INTO stack_status (stack_name, rollout) VALUES (?, ?) ON CONFLICT (stack_name) DO UPDATE SET rollout = excluded.rollout",
      ),
      setDrift: this.db.prepare(
        "INSERT INTO stack_status (stack_name, drift) VALUES (?, ?) ON CONFLICT (stack_name) DO UPDATE SET drift = excluded.drift",
      ),
      deleteJob: this.db.prepare("DELETE FROM jobs WHERE id = ?"),
      deleteEvents: this.db.prepare("DELETE FROM events WHERE job_id = ?"),
    };
    // `this.flush()`, looked up at each turn: tests hold commits by replacing it.
    this.commits = new GroupCommit(this.db, file, () => setImmediate(() => this.flush()));
    this.commits.onCommitted = () => {
      this.pendingDocs.clear();
      this.pendingStatus.clear();
    };
  }

  /** The directory the store's file is in (PLATFORM_DATA_DIR). */
  get dataDir(): string {
    return path.dirname(this.file);
  }

  /** Whether writes are being committed, and if not, why. */
  get health(): StoreHealth {
    return this.commits.health;
  }

  /** Told when writes start failing and when they recover. */
  set onHealthChange(listener: ((health: StoreHealth) => void) | undefined) {
    this.commits.onHealthChange = listener;
  }

  /** @throws StoreUnavailableError while writes fail (what refuses new jobs). */
  assertWritable(): void {
    this.commits.assertWritable();
  }

  insertJob(job: Job): void {
    const json = JSON.stringify(job);
    this.pendingDocs.set(job.id, json);
    const created = Date.parse(job.createdAt);
    this.commits.write(job.id, () =>
      this.statements.insertJob.run(job.id, created, job.kind, job.stage, job.state, json),
    );
  }

  /** Writes the job's document (`json`, when the caller has serialized it already). */
  updateJob(job: Job, json = JSON.stringify(job)): void {
    this.finishedJson.delete(job.id);
    this.pendingDocs.set(job.id, json);
    const { state, id } = job;
    this.commits.write(id, () => this.statements.updateJob.run(state, json, id));
  }

  /**
   * The job's stored JSON document, as written: what `GET /jobs/:id` sends for a finished job.
   * Finished jobs never change, so the most recently read ones are kept in memory (a read from
   * SQLite is ~25 µs, most of a job read's cost under load).
   */
  getJobJson(id: string): string | undefined {
    const unsaved = this.pendingDocs.get(id);
    if (unsaved !== undefined) return unsaved;
    const cached = this.finishedJson.get(id);
    if (cached !== undefined) {
      // Re-insert: a Map iterates in insertion order, so the first key is the least recently used.
      this.finishedJson.delete(id);
      this.finishedJson.set(id, cached);
      return cached;
    }
    const row = this.statements.getJob.get(id);
    if (!row) return undefined;
    if (FINISHED_STATES.has(row.state)) {
      this.finishedJson.set(id, row.doc);
      if (this.finishedJson.size > FINISHED_JSON_CACHE) {
        this.finishedJson.delete(this.finishedJson.keys().next().value as string);
      }
    }
    return row.doc;
  }

  getJob(id: string): Job | undefined {
    const doc = this.pendingDocs.get(id) ?? this.statements.getJob.get(id)?.doc;
    return doc === undefined ? undefined : (JSON.parse(doc) as Job);
  }

  /** Newest first. */
  listJobs(query: JobQuery = {}): Job[] {
    const where: string[] = [];
    const values: (string | number)[] = [];
    for (const key of ["stage", "kind", "state"] as const) {
      const value = query[key];
      if (value !== undefined) {
        where.push(`${key} = ?`);
        values.push(value);
      }
    }
    const sql = `SELECT id, doc, state FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created DESC, rowid DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], JobRow>(sql).all(...values, query.limit ?? 50);
    return rows.map((row) => JSON.parse(this.pendingDocs.get(row.id) ?? row.doc) as Job);
  }

  /** Jobs in these states, oldest first. */
  jobsInStates(states: JobState[]): Job[] {
    const rows = this.db
      .prepare<string[], JobRow>(
        `SELECT id, doc, state FROM jobs WHERE state IN (${states.map(() => "?").join(", ")}) ORDER BY created, rowid`,
      )
      .all(...states);
    return rows.map((row) => JSON.parse(row.doc) as Job);
  }

  appendEvent(event: JobEvent): void {
    const data = JSON.stringify(event.data);
    const { jobId, seq, type, at } = event;
    this.commits.write(jobId, () => this.statements.insertEvent.run(jobId, seq, type, data, at));
  }

  /** The job's committed events with `seq` above `afterSeq`, in order. */
  eventsAfter(jobId: string, afterSeq = 0): JobEvent[] {
    return this.statements.eventsAfter.all(jobId, afterSeq).map((row) => ({
      jobId: row.job_id,
      seq: row.seq,
      type: row.type,
      data: JSON.parse(row.data),
      at: row.at,
    }));
  }

  /** The job's last event's `seq` (0 when it has none). */
  lastSeq(jobId: string): number {
    return this.statements.lastSeq.get(jobId)?.seq ?? 0;
  }

  /** Jobs in the store by kind and state (kept by triggers: no scan of the jobs). */
  countByKindAndState(): { kind: JobKind; state: JobState; count: number }[] {
    return this.statements.countByKindState.all();
  }

  /** Records the job as the last one to run on the stack (set when it starts and when it ends). */
  setLastJob(stackName: string, job: Job): void {
    const ref = JSON.stringify({
      id: job.id,
      kind: job.kind,
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
    });
    this.setStatus(stackName, "last_job", ref, job.id, () => this.statements.setLastJob.run(stackName, ref));
  }

  setRollout(stackName: string, jobId: string, region: JobRegion, at: string): void {
    const ref = JSON.stringify({ jobId, state: region.state, at });
    this.setStatus(stackName, "rollout", ref, jobId, () => this.statements.setRollout.run(stackName, ref));
  }

  setDrift(stackName: string, jobId: string, region: JobRegion, at: string): void {
    const ref = JSON.stringify({ jobId, state: region.state, driftedCount: region.driftedCount, at });
    this.setStatus(stackName, "drift", ref, jobId, () => this.statements.setDrift.run(stackName, ref));
  }

  stackStatuses(): Map<string, StackStatusRow> {
    const rows = new Map(this.statements.stackStatus.all().map((row) => [row.stack_name, row]));
    for (const [stackName, unsaved] of this.pendingStatus) {
      const row = rows.get(stackName) ?? {
        stack_name: stackName,
        last_job: null,
        rollout: null,
        drift: null,
      };
      rows.set(stackName, { ...row, ...unsaved });
    }
    const statuses = new Map<string, StackStatusRow>();
    for (const row of rows.values()) {
      statuses.set(row.stack_name, {
        stackName: row.stack_name,
        lastJob: row.last_job ? JSON.parse(row.last_job) : undefined,
        rollout: row.rollout ? JSON.parse(row.rollout) : undefined,
        drift: row.drift ? JSON.parse(row.drift) : undefined,
      });
    }
    return statuses;
  }

  /**
   * Runs `body`, whose writes commit together with the rest of the turn's (group commit: every
   * write of a turn is committed, or none is and all are retried).
   */
  transaction<T>(body: () => T): T {
    this.commits.open();
    return body();
  }

  /**
   * Takes back the writes of a job whose first commit failed (the job is refused, never ran).
   * Only while degraded: then none of them is applied to the database.
   */
  discardJob(jobId: string): void {
    if (!this.commits.discard(jobId)) return;
    this.pendingDocs.delete(jobId);
    for (const [stackName, unsaved] of this.pendingStatus) {
      for (const key of ["last_job", "rollout", "drift"] as const) {
        if (unsaved[key]?.includes(`"${jobId}"`)) delete unsaved[key];
      }
      if (Object.keys(unsaved).length === 0) this.pendingStatus.delete(stackName);
    }
  }

  /**
   * Prunes finished jobs and their events beyond the retention policy, oldest first, never one a
   * stack shows as its last job, rollout or drift check; at most PRUNE_BATCH per call (the deletes
   * join the turn's commit). Returns how many it pruned; none while degraded.
   */
  prune(policy: RetentionPolicy, now = Date.now()): number {
    if (this.commits.degraded || (policy.maxAgeMs === undefined && policy.maxCount === undefined)) return 0;
    const finished = [...FINISHED_STATES].map((state) => `'${state}'`).join(", ");
    const beyond: string[] = [];
    const values: number[] = [];
    if (policy.maxAgeMs !== undefined) {
      beyond.push("created < ?");
      values.push(now - policy.maxAgeMs);
    }
    if (policy.maxCount !== undefined) {
      beyond.push(
        `id IN (SELECT id FROM jobs WHERE state IN (${finished}) ORDER BY created DESC, rowid DESC LIMIT -1 OFFSET ?)`,
      );
      values.push(policy.maxCount);
    }
    const rows = this.db
      .prepare<number[], { id: string }>(
        `SELECT id FROM jobs WHERE state IN (${finished}) AND (${beyond.join(" OR ")})
         AND id NOT IN (
           SELECT json_extract(last_job, '$.id') FROM stack_status WHERE last_job IS NOT NULL
           UNION SELECT json_extract(rollout, '$.jobId') FROM stack_status WHERE rollout IS NOT NULL
           UNION SELECT json_extract(drift, '$.jobId') FROM stack_status WHERE drift IS NOT NULL)
         ORDER BY created, rowid LIMIT ${PRUNE_BATCH}`,
      )
      .all(...values);
    for (const { id } of rows) {
      this.finishedJson.delete(id);
      this.commits.write(undefined, () => {
        this.statements.deleteEvents.run(id);
        this.statements.deleteJob.run(id);
      });
    }
    return rows.length;
  }

  /** Commits the writes so far (they are on disk when it returns, unless the store is degraded). */
  flush(): void {
    this.commits.flush();
  }

  /**
   * Resolves once the writes made so far are committed: at the end of this turn, together with
   * every other write of the turn (group commit), so that answering many requests costs few
   * commits. While the store is degraded, once it has recovered.
   */
  whenCommitted(): Promise<void> {
    return this.commits.whenCommitted();
  }

  /**
   * Resolves once the writes made so far are committed; rejects with StoreUnavailableError when
   * that attempt fails, or at once while degraded: what a new job waits for before it is accepted.
   */
  commitOrFail(): Promise<void> {
    return this.commits.commitOrFail();
  }

  /** Commits what is pending (one last attempt when degraded) and closes; returns the writes lost. */
  close(): number {
    if (!this.db.open) return 0;
    const lost = this.commits.close();
    this.db.close();
    this.lock?.close();
    return lost;
  }

  private setStatus(
    stackName: string,
    key: "last_job" | "rollout" | "drift",
    ref: string,
    jobId: string,
    apply: () => void,
  ): void {
    const unsaved = this.pendingStatus.get(stackName) ?? {};
    unsaved[key] = ref;
    this.pendingStatus.set(stackName, unsaved);
    this.commits.write(jobId, apply);
  }
}
