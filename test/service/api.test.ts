import * as assert from "node:assert/strict";
import Ajv from "ajv";
import Database from "better-sqlite3";
import { InMemoryEngine, type InMemoryEngineOptions } from "../../automation/engine/in-memory";
import { OfflineEngine } from "../../automation/engine/offline";
import { LocalTargets } from "../../automation/local/targets";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { OPENAPI_DOCUMENT } from "../../automation/service/http/openapi";
import type { Job } from "../../automation/service/jobs/types";
import { tableDrift } from "../helpers/drift";
import { lastJobs, startTestService, submit, type TestService, waitForJob } from "../helpers/service";
import { readEvents } from "../helpers/sse";

/** A service on an in-memory engine, closed after each test. */
function useService(script: InMemoryEngineOptions = {}) {
  const context: { service: TestService; engine: InMemoryEngine } = {} as never;
  beforeEach(async () => {
    context.engine = new InMemoryEngine(script);
    context.service = await startTestService({ engine: context.engine });
  });
  afterEach(async () => {
    await context.service.close();
  });
  return context;
}

/** Validates a body against a component schema of the served OpenAPI document. */
function schemaValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("date-time", (value: string) => !Number.isNaN(Date.parse(value)));
  for (const [name, schema] of Object.entries(OPENAPI_DOCUMENT.components.schemas)) {
    ajv.addSchema(schema, `#/components/schemas/${name}`);
  }
  return (name: string, body: unknown) => {
    const validate = ajv.getSchema(`#/components/schemas/${name}`)!;
    assert.ok(validate(body), `${name}: ${ajv.errorsText(validate.errors)}`);
  };
}

