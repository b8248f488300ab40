import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  created INTEGER NOT NULL,
  kind TEXT NOT NULL,
  stage TEXT NOT NULL,
  state TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created DESC);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stack_status (
  stack_name TEXT PRIMARY KEY,
  last_job TEXT,
  rollout TEXT,
  drift TEXT
);
`;

/** Another live process (a second `platform serve`) has the store open. */
export class StoreInUseError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number | undefined,
  ) {
    super(
      `the job store ${file} is in use by ${pid ? `process ${pid}` : "another process"} (another \`platform serve\`?): stop it, or give this one its own PLATFORM_DATA_DIR`,
    );
    this.name = "StoreInUseError";
  }
}

/**
 * Takes the store for this process: one service per store, because a starting service marks the
 * jobs it finds running as interrupted, which is only true when no other process runs them.
 *
 * The lock is an OS file lock, SQLite's exclusive lock on `<file>.owner` (locking_mode EXCLUSIVE
 * keeps it until the connection closes), so the kernel releases it when the process ends, however
 * it ends: no PID to check, and a new process that happens to get a dead one's PID (a container's
 * PID 1) is never refused. (`<file>.lock`, the PID file of earlier versions, is not read.) It needs
 * a file system with working POSIX locks, as SQLite's WAL mode itself does: not NFS.
 *
 * @throws StoreInUseError when another connection, in this process or another, holds it.
 */
function acquireLock(file: string): Database.Database {
  const lockFile = `${file}.owner`;
  const lock = new Database(lockFile, { timeout: 0 });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL)");
    lock.exec("DELETE FROM holder");
    lock.prepare("INSERT INTO holder (pid) VALUES (?)").run(process.pid);
    lock.exec("COMMIT");
    return lock;
  } catch (error) {
    lock.close();
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_BUSY") throw new StoreInUseError(file, holderPid(file));
    if (code === "SQLITE_NOTADB") {
      throw new Error(`${lockFile} is not the job store's lock (an SQLite file): remove it and start again`);
    }
    throw error;
  }
}

