import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Database from "better-sqlite3";
import { bearerChecker } from "../../automation/service/http/auth";
import { DEFAULT_RETENTION, parseRetention } from "../../automation/service/jobs/retention";
import { StackQueues } from "../../automation/service/jobs/stack-queues";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import type { Job } from "../../automation/service/jobs/types";

describe("stack queues", () => {
  it("lets the first job on a stack hold each of its stacks", () => {
    const queues = new StackQueues();
    queues.join("a", ["prod", "prod-eu-west-1"]);
    assert.ok(queues.isHead("a", ["prod", "prod-eu-west-1"]));
    assert.equal(queues.head("prod-eu-west-1"), "a");
    assert.equal(queues.head("dev"), undefined);
  });

  it("hands each stack to the waiting jobs in arrival order", () => {
    const queues = new StackQueues();
    queues.join("a", ["dev"]);
    queues.join("b", ["dev"]);
    queues.join("c", ["dev"]);
    assert.deepEqual(queues.leave("a", ["dev"]), ["b"]);
    assert.ok(queues.isHead("b", ["dev"]));
    assert.ok(!queues.isHead("c", ["dev"]));
    assert.deepEqual(queues.leave("b", ["dev"]), ["c"]);
  });

  it("makes a job on several stacks wait until it heads all of them", () => {
    const queues = new StackQueues();
    queues.join("a", ["prod"]);
    queues.join("b", ["prod-eu-west-1"]);
    queues.join("c", ["prod", "prod-eu-west-1"]);
    assert.deepEqual(queues.leave("a", ["prod"]), ["c"]);
    assert.ok(!queues.isHead("c", ["prod", "prod-eu-west-1"]), "b still holds prod-eu-west-1");
    queues.leave("b", ["prod-eu-west-1"]);
    assert.ok(queues.isHead("c", ["prod", "prod-eu-west-1"]));
  });

  it("lets a waiting job leave without disturbing the holder", () => {
    const queues = new StackQueues();
    queues.join("a", ["dev"]);
    queues.join("b", ["dev"]);
    assert.deepEqual(queues.leave("b", ["dev"]), []);
    assert.equal(queues.head("dev"), "a");
    queues.leave("a", ["dev"]);
    assert.equal(queues.size, 0);
  });
});

describe("bearer token check", () => {
  const check = bearerChecker("s3cret-token-0123456789");

  it("accepts the token with the Bearer scheme, in any case", () => {
    assert.ok(check("Bearer s3cret-token-0123456789"));
    assert.ok(check("bearer s3cret-token-0123456789"));
  });

  it("rejects a missing header, another scheme, a prefix and a longer guess", () => {
    for (const header of [
      undefined,
      "",
      "Basic s3cret-token-0123456789",
      "s3cret-token-0123456789",
      "Bearer s3cret",
      "Bearer s3cret-token-0123456789x",
      "Bearer ",
    ]) {
      assert.equal(check(header), false, String(header));
    }
  });
});

describe("job store", () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const open = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-store-"));
    dirs.push(dir);
    return new JobStore(databaseFile(dir));
  };
  const job = (id: string): Job => ({
    id,
    kind: "preview",
    stage: "dev",
    state: "queued",
    trigger: "api",
    engine: "in-memory",
    options: {},
    regions: [],
    createdAt: new Date().toISOString(),
  });
  const committedState = (store: JobStore, id: string) => {
    // Another connection sees only committed data.
    const reader = new Database(store.file, { readonly: true });
    try {
      return (reader.prepare("SELECT state FROM jobs WHERE id = ?").get(id) as { state: string } | undefined)
        ?.state;
    } finally {
      reader.close();
    }
  };

  it("commits a turn's writes together, and whenCommitted resolves once they are on disk", async () => {
    const store = open();
    try {
      store.insertJob(job("a"));
      store.insertJob(job("b"));
      assert.equal(committedState(store, "a"), undefined, "not committed within the turn");
      await store.whenCommitted();
      assert.equal(committedState(store, "a"), "queued");
      assert.equal(committedState(store, "b"), "queued");
    } finally {
      store.close();
    }
  });

  it("commits what is pending when it closes", () => {
    const store = open();
    store.insertJob(job("c"));
    store.close();
    assert.equal(committedState(store, "c"), "queued");
  });

  it("serves a job's latest document, whether it was read before it finished or not", () => {
    const store = open();
    try {
      store.insertJob(job("d"));
      assert.equal((JSON.parse(store.getJobJson("d") ?? "{}") as Job).state, "queued");
      store.updateJob({ ...job("d"), state: "succeeded" });
      assert.equal((JSON.parse(store.getJobJson("d") ?? "{}") as Job).state, "succeeded");
      store.updateJob({ ...job("d"), state: "interrupted" });
      assert.equal((JSON.parse(store.getJobJson("d") ?? "{}") as Job).state, "interrupted");
      assert.equal(store.getJobJson("none"), undefined);
    } finally {
      store.close();
    }
  });

  it("returns a job's events after a sequence number, in order", async () => {
    const store = open();
    try {
      for (const seq of [1, 2, 3])
        store.appendEvent({ jobId: "a", seq, type: "wave", data: { wave: seq }, at: "t" });
      assert.deepEqual(
        store.eventsAfter("a", 1).map((event) => [event.seq, event.data]),
        [
          [2, { wave: 2 }],
          [3, { wave: 3 }],
        ],
      );
      assert.equal(store.lastSeq("a"), 3);
      assert.equal(store.lastSeq("none"), 0);
    } finally {
      store.close();
    }
  });
});

