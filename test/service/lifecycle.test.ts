import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { serveCommand } from "../../automation/commands/serve";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import type { Job } from "../../automation/service/jobs/types";
import { runCommand } from "../helpers/cli";
import { lastJobs, startTestService, submit, waitForJob } from "../helpers/service";
import { startServiceProcess } from "../helpers/service-process";
import { readEvents } from "../helpers/sse";

const TOKEN = "lifecycle-token-0123456789";

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "platform-lifecycle-"));
}

async function post(url: string, endpoint: string, body: unknown): Promise<Job> {
  const response = await fetch(`${url}${endpoint}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return (await response.json()) as Job;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("service lifecycle", function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every job and its events across a restart on the same database file", async () => {
    const dir = dataDir();
    const first = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    const { body } = await submit(first, "/rollouts", { stage: "prod" });
    const finished = await waitForJob(first, body.id);
    const events = await readEvents(`${first.url}/jobs/${body.id}/events`, first.token);
    await first.close();

    const second = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    try {
      const again = (await (await second.request(`/jobs/${body.id}`)).json()) as Job;
      assert.deepEqual(again, finished);
      const replayed = await readEvents(`${second.url}/jobs/${body.id}/events`, second.token);
      assert.deepEqual(replayed.messages, events.messages);
    } finally {
      await second.close();
    }
  });

  /** `platform serve` in a child process whose updates take a minute. */
  const slowServiceProcess = (dir: string) =>
    startServiceProcess({
      PLATFORM_DATA_DIR: dir,
      PLATFORM_API_TOKEN: TOKEN,
      ENGINE_SCRIPT: JSON.stringify({ defaults: { durations: { up: 60_000 } } }),
    });

  it("marks a job that was running when the process died as interrupted, keeping its events", async () => {
    const dir = dataDir();
    const child = await slowServiceProcess(dir);
    const job = await post(child.url, "/rollouts", { stage: "prod" });
    const queued = await post(child.url, "/previews", { stage: "prod", queue: true });
    await until(async () => {
      const read = await readEvents(`${child.url}/jobs/${job.id}/events`, TOKEN, {
        until: (message) => message.event === "region" && (message.data as { gate?: string }).gate === "up",
      });
      return read.messages.length > 0;
    });
    child.child.kill("SIGKILL");
    assert.equal(await child.exited, "SIGKILL");

    const restarted = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    try {
      const interrupted = (await (await restarted.request(`/jobs/${job.id}`)).json()) as Job;
      assert.equal(interrupted.state, "interrupted");
      assert.match(interrupted.error ?? "", /the service stopped while the job was running/);
      assert.equal(interrupted.regions[0].state, "interrupted");
      const never = (await (await restarted.request(`/jobs/${queued.id}`)).json()) as Job;
      assert.equal(never.state, "interrupted");
      assert.match(never.error ?? "", /while the job was queued/);
      const events = await readEvents(`${restarted.url}/jobs/${job.id}/events`, restarted.token);
      assert.ok(
        events.messages.some((message) => message.event === "engine"),
        "the engine events were kept",
      );
      const last = events.messages.at(-1)!;
      assert.equal(last.event, "job");
      assert.equal((last.data as Job).state, "interrupted");
      assert.equal(restarted.service.interruptedAtStart, 2);
      const interruptedThere = `${job.id} interrupted`;
      assert.deepEqual(await lastJobs(restarted, "prod"), {
        prod: interruptedThere,
        "prod-us-west-2": interruptedThere,
        "prod-eu-west-1": interruptedThere,
      });
    } finally {
      await restarted.close();
    }
  });

  it("marks interrupted a queued job an earlier version recorded as its stack's last job", async () => {
    const dir = dataDir();
    const store = new JobStore(databaseFile(dir));
    const queued: Job = {
      id: "queued-before-upgrade",
      kind: "rollout",
      stage: "dev",
      state: "queued",
      trigger: "api",
      engine: "in-memory",
      options: {},
      regions: [
        { region: "us-east-1", stackName: "dev", primary: true, state: "pending", elapsedMs: 0, gates: [] },
      ],
      createdAt: new Date().toISOString(),
    };
    store.insertJob(queued);
    store.setLastJob("dev", queued); // what versions before this one did on submit
    store.close();

    const service = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    try {
      assert.deepEqual(await lastJobs(service, "dev"), { dev: "queued-before-upgrade interrupted" });
    } finally {
      await service.close();
    }
  });

  it("on SIGTERM cancels the running job cleanly, records it and exits 0", async () => {
    const dir = dataDir();
    const child = await slowServiceProcess(dir);
    const job = await post(child.url, "/rollouts", { stage: "dev" });
    await until(async () => {
      const response = await fetch(`${child.url}/jobs/${job.id}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const current = (await response.json()) as Job;
      return current.regions[0].gate === "up";
    });
    child.child.kill("SIGTERM");
    assert.equal(await child.exited, 0);
    assert.match(child.output(), /SIGTERM: stopping \(no new jobs; cancelling running ones\)/);
    assert.match(child.output(), /Stopped \(1 job\(s\) cancelled\)/);
    const store = new JobStore(databaseFile(dir));
    try {
      const stored = store.getJob(job.id)!;
      assert.equal(stored.state, "cancelled");
      assert.match(stored.error ?? "", /the service is stopping/);
    } finally {
      store.close();
    }
  });

  it("on SIGTERM sends live event streams the job's final events before closing them", async () => {
    const dir = dataDir();
    const child = await slowServiceProcess(dir);
    const job = await post(child.url, "/rollouts", { stage: "dev" });
    let sawUp: () => void = () => {};
    const upStarted = new Promise<void>((resolve) => {
      sawUp = resolve;
    });
    const reading = readEvents(`${child.url}/jobs/${job.id}/events`, TOKEN, {
      until: (message) => {
        if (message.event === "region" && (message.data as { gate?: string }).gate === "up") sawUp();
        return false;
      },
    });
    await upStarted;
    child.child.kill("SIGTERM");
    const read = await reading;
    assert.equal(await child.exited, 0);
    const last = read.messages.at(-1)!;
    assert.equal(last.event, "job");
    assert.equal((last.data as Job).state, "cancelled");
    assert.deepEqual(
      read.messages.map((message) => message.id),
      read.messages.map((_, index) => index + 1),
    );
  });

  it("refuses a second service on the same data directory, naming the process that has it", async () => {
    const dir = dataDir();
    const first = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    try {
      await assert.rejects(
        startTestService({ engine: new InMemoryEngine(), dataDir: dir }),
        new RegExp(`in use by process ${process.pid} .*PLATFORM_DATA_DIR`),
      );
    } finally {
      await first.close();
    }
    const again = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    await again.close();
  });

  it("refuses a service while another process has the store, naming that process", async () => {
    const dir = dataDir();
    const child = await slowServiceProcess(dir);
    try {
      await assert.rejects(
        startTestService({ engine: new InMemoryEngine(), dataDir: dir }),
        new RegExp(`in use by process ${child.child.pid} `),
      );
    } finally {
      child.child.kill("SIGKILL");
      await child.exited;
    }
    // The kernel released the dead process's lock: the store opens at once.
    const after = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    await after.close();
  });

  it("starts beside the PID lock file an earlier version left, even one naming this very process", async () => {
    const dir = dataDir();
    fs.mkdirSync(dir, { recursive: true });
    // What an earlier version left after a crash: a PID file, here with the PID this process has now.
    fs.writeFileSync(`${databaseFile(dir)}.lock`, String(process.pid));
    const service = await startTestService({ engine: new InMemoryEngine(), dataDir: dir });
    await service.close();
  });

  it("answers 503 to new jobs once stopping has begun", async () => {
    const service = await startTestService({ engine: new InMemoryEngine() });
    try {
      await service.service.manager.shutdown();
      const response = await service.request("/previews", {
        method: "POST",
        body: JSON.stringify({ stage: "dev" }),
      });
      assert.equal(response.status, 503);
      assert.match(((await response.json()) as { message: string }).message, /stopping/);
      const health = (await (await fetch(`${service.url}/healthz`)).json()) as { accepting: boolean };
      assert.equal(health.accepting, false);
    } finally {
      await service.close();
    }
  });

  it("runs scheduled drift checks as jobs started by the schedule", async () => {
    const service = await startTestService({
      engine: new InMemoryEngine(),
      driftSchedule: { override: "* * * * * *" },
    });
    try {
      assert.deepEqual(
        service.service.schedules.map((schedule) => [schedule.stage, schedule.source]),
        [
          ["dev", "DRIFT_SCHEDULE"],
          ["prod", "DRIFT_SCHEDULE"],
        ],
      );
      let jobs: Job[] = [];
      await until(async () => {
        jobs = ((await (await service.request("/jobs?kind=drift")).json()) as { jobs: Job[] }).jobs;
        return new Set(jobs.map((job) => job.stage)).size === 2;
      }, 5000);
      assert.ok(jobs.every((job) => job.trigger === "schedule"));
    } finally {
      await service.close();
    }
  });
});

