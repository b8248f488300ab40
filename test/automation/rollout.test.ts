import * as assert from "node:assert/strict";
import { EngineError } from "../../automation/engine/errors";
import { InMemoryEngine, type InMemoryEngineOptions } from "../../automation/engine/in-memory";
import type { PolicyViolation, StackRef, UpOperationOptions, UpResult } from "../../automation/engine/types";
import type { HealthGate } from "../../automation/rollout/health";
import { type RolloutOptions, runRollout } from "../../automation/rollout/orchestrator";
import { planWaves, selectTargets } from "../../automation/rollout/targets";
import type { RegionTarget, RolloutEvent } from "../../automation/rollout/types";

const REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1"];

function targets(regions: string[] = REGIONS): RegionTarget[] {
  return selectTargets({
    stage: "prod",
    app: "platform",
    regions,
    primaryRegion: regions[0],
    parallelism: 2,
  });
}

const healthy: HealthGate = async () => {};

interface Run {
  engine: InMemoryEngine;
  events: RolloutEvent[];
  report: Awaited<ReturnType<typeof runRollout>>;
}

async function rollout(
  script: InMemoryEngineOptions,
  options: Partial<RolloutOptions> = {},
  regions: string[] = REGIONS,
): Promise<Run> {
  const engine = new InMemoryEngine(script);
  const events: RolloutEvent[] = [];
  const report = await runRollout({
    engine,
    stage: "prod",
    targets: targets(regions),
    parallelism: 2,
    health: healthy,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { engine, events, report };
}

function stateOf(run: Run): Record<string, string> {
  return Object.fromEntries(run.report.regions.map((region) => [region.region, region.state]));
}

/** The most regions running at once, from the progress events. */
function maxRunning(events: RolloutEvent[]): number {
  const running = new Set<string>();
  let max = 0;
  for (const event of events) {
    if (event.type !== "region") continue;
    if (event.state === "running") running.add(event.region);
    else running.delete(event.region);
    max = Math.max(max, running.size);
  }
  return max;
}

const mandatory = (policyName: string): PolicyViolation => ({
  policyName,
  enforcementLevel: "mandatory",
  message: "Lambda function users-list must have a dead-letter queue",
  resourceName: "users-list-function",
});

describe("the rollout orchestrator", () => {
  describe("waves", () => {
    it("names the primary region's stack after the stage and the others <stage>-<region>", () => {
      assert.deepEqual(
        targets(["us-east-1", "us-west-2"]).map((target) => [target.stackName, target.primary]),
        [
          ["prod", true],
          ["prod-us-west-2", false],
        ],
      );
    });

    it("plans the canary alone, then the other regions at the given parallelism", () => {
      const waves = planWaves(targets(), 3);
      assert.deepEqual(
        waves.map((wave) => [wave.kind, wave.targets.map((target) => target.region), wave.parallelism]),
        [
          ["canary", ["us-east-1"], 1],
          ["regions", REGIONS.slice(1), 3],
        ],
      );
    });

    it("deploys the canary region alone and finishes it before any other region starts", async () => {
      const run = await rollout({ defaults: { durations: { preview: 10, up: 10 } } });
      const canaryCalls = run.engine.calls.filter((call) => call.stack.region === "us-east-1");
      const otherCalls = run.engine.calls.filter((call) => call.stack.region !== "us-east-1");
      const canaryEnd = Math.max(...canaryCalls.map((call) => call.endedAt!));
      assert.ok(otherCalls.every((call) => call.startedAt >= canaryEnd));
      assert.ok(
        canaryCalls.every((call) => call.concurrentAtStart === 1),
        "nothing ran beside the canary",
      );
      const waves = run.events.filter((event) => event.type === "wave-started");
      assert.deepEqual(
        waves.map((event) => event.type === "wave-started" && event.regions),
        [["us-east-1"], REGIONS.slice(1)],
      );
      assert.equal(run.report.status, "succeeded");
    });

    it("never runs more regions at once than the parallelism, and uses all of it", async () => {
      const regions = [
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
      ];
      const durations: InMemoryEngineOptions["regions"] = {};
      regions.forEach((region, index) => {
        durations[region] = { durations: { preview: 3 + ((index * 7) % 11), up: 5 + ((index * 5) % 13) } };
      });
      const run = await rollout({ regions: durations }, { parallelism: 3 }, regions);
      assert.equal(run.report.status, "succeeded");
      assert.equal(run.engine.maxConcurrent, 3);
      assert.equal(maxRunning(run.events), 3);
    });
  });

  describe("gates", () => {
    it("runs preview, up and health in that order for every region", async () => {
      const log: string[] = [];
      const engine = new InMemoryEngine({ defaults: { durations: { preview: 2, up: 2 } } });
      await runRollout({
        engine,
        stage: "prod",
        targets: targets(["us-east-1", "us-west-2", "eu-west-1"]),
        parallelism: 1,
        health: async ({ target }) => {
          log.push(`${target.region}:health`);
        },
        onEvent: (event) => {
          if (event.type === "region" && event.state === "running" && event.gate) {
            log.push(`${event.region}:${event.gate}`);
          }
        },
      });
      assert.deepEqual(log, [
        "us-east-1:preview",
        "us-east-1:up",
        "us-east-1:health",
        "us-east-1:health",
        "us-west-2:preview",
        "us-west-2:up",
        "us-west-2:health",
        "us-west-2:health",
        "eu-west-1:preview",
        "eu-west-1:up",
        "eu-west-1:health",
        "eu-west-1:health",
      ]);
      for (const region of ["us-east-1", "us-west-2", "eu-west-1"]) {
        const ops = engine.calls.filter((call) => call.stack.region === region).map((call) => call.operation);
        assert.deepEqual(ops, ["preview", "up"]);
      }
    });

    it("stops a region with a mandatory policy violation before up and halts the rollout", async () => {
      const run = await rollout({
        regions: { "us-west-2": { violations: [mandatory("lambda-dead-letter-queue")] } },
      });
      const region = run.report.regions.find((r) => r.region === "us-west-2")!;
      assert.equal(region.state, "failed");
      assert.equal(region.gate, "preview");
      assert.match(
        region.message!,
        /1 mandatory policy violation.*lambda-dead-letter-queue on users-list-function/,
      );
      assert.equal(
        run.engine.callsOf("up").some((call) => call.stack.region === "us-west-2"),
        false,
        "no up for the region",
      );
      assert.deepEqual(run.report.failure?.gate, "preview");
      assert.equal(run.report.status, "failed");
    });

    it("lets advisory violations through", async () => {
      const advisory: PolicyViolation = {
        policyName: "lambda-insights",
        enforcementLevel: "advisory",
        message: "x",
      };
      const run = await rollout({ defaults: { violations: [advisory] } }, {}, ["us-east-1", "us-west-2"]);
      assert.equal(run.report.status, "succeeded");
      assert.deepEqual(run.report.regions[0].violations, [advisory]);
    });

    it("fails a region at health when the health gate rejects", async () => {
      const run = await rollout(
        {},
        {
          health: async ({ target }) => {
            if (target.region === "us-east-1")
              throw new Error("GET https://x/health answered 503 (5 attempts)");
          },
        },
      );
      assert.deepEqual(run.report.failure, {
        region: "us-east-1",
        stackName: "prod",
        gate: "health",
        message: "GET https://x/health answered 503 (5 attempts)",
      });
      assert.ok(run.report.regions.slice(1).every((region) => region.state === "skipped"));
    });

    it("passes the up outputs (apiUrl) to the health gate", async () => {
      const seen: unknown[] = [];
      await rollout(
        { regions: { "us-east-1": { outputs: { apiUrl: "https://abc.example/prod/" } } } },
        {
          health: async ({ outputs }) => {
            seen.push(outputs.apiUrl);
          },
        },
        ["us-east-1"],
      );
      assert.deepEqual(seen, ["https://abc.example/prod/"]);
    });
  });

  describe("halting", () => {
    it("skips every other region when the canary fails", async () => {
      const run = await rollout({
        regions: { "us-east-1": { failures: { up: "AccessDenied: iam:CreateRole" } } },
      });
      assert.deepEqual(stateOf(run), {
        "us-east-1": "failed",
        "us-west-2": "skipped",
        "eu-west-1": "skipped",
        "eu-central-1": "skipped",
        "ap-southeast-1": "skipped",
        "ap-northeast-1": "skipped",
      });
      assert.equal(run.report.failure?.message, "AccessDenied: iam:CreateRole");
      assert.match(run.report.regions[1].message!, /not started: us-east-1 failed at up/);
      assert.equal(run.engine.calls.filter((call) => call.stack.region !== "us-east-1").length, 0);
    });

    it("lets regions in flight finish, skips those not started, and reports the failed gate", async () => {
      const run = await rollout({
        defaults: { durations: { preview: 5, up: 30 } },
        regions: {
          "eu-west-1": { failures: { up: "LimitExceeded: too many functions" }, durations: { up: 5 } },
        },
      });
      assert.deepEqual(stateOf(run), {
        "us-east-1": "succeeded",
        "us-west-2": "succeeded",
        "eu-west-1": "failed",
        "eu-central-1": "skipped",
        "ap-southeast-1": "skipped",
        "ap-northeast-1": "skipped",
      });
      assert.deepEqual(run.report.failure, {
        region: "eu-west-1",
        stackName: "prod-eu-west-1",
        gate: "up",
        message: "LimitExceeded: too many functions",
      });
      assert.equal(run.report.status, "failed");
    });

    it("cancels the regions in flight with cancelInFlight", async () => {
      const run = await rollout(
        {
          defaults: { durations: { preview: 5, up: 200 } },
          regions: { "eu-west-1": { failures: { up: "boom" }, durations: { up: 5 } } },
        },
        { cancelInFlight: true },
      );
      assert.equal(stateOf(run)["us-west-2"], "cancelled");
      assert.match(run.report.regions[1].message!, /cancelled: eu-west-1 failed at up/);
      const cancels = run.engine.callsOf("cancel").map((call) => call.stack.region);
      assert.deepEqual(cancels, ["us-west-2"]);
      const up = run.engine.callsOf("up").find((call) => call.stack.region === "us-west-2")!;
      assert.equal(up.outcome, "cancelled");
      assert.ok(up.endedAt! - up.startedAt < 150, "the in-flight update stopped early");
      assert.equal(run.report.status, "failed");
    });
  });

  describe("cancellation", () => {
    it("cancels the region in flight and skips the rest when the signal aborts", async () => {
      const abort = new AbortController();
      const started = performance.now();
      const pending = rollout(
        { defaults: { durations: { preview: 20, up: 500 } } },
        { signal: abort.signal },
        ["us-east-1", "us-west-2", "eu-west-1"],
      );
      setTimeout(() => abort.abort(new Error("interrupted (Ctrl-C)")), 60);
      const run = await pending;
      assert.ok(performance.now() - started < 400, "stopped without waiting for the update");
      assert.deepEqual(stateOf(run), {
        "us-east-1": "cancelled",
        "us-west-2": "skipped",
        "eu-west-1": "skipped",
      });
      assert.equal(run.report.regions[0].gate, "up");
      assert.match(run.report.regions[0].message!, /interrupted \(Ctrl-C\)/);
      assert.deepEqual(
        run.engine.callsOf("cancel").map((call) => call.stack.stackName),
        ["prod"],
      );
      assert.equal(run.report.status, "cancelled");
    });

    it("cancels every region in flight in the second wave", async () => {
      const abort = new AbortController();
      const pending = rollout(
        { defaults: { durations: { up: 40 } }, regions: { "us-east-1": { durations: { up: 1 } } } },
        { signal: abort.signal, parallelism: 2 },
      );
      setTimeout(() => abort.abort(new Error("interrupted (Ctrl-C)")), 20);
      const run = await pending;
      assert.deepEqual(stateOf(run), {
        "us-east-1": "succeeded",
        "us-west-2": "cancelled",
        "eu-west-1": "cancelled",
        "eu-central-1": "skipped",
        "ap-southeast-1": "skipped",
        "ap-northeast-1": "skipped",
      });
      assert.deepEqual(
        run.engine
          .callsOf("cancel")
          .map((call) => call.stack.region)
          .sort(),
        ["eu-west-1", "us-west-2"],
      );
    });

    it("starts nothing when the signal is already aborted", async () => {
      const abort = new AbortController();
      abort.abort(new Error("interrupted (Ctrl-C)"));
      const run = await rollout({}, { signal: abort.signal }, ["us-east-1", "us-west-2"]);
      assert.deepEqual(stateOf(run), { "us-east-1": "skipped", "us-west-2": "skipped" });
      assert.equal(run.engine.calls.length, 0);
      assert.equal(run.report.status, "cancelled");
    });
  });

  describe("resume", () => {
    it("skips regions whose stack is already at the target revision", async () => {
      const run = await rollout(
        {
          regions: {
            "us-east-1": { revision: "abc123" },
            "us-west-2": { revision: "abc123" },
            "eu-west-1": { revision: "old" },
          },
        },
        { revision: "abc123" },
        ["us-east-1", "us-west-2", "eu-west-1"],
      );
      assert.deepEqual(stateOf(run), {
        "us-east-1": "upToDate",
        "us-west-2": "upToDate",
        "eu-west-1": "succeeded",
      });
      assert.deepEqual(
        run.engine.callsOf("up").map((call) => call.stack.region),
        ["eu-west-1"],
      );
      assert.equal(run.report.status, "succeeded");
    });

    it("resumes a halted rollout where it stopped", async () => {
      const engine = new InMemoryEngine();
      let failHealth = true;
      const options = {
        engine,
        stage: "prod",
        targets: targets(["us-east-1", "us-west-2", "eu-west-1"]),
        parallelism: 1,
        revision: "r2",
        health: (async ({ target }) => {
          if (failHealth && target.region === "us-west-2")
            throw new Error("alarm platform-prod-errors in ALARM");
        }) as HealthGate,
      };
      const first = await runRollout(options);
      assert.deepEqual(
        first.regions.map((region) => region.state),
        ["succeeded", "failed", "skipped"],
      );
      failHealth = false;
      const second = await runRollout(options);
      assert.deepEqual(
        second.regions.map((region) => region.state),
        ["upToDate", "succeeded", "succeeded"],
        "the region that failed its health gate recorded no revision",
      );
    });
  });

  describe("dry run", () => {
    it("previews every region, changes nothing and does not halt on a failure", async () => {
      const run = await rollout(
        { regions: { "us-east-1": { violations: [mandatory("iam-no-wildcard-actions")] } } },
        { dryRun: true },
        ["us-east-1", "us-west-2", "eu-west-1"],
      );
      assert.deepEqual(stateOf(run), {
        "us-east-1": "failed",
        "us-west-2": "previewed",
        "eu-west-1": "previewed",
      });
      assert.equal(run.engine.callsOf("up").length, 0);
      assert.equal(run.report.status, "failed");
    });
  });

  describe("progress events", () => {
    it("reports each region's gate, state and elapsed time, then the report", async () => {
      const run = await rollout({ defaults: { durations: { preview: 5, up: 5 } } }, {}, ["us-east-1"]);
      const regionEvents = run.events.filter((event) => event.type === "region");
      assert.deepEqual(
        regionEvents.map((event) => event.type === "region" && [event.gate ?? "-", event.state]),
        [
          ["-", "running"],
          ["preview", "running"],
          ["up", "running"],
          ["health", "running"],
          ["health", "succeeded"],
        ],
      );
      const last = regionEvents[regionEvents.length - 1];
      assert.ok(last.type === "region" && last.elapsedMs >= 8, "about the two 5 ms gates");
      assert.equal(run.events[0].type, "rollout-started");
      assert.equal(run.events[run.events.length - 1].type, "rollout-finished");
      assert.ok(run.events.some((event) => event.type === "engine" && event.event.resourcePreEvent));
    });
  });

  describe("failures from the engine's event stream", () => {
    const FUNCTION_URN =
      "urn:pulumi:prod-us-west-2::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function";
    const PROVIDER_ERROR =
      "error:   sdk-v2/provider2.go:515: sdk.helper_schema: updating Lambda Function (platform-prod-users-list) configuration: operation error Lambda: UpdateFunctionConfiguration, https response error StatusCode: 400, InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda.: provider=aws@7.48.0\n";

    /**
     * An engine whose `up` of one stack streams a failed resource as the Pulumi engine does: the
     * provider's error diagnostic on the resource, its resOpFailedEvent, then the stack's own
     * "update failed"; `throws` says whether `up` then rejects (as the CLI's exit code makes it).
     */
    class StreamedFailureEngine extends InMemoryEngine {
      constructor(
        private readonly failingStack: string,
        private readonly throws: boolean,
      ) {
        super();
      }

      override async up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
        if (stack.stackName !== this.failingStack) return super.up(stack, options);
        const emit = options.onEvent ?? (() => {});
        emit({
          sequence: 7,
          timestamp: 1767225601,
          diagnosticEvent: { urn: FUNCTION_URN, message: PROVIDER_ERROR, color: "never", severity: "error" },
        });
        emit({
          sequence: 8,
          timestamp: 1767225601,
          resOpFailedEvent: {
            metadata: { op: "update", urn: FUNCTION_URN, type: "aws:lambda/function:Function", provider: "" },
            status: 1,
            steps: 3,
          },
        });
        emit({
          sequence: 9,
          timestamp: 1767225602,
          diagnosticEvent: {
            urn: "urn:pulumi:prod-us-west-2::platform::pulumi:pulumi:Stack::platform-prod-us-west-2",
            message: "update failed\n",
            color: "never",
            severity: "error",
          },
        });
        if (this.throws) throw new EngineError("failed", "update failed", stack.stackName);
        return super.up(stack, options);
      }
    }

    async function rolloutWith(engine: InMemoryEngine, options: Partial<RolloutOptions> = {}) {
      return runRollout({
        engine,
        stage: "prod",
        targets: targets(["us-east-1", "us-west-2", "eu-west-1"]),
        parallelism: 1,
        health: healthy,
        ...options,
      });
    }

    it("names the failed resource and the engine's diagnostic when up throws", async () => {
      const report = await rolloutWith(new StreamedFailureEngine("prod-us-west-2", true));

      assert.equal(report.failure?.gate, "up");
      assert.equal(
        report.failure?.message,
        "aws:lambda/function:Function users-list-function failed (update): sdk-v2/provider2.go:515: sdk.helper_schema: updating Lambda Function (platform-prod-users-list) configuration: operation error Lambda: UpdateFunctionConfiguration, https response error StatusCode: 400, InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda.: provider=aws@7.48.0 (engine: update failed)",
      );
    });

    it("fails the up gate when the stream reports a failed resource though up resolved", async () => {
      let healthChecked = false;
      const report = await rolloutWith(new StreamedFailureEngine("prod-us-west-2", false), {
        health: async ({ target }) => {
          if (target.stackName === "prod-us-west-2") healthChecked = true;
        },
      });

      const region = report.regions.find((r) => r.stackName === "prod-us-west-2")!;
      assert.equal(region.state, "failed");
      assert.equal(region.gate, "up");
      assert.match(
        region.message!,
        /^aws:lambda\/function:Function users-list-function failed \(update\): .*InvalidParameterValueException/,
      );
      assert.match(region.message!, /; update failed$/);
      assert.deepEqual(
        region.gates.map((gate) => [gate.gate, gate.state]),
        [
          ["preview", "succeeded"],
          ["up", "failed"],
        ],
      );
      assert.equal(healthChecked, false, "no health gate after a failed up");
      assert.equal(report.regions.find((r) => r.stackName === "prod-eu-west-1")?.state, "skipped");
    });

    it("reads the stream whether or not a progress listener is attached", async () => {
      const events: RolloutEvent[] = [];
      const withListener = await rolloutWith(new StreamedFailureEngine("prod-us-west-2", false), {
        onEvent: (event) => events.push(event),
      });
      const without = await rolloutWith(new StreamedFailureEngine("prod-us-west-2", false));

      assert.equal(withListener.status, "failed");
      assert.deepEqual(without.failure, withListener.failure);
      assert.ok(events.some((event) => event.type === "engine" && event.event.resOpFailedEvent));
    });
  });
});