describe("opening the job store", () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-store-open-"));
    dirs.push(dir);
    return dir;
  };

  it("names the file and the cause when the data directory lies under a file", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "plain-file"), "");
    const file = databaseFile(path.join(dir, "plain-file", "data"));
    assert.throws(
      () => new JobStore(file, { lock: true }),
      (error: Error) =>
        error.message.startsWith(`cannot open ${file}: a parent of `) && /\(ENOTDIR\)/.test(error.message),
    );
  });

  it("names the file when it is not an SQLite database", () => {
    const file = databaseFile(tempDir());
    fs.writeFileSync(file, "not a database, but long enough to have a header of sorts ".repeat(20));
    assert.throws(
      () => new JobStore(file, { lock: true }),
      (error: Error) =>
        error.message.startsWith(`cannot open ${file}: not an SQLite database (SQLITE_NOTADB)`),
    );
  });

  it("says read-only when its directory cannot be written", function () {
    // root writes anywhere: the case needs an ordinary user.
    if (process.getuid?.() === 0 || process.platform === "win32") this.skip();
    const dir = tempDir();
    fs.chmodSync(dir, 0o555);
    try {
      assert.throws(() => new JobStore(databaseFile(dir), { lock: true }), /cannot open .*: read-only/);
    } finally {
      fs.chmodSync(dir, 0o755);
    }
  });

  it("leaves no -wal or -shm file and no lock behind when it cannot start, so the next start works", () => {
    const file = databaseFile(tempDir());
    // A store its schema cannot be added to (a view where a table should be): the start fails late.
    const setup = new Database(file);
    setup.exec("CREATE VIEW jobs AS SELECT 1 AS id");
    setup.close();
    assert.throws(() => new JobStore(file, { lock: true }), /cannot open .*: views may not be indexed/);
    assert.deepEqual(
      fs.readdirSync(path.dirname(file)).filter((name) => /-(wal|shm)$/.test(name)),
      [],
      "no -wal or -shm left",
    );
    const fix = new Database(file);
    fix.exec("DROP VIEW jobs");
    fix.close();
    new JobStore(file, { lock: true }).close();
  });
});

