import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Job } from "../../automation/service/jobs/types";
import { startTestPostgres, type TestPostgres } from "../helpers/service-postgres";
import { type ServiceProcess, startServiceProcess } from "../helpers/service-process";
import { readEvents } from "../helpers/sse";

const TOKEN = "replicas-token-0123456789";
const LEASE_MS = 1_500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function call(
  base: string,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> & Partial<Job> }> {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const job = async (base: string, id: string) => (await call(base, "GET", `/jobs/${id}`)).body as Job;
const finished = (base: string, id: string, timeoutMs?: number) =>
  until(async () => {
    const current = await job(base, id);
    return current.finishedAt ? current : undefined;
  }, timeoutMs);

describe("service replicas on one PostgreSQL job store", function () {
  this.timeout(120_000);
  let server: TestPostgres | undefined;
  const replicas: ServiceProcess[] = [];
  const dirs: string[] = [];

  before(async function () {
    const started = await startTestPostgres();
    if ("missing" in started) {
      console.log(`      skipped: ${started.missing}`);
      this.skip();
    }
    server = started as TestPostgres;
  });
  afterEach(async () => {
    for (const replica of replicas.splice(0)) {
      replica.child.kill("SIGKILL");
      await replica.exited;
    }
  });
  after(() => {
    server?.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `count` replicas of `platform serve` on a new database, each a process of its own. */
  async function startReplicas(
    count: number,
    script: unknown,
    env: Record<string, string> = {},
  ): Promise<ServiceProcess[]> {
    const url = await server!.createDatabase();
    const started: ServiceProcess[] = [];
    for (let index = 0; index < count; index++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-replica-"));
      dirs.push(dir);
      const replica = await startServiceProcess({
        PLATFORM_DATABASE_URL: url,
        PLATFORM_REPLICA_LEASE_MS: String(LEASE_MS),
        PLATFORM_API_TOKEN: TOKEN,
        PLATFORM_DATA_DIR: dir,
        DRIFT_SCHEDULE: "",
        ENGINE_SCRIPT: JSON.stringify(script),
        ...env,
      });
      replicas.push(replica);
      started.push(replica);
    }
    return started;
  }

  it("answers 409 naming the running job when another replica runs a job on the stack", async () => {
    const [a, b] = await startReplicas(2, { defaults: { durations: { preview: 3_000 } } });
    const first = await call(a.url, "POST", "/previews", { stage: "dev" });
    assert.equal(first.status, 202);
    const second = await call(b.url, "POST", "/previews", { stage: "dev" });
    assert.equal(second.status, 409);
    assert.equal(second.body.jobId, first.body.id);
    assert.equal(second.body.jobState, "running");
    assert.equal(second.body.stackName, "dev");
  });

  it("runs jobs queued on different replicas one at a time, in arrival order", async () => {
    const [a, b, c] = await startReplicas(3, { defaults: { durations: { preview: 700 } } });
    const ids: string[] = [];
    for (const replica of [a, b, c, a]) {
      const response = await call(replica.url, "POST", "/previews", { stage: "dev", queue: true });
      assert.equal(response.status, 202);
      ids.push(response.body.id as string);
    }
    const jobs: Job[] = [];
    for (const id of ids) jobs.push(await finished(b.url, id));
    assert.deepEqual(
      jobs.map((entry) => entry.state),
      ["succeeded", "succeeded", "succeeded", "succeeded"],
    );
    for (let index = 1; index < jobs.length; index++) {
      assert.ok(
        Date.parse(jobs[index].startedAt!) >= Date.parse(jobs[index - 1].finishedAt!),
        `job ${index} started before job ${index - 1} finished`,
      );
    }
  });

  it("marks the jobs of a replica killed mid-job interrupted within the lease, and runs the queued ones elsewhere", async () => {
    const [a, b] = await startReplicas(2, { defaults: { durations: { preview: 60_000 } } });
    const running = await call(a.url, "POST", "/previews", { stage: "dev" });
    assert.equal(running.body.state, "running");
    const queued = await call(b.url, "POST", "/previews", { stage: "dev", queue: true });
    assert.equal(queued.body.state, "queued");

    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    const interrupted = await finished(b.url, running.body.id as string, 10_000);
    const elapsed = Date.now() - killedAt;
    assert.equal(interrupted.state, "interrupted");
    assert.match(interrupted.error ?? "", /stopped renewing its lease/);
    assert.ok(elapsed < LEASE_MS * 2 + 1_000, `interrupted after ${elapsed} ms (lease ${LEASE_MS} ms)`);
    // The stack is free: the job queued behind it runs (on the replica that is left).
    await until(async () => (await job(b.url, queued.body.id as string)).state === "running");
    const stacks = await call(b.url, "GET", "/stacks");
    const dev = (stacks.body.stages as { stage: string; regions: { lastJob?: { id: string } }[] }[]).find(
      (stage) => stage.stage === "dev",
    );
    assert.equal(dev?.regions[0].lastJob?.id, queued.body.id);
  });

  it("stops a job whose replica was paused past its lease, leaving the interruption another replica recorded", async () => {
    const [a, b] = await startReplicas(2, { defaults: { durations: { preview: 60_000 } } });
    const running = await call(a.url, "POST", "/previews", { stage: "dev" });
    const id = running.body.id as string;
    a.child.kill("SIGSTOP");
    try {
      assert.equal((await finished(b.url, id, 10_000)).state, "interrupted");
    } finally {
      a.child.kill("SIGCONT");
    }
    // Back, the paused replica finds at its next heartbeat that the job is not its own any more.
    const onA = await until(async () => {
      const current = await job(a.url, id);
      return current.state !== "running" ? current : undefined;
    }, 5_000);
    assert.equal(onA.state, "interrupted");
    await sleep(LEASE_MS);
    const events = await readEvents(`${b.url}/jobs/${id}/events`, TOKEN);
    const last = events.messages[events.messages.length - 1];
    assert.equal((last.data as Job).state, "interrupted", "nothing written after the interruption");
  });

  it("streams a job running on one replica live to a client of another, with Last-Event-ID replay and no gaps", async () => {
    const [a, b] = await startReplicas(2, { defaults: { durations: { preview: 1_500 } } });
    const submitted = await call(a.url, "POST", "/previews", { stage: "prod", queue: true });
    const live = await readEvents(`${b.url}/jobs/${submitted.body.id}/events`, TOKEN);
    assert.equal(live.status, 200);
    const seqs = live.messages.map((message) => message.id);
    assert.deepEqual(
      seqs,
      seqs.map((_, index) => index + 1),
      "every event once, in order",
    );
    const last = live.messages[live.messages.length - 1];
    assert.equal((last.data as Job).state, "succeeded");
    // The same job's events after the third, replayed by the other replica, are the same events.
    const replay = await readEvents(`${a.url}/jobs/${submitted.body.id}/events`, TOKEN, { lastEventId: 3 });
    assert.deepEqual(
      replay.messages.map((message) => [message.id, message.data]),
      live.messages.slice(3).map((message) => [message.id, message.data]),
    );
  });

  it("fires a schedule once per firing with three replicas, and again after the leader is killed", async () => {
    const trio = await startReplicas(
      3,
      { defaults: { durations: { refreshPreview: 50 } } },
      {
        DRIFT_SCHEDULE: "*/2 * * * * *",
      },
    );
    const driftJobs = async (replica: ServiceProcess) =>
      ((await call(replica.url, "GET", "/jobs?kind=drift&limit=200")).body.jobs as Job[]).filter(
        (entry) => entry.trigger === "schedule" && entry.stage === "dev",
      );
    await sleep(7_000);
    const jobs = await driftJobs(trio[0]);
    assert.ok(jobs.length >= 2, `${jobs.length} scheduled drift check(s) of dev in 7 s`);
    const seconds = jobs.map((entry) => Math.floor(Date.parse(entry.createdAt) / 2_000));
    assert.equal(
      new Set(seconds).size,
      seconds.length,
      `two checks for one firing: ${jobs.map((j) => j.createdAt)}`,
    );

    // Failover: the first replica leads (it took the scheduler's lock before the others started);
    // killed, one of the other two takes over, still once per firing.
    trio[0].child.kill("SIGKILL");
    const before = (await driftJobs(trio[1])).length;
    await sleep(7_000);
    const after = await driftJobs(trio[1]);
    assert.ok(after.length > before, "the schedule fires after a replica was killed");
    const later = after.map((entry) => Math.floor(Date.parse(entry.createdAt) / 2_000));
    assert.equal(new Set(later).size, later.length);
  });

  it("cancels a job running on another replica, and a queued one from any replica", async () => {
    const [a, b] = await startReplicas(2, { defaults: { durations: { preview: 60_000 } } });
    const running = await call(a.url, "POST", "/previews", { stage: "dev" });
    const queued = await call(a.url, "POST", "/previews", { stage: "dev", queue: true });
    const cancelQueued = await call(b.url, "POST", `/jobs/${queued.body.id}/cancel`);
    assert.equal(cancelQueued.status, 202);
    assert.equal(cancelQueued.body.state, "cancelled");
    const cancelRunning = await call(b.url, "POST", `/jobs/${running.body.id}/cancel`);
    assert.equal(cancelRunning.status, 202);
    assert.equal(cancelRunning.body.cancelRequested, true);
    const ended = await finished(b.url, running.body.id as string, 10_000);
    assert.equal(ended.state, "cancelled");
    const again = await call(b.url, "POST", `/jobs/${running.body.id}/cancel`);
    assert.equal(again.status, 409);
  });

  it("answers /stacks and the job counts of /metrics the same from every replica", async () => {
    const [a, b, c] = await startReplicas(3, { defaults: { durations: { preview: 100 } } });
    const submitted = await call(a.url, "POST", "/previews", { stage: "dev" });
    await finished(c.url, submitted.body.id as string);
    const metrics = async (replica: ServiceProcess) => {
      const response = await fetch(`${replica.url}/metrics`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      return (await response.text())
        .split("\n")
        .filter(
          (line) => line.startsWith("platform_jobs{") || line.startsWith("platform_drifted_resources{"),
        );
    };
    const [stacksA, stacksB, stacksC] = await Promise.all(
      [a, b, c].map((r) => call(r.url, "GET", "/stacks")),
    );
    assert.deepEqual(stacksB.body, stacksA.body);
    assert.deepEqual(stacksC.body, stacksA.body);
    const [metricsA, metricsB, metricsC] = await Promise.all([a, b, c].map(metrics));
    assert.ok(metricsA.includes('platform_jobs{kind="preview",state="succeeded"} 1'));
    assert.deepEqual(metricsB, metricsA);
    assert.deepEqual(metricsC, metricsA);
  });

  it("answers 503, accepting nothing, while the database is unreachable (last: it stops the server)", async () => {
    const [a] = await startReplicas(1, { defaults: { durations: { preview: 100 } } });
    server!.stop();
    const refused = await call(a.url, "POST", "/previews", { stage: "dev" });
    assert.equal(refused.status, 503);
    assert.match(String(refused.body.message), /cannot record the job/);
  });
});