describe("service HTTP API", function () {
  this.timeout(30_000);

  describe("auth", () => {
    const context = useService();

    it("answers /healthz without a token", async () => {
      const response = await fetch(`${context.service.url}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), {
        status: "ok",
        engine: "in-memory",
        accepting: true,
        store: { state: "ok", pendingWrites: 0 },
      });
    });

    it("rejects a request without a token with 401, a JSON message and WWW-Authenticate", async () => {
      const response = await fetch(`${context.service.url}/stacks`);
      assert.equal(response.status, 401);
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.match(((await response.json()) as { message: string }).message, /bearer token/);
    });

    it("rejects a wrong token with 401 and runs nothing", async () => {
      const response = await context.service.request("/rollouts", {
        method: "POST",
        headers: { authorization: "Bearer not-the-token" },
        body: JSON.stringify({ stage: "dev" }),
      });
      assert.equal(response.status, 401);
      assert.equal(context.engine.calls.length, 0);
    });

    it("rejects a token given without the Bearer scheme", async () => {
      const response = await context.service.request("/stacks", {
        headers: { authorization: context.service.token },
      });
      assert.equal(response.status, 401);
    });

    it("accepts the right token", async () => {
      const response = await context.service.request("/stacks");
      assert.equal(response.status, 200);
    });

    it("serves the dashboard page without a token, with a strict content security policy", async () => {
      const response = await fetch(`${context.service.url}/`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    });
  });

  describe("validation", () => {
    const context = useService();

    const post = async (endpoint: "/previews" | "/rollouts" | "/drift", body: string) => {
      const response = await context.service.request(endpoint, { method: "POST", body });
      return { status: response.status, message: ((await response.json()) as { message: string }).message };
    };

    it("rejects a body without a stage, naming the field", async () => {
      const { status, message } = await post("/rollouts", "{}");
      assert.equal(status, 400);
      assert.match(message, /stage/);
    });

    it("rejects an unknown property, naming it", async () => {
      const { status, message } = await post("/rollouts", JSON.stringify({ stage: "prod", paralel: 2 }));
      assert.equal(status, 400);
      assert.match(message, /unknown property "paralel"/);
    });

    it("rejects a bad remediation mode, listing the allowed ones", async () => {
      const { status, message } = await post("/drift", JSON.stringify({ stage: "prod", remediate: "fix" }));
      assert.equal(status, 400);
      assert.match(message, /remediate must be one of up, refresh/);
    });

    it("rejects an out-of-range parallelism", async () => {
      const { status, message } = await post("/rollouts", JSON.stringify({ stage: "prod", parallelism: 0 }));
      assert.equal(status, 400);
      assert.match(message, /parallelism/);
    });

    for (const [field, body] of [
      ["queue", { stage: "dev", queue: "true" }],
      ["stage", { stage: ["dev"] }],
      ["regions", { stage: "dev", regions: "us-east-1" }],
      ["parallelism", { stage: "prod", parallelism: "2" }],
    ] as const) {
      it(`rejects a body whose ${field} has the wrong JSON type instead of converting it`, async () => {
        const { status, message } = await post("/rollouts", JSON.stringify(body));
        assert.equal(status, 400);
        assert.match(message, new RegExp(field));
      });
    }

    it("converts a query string's numbers (GET /jobs?limit=1)", async () => {
      await post("/previews", JSON.stringify({ stage: "dev", queue: true }));
      await post("/previews", JSON.stringify({ stage: "dev", queue: true }));
      const all = (await (await context.service.request("/jobs")).json()) as { jobs: Job[] };
      assert.equal(all.jobs.length, 2);
      const response = await context.service.request("/jobs?limit=1");
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { jobs: Job[] }).jobs.length, 1);
    });

    it("rejects malformed JSON with a JSON message", async () => {
      const { status, message } = await post("/previews", "{stage: dev");
      assert.equal(status, 400);
      assert.match(message, /JSON/);
    });

    it("rejects an unknown stage, naming the stages there are", async () => {
      const { status, message } = await post("/rollouts", JSON.stringify({ stage: "qa" }));
      assert.equal(status, 400);
      assert.match(message, /unknown stage "qa": stages are dev, prod/);
    });

    it("rejects a region that is not in the stage, naming the stage's regions", async () => {
      const { status, message } = await post(
        "/rollouts",
        JSON.stringify({ stage: "prod", regions: ["ap-south-1"] }),
      );
      assert.equal(status, 400);
      assert.match(
        message,
        /ap-south-1 not in stage "prod" \(its regions: us-east-1, us-west-2, eu-west-1\)/,
      );
    });

    it("answers 404 with a JSON message for an unknown job", async () => {
      const response = await context.service.request("/jobs/no-such-job");
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), { message: "no job no-such-job" });
    });

    it("answers 404 with a JSON message for an unknown route", async () => {
      const response = await context.service.request("/deployments");
      assert.equal(response.status, 404);
      assert.match(((await response.json()) as { message: string }).message, /no route GET \/deployments/);
    });

    it("rejects an unknown query parameter of /jobs", async () => {
      const response = await context.service.request("/jobs?colour=red");
      assert.equal(response.status, 400);
    });

    it("starts no job for a rejected request", async () => {
      await post("/rollouts", JSON.stringify({ stage: "qa" }));
      await post("/rollouts", "{}");
      const jobs = (await (await context.service.request("/jobs")).json()) as { jobs: Job[] };
      assert.equal(jobs.jobs.length, 0);
      assert.equal(context.engine.calls.length, 0);
    });
  });

  describe("job lifecycle", () => {
    const context = useService({ defaults: { durations: { preview: 30, up: 30 } } });

    it("answers a preview with 202, the job and a Location that reads it", async () => {
      const { response, body } = await submit(context.service, "/previews", { stage: "dev" });
      assert.equal(response.status, 202);
      assert.equal(response.headers.get("location"), `/jobs/${body.id}`);
      assert.equal(body.kind, "preview");
      assert.equal(body.state, "running");
      const read = await context.service.request(response.headers.get("location")!);
      assert.equal(read.status, 200);
      assert.equal(((await read.json()) as Job).id, body.id);
    });

    it("runs a preview to succeeded with each region previewed and its preview gate passed", async () => {
      const { body } = await submit(context.service, "/previews", { stage: "prod" });
      const job = await waitForJob(context.service, body.id);
      assert.equal(job.state, "succeeded");
      assert.deepEqual(
        job.regions.map((region) => [
          region.region,
          region.state,
          region.gates.map((gate) => `${gate.gate}:${gate.state}`),
        ]),
        [
          ["us-east-1", "previewed", ["preview:succeeded"]],
          ["us-west-2", "previewed", ["preview:succeeded"]],
          ["eu-west-1", "previewed", ["preview:succeeded"]],
        ],
      );
      assert.equal(context.engine.callsOf("up").length, 0);
    });

    for (const [parallelism, most] of [
      [1, 1],
      [2, 2],
    ] as const) {
      it(`previews at most ${most} region(s) at once with parallelism ${parallelism}`, async () => {
        const { response, body } = await submit(context.service, "/previews", { stage: "prod", parallelism });
        assert.equal(response.status, 202);
        const job = await waitForJob(context.service, body.id);
        assert.equal(job.state, "succeeded");
        const previews = context.engine.callsOf("preview");
        assert.equal(previews.length, 3);
        assert.equal(Math.max(...previews.map((call) => call.concurrentAtStart)), most);
      });
    }

    it("runs a rollout through preview, up and health in every region and records the revision", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const job = await waitForJob(context.service, body.id);
      assert.equal(job.state, "succeeded");
      assert.equal(job.revision, "rev-1");
      for (const region of job.regions) {
        assert.equal(region.state, "succeeded");
        assert.deepEqual(
          region.gates.map((gate) => gate.gate),
          ["preview", "up", "health"],
        );
      }
      assert.ok(job.startedAt && job.finishedAt && job.durationMs !== undefined && job.durationMs >= 60);
      assert.equal((job.result as { status: string }).status, "succeeded");
    });

    it("deploys only the requested regions, the canary first", async () => {
      const { body } = await submit(context.service, "/rollouts", {
        stage: "prod",
        regions: ["eu-west-1", "us-east-1"],
      });
      const job = await waitForJob(context.service, body.id);
      assert.deepEqual(
        job.regions.map((region) => region.stackName),
        ["prod", "prod-eu-west-1"],
      );
      assert.deepEqual(
        context.engine.callsOf("up").map((call) => call.stack.stackName),
        ["prod", "prod-eu-west-1"],
      );
    });

    it("lists jobs newest first and filters them by stage and kind", async () => {
      const first = await submit(context.service, "/previews", { stage: "dev" });
      await waitForJob(context.service, first.body.id);
      const second = await submit(context.service, "/rollouts", { stage: "prod", dryRun: true });
      await waitForJob(context.service, second.body.id);
      const all = (await (await context.service.request("/jobs")).json()) as { jobs: Job[] };
      assert.deepEqual(
        all.jobs.map((job) => job.id),
        [second.body.id, first.body.id],
      );
      assert.ok(
        all.jobs.every((job) => job.result === undefined),
        "the list leaves the reports out",
      );
      const previews = (await (await context.service.request("/jobs?kind=preview&stage=dev")).json()) as {
        jobs: Job[];
      };
      assert.deepEqual(
        previews.jobs.map((job) => job.id),
        [first.body.id],
      );
    });

    it("serves a running job as it is now: its latest region states and its duration so far", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const read = async () => (await (await context.service.request(`/jobs/${body.id}`)).json()) as Job;
      const first = await read();
      assert.equal(first.state, "running");
      await new Promise((resolve) => setTimeout(resolve, 40));
      const later = await read();
      assert.equal(later.state, "running");
      assert.ok(
        (later.durationMs ?? 0) >= (first.durationMs ?? 0) + 30,
        `duration ${first.durationMs} ms, then ${later.durationMs} ms`,
      );
      assert.notDeepEqual(later.regions, first.regions, "the regions moved on between the reads");
      schemaValidator()("Job", later);
    });

    it("serves responses that match the OpenAPI document's schemas", async () => {
      const valid = schemaValidator();
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      valid("Job", body);
      valid("Job", await waitForJob(context.service, body.id));
      valid("StackList", await (await context.service.request("/stacks")).json());
      valid("JobList", await (await context.service.request("/jobs")).json());
      valid("Health", await (await context.service.request("/healthz")).json());
      valid("Error", await (await context.service.request("/jobs/nope")).json());
    });

    it("serves the OpenAPI document to an authenticated client", async () => {
      const response = await context.service.request("/openapi.json");
      const document = (await response.json()) as typeof OPENAPI_DOCUMENT;
      assert.equal(document.openapi, "3.1.0");
      assert.ok(document.paths["/jobs/{id}/events"]);
      assert.equal((await fetch(`${context.service.url}/openapi.json`)).status, 401);
    });
  });

  describe("failures", () => {
    const context = useService({
      regions: {
        "us-west-2": {
          failures: {
            up: "creating aws:lambda/function:Function (users-list-function): AccessDeniedException",
          },
        },
      },
    });

    it("fails the job naming the region, the gate and the engine's message", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const job = await waitForJob(context.service, body.id);
      assert.equal(job.state, "failed");
      assert.match(
        job.error ?? "",
        /^us-west-2 \(stack prod-us-west-2\) failed at up: .*users-list-function.*AccessDeniedException/,
      );
      const region = job.regions.find((entry) => entry.region === "us-west-2")!;
      assert.equal(region.state, "failed");
      assert.deepEqual(region.gates.at(-1)?.state, "failed");
    });

    it("rolls prod out on the offline engine to local clouds, every gate of every region passing, then finds no drift", async function () {
      this.timeout(180_000);
      const engine = new OfflineEngine({ local: new LocalTargets(PROJECT_DIR, { inMemory: true }) });
      // The service's own health gate: GET <apiUrl>/health on each region's local API.
      const offline = await startTestService({ engine, health: undefined });
      try {
        const { body } = await submit(offline, "/rollouts", { stage: "prod" });
        const job = await waitForJob(offline, body.id, undefined, 150_000);
        assert.equal(job.state, "succeeded", job.error);
        assert.equal(job.engine, "offline");
        assert.deepEqual(
          job.regions.map((region) => [
            region.stackName,
            region.state,
            region.gates.map((g) => g.gate).join(","),
          ]),
          [
            ["prod", "succeeded", "preview,up,health"],
            ["prod-us-west-2", "succeeded", "preview,up,health"],
            ["prod-eu-west-1", "succeeded", "preview,up,health"],
          ],
        );
        const drift = await submit(offline, "/drift", { stage: "prod" });
        const driftJob = await waitForJob(offline, drift.body.id, undefined, 60_000);
        assert.equal(driftJob.state, "succeeded", driftJob.error);
      } finally {
        await offline.close();
        await engine.close();
      }
    });
  });

  describe("one operation per stack", () => {
    const context = useService({ defaults: { durations: { up: 300 } } });

    it("rejects a second job on a busy stack with 409 and the running job's id", async () => {
      const first = await submit(context.service, "/rollouts", { stage: "prod" });
      const second = await submit(context.service, "/drift", { stage: "prod", regions: ["eu-west-1"] });
      assert.equal(second.response.status, 409);
      assert.equal(second.body.jobId, first.body.id);
      assert.equal(second.body.stackName, "prod-eu-west-1");
      assert.equal(second.body.jobState, "running");
      assert.match(second.body.message ?? "", /busy with job/);
    });

    it("names the running job in a 409 even when a queued job is first in line on another stack", async () => {
      const running = await submit(context.service, "/rollouts", { stage: "prod", regions: ["eu-west-1"] });
      const queued = await submit(context.service, "/rollouts", { stage: "prod", queue: true });
      assert.equal(queued.body.state, "queued");
      // The whole stage: prod and prod-us-west-2 are held by the queued job, prod-eu-west-1 runs.
      const refused = await submit(context.service, "/previews", { stage: "prod" });
      assert.equal(refused.response.status, 409);
      assert.equal(refused.body.jobId, running.body.id);
      assert.equal(refused.body.jobState, "running");
      assert.equal(refused.body.stackName, "prod-eu-west-1");
    });

    it("names the queued job first in line when nothing runs on the busy stack yet", async () => {
      await submit(context.service, "/rollouts", { stage: "prod", regions: ["eu-west-1"] });
      const queued = await submit(context.service, "/rollouts", { stage: "prod", queue: true });
      const refused = await submit(context.service, "/previews", { stage: "prod", regions: ["us-east-1"] });
      assert.equal(refused.response.status, 409);
      assert.equal(refused.body.jobId, queued.body.id);
      assert.equal(refused.body.jobState, "queued");
      assert.match(refused.body.message ?? "", /is queued for it/);
    });

    it("keeps the running job as each stack's last job while others queue and are cancelled", async () => {
      const running = await submit(context.service, "/rollouts", { stage: "prod" });
      const queued = await submit(context.service, "/drift", { stage: "prod", queue: true });
      const expected = `${running.body.id} running`;
      const stacks = { prod: expected, "prod-us-west-2": expected, "prod-eu-west-1": expected };
      assert.deepEqual(await lastJobs(context.service, "prod"), stacks);
      const cancel = await context.service.request(`/jobs/${queued.body.id}/cancel`, { method: "POST" });
      assert.equal(cancel.status, 202);
      assert.deepEqual(await lastJobs(context.service, "prod"), stacks);
    });

    it("runs a job on other stacks alongside", async () => {
      await submit(context.service, "/rollouts", { stage: "prod" });
      const other = await submit(context.service, "/previews", { stage: "dev", queue: false });
      // dev's stack is `dev`; prod's are prod, prod-us-west-2, prod-eu-west-1.
      assert.equal(other.response.status, 202);
      assert.equal(other.body.state, "running");
    });

    it("queues jobs that ask to, and runs them one at a time in arrival order", async () => {
      const ids: string[] = [];
      for (const kind of ["/rollouts", "/previews", "/rollouts"] as const) {
        const { response, body } = await submit(context.service, kind, { stage: "dev", queue: true });
        assert.equal(response.status, 202);
        ids.push(body.id);
      }
      const states = await Promise.all(
        ids.map(async (id) => ((await (await context.service.request(`/jobs/${id}`)).json()) as Job).state),
      );
      assert.deepEqual(states, ["running", "queued", "queued"]);
      const jobs = await Promise.all(ids.map((id) => waitForJob(context.service, id)));
      assert.deepEqual(
        jobs.map((job) => job.state),
        ["succeeded", "succeeded", "succeeded"],
      );
      for (let index = 1; index < jobs.length; index++) {
        assert.ok(
          Date.parse(jobs[index].startedAt!) >= Date.parse(jobs[index - 1].finishedAt!),
          `job ${index + 1} started after job ${index} finished`,
        );
      }
      const overlapping = context.engine.calls.filter((call) => call.concurrentAtStart > 1);
      assert.equal(overlapping.length, 0, "no two operations on dev ran at once");
    });
  });

  describe("cancellation", () => {
    const context = useService({ defaults: { durations: { up: 5000 } } });

    it("cancels a running rollout: the engine is told and the job ends cancelled", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "dev" });
      await waitForJob(context.service, body.id, ["running"]);
      while (context.engine.callsOf("up").length === 0)
        await new Promise((resolve) => setTimeout(resolve, 10));
      const response = await context.service.request(`/jobs/${body.id}/cancel`, { method: "POST" });
      assert.equal(response.status, 202);
      assert.equal(((await response.json()) as Job).cancelRequested, true);
      const job = await waitForJob(context.service, body.id, ["cancelled", "failed", "succeeded"]);
      assert.equal(job.state, "cancelled");
      assert.match(job.error ?? "", /cancelled by request/);
      assert.equal(context.engine.callsOf("cancel").length, 1);
      assert.equal(context.engine.callsOf("up")[0].outcome, "cancelled");
    });

    it("cancels a queued job at once, and the next one in line runs", async () => {
      const running = await submit(context.service, "/rollouts", { stage: "prod" });
      const queued = await submit(context.service, "/rollouts", { stage: "prod", queue: true });
      const next = await submit(context.service, "/previews", { stage: "prod", queue: true });
      const response = await context.service.request(`/jobs/${queued.body.id}/cancel`, { method: "POST" });
      const cancelled = (await response.json()) as Job;
      assert.equal(cancelled.state, "cancelled");
      assert.equal(cancelled.startedAt, undefined, "it never started");
      assert.equal(
        ((await (await context.service.request(`/jobs/${next.body.id}`)).json()) as Job).state,
        "queued",
      );
      await context.service.request(`/jobs/${running.body.id}/cancel`, { method: "POST" });
      assert.equal((await waitForJob(context.service, next.body.id)).state, "succeeded");
    });

    it("answers 409 to cancelling a finished job", async () => {
      const { body } = await submit(context.service, "/previews", { stage: "dev" });
      await waitForJob(context.service, body.id);
      const response = await context.service.request(`/jobs/${body.id}/cancel`, { method: "POST" });
      assert.equal(response.status, 409);
      assert.match(
        ((await response.json()) as { message: string }).message,
        /already finished \(succeeded\)/,
      );
    });
  });

  describe("event stream", () => {
    const context = useService({ defaults: { durations: { preview: 20, up: 20 } } });

    it("streams the job's events with sequential ids and ends after the terminal job event", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const read = await readEvents(`${context.service.url}/jobs/${body.id}/events`, context.service.token);
      assert.equal(read.status, 200);
      assert.match(read.contentType ?? "", /^text\/event-stream/);
      assert.equal(read.retry, 2000);
      assert.deepEqual(
        read.messages.map((message) => message.id),
        read.messages.map((_, index) => index + 1),
      );
      const last = read.messages.at(-1)!;
      assert.equal(last.event, "job");
      assert.equal((last.data as Job).state, "succeeded");
      const gates = read.messages
        .filter(
          (message) =>
            message.event === "region" && (message.data as { region: string }).region === "us-west-2",
        )
        .map((message) => {
          const region = message.data as { state: string; gate?: string };
          return `${region.gate ?? "-"}:${region.state}`;
        });
      assert.deepEqual(gates, [
        "-:running",
        "preview:running",
        "up:running",
        "health:running",
        "health:succeeded",
      ]);
      assert.ok(read.messages.some((message) => message.event === "engine"));
    });

    it("sends no event before the store has committed it", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const store = context.service.service.store;
      const committedSeq = () => {
        const reader = new Database(store.file, { readonly: true });
        try {
          const row = reader.prepare("SELECT MAX(seq) AS seq FROM events WHERE job_id = ?").get(body.id);
          return (row as { seq: number | null }).seq ?? 0;
        } finally {
          reader.close();
        }
      };
      // Hold the store's commits: the job goes on writing events into a transaction left open.
      const flush = store.flush.bind(store);
      let hold = true;
      store.flush = () => {
        if (!hold) flush();
      };
      try {
        const received: number[] = [];
        const reading = readEvents(`${context.service.url}/jobs/${body.id}/events`, context.service.token, {
          until: (message) => {
            received.push(message.id ?? 0);
            return false;
          },
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const committed = committedSeq();
        assert.ok(
          received.every((id) => id <= committed),
          `sent ${received.join(",")} with only ${committed} committed`,
        );
        hold = false;
        flush();
        const read = await reading;
        assert.equal((read.messages.at(-1)!.data as Job).state, "succeeded");
        assert.deepEqual(
          received,
          read.messages.map((_, index) => index + 1),
        );
      } finally {
        hold = false;
        store.flush = flush;
      }
    });

    /** A service whose `up` takes 5 s (a job that stays running), and its open stream count. */
    async function withSlowService(
      test: (slow: TestService, openStreams: () => Promise<number>) => Promise<void>,
    ) {
      const slow = await startTestService({
        engine: new InMemoryEngine({ defaults: { durations: { up: 5000 } } }),
      });
      const openStreams = async () => {
        const text = await (await slow.request("/metrics")).text();
        return Number(/^platform_event_streams (\d+)$/m.exec(text)?.[1]);
      };
      try {
        await test(slow, openStreams);
      } finally {
        await slow.close();
      }
    }

    it("keeps no stream open for a client that left while its stream waited for a commit", async () => {
      await withSlowService(async (slow, openStreams) => {
        const { body } = await submit(slow, "/rollouts", { stage: "dev" });
        const store = slow.service.store;
        const flush = store.flush.bind(store);
        let hold = true;
        store.flush = () => {
          if (!hold) flush();
        };
        try {
          store.transaction(() => undefined); // a write: the turn's commit is now pending, and held
          const controller = new AbortController();
          const leaving = fetch(`${slow.url}/jobs/${body.id}/events`, {
            headers: { authorization: `Bearer ${slow.token}` },
            signal: controller.signal,
          }).catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 100));
          controller.abort();
          await leaving;
          await new Promise((resolve) => setTimeout(resolve, 50));
        } finally {
          hold = false;
          store.flush = flush;
          flush();
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(await openStreams(), 0);
      });
    });

    it("counts the open event streams in /metrics while their clients stay", async () => {
      await withSlowService(async (slow, openStreams) => {
        const { body } = await submit(slow, "/rollouts", { stage: "dev" });
        const controller = new AbortController();
        const response = await fetch(`${slow.url}/jobs/${body.id}/events`, {
          headers: { authorization: `Bearer ${slow.token}` },
          signal: controller.signal,
        });
        assert.equal(response.status, 200);
        assert.equal(await openStreams(), 1);
        controller.abort();
        await response.body?.cancel().catch(() => undefined);
        const deadline = Date.now() + 2000;
        while ((await openStreams()) !== 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(await openStreams(), 0);
      });
    });

    it("replays only the events after Last-Event-ID", async () => {
      const { body } = await submit(context.service, "/rollouts", { stage: "prod" });
      const url = `${context.service.url}/jobs/${body.id}/events`;
      const first = await readEvents(url, context.service.token, { until: (message) => message.id === 5 });
      assert.equal(first.messages.at(-1)?.id, 5);
      const rest = await readEvents(url, context.service.token, { lastEventId: 5 });
      const all = await readEvents(url, context.service.token);
      assert.deepEqual(
        [...first.messages, ...rest.messages].map((message) => message.id),
        all.messages.map((message) => message.id),
      );
      assert.equal(rest.messages[0].id, 6);
      assert.deepEqual(rest.messages, all.messages.slice(5));
    });

    it("answers 204 when the job has finished and nothing follows Last-Event-ID", async () => {
      const { body } = await submit(context.service, "/previews", { stage: "dev" });
      await waitForJob(context.service, body.id);
      const url = `${context.service.url}/jobs/${body.id}/events`;
      const all = await readEvents(url, context.service.token);
      const after = await readEvents(url, context.service.token, { lastEventId: all.messages.at(-1)!.id });
      assert.equal(after.status, 204);
    });

    it("needs the token", async () => {
      const { body } = await submit(context.service, "/previews", { stage: "dev" });
      const response = await fetch(`${context.service.url}/jobs/${body.id}/events`);
      assert.equal(response.status, 401);
    });
  });

  describe("drift checks", () => {
    const context = useService({ regions: { "eu-west-1": { refreshEvents: tableDrift() } } });

    it("reports the drifted stack with its count and the clean ones as clean", async () => {
      const { body } = await submit(context.service, "/drift", { stage: "prod" });
      const job = await waitForJob(context.service, body.id);
      assert.equal(job.state, "succeeded");
      assert.deepEqual(
        job.regions.map((region) => [region.stackName, region.state, region.driftedCount]),
        [
          ["prod", "clean", 0],
          ["prod-us-west-2", "clean", 0],
          ["prod-eu-west-1", "drifted", 1],
        ],
      );
      assert.equal((job.result as { driftedCount: number }).driftedCount, 1);
      assert.equal(context.engine.callsOf("up").length, 0, "detection changes nothing");
    });

    it("remediates the drifted stack only, when asked", async () => {
      const { body } = await submit(context.service, "/drift", { stage: "prod", remediate: "up" });
      const job = await waitForJob(context.service, body.id);
      const region = job.regions.find((entry) => entry.stackName === "prod-eu-west-1")!;
      assert.equal(region.state, "remediated");
      assert.deepEqual(
        region.gates.map((gate) => `${gate.gate}:${gate.state}`),
        ["drift:succeeded", "remediate:succeeded"],
      );
      assert.deepEqual(
        context.engine.callsOf("up").map((call) => call.stack.stackName),
        ["prod-eu-west-1"],
      );
    });

    it("shows each stack's last rollout and drift state in /stacks", async () => {
      await waitForJob(
        context.service,
        (await submit(context.service, "/rollouts", { stage: "prod" })).body.id,
      );
      const drift = await submit(context.service, "/drift", { stage: "prod" });
      await waitForJob(context.service, drift.body.id);
      const list = (await (await context.service.request("/stacks")).json()) as {
        stages: {
          stage: string;
          regions: {
            stackName: string;
            rollout?: { state: string };
            drift?: { state: string; driftedCount?: number; jobId: string };
            lastJob?: { id: string };
          }[];
        }[];
        regions: string[];
      };
      assert.deepEqual(
        list.stages.map((stage) => stage.stage),
        ["dev", "prod"],
      );
      assert.deepEqual(list.regions, ["us-east-1", "us-west-2", "eu-west-1"]);
      const prod = list.stages[1].regions;
      assert.deepEqual(
        prod.map((stack) => [
          stack.stackName,
          stack.rollout?.state,
          stack.drift?.state,
          stack.drift?.driftedCount,
        ]),
        [
          ["prod", "succeeded", "clean", 0],
          ["prod-us-west-2", "succeeded", "clean", 0],
          ["prod-eu-west-1", "succeeded", "drifted", 1],
        ],
      );
      assert.equal(prod[2].lastJob?.id, drift.body.id);
      assert.equal(list.stages[0].regions[0].rollout, undefined, "dev was never rolled out");
    });
  });

  describe("metrics", () => {
    const context = useService({ regions: { "eu-west-1": { refreshEvents: tableDrift() } } });

    it("counts jobs by kind and state, their durations and the drifted resources", async () => {
      await waitForJob(
        context.service,
        (await submit(context.service, "/rollouts", { stage: "prod" })).body.id,
      );
      await waitForJob(context.service, (await submit(context.service, "/drift", { stage: "prod" })).body.id);
      await submit(context.service, "/rollouts", { stage: "nope" });
      const response = await context.service.request("/metrics");
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
      const text = await response.text();
      assert.match(text, /^platform_jobs\{kind="rollout",state="succeeded"\} 1$/m);
      assert.match(text, /^platform_jobs\{kind="drift",state="succeeded"\} 1$/m);
      assert.match(text, /^platform_jobs\{kind="rollout",state="failed"\} 0$/m);
      assert.match(text, /^platform_job_duration_seconds_count\{kind="rollout",state="succeeded"\} 1$/m);
      assert.match(text, /^platform_drifted_resources\{stack="prod-eu-west-1"\} 1$/m);
      assert.match(text, /^platform_drifted_resources\{stack="prod"\} 0$/m);
    });

    it("needs the token", async () => {
      assert.equal((await fetch(`${context.service.url}/metrics`)).status, 401);
    });
  });
});
