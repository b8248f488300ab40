import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import Database from "better-sqlite3";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { findExecutable } from "../../automation/engine/which";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import type { Job } from "../../automation/service/jobs/types";
import { startTestService, submit, type TestService, waitForJob } from "../helpers/service";
import { startServiceProcess } from "../helpers/service-process";
import { readEvents } from "../helpers/sse";

const TOKEN = "faults-token-0123456789";

interface Health {
  store: { state: string; message?: string; pendingWrites: number };
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The job's events, read from its stream to the end, as `seq` numbers; and the last one's job state. */
async function streamOf(url: string, jobId: string): Promise<{ ids: number[]; finalState?: string }> {
  const read = await readEvents(`${url}/jobs/${jobId}/events`, TOKEN);
  const last = read.messages.at(-1);
  return {
    ids: read.messages.map((message) => message.id ?? -1),
    finalState: last?.event === "job" ? (last.data as Job).state : undefined,
  };
}

function oneToN(ids: number[]): number[] {
  return ids.map((_, index) => index + 1);
}

describe("service under store faults", function () {
  this.timeout(60_000);

  describe("a store another connection holds (SQLITE_BUSY)", () => {
    let service: TestService;
    let blocker: Database.Database | undefined;
    beforeEach(async () => {
      service = await startTestService({
        engine: new InMemoryEngine({ defaults: { durations: { up: 600 } } }),
        token: TOKEN,
      });
    });
    afterEach(async () => {
      if (blocker?.inTransaction) blocker.exec("ROLLBACK");
      blocker?.close();
      blocker = undefined;
      await service.close();
    });
    /** A second connection takes the write lock (once the service's turn has committed) and keeps it. */
    const holdWriteLock = async () => {
      blocker = new Database(service.service.store.file, { timeout: 0 });
      for (;;) {
        try {
          blocker.exec("BEGIN IMMEDIATE");
          return;
        } catch (error) {
          if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    };
    const releaseWriteLock = () => {
      blocker?.exec("COMMIT");
      blocker?.close();
      blocker = undefined;
    };
    const health = async () => (await (await fetch(`${service.url}/healthz`)).json()) as Health;

    it("answers a new job 503 with Retry-After at once, and keeps no phantom of it", async () => {
      await holdWriteLock();
      const started = performance.now();
      const { response, body } = await submit(service, "/rollouts", { stage: "dev" });
      assert.ok(performance.now() - started < 1000, "no wait for a 5 s busy timeout");
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "1");
      assert.match(
        body.message ?? "",
        /job store .*platform-jobs\.sqlite is locked by another connection \(SQLITE_BUSY\)/,
      );
      assert.equal(service.service.manager.activeCount, 0, "the refused job holds no stack");
      assert.equal(service.service.manager.hasActive("dev", "rollout"), false);
      const listed = (await (await service.request("/jobs")).json()) as { jobs: Job[] };
      assert.deepEqual(listed.jobs, []);
    });

    it("reports the store degraded on /healthz while it is held, and ok again after", async () => {
      await holdWriteLock();
      await submit(service, "/previews", { stage: "dev" });
      const during = await health();
      assert.equal(during.store.state, "degraded");
      assert.match(during.store.message ?? "", /locked by another connection/);
      releaseWriteLock();
      await until(async () => (await health()).store.state === "ok");
    });

    it("takes jobs on the same stack again once the lock is released", async () => {
      await holdWriteLock();
      assert.equal((await submit(service, "/rollouts", { stage: "dev" })).response.status, 503);
      releaseWriteLock();
      await until(async () => (await health()).store.state === "ok");
      const { response, body } = await submit(service, "/rollouts", { stage: "dev" });
      assert.equal(response.status, 202);
      assert.equal((await waitForJob(service, body.id)).state, "succeeded");
    });

    it("keeps a running job's events while it is held, in order, with no seq skipped", async () => {
      const { response, body } = await submit(service, "/rollouts", { stage: "prod" });
      assert.equal(response.status, 202);
      await until(() => service.service.manager.get(body.id)?.regions.some((r) => r.gate === "up") ?? false);
      await holdWriteLock();
      // The job goes on (in memory) while its writes fail; the event loop stays free.
      let slowest = 0;
      const probe = async () => {
        const probeStart = performance.now();
        const state = (await health()).store.state;
        slowest = Math.max(slowest, performance.now() - probeStart);
        return state;
      };
      await until(async () => (await probe()) === "degraded");
      await until(
        async () =>
          (await probe()) === "degraded" && service.service.manager.get(body.id)?.state === "succeeded",
      );
      assert.ok(slowest < 500, `/healthz answered within ${Math.round(slowest)} ms while writes failed`);
      await until(() => service.service.manager.get(body.id)?.state === "succeeded");
      const served = (await (await service.request(`/jobs/${body.id}`)).json()) as Job;
      assert.equal(served.state, "succeeded", "the finished job is served from memory before it is saved");
      releaseWriteLock();
      const stream = await streamOf(service.url, body.id);
      assert.deepEqual(stream.ids, oneToN(stream.ids));
      assert.equal(stream.finalState, "succeeded");
      const store = new Database(service.service.store.file, { readonly: true });
      try {
        const seqs = store
          .prepare("SELECT seq FROM events WHERE job_id = ? ORDER BY seq")
          .all(body.id)
          .map((row) => (row as { seq: number }).seq);
        assert.deepEqual(seqs, stream.ids, "the store has every event the stream sent");
      } finally {
        store.close();
      }
    });
  });

  describe("a full disk (a file-size limit on the service's process)", () => {
    const prlimit = findExecutable("prlimit");
    const dirs: string[] = [];
    after(() => {
      for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("refuses new jobs, keeps running ones, loses nothing answered 202, and recovers by itself", async function () {
      if (!prlimit || process.platform !== "linux") this.skip();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-faults-"));
      dirs.push(dataDir);
      const child = await startServiceProcess({
        PLATFORM_DATA_DIR: dataDir,
        PLATFORM_API_TOKEN: TOKEN,
        ENGINE_SCRIPT: JSON.stringify({ defaults: { durations: { up: 1500 } } }),
      });
      const pid = String(child.child.pid);
      const api = (pathname: string, init: RequestInit = {}) =>
        fetch(`${child.url}${pathname}`, {
          ...init,
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        });
      const post = (endpoint: string, body: unknown) =>
        api(endpoint, { method: "POST", body: JSON.stringify(body) });
      const health = async () => (await (await fetch(`${child.url}/healthz`)).json()) as Health;
      try {
        const accepted = (await (await post("/rollouts", { stage: "prod" })).json()) as Job;
        assert.equal(accepted.state, "running");

        // From now on no file of the process may grow: every write of the store fails (EFBIG).
        execFileSync(prlimit, ["--pid", pid, "--fsize=1:"]);
        const refused = await post("/previews", { stage: "dev" });
        assert.equal(refused.status, 503);
        assert.ok(Number(refused.headers.get("retry-after")) >= 1);
        const { message } = (await refused.json()) as { message: string };
        assert.ok(message.includes(`the job store in ${dataDir} cannot be written`), message);
        assert.match(message, /\((SQLITE_FULL|SQLITE_IOERR\w*)\)/);
        assert.equal((await health()).store.state, "degraded");

        // The accepted job runs to its end in memory.
        await until(
          async () => ((await (await api(`/jobs/${accepted.id}`)).json()) as Job).state === "succeeded",
        );
        assert.equal(child.child.exitCode, null, "the service is still running");

        execFileSync(prlimit, ["--pid", pid, "--fsize=unlimited:"]);
        await until(async () => (await health()).store.state === "ok");
        const stream = await streamOf(child.url, accepted.id);
        assert.deepEqual(stream.ids, oneToN(stream.ids), "event ids contiguous");
        assert.equal(stream.finalState, "succeeded");
        const again = await post("/previews", { stage: "dev" });
        assert.equal(again.status, 202, "the stack takes jobs again");
      } finally {
        child.child.kill("SIGTERM");
        await child.exited;
      }
      assert.match(child.output(), /warning: the job store in .* cannot be written/);
      assert.match(child.output(), /job store: writes recovered/);
      const store = new JobStore(databaseFile(dataDir));
      try {
        const jobs = store.listJobs();
        assert.deepEqual(
          jobs.map((job) => `${job.kind} ${job.state}`),
          ["preview succeeded", "rollout succeeded"],
          "every job answered 202 is in the store, finished",
        );
      } finally {
        store.close();
      }
    });
  });
});
