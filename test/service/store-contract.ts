import * as assert from "node:assert/strict";
import type { JobStoreApi } from "../../automation/service/jobs/store-api";
import type { Job } from "../../automation/service/jobs/types";

const DAY = 86_400_000;
const NOW = Date.parse("2025-06-30T00:00:00Z");

/** A job created `daysAgo` days before NOW, on one region stack. */
function job(id: string, overrides: Partial<Job> = {}, daysAgo = 0): Job {
  return {
    id,
    kind: "preview",
    stage: "dev",
    state: "queued",
    trigger: "api",
    engine: "in-memory",
    options: {},
    regions: [
      { region: "us-east-1", stackName: "dev", primary: true, state: "pending", elapsedMs: 0, gates: [] },
    ],
    createdAt: new Date(NOW - daysAgo * DAY).toISOString(),
    ...overrides,
  };
}

/**
 * The job store's contract: what the manager, the API, the metrics and the schedules rely on.
 * Run against every JobStoreApi (SQLite and PostgreSQL) by test/service/store.test.ts.
 */
export function storeContract(open: () => Promise<JobStoreApi>): void {
  let store: JobStoreApi;
  beforeEach(async () => {
    store = await open();
  });
  afterEach(async () => {
    await store.close();
  });

  /** Writes a job and its events as the manager does, and waits for the commit. */
  const put = async (entry: Job, events = 2) => {
    store.insertJob(entry);
    for (let seq = 1; seq <= events; seq++) {
      store.appendEvent({ jobId: entry.id, seq, type: "job", data: { seq }, at: entry.createdAt });
    }
    await store.whenCommitted();
  };
  const ids = async () => (await store.listJobs({ limit: 500 })).map((entry) => entry.id).sort();

  it("serves a job's document as it was written, and undefined for an unknown job", async () => {
    const written = job("a", { options: { parallelism: 2 } });
    await put(written);
    assert.deepEqual(JSON.parse((await store.getJobJson("a")) ?? "{}"), written);
    assert.deepEqual(await store.getJob("a"), written);
    assert.equal(await store.getJobJson("none"), undefined);
  });

  it("serves a job's latest document, before and after the update is committed", async () => {
    await put(job("a"));
    store.updateJob(job("a", { state: "running" }));
    assert.equal((await store.getJob("a"))?.state, "running");
    await store.whenCommitted();
    store.updateJob(job("a", { state: "succeeded" }));
    await store.commitOrFail();
    assert.equal((await store.getJob("a"))?.state, "succeeded");
  });

  it("lists jobs newest first, filtered by stage, kind and state, up to the limit", async () => {
    await put(job("old", {}, 3));
    await put(job("mid", { kind: "drift", state: "running" }, 2));
    await put(job("new", { stage: "prod" }, 1));
    assert.deepEqual(
      (await store.listJobs()).map((entry) => entry.id),
      ["new", "mid", "old"],
    );
    assert.deepEqual(
      (await store.listJobs({ stage: "dev" })).map((entry) => entry.id),
      ["mid", "old"],
    );
    assert.deepEqual(
      (await store.listJobs({ kind: "drift", state: "running" })).map((entry) => entry.id),
      ["mid"],
    );
    assert.deepEqual(
      (await store.listJobs({ limit: 1 })).map((entry) => entry.id),
      ["new"],
    );
  });

  it("finds the jobs in given states, oldest first", async () => {
    await put(job("b", { state: "running" }, 1));
    await put(job("a", {}, 2));
    await put(job("c", { state: "succeeded" }, 3));
    assert.deepEqual(
      (await store.jobsInStates(["queued", "running"])).map((entry) => entry.id),
      ["a", "b"],
    );
  });

  it("returns a job's committed events after a sequence number, in order, and its last one", async () => {
    await put(job("a"), 3);
    assert.deepEqual(
      (await store.eventsAfter("a", 1)).map((event) => [event.seq, event.data]),
      [
        [2, { seq: 2 }],
        [3, { seq: 3 }],
      ],
    );
    assert.equal((await store.eventsAfter("a")).length, 3);
    assert.equal(await store.lastSeq("a"), 3);
    assert.equal(await store.lastSeq("none"), 0);
  });

  it("counts jobs by kind and state, following their changes", async () => {
    await put(job("a"));
    await put(job("b"));
    await put(job("c", { kind: "drift" }));
    store.updateJob(job("a", { state: "succeeded" }));
    await store.whenCommitted();
    assert.deepEqual(await store.countByKindAndState(), [
      { kind: "drift", state: "queued", count: 1 },
      { kind: "preview", state: "queued", count: 1 },
      { kind: "preview", state: "succeeded", count: 1 },
    ]);
  });

  it("keeps each stack's last job, rollout and drift check", async () => {
    const ran = job("a", { kind: "rollout", state: "succeeded", finishedAt: new Date(NOW).toISOString() });
    await put(ran);
    const region = { ...ran.regions[0], state: "succeeded", driftedCount: 2 };
    store.setLastJob("dev", ran);
    store.setRollout("dev", "a", region, "t1");
    store.setDrift("dev-eu", "b", { ...region, state: "drifted" }, "t2");
    await store.whenCommitted();
    const statuses = await store.stackStatuses();
    assert.deepEqual(statuses.get("dev"), {
      stackName: "dev",
      lastJob: {
        id: "a",
        kind: "rollout",
        state: "succeeded",
        createdAt: ran.createdAt,
        finishedAt: ran.finishedAt,
      },
      rollout: { jobId: "a", state: "succeeded", at: "t1" },
      drift: undefined,
    });
    assert.deepEqual(statuses.get("dev-eu")?.drift, {
      jobId: "b",
      state: "drifted",
      driftedCount: 2,
      at: "t2",
    });
  });

  it("prunes finished jobs beyond the count, oldest first, with their events, never an active one", async () => {
    for (const [id, days] of [
      ["j1", 5],
      ["j2", 4],
      ["j3", 3],
      ["j4", 2],
    ] as const) {
      await put(job(id, { state: "succeeded" }, days));
    }
    await put(job("queued-old", {}, 9));
    assert.equal(await store.prune({ maxCount: 2 }, NOW), 2);
    await store.whenCommitted();
    assert.deepEqual(await ids(), ["j3", "j4", "queued-old"]);
    assert.deepEqual(await store.eventsAfter("j1"), []);
    assert.equal((await store.eventsAfter("j3")).length, 2);
  });

  it("prunes by age, never a job a stack shows", async () => {
    const shown = job("shown", { state: "failed" }, 40);
    await put(shown);
    await put(job("aged", { state: "failed" }, 40));
    await put(job("young", { state: "failed" }, 1));
    store.setLastJob("dev", shown);
    await store.whenCommitted();
    assert.equal(await store.prune({ maxAgeMs: 30 * DAY }, NOW), 1);
    await store.whenCommitted();
    assert.deepEqual(await ids(), ["shown", "young"]);
  });

  it("is healthy, and writable, while its writes commit", async () => {
    await put(job("a"));
    assert.equal(store.health.state, "ok");
    assert.equal(store.health.pendingWrites, 0);
    store.assertWritable();
  });
}
