import type { Pool } from "pg";

/**
 * The PostgreSQL job store's schema, as versioned migrations: each runs once, in order, in its
 * own transaction, and is recorded in platform_migrations. Never edit a published migration: add
 * the next version.
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "jobs, events, stack statuses, replicas",
    sql: `
CREATE TABLE platform_jobs (
  id TEXT PRIMARY KEY,
  -- Arrival order, across replicas: the FIFO order of every stack's queue.
  arrival BIGSERIAL NOT NULL UNIQUE,
  created BIGINT NOT NULL,
  kind TEXT NOT NULL,
  stage TEXT NOT NULL,
  state TEXT NOT NULL,
  stacks TEXT[] NOT NULL,
  -- The replica running it (set when claimed).
  owner TEXT,
  cancel_reason TEXT,
  doc TEXT NOT NULL
);
CREATE INDEX platform_jobs_by_created ON platform_jobs (created DESC, arrival DESC);
CREATE INDEX platform_jobs_by_state ON platform_jobs (state, kind);
CREATE INDEX platform_jobs_active ON platform_jobs USING GIN (stacks) WHERE state IN ('queued', 'running');
CREATE TABLE platform_events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);
CREATE TABLE platform_stack_status (
  stack_name TEXT PRIMARY KEY,
  last_job TEXT,
  rollout TEXT,
  drift TEXT
);
CREATE TABLE platform_replicas (
  id TEXT PRIMARY KEY,
  lease_until TIMESTAMPTZ NOT NULL,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
`,
  },
];

/** Advisory lock keys (one namespace, 0x504c4154 = "PLAT"): migrations, the scheduler, stacks. */
export const LOCK_NAMESPACE = 0x504c4154;
export const MIGRATION_LOCK = 1;
export const SCHEDULER_LOCK = 2;

/**
 * Applies the migrations not yet applied, under a session advisory lock: two replicas starting at
 * once apply each migration once (the second waits, then finds them applied). Returns the
 * versions it applied.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1, $2)", [LOCK_NAMESPACE, MIGRATION_LOCK]);
    try {
      await client.query(
        "CREATE TABLE IF NOT EXISTS platform_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
      );
      const { rows } = await client.query<{ version: number }>("SELECT version FROM platform_migrations");
      const done = new Set(rows.map((row) => row.version));
      for (const migration of MIGRATIONS) {
        if (done.has(migration.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(migration.sql);
          await client.query("INSERT INTO platform_migrations (version, name) VALUES ($1, $2)", [
            migration.version,
            migration.name,
          ]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK");
          throw new Error(
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
          );
        }
        applied.push(migration.version);
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", [LOCK_NAMESPACE, MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
  return applied;
}
