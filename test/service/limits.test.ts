import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import type { Job } from "../../automation/service/jobs/types";
import { startTestService, submit } from "../helpers/service";

describe("service limits", function () {
  this.timeout(30_000);

  it("answers 429 naming the limit once PLATFORM_QUEUE_LIMIT jobs wait, and queues again when one ran", async () => {
    const service = await startTestService({
      engine: new InMemoryEngine({ defaults: { durations: { up: 300 } } }),
      queueLimit: 2,
    });
    try {
      assert.equal((await submit(service, "/rollouts", { stage: "dev" })).response.status, 202);
      for (let waiting = 0; waiting < 2; waiting++) {
        assert.equal(
          (await submit(service, "/previews", { stage: "dev", queue: true })).response.status,
          202,
        );
      }
      const { response, body } = await submit(service, "/previews", { stage: "dev", queue: true });
      assert.equal(response.status, 429);
      assert.match(
        body.message ?? "",
        /the job queue is full: 2 job\(s\) are waiting .*PLATFORM_QUEUE_LIMIT=2/,
      );
      // A job that needs no wait is not held back by the full queue.
      assert.equal((await submit(service, "/previews", { stage: "prod", queue: true })).response.status, 202);
    } finally {
      await service.close();
    }
  });

  it("prunes finished jobs beyond the retention when it starts, keeping each stack's last job", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-limits-"));
    const store = new JobStore(databaseFile(dataDir));
    const jobs: Job[] = [];
    for (let index = 0; index < 30; index++) {
      const job: Job = {
        id: `job-${String(index).padStart(2, "0")}`,
        kind: "preview",
        stage: "dev",
        state: "succeeded",
        trigger: "api",
        engine: "in-memory",
        options: {},
        regions: [],
        createdAt: new Date(Date.UTC(2025, 0, 1, 0, index)).toISOString(),
      };
      store.insertJob(job);
      jobs.push(job);
    }
    store.setLastJob("dev", jobs[0]);
    store.close();

    const service = await startTestService({
      engine: new InMemoryEngine(),
      dataDir,
      retention: { maxCount: 10 },
    });
    try {
      let listed: Job[] = [];
      const deadline = Date.now() + 5000;
      do {
        await new Promise((resolve) => setTimeout(resolve, 20));
        listed = ((await (await service.request("/jobs?limit=500")).json()) as { jobs: Job[] }).jobs;
      } while (listed.length > 11 && Date.now() < deadline);
      assert.deepEqual(
        listed.map((job) => job.id),
        [
          ...jobs
            .slice(20)
            .map((job) => job.id)
            .reverse(),
          "job-00",
        ],
      );
      const metrics = await (await service.request("/metrics")).text();
      assert.match(metrics, /^platform_jobs\{kind="preview",state="succeeded"\} 11$/m);
    } finally {
      await service.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
