import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Database from "better-sqlite3";
import { bearerChecker } from "../../automation/service/http/auth";
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