describe("job retention", () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  const open = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-retention-"));
    dirs.push(dir);
    return new JobStore(databaseFile(dir));
  };
  const DAY = 86_400_000;
  const NOW = Date.parse("2025-06-30T00:00:00Z");
  /** A finished job created `daysAgo` days before NOW, with two events. */
  const finished = (store: JobStore, id: string, daysAgo: number, state: Job["state"] = "succeeded") => {
    const job: Job = {
      id,
      kind: "preview",
      stage: "dev",
      state,
      trigger: "api",
      engine: "in-memory",
      options: {},
      regions: [],
      createdAt: new Date(NOW - daysAgo * DAY).toISOString(),
    };
    store.insertJob(job);
    for (const seq of [1, 2]) store.appendEvent({ jobId: id, seq, type: "job", data: {}, at: job.createdAt });
    return job;
  };
  const ids = (store: JobStore) =>
    store
      .listJobs({ limit: 500 })
      .map((job) => job.id)
      .sort();

  it("reads PLATFORM_JOB_RETENTION as an age and/or a count, 30 days or 10,000 jobs by default", () => {
    assert.deepEqual(parseRetention(DEFAULT_RETENTION), { maxAgeMs: 30 * DAY, maxCount: 10_000 });
    assert.deepEqual(parseRetention("12h"), { maxAgeMs: 12 * 3_600_000 });
    assert.deepEqual(parseRetention("500"), { maxCount: 500 });
    assert.deepEqual(parseRetention("off"), {});
  });

  it("rejects a retention that is not one, naming the variable and the format", () => {
    for (const bad of ["forever", "30d,", "0", "30d,7d", "-1d", "1w"]) {
      assert.throws(
        () => parseRetention(bad),
        /PLATFORM_JOB_RETENTION must be "off" or .*<n>d.*"30d,10000"/,
        bad,
      );
    }
  });

  it("prunes finished jobs beyond the count, oldest first, with their events", async () => {
    const store = open();
    try {
      for (let day = 1; day <= 5; day++) finished(store, `job-${day}`, day);
      await store.whenCommitted();
      assert.equal(store.prune({ maxCount: 3 }, NOW), 2);
      await store.whenCommitted();
      assert.deepEqual(ids(store), ["job-1", "job-2", "job-3"]);
      assert.deepEqual(store.eventsAfter("job-5"), []);
      assert.equal(store.eventsAfter("job-3").length, 2);
    } finally {
      store.close();
    }
  });

  it("prunes finished jobs older than the age, and never a queued or running one", async () => {
    const store = open();
    try {
      finished(store, "new", 1);
      finished(store, "old", 40);
      finished(store, "old-running", 40, "running");
      await store.whenCommitted();
      assert.equal(store.prune({ maxAgeMs: 30 * DAY }, NOW), 1);
      await store.whenCommitted();
      assert.deepEqual(ids(store), ["new", "old-running"]);
    } finally {
      store.close();
    }
  });

  it("never prunes a job a stack shows as its last job, rollout or drift check", async () => {
    const store = open();
    try {
      const last = finished(store, "last-on-dev", 50);
      finished(store, "last-rollout", 51);
      finished(store, "last-drift", 52);
      finished(store, "nobody's", 53);
      store.setLastJob("dev", last);
      const region = {
        region: "us-east-1",
        stackName: "dev",
        primary: true,
        state: "succeeded",
        elapsedMs: 0,
        gates: [],
      };
      store.setRollout("dev", "last-rollout", region, last.createdAt);
      store.setDrift("dev", "last-drift", { ...region, state: "clean" }, last.createdAt);
      await store.whenCommitted();
      store.prune({ maxAgeMs: DAY, maxCount: 1 }, NOW);
      await store.whenCommitted();
      assert.deepEqual(ids(store), ["last-drift", "last-on-dev", "last-rollout"]);
    } finally {
      store.close();
    }
  });

  it("counts jobs by kind and state from counters kept with the jobs, pruning included", async () => {
    const store = open();
    try {
      const job = finished(store, "a", 40, "running");
      finished(store, "b", 1);
      store.updateJob({ ...job, state: "failed" });
      await store.whenCommitted();
      assert.deepEqual(store.countByKindAndState(), [
        { kind: "preview", state: "failed", count: 1 },
        { kind: "preview", state: "succeeded", count: 1 },
      ]);
      store.prune({ maxAgeMs: 30 * DAY }, NOW);
      await store.whenCommitted();
      assert.deepEqual(store.countByKindAndState(), [{ kind: "preview", state: "succeeded", count: 1 }]);
    } finally {
      store.close();
    }
  });

  it("counts the jobs of a store an earlier version wrote (no counters yet) when it opens it", async () => {
    const store = open();
    finished(store, "a", 1);
    finished(store, "b", 2, "failed");
    store.close();
    const old = new Database(store.file);
    old.exec(
      "DROP TRIGGER job_counts_insert; DROP TRIGGER job_counts_update; DROP TRIGGER job_counts_delete;",
    );
    old.exec("DROP TABLE job_counts; DELETE FROM meta WHERE key = 'job_counts'");
    old.close();
    const reopened = new JobStore(store.file);
    try {
      assert.deepEqual(reopened.countByKindAndState(), [
        { kind: "preview", state: "failed", count: 1 },
        { kind: "preview", state: "succeeded", count: 1 },
      ]);
    } finally {
      reopened.close();
    }
  });
});
