import * as path from "node:path";
import type Database from "better-sqlite3";
import { describeStoreError } from "./store-open";

/**
 * How long one attempt to take the write lock may wait. Short, because it blocks the event loop:
 * a store another connection holds is retried later (with backoff), not waited for.
 */
export const BUSY_TIMEOUT_MS = 20;
/** Delays between attempts to write what a failed commit left pending. */
const RETRY_DELAYS_MS = [50, 100, 250, 500, 1000, 2000];

/** The store as /healthz shows it. */
export interface StoreHealth {
  /** `degraded`: writes fail; they are kept in memory and retried, and new jobs are refused. */
  state: "ok" | "degraded";
  /** Why writes fail (the data directory and the cause). */
  message?: string;
  /** Since when (ISO). */
  since?: string;
  /** Writes waiting to be committed. */
  pendingWrites: number;
}

/**
 * The store cannot take writes (disk full, read-only, another connection holding its lock): the
 * service refuses new jobs with HTTP 503 and `Retry-After`, and keeps running ones in memory.
 */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    /** Seconds a client should wait before it retries. */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

/** A write to replay: what a failed commit rolled back is applied again by the next attempt. */
interface WriteOp {
  /** The job it belongs to: a job refused before its first commit takes its writes back. */
  jobId?: string;
  apply: () => void;
}

interface Failure {
  code?: string;
  message: string;
  since: string;
  busy: boolean;
}

