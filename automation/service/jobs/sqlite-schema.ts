import type Database from "better-sqlite3";

/*
 * The SQLite job store's schema (store.ts). Tables are created where missing, so that a store of
 * an earlier version opens as it is; PostgreSQL's, with versioned migrations, is pg-schema.ts.
 */

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
CREATE TABLE IF NOT EXISTS job_counts (
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (kind, state)
) WITHOUT ROWID;
`;

/**
 * job_counts follows the jobs table (so that /metrics reads a dozen rows, not every job). It is
 * filled from the jobs once, when it is new (a store of an earlier version).
 */
const FILL_COUNTS = `
DELETE FROM job_counts;
INSERT INTO job_counts (kind, state, count) SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state;
INSERT INTO meta (key, value) VALUES ('job_counts', '1') ON CONFLICT (key) DO NOTHING;
`;
const COUNT_TRIGGERS = `
CREATE TRIGGER IF NOT EXISTS job_counts_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_counts (kind, state, count) VALUES (new.kind, new.state, 1)
    ON CONFLICT (kind, state) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER IF NOT EXISTS job_counts_update AFTER UPDATE OF state ON jobs WHEN old.state <> new.state BEGIN
  UPDATE job_counts SET count = count - 1 WHERE kind = old.kind AND state = old.state;
  INSERT INTO job_counts (kind, state, count) VALUES (new.kind, new.state, 1)
    ON CONFLICT (kind, state) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER IF NOT EXISTS job_counts_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_counts SET count = count - 1 WHERE kind = old.kind AND state = old.state;
END;
`;

/** Creates what the store's file lacks of the schema; job_counts is filled from the jobs once, when new. */
export function createSchema(db: Database.Database): void {
  db.exec(SCHEMA);
  const counted = db.prepare("SELECT value FROM meta WHERE key = 'job_counts'").get();
  db.exec(`BEGIN IMMEDIATE; ${counted ? "" : FILL_COUNTS} ${COUNT_TRIGGERS} COMMIT;`);
}
