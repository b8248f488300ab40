import type pg from "pg";
import { type StoreHealth, StoreUnavailableError } from "./group-commit";

/** Delays between attempts to commit writes that failed. */
const RETRY_DELAYS_MS = [50, 100, 250, 500, 1000, 2000];

/** A write of a turn: SQL run in the turn's transaction. */
export interface PgWrite {
  text: string;
  values: unknown[];
}

/** A turn's writes, committed together. */
export interface PgBatch {
  writes: PgWrite[];
  /** Job documents written (cleared from pendingDocs once committed). */
  docs: Map<string, string>;
  /** The first and last event of each job written: one notification per job and batch. */
  events: Map<string, { first: number; last: number }>;
  /** A job finished: replicas may claim the jobs behind it. */
  work: boolean;
  committed: Promise<void>;
  resolve: () => void;
  /** Rejected at the first failed attempt (commitOrFail), resolved with `committed`. */
  orFail: Promise<void>;
  resolveOrFail: () => void;
  rejectOrFail: (error: Error) => void;
}

/**
 * The PostgreSQL store's writes, grouped (as GroupCommit groups the SQLite store's): the writes of
 * a turn of the event loop are one batch, committed in one transaction with its notifications
 * (NOTIFY platform_events per job whose events it adds, platform_work when a job finished). A
 * write never throws: a batch whose commit fails is retried with backoff, in order (later batches
 * wait), until it is committed; meanwhile the store is `degraded` and new jobs are refused. Job
 * documents written are kept until committed, so that reads see them.
 */
export class PgGroupCommit {
  /** Told when writes start failing and when they recover. */
  onHealthChange: ((health: StoreHealth) => void) | undefined;
  private batch: PgBatch | undefined;
  private committing: Promise<void> = Promise.resolve();
  private failure: { message: string; since: string } | undefined;
  private pendingWrites = 0;
  private readonly pendingDocs = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    /** The store's URL without its password (what failures name). */
    private readonly file: string,
    /** Arranges `flush` at the end of the turn. */
    private readonly scheduleFlush: () => void,
  ) {}

  get degraded(): boolean {
    return this.failure !== undefined;
  }

  get health(): StoreHealth {
    return this.failure
      ? { state: "degraded", ...this.failure, pendingWrites: this.pendingWrites }
      : { state: "ok", pendingWrites: this.pendingWrites };
  }

  /** @throws StoreUnavailableError while writes fail. */
  assertWritable(): void {
    if (this.failure) throw this.unavailable();
  }

  /** A job document written and not committed yet. */
  unsavedDoc(id: string): string | undefined {
    return this.pendingDocs.get(id);
  }

  /** Adds the write (and the job document it writes) to the turn's batch; returns the batch. */
  write(write: PgWrite, docId?: string, doc?: string): PgBatch {
    let batch = this.batch;
    if (!batch) {
      let resolve: () => void = () => {};
      let resolveOrFail: () => void = () => {};
      let rejectOrFail: (error: Error) => void = () => {};
      const committed = new Promise<void>((done) => {
        resolve = done;
      });
      const orFail = new Promise<void>((done, fail) => {
        resolveOrFail = done;
        rejectOrFail = fail;
      });
      // Nobody may be waiting for the failure: not an unhandled rejection.
      orFail.catch(() => {});
      batch = {
        writes: [],
        docs: new Map(),
        events: new Map(),
        work: false,
        committed,
        resolve,
        orFail,
        resolveOrFail,
        rejectOrFail,
      };
      this.batch = batch;
      this.scheduleFlush();
    }
    batch.writes.push(write);
    this.pendingWrites++;
    if (docId !== undefined && doc !== undefined) {
      batch.docs.set(docId, doc);
      this.pendingDocs.set(docId, doc);
    }
    return batch;
  }

  /** Starts committing the turn's batch (after the batches before it). */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = undefined;
    this.committing = this.committing.then(() => this.commit(batch));
  }

  /** Resolves once the writes so far are committed (while degraded: once it has recovered). */
  whenCommitted(): Promise<void> {
    return this.batch ? this.batch.committed : this.committing;
  }

  /** Like whenCommitted, but rejects with StoreUnavailableError when the commit fails. */
  commitOrFail(): Promise<void> {
    if (this.failure) return Promise.reject(this.unavailable());
    return this.batch ? this.batch.orFail : this.committing;
  }

  /**
   * Commits what is pending, with one last attempt per batch when degraded; returns the writes
   * lost (those not committed within 5 s).
   */
  async close(): Promise<number> {
    this.closed = true;
    this.flush();
    const settled = await Promise.race([
      this.committing.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000).unref()),
    ]);
    return settled ? 0 : this.pendingWrites;
  }

  /** Commits a batch, retrying (with backoff, in order: later batches wait) until it is committed. */
  private async commit(batch: PgBatch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.run(batch);
        break;
      } catch (error) {
        const message = `the job store ${this.file} cannot be written: ${(error as Error).message}`;
        const wasOk = !this.failure;
        this.failure ??= { message, since: new Date().toISOString() };
        batch.rejectOrFail(this.unavailable());
        if (wasOk) this.onHealthChange?.(this.health);
        if (this.closed && attempt > 0) return;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[Math.min(attempt, 5)]));
      }
    }
    this.pendingWrites -= batch.writes.length;
    for (const [id, doc] of batch.docs) if (this.pendingDocs.get(id) === doc) this.pendingDocs.delete(id);
    if (this.failure) {
      this.failure = undefined;
      this.onHealthChange?.(this.health);
    }
    batch.resolveOrFail();
    batch.resolve();
  }

  private async run(batch: PgBatch): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      for (const write of batch.writes) await client.query(write.text, write.values);
      // Delivered at commit, in commit order: a replica streaming the job fetches what is new.
      for (const [jobId, { first, last }] of batch.events) {
        await client.query("SELECT pg_notify('platform_events', $1)", [`${first}-${last}:${jobId}`]);
      }
      if (batch.work) await client.query("SELECT pg_notify('platform_work', '')");
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  private unavailable(): StoreUnavailableError {
    return new StoreUnavailableError(
      `${this.failure?.message ?? "the job store cannot be written"}; new jobs are refused until it recovers`,
      5,
    );
  }
}