interface Waiter {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function waiter(): Waiter {
  let resolve: () => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<void>((done, fail) => {
    resolve = done;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/**
 * The store's writes, grouped: the first write of a turn of the event loop opens a transaction
 * that commits at the end of that turn (`flush`, scheduled by `scheduleFlush`).
 *
 * A write never throws: each is also kept in memory until its commit, so that when a write or a
 * commit fails (disk full, the file read-only, another connection holding the write lock) the
 * turn is rolled back, the store turns `degraded`, and every write since the last commit is
 * replayed, in order, by the next attempt (with backoff; an attempt waits at most
 * BUSY_TIMEOUT_MS for the lock), until one succeeds. Nothing is dropped and nothing reordered.
 */
export class GroupCommit {
  /** Told when writes start failing and when they recover. */
  onHealthChange?: (health: StoreHealth) => void;
  /** Called after each commit that left nothing pending. */
  onCommitted?: () => void;
  private batchOpen = false;
  private pending: WriteOp[] = [];
  private failure: Failure | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  /** Resolved by the next commit (whenCommitted). */
  private committed: Waiter | undefined;
  /** Settled by the next commit or failure (commitOrFail). */
  private attempt: Waiter | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly scheduleFlush: () => void,
  ) {}

  get degraded(): boolean {
    return this.failure !== undefined;
  }

  get health(): StoreHealth {
    if (!this.failure) return { state: "ok", pendingWrites: this.pending.length };
    return {
      state: "degraded",
      message: this.failureMessage(),
      since: this.failure.since,
      pendingWrites: this.pending.length,
    };
  }

  /** @throws StoreUnavailableError while writes fail. */
  assertWritable(): void {
    if (this.failure) throw this.unavailable();
  }

  /** Records the write, and applies it in the turn's transaction unless writes are failing. */
  write(jobId: string | undefined, apply: () => void): void {
    this.pending.push({ jobId, apply });
    if (this.failure || !this.open()) return;
    try {
      apply();
    } catch (error) {
      this.fail(error);
    }
  }

  /** Opens the turn's transaction (when writes are not failing); false when that failed. */
  open(): boolean {
    if (this.failure) return false;
    if (this.batchOpen) return true;
    try {
      // IMMEDIATE: a store another connection holds fails here, before any write of the turn.
      this.db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      this.fail(error);
      return false;
    }
    this.batchOpen = true;
    this.scheduleFlush();
    return true;
  }

  /** Commits the turn's writes. While degraded it does nothing: the retry timer makes the attempts. */
  flush(): void {
    if (this.failure) return;
    if (this.batchOpen && this.db.open && this.db.inTransaction) {
      try {
        this.db.exec("COMMIT");
      } catch (error) {
        this.fail(error);
        return;
      }
    }
    this.batchOpen = false;
    this.succeeded();
  }

  /** Resolves once the writes so far are committed (while degraded: once it has recovered). */
  whenCommitted(): Promise<void> {
    if (!this.batchOpen && this.pending.length === 0) return Promise.resolve();
    this.committed ??= waiter();
    return this.committed.promise;
  }

  /**
   * Resolves once the writes so far are committed; rejects with StoreUnavailableError when the
   * attempt fails or writes are failing already.
   */
  commitOrFail(): Promise<void> {
    if (this.failure) return Promise.reject(this.unavailable());
    if (!this.batchOpen && this.pending.length === 0) return Promise.resolve();
    this.attempt ??= waiter();
    return this.attempt.promise;
  }

  /** Takes back a job's writes; only while degraded (then none of them is applied). */
  discard(jobId: string): boolean {
    if (!this.failure) return false;
    this.pending = this.pending.filter((op) => op.jobId !== jobId);
    return true;
  }

  /** One last attempt when degraded, else a commit; returns how many writes could not be saved. */
  close(): number {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.failure) this.retry(false);
    else this.flush();
    return this.failure ? this.pending.length : 0;
  }

  /** A write or commit failed: roll the turn back, keep its writes, retry later. */
  private fail(error: unknown): void {
    if (this.db.open && this.db.inTransaction) {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // SQLite may have rolled back already (it does on SQLITE_FULL and on I/O errors).
      }
    }
    this.batchOpen = false;
    const { code } = error as { code?: string };
    const first = this.failure === undefined;
    this.failure = {
      code,
      message: describeStoreError(error, this.file),
      since: this.failure?.since ?? new Date().toISOString(),
      busy: code === "SQLITE_BUSY" || code === "SQLITE_LOCKED",
    };
    const attempt = this.attempt;
    this.attempt = undefined;
    attempt?.reject(this.unavailable());
    this.scheduleRetry();
    if (first) this.notify();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || !this.db.open) return;
    const delay = RETRY_DELAYS_MS[Math.min(this.attempts, RETRY_DELAYS_MS.length - 1)];
    this.attempts++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retry(true);
    }, delay);
    // The server keeps the process alive; a retry alone must not.
    this.retryTimer.unref();
  }

  /** Replays every pending write in one transaction. */
  private retry(again: boolean): void {
    if (!this.db.open) return;
    try {
      this.db.exec("BEGIN IMMEDIATE");
      for (const op of this.pending) op.apply();
      this.db.exec("COMMIT");
    } catch (error) {
      if (again) this.fail(error);
      else if (this.db.inTransaction) this.db.exec("ROLLBACK");
      return;
    }
    this.failure = undefined;
    this.attempts = 0;
    this.succeeded();
    this.notify();
  }

  private succeeded(): void {
    this.pending = [];
    this.onCommitted?.();
    const committed = this.committed;
    const attempt = this.attempt;
    this.committed = undefined;
    this.attempt = undefined;
    committed?.resolve();
    attempt?.resolve();
  }

  private notify(): void {
    try {
      this.onHealthChange?.(this.health);
    } catch {
      // A broken listener must not break the store.
    }
  }

  private failureMessage(): string {
    const failure = this.failure;
    if (!failure) return "";
    if (failure.busy) {
      return `the job store ${this.file} is locked by another connection (${failure.code}); writes are retried`;
    }
    return `the job store in ${path.dirname(this.file)} cannot be written: ${failure.message}; running jobs are kept in memory and written once it can be`;
  }

  private unavailable(): StoreUnavailableError {
    return new StoreUnavailableError(
      `${this.failureMessage()}; new jobs are refused until then: retry later`,
      this.failure?.busy ? 1 : 5,
    );
  }
}