describe("platform serve", function () {
  this.timeout(30_000);

  it("rejects a bad PORT, naming the variable", async () => {
    const register = serveCommand({ engine: new InMemoryEngine(), env: { PORT: "http" } });
    const { code, stderr } = await runCommand(register, ["serve"]);
    assert.equal(code, 2);
    assert.match(stderr, /PORT must be an integer from 0 to 65535 \(got "http"\)/);
  });

  it("rejects a PLATFORM_JOB_RETENTION or PLATFORM_QUEUE_LIMIT that is not one, naming the variable", async () => {
    const register = serveCommand({
      engine: new InMemoryEngine(),
      env: { PORT: "0", PLATFORM_JOB_RETENTION: "forever", PLATFORM_QUEUE_LIMIT: "none" },
    });
    const { code, stderr } = await runCommand(register, ["serve"]);
    assert.equal(code, 2);
    assert.match(
      stderr,
      /PLATFORM_JOB_RETENTION must be "off" or a comma-separated list .*\(got "forever"\)/,
    );
    assert.match(stderr, /PLATFORM_QUEUE_LIMIT must be an integer from 1 to 999999 \(got "none"\)/);
  });

  it("fails to start naming the store's file and the cause when it cannot be opened", async () => {
    const dir = tempDir();
    try {
      fs.writeFileSync(path.join(dir, "file"), "");
      const dataDir = path.join(dir, "file", "data");
      const register = serveCommand({
        engine: new InMemoryEngine(),
        env: { PORT: "0", PLATFORM_DATA_DIR: dataDir },
      });
      const { code, stderr } = await runCommand(register, ["serve"]);
      assert.equal(code, 1);
      assert.ok(stderr.startsWith(`error: cannot open ${databaseFile(dataDir)}: a parent of `), stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a DRIFT_SCHEDULE that is not a cron expression, naming the variable", async () => {
    const dir = tempDir();
    try {
      const register = serveCommand({
        engine: new InMemoryEngine(),
        env: { PORT: "0", PLATFORM_DATA_DIR: dir, DRIFT_SCHEDULE: "hourly" },
      });
      const { code, stderr } = await runCommand(register, ["serve"]);
      assert.equal(code, 2);
      assert.match(stderr, /DRIFT_SCHEDULE must be a cron expression/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints the URL, a generated token, the engine and the schedules, then stops when told", async () => {
    const dir = tempDir();
    try {
      const register = serveCommand({
        engine: new InMemoryEngine(),
        env: { PORT: "0", PLATFORM_DATA_DIR: dir },
        stopped: async () => "SIGTERM",
      });
      const { code, stdout } = await runCommand(register, ["serve"]);
      assert.equal(code, 0);
      assert.match(stdout, /^Platform service on http:\/\/127\.0\.0\.1:\d+ \(dashboard: /);
      assert.match(stdout, /engine: in-memory/);
      assert.match(stdout, /token: {2}[A-Za-z0-9_-]{43} {2}\(generated for this run; set PLATFORM_API_TOKEN/);
      assert.match(stdout, /drift: {2}prod on "0 \*\/6 \* \* \*" UTC \(platform:driftSchedule; next /);
      assert.match(stdout, /Stopped\.\n$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