/** The PID the holder of the store's lock recorded in the store (for the message only). */
function holderPid(file: string): number | undefined {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 100 });
    try {
      const row = db.prepare("SELECT value FROM meta WHERE key = 'holder_pid'").get() as
        | { value: string }
        | undefined;
      return row ? Number(row.value) : undefined;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

/** The store's file under a data directory. */
export function databaseFile(dataDir: string): string {
  return path.join(dataDir, "platform-jobs.sqlite");
}

/**
 * Jobs, their events and each stack's last rollout and drift state, in one SQLite file
 * (better-sqlite3, WAL). A job is stored as its JSON document plus the columns queries filter on.
 *
 * Writes are grouped: the first write of a turn of the event loop opens a transaction that
 * commits at the end of that turn (setImmediate) or at `flush()`, so that a job's many events
 * cost one commit instead of one each (a commit is ~50 µs here, an insert inside one ~5 µs).
 * The API answers for a job it accepted or cancelled once that is committed (whenCommitted).
 */
export class JobStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly lock?: Database.Database;
  private batchOpen = false;
  private readonly finishedJson = new Map<string, string>();
  private committed: { promise: Promise<void>; resolve: () => void } | undefined;
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
  };

  /**
   * Opens (or creates) the store; `file` may be `:memory:`. `lock` (what the service does) takes
   * the store for this process alone.
   */
  constructor(file: string, options: { lock?: boolean } = {}) {
    this.file = file;
    if (file !== ":memory:") {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (options.lock) this.lock = acquireLock(file);
    }
    try {
      this.db = new Database(file);
      this.db.pragma("journal_mode = WAL");
      // WAL + NORMAL: a commit survives a process crash; only a power loss can take the last ones.
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 5000");
      this.db.exec(SCHEMA);
      if (this.lock) {
        this.db
          .prepare(
            "INSERT INTO meta (key, value) VALUES ('holder_pid', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          )
          .run(String(process.pid));
      }
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
        "SELECT kind, state, COUNT(*) AS count FROM jobs GROUP BY kind, state ORDER BY kind, state",
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
    };
  }

  insertJob(job: Job): void {
    this.batch();
    this.statements.insertJob.run(
      job.id,
      Date.parse(job.createdAt),
      job.kind,
      job.stage,
      job.state,
      JSON.stringify(job),
    );
  }

  /** Writes the job's document (`json`, when the caller has serialized it already). */
  updateJob(job: Job, json = JSON.stringify(job)): void {
    this.batch();
    this.finishedJson.delete(job.id);
    this.statements.updateJob.run(job.state, json, job.id);
  }

  /**
   * The job's stored JSON document, as written: what `GET /jobs/:id` sends for a finished job.
   * Finished jobs never change, so the most recently read ones are kept in memory (a read from
   * SQLite is ~25 µs, most of a job read's cost under load).
   */
  getJobJson(id: string): string | undefined {
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
    const row = this.statements.getJob.get(id);
    return row ? (JSON.parse(row.doc) as Job) : undefined;
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
    return rows.map((row) => JSON.parse(row.doc) as Job);
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
    this.batch();
    this.statements.insertEvent.run(event.jobId, event.seq, event.type, JSON.stringify(event.data), event.at);
  }

  /** The job's events with `seq` above `afterSeq`, in order. */
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

  countByKindAndState(): { kind: JobKind; state: JobState; count: number }[] {
    return this.statements.countByKindState.all();
  }

  /** Records the job as the last one to run on the stack (set when it starts and when it ends). */
  setLastJob(stackName: string, job: Job): void {
    this.batch();
    const ref = {
      id: job.id,
      kind: job.kind,
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
    };
    this.statements.setLastJob.run(stackName, JSON.stringify(ref));
  }

  setRollout(stackName: string, jobId: string, region: JobRegion, at: string): void {
    this.batch();
    this.statements.setRollout.run(stackName, JSON.stringify({ jobId, state: region.state, at }));
  }

  setDrift(stackName: string, jobId: string, region: JobRegion, at: string): void {
    this.batch();
    this.statements.setDrift.run(
      stackName,
      JSON.stringify({ jobId, state: region.state, driftedCount: region.driftedCount, at }),
    );
  }

  stackStatuses(): Map<string, StackStatusRow> {
    const statuses = new Map<string, StackStatusRow>();
    for (const row of this.statements.stackStatus.all()) {
      statuses.set(row.stack_name, {
        stackName: row.stack_name,
        lastJob: row.last_job ? JSON.parse(row.last_job) : undefined,
        rollout: row.rollout ? JSON.parse(row.rollout) : undefined,
        drift: row.drift ? JSON.parse(row.drift) : undefined,
      });
    }
    return statuses;
  }

  /** Runs `body` atomically (a savepoint inside the open batch): all its writes, or none. */
  transaction<T>(body: () => T): T {
    this.batch();
    return this.db.transaction(body)();
  }

  /** Commits the writes so far (they are on disk when it returns). */
  flush(): void {
    if (this.batchOpen && this.db.open && this.db.inTransaction) this.db.exec("COMMIT");
    this.batchOpen = false;
    const committed = this.committed;
    this.committed = undefined;
    committed?.resolve();
  }

  /**
   * Resolves once the writes made so far are committed: at the end of this turn, together with
   * every other write of the turn (group commit), so that answering many requests costs few commits.
   */
  whenCommitted(): Promise<void> {
    if (!this.batchOpen) return Promise.resolve();
    if (!this.committed) {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.committed = { promise, resolve };
    }
    return this.committed.promise;
  }

  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
    this.lock?.close();
  }

  /** Opens the batch (a transaction committed at the end of this turn of the event loop). */
  private batch(): void {
    if (this.batchOpen) return;
    this.db.exec("BEGIN");
    this.batchOpen = true;
    setImmediate(() => this.flush());
  }
}
