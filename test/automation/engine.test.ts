import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as auto from "@pulumi/pulumi/automation";
import { parse as parseYaml } from "yaml";
import { chooseEngine } from "../../automation/engine/choose";
import {
  ConcurrentUpdateEngineError,
  EngineCancelledError,
  EngineError,
  EngineUnavailableError,
  StackNotFoundEngineError,
  toEngineError,
} from "../../automation/engine/errors";
import { summaryPolicyPacks, violationFromEvent } from "../../automation/engine/events";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { OfflineEngine } from "../../automation/engine/offline";
import { PulumiEngine } from "../../automation/engine/pulumi";
import type { StackRef } from "../../automation/engine/types";
import { findExecutable } from "../../automation/engine/which";
import { prepareStackWorkspace } from "../../automation/engine/workspace";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { MissingRegionStackFileError, syncRegionStackFiles } from "../../automation/plan/stack-config";
import type { PlanResult } from "../../automation/plan/types";
import { projectCopy, stackFiles } from "../helpers/engine-project";
import { ScriptedPulumiWorkspace, sdkCommandError } from "../helpers/engine-workspace";

const PROD_WEST: StackRef = { stage: "prod", region: "us-west-2", stackName: "prod-us-west-2" };
const DEV: StackRef = { stage: "dev", region: "us-east-1", stackName: "dev" };

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A directory holding an executable (or not) named `name`. */
function binDir(name: string, executable = true): string {
  const dir = tempDir("platform-bin-");
  fs.writeFileSync(path.join(dir, name), "#!/bin/sh\necho v3.248.0\n", { mode: executable ? 0o755 : 0o644 });
  return dir;
}

/** The repository's Pulumi.yaml and stack files before any test here ran. */
const repoStackFiles = stackFiles();

describe("engines", () => {
  after(() => {
    assert.deepEqual(stackFiles(), repoStackFiles, "no test wrote the repository's stack files");
  });

  describe("choosing", () => {
    it("finds an executable on PATH without a shell, and skips files that are not executable", () => {
      const found = binDir("pulumi");
      const notExecutable = binDir("pulumi", false);
      assert.equal(
        findExecutable("pulumi", { PATH: [notExecutable, found].join(path.delimiter) }),
        path.join(found, "pulumi"),
      );
      assert.equal(findExecutable("pulumi", { PATH: notExecutable }), undefined);
      assert.equal(findExecutable("pulumi", { PATH: "" }), undefined);
    });

    it("chooses the Pulumi engine when pulumi is on PATH, else the offline engine", () => {
      assert.equal(chooseEngine({ env: { PATH: binDir("pulumi") } }).kind, "pulumi");
      assert.equal(chooseEngine({ env: { PATH: binDir("not-pulumi") } }).kind, "offline");
    });
  });

  describe("error mapping", () => {
    it("maps the Automation API's stack-not-found and concurrent-update errors to typed errors", () => {
      const notFoundError = sdkCommandError(
        "stack select --stack prod-us-west-2",
        "error: no stack named 'prod-us-west-2' found\n",
        255,
      );
      assert.ok(notFoundError instanceof auto.StackNotFoundError, "as the SDK classifies it");
      const notFound = toEngineError(notFoundError, "prod-us-west-2");
      assert.ok(notFound instanceof StackNotFoundEngineError);
      assert.equal(notFound.httpStatus, 404);
      assert.match(notFound.message, /stack "prod-us-west-2" does not exist/);

      const conflictError = sdkCommandError(
        "up --yes --skip-preview --stack prod",
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n",
        255,
      );
      assert.ok(conflictError instanceof auto.ConcurrentUpdateError, "as the SDK classifies it");
      const conflict = toEngineError(conflictError, "prod");
      assert.ok(conflict instanceof ConcurrentUpdateEngineError);
      assert.equal(conflict.httpStatus, 409);
    });

    it("keeps the engine's own message for any other command failure", () => {
      const failed = toEngineError(
        sdkCommandError(
          "up --yes --skip-preview --stack prod",
          "Updating (prod):\n\nDiagnostics:\n  aws:iam:Role (users-role):\n    error: 1 error occurred:\n    \t* creating IAM Role: AccessDenied\n\n  pulumi:pulumi:Stack (platform-prod):\n    error: update failed\n",
        ),
        "prod",
      );
      assert.ok(failed instanceof EngineError && failed.kind === "failed");
      assert.equal(failed.message, "error: 1 error occurred:; error: update failed");
      assert.equal(failed.httpStatus, 500);
    });

    it("reports an operation whose signal aborted as cancelled", () => {
      const abort = new AbortController();
      abort.abort(new Error("interrupted (Ctrl-C)"));
      const cancelled = toEngineError(new Error("exit code 255"), "prod", abort.signal);
      assert.ok(cancelled instanceof EngineCancelledError);
      assert.equal(cancelled.message, "cancelled: interrupted (Ctrl-C)");
    });
  });

  describe("engine events", () => {
    it("reads the policy packs that ran from the summary event's PolicyPacks key, as the CLI writes it", () => {
      // One line of a real event stream (apitype.SummaryEvent: `json:"PolicyPacks"`).
      const line =
        '{"sequence":131,"timestamp":1767225641,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":41,"resourceChanges":{"create":63,"same":1},"PolicyPacks":{"platform":"0.1.0"}}}';
      const event = JSON.parse(line) as auto.EngineEvent;
      assert.deepEqual(summaryPolicyPacks(event.summaryEvent!), { platform: "0.1.0" });
    });

    it("reads a policy event's enforcement level as the CLI writes it (advisory, mandatory)", () => {
      const line =
        '{"sequence":40,"timestamp":1767225620,"policyEvent":{"resourceUrn":"urn:pulumi:prod::platform::aws:iam/role:Role::users-role","message":"Role users-role should have a permissions boundary.\\n","color":"never","policyName":"iam-role-boundary","policyPackName":"platform","policyPackVersion":"0.1.0","policyPackVersionTag":"0.1.0","enforcementLevel":"advisory"}}';
      const event = JSON.parse(line) as auto.EngineEvent;
      const violation = violationFromEvent(event.policyEvent!);
      assert.equal(violation.enforcementLevel, "advisory");
      assert.equal(violation.resourceName, "users-role");
      assert.equal(
        violationFromEvent({ ...event.policyEvent!, enforcementLevel: "mandatory" }).enforcementLevel,
        "mandatory",
      );
    });

    it("writes advisory violations' policy events with the CLI's level advisory", async () => {
      const engine = new InMemoryEngine({
        defaults: { violations: [{ policyName: "p", enforcementLevel: "advisory", message: "m" }] },
      });
      const events: auto.EngineEvent[] = [];
      await engine.preview(PROD_WEST, { onEvent: (event) => events.push(event) });
      assert.equal(events.find((event) => event.policyEvent)?.policyEvent?.enforcementLevel, "advisory");
    });

    it("also reads policyPacks, the key the SDK's type declares", () => {
      const summary = {
        maybeCorrupt: false,
        durationSeconds: 1,
        resourceChanges: {},
        policyPacks: { p: "1" },
      };
      assert.deepEqual(summaryPolicyPacks(summary), { p: "1" });
    });
  });

  describe("InMemoryEngine", () => {
    it("runs scripted durations, records calls and the most operations in flight", async () => {
      const engine = new InMemoryEngine({ defaults: { durations: { up: 20 } } });
      const stacks = ["a", "b", "c"].map((name) => ({
        stage: "prod",
        region: `r-${name}`,
        stackName: `prod-${name}`,
      }));
      const started = performance.now();
      const results = await Promise.all(stacks.map((stack) => engine.up(stack)));
      assert.ok(performance.now() - started >= 18, "the scripted 20 ms");
      assert.equal(engine.maxConcurrent, 3);
      assert.deepEqual(
        engine.callsOf("up").map((call) => [call.stack.stackName, call.outcome]),
        [
          ["prod-a", "ok"],
          ["prod-b", "ok"],
          ["prod-c", "ok"],
        ],
      );
      assert.match(
        String(results[0].outputs.apiUrl),
        /^https:\/\/proda\.execute-api\.r-a\.amazonaws\.com\/prod\/$/,
      );
    });

    it("rejects at once with EngineCancelledError when the signal aborts", async () => {
      const engine = new InMemoryEngine({ defaults: { durations: { up: 5000 } } });
      const abort = new AbortController();
      setTimeout(() => abort.abort(new Error("stop")), 10);
      const started = performance.now();
      await assert.rejects(engine.up(PROD_WEST, { signal: abort.signal }), EngineCancelledError);
      assert.ok(performance.now() - started < 500);
      assert.equal(engine.callsOf("up")[0].outcome, "cancelled");
    });

    it("fails scripted operations with the engine's message", async () => {
      const engine = new InMemoryEngine({ regions: { "prod-us-west-2": { failures: { preview: "boom" } } } });
      await assert.rejects(
        engine.preview(PROD_WEST),
        (error: Error) => error instanceof EngineError && error.message === "boom",
      );
      await engine.preview(DEV);
    });

    it("emits engine events as the Automation API shapes them", async () => {
      const engine = new InMemoryEngine({
        defaults: { violations: [{ policyName: "p", enforcementLevel: "mandatory", message: "m" }] },
      });
      const events: auto.EngineEvent[] = [];
      const preview = await engine.preview(PROD_WEST, { onEvent: (event) => events.push(event) });
      assert.equal(preview.mandatoryCount, 1);
      assert.ok(events[0].preludeEvent);
      assert.ok(events.some((event) => event.resourcePreEvent?.metadata.op === "create"));
      assert.equal(events.find((event) => event.policyEvent)?.policyEvent?.enforcementLevel, "mandatory");
      assert.ok(events[events.length - 1].summaryEvent);
      assert.deepEqual(
        events.map((event) => event.sequence),
        events.map((_, index) => index),
      );
    });

    it("writes the summary event's policy packs under PolicyPacks, the key the CLI writes", async () => {
      const engine = new InMemoryEngine();
      const events: auto.EngineEvent[] = [];
      await engine.preview(PROD_WEST, { onEvent: (event) => events.push(event) });
      const summary = JSON.parse(JSON.stringify(events[events.length - 1].summaryEvent));
      assert.deepEqual(Object.keys(summary).sort(), [
        "PolicyPacks",
        "durationSeconds",
        "maybeCorrupt",
        "resourceChanges",
      ]);
    });

    it("keeps the revision a stack is deployed at", async () => {
      const engine = new InMemoryEngine({ regions: { "us-west-2": { revision: "old" } } });
      assert.equal(await engine.deployedRevision(PROD_WEST), "old");
      await engine.up(PROD_WEST, { revision: "new" });
      assert.equal(await engine.deployedRevision(PROD_WEST), "new");
      await engine.recordRevision(PROD_WEST, undefined);
      assert.equal(await engine.deployedRevision(PROD_WEST), undefined);
    });
  });

  describe("OfflineEngine", () => {
    const plan: PlanResult = {
      project: "platform",
      stack: "prod-us-west-2",
      stage: "prod",
      region: "us-west-2",
      accountId: "123456789012",
      resources: [
        {
          urn: "urn:pulumi:prod-us-west-2::platform::pulumi:pulumi:Stack::platform-prod-us-west-2",
          type: "pulumi:pulumi:Stack",
        },
        {
          urn: "urn:pulumi:prod-us-west-2::platform::aws:iam/role:Role::users-role",
          type: "aws:iam/role:Role",
        },
      ] as PlanResult["resources"],
      outputs: {},
    };

    it("previews with the offline plan and the policy pack's evaluation", async () => {
      const planned: string[] = [];
      const engine = new OfflineEngine({
        plan: async (stackName) => {
          planned.push(stackName);
          return plan;
        },
        evaluate: async (_plan, options) => ({
          stack: _plan.stack,
          violations: [
            {
              policyName: "iam-no-wildcard-actions",
              enforcementLevel: "mandatory",
              message: `stage ${options?.stage}: role users-role must not allow *`,
              urn: plan.resources[1].urn,
              resourceType: "aws:iam/role:Role",
              resourceName: "users-role",
            },
          ],
          mandatoryCount: 1,
          advisoryCount: 0,
        }),
      });
      const events: auto.EngineEvent[] = [];
      const preview = await engine.preview(PROD_WEST, { onEvent: (event) => events.push(event) });
      assert.deepEqual(planned, ["prod-us-west-2"]);
      assert.deepEqual(preview.changeSummary, { create: 2 });
      assert.equal(preview.mandatoryCount, 1);
      assert.equal(preview.violations[0].message, "stage prod: role users-role must not allow *");
      assert.equal(events.filter((event) => event.resourcePreEvent).length, 2);
      assert.equal(
        events.find((event) => event.policyEvent)?.policyEvent?.policyName,
        "iam-no-wildcard-actions",
      );
    });

    it("without a local target, fails up, drift, refresh and outputs at once, saying how to install the Pulumi CLI", async () => {
      const engine = new OfflineEngine({ local: false });
      for (const operation of [
        () => engine.up(PROD_WEST),
        () => engine.refreshPreview(PROD_WEST),
        () => engine.refresh(PROD_WEST),
        () => engine.outputs(PROD_WEST),
        () => engine.recordRevision(PROD_WEST, "r"),
      ]) {
        await assert.rejects(
          operation(),
          (error: Error) =>
            error instanceof EngineUnavailableError &&
            /needs the Pulumi CLI/.test(error.message) &&
            error.message.includes("curl -fsSL https://get.pulumi.com | sh"),
        );
      }
      assert.equal(await engine.deployedRevision(PROD_WEST), undefined);
    });

    it("maps an unknown stack to StackNotFoundEngineError", async () => {
      const engine = new OfflineEngine();
      await assert.rejects(
        engine.preview({ stage: "qa", region: "us-east-1", stackName: "qa" }),
        StackNotFoundEngineError,
      );
    });

    it("previews the dev stack for real: the program under the mock runtime plus the policy pack", async () => {
      const preview = await new OfflineEngine().preview(DEV);
      assert.ok((preview.changeSummary.create ?? 0) > 50, "every resource is a planned create");
      assert.equal(preview.mandatoryCount, 0, JSON.stringify(preview.violations, null, 2));
    });
  });

  describe("PulumiEngine without the CLI", () => {
    it("prepares one work directory per stack: the project file and the region stack's own file", () => {
      const project = tempDir("platform-project-");
      fs.writeFileSync(
        path.join(project, "Pulumi.yaml"),
        "name: platform\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n    tsconfig: tsconfig.pulumi.json\n",
      );
      const stageFile = [
        "encryptionsalt: v1:abc:def",
        "config:",
        "  aws:region: us-east-1",
        "  platform:regions:",
        "    - us-east-1",
        "    - us-west-2",
        "  platform:apiKey:",
        "    secure: v1:AAAA",
        "",
      ].join("\n");
      fs.writeFileSync(path.join(project, "Pulumi.prod.yaml"), stageFile);
      syncRegionStackFiles(project);
      const regionFile = fs.readFileSync(path.join(project, "Pulumi.prod-us-west-2.yaml"), "utf8");
      const workspaces = path.join(project, ".pulumi-state", "workspaces");

      const dir = prepareStackWorkspace(project, workspaces, PROD_WEST, {
        "aws:skipCredentialsValidation": "true",
      });
      assert.equal(dir, path.join(workspaces, "prod-us-west-2"));
      const projectFile = parseYaml(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"));
      assert.equal(projectFile.main, project, "the program runs from the project");
      assert.equal(projectFile.runtime.options.typescript, true);
      assert.equal(
        projectFile.runtime.options.tsconfig,
        path.join(project, "tsconfig.pulumi.json"),
        "the host resolves tsconfig from the work directory: it must name the project's file",
      );
      const stackFile = parseYaml(fs.readFileSync(path.join(dir, "Pulumi.prod-us-west-2.yaml"), "utf8"));
      assert.deepEqual(stackFile, {
        encryptionsalt: "v1:abc:def",
        config: {
          "aws:region": "us-west-2",
          "platform:regions": ["us-east-1", "us-west-2"],
          "platform:apiKey": { secure: "v1:AAAA" },
          "aws:skipCredentialsValidation": "true",
        },
      });
      assert.equal(fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8"), stageFile);
      assert.equal(
        fs.readFileSync(path.join(project, "Pulumi.prod-us-west-2.yaml"), "utf8"),
        regionFile,
        "the project's stack files are untouched",
      );
    });

    it("refuses a region stack whose file was never synced, naming `platform stacks sync`", () => {
      const project = tempDir("platform-project-");
      fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: platform\nruntime: nodejs\n");
      fs.writeFileSync(path.join(project, "Pulumi.prod.yaml"), "config:\n  aws:region: us-east-1\n");
      assert.throws(
        () => prepareStackWorkspace(project, path.join(project, "ws"), PROD_WEST),
        (error: Error) =>
          error instanceof MissingRegionStackFileError && /platform stacks sync/.test(error.message),
      );
    });

    it("keeps the salt the CLI wrote when the stack file has none", () => {
      const project = tempDir("platform-project-");
      fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: platform\nruntime: nodejs\n");
      fs.writeFileSync(
        path.join(project, "Pulumi.prod.yaml"),
        "config:\n  aws:region: us-east-1\n  platform:regions: [us-east-1, us-west-2]\n",
      );
      syncRegionStackFiles(project);
      const workspaces = path.join(project, "ws");
      const dir = prepareStackWorkspace(project, workspaces, PROD_WEST);
      const file = path.join(dir, "Pulumi.prod-us-west-2.yaml");
      fs.appendFileSync(file, "encryptionsalt: v1:written-by-the-cli\n");
      prepareStackWorkspace(project, workspaces, PROD_WEST);
      assert.equal(parseYaml(fs.readFileSync(file, "utf8")).encryptionsalt, "v1:written-by-the-cli");
    });

    it("writes a new stack's secrets settings to the stack file of the project it runs on, a copy in tests", async () => {
      const project = projectCopy();
      try {
        const workspace = new ScriptedPulumiWorkspace({ createWrites: { encryptionsalt: "v1:new-salt" } });
        const engine = new PulumiEngine({
          projectDir: project,
          workspacesDir: tempDir("platform-workspaces-"),
          processEnv: { PULUMI_BACKEND_URL: "s3://state" },
          workspace,
          policyPack: false,
        });
        await engine.up(DEV);
        assert.deepEqual(workspace.calls.slice(0, 2), ["selectStack dev", "createStack dev"]);
        assert.match(
          fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8"),
          /^encryptionsalt: v1:new-salt$/m,
        );
        assert.deepEqual(stackFiles(), repoStackFiles, "the repository's own stack files are untouched");
      } finally {
        fs.rmSync(project, { recursive: true, force: true });
      }
    });

    it("runs the policy pack with the stage's policy config", () => {
      const engine = new PulumiEngine({ processEnv: {} });
      assert.deepEqual(engine.policyOptions("prod"), {
        policyPacks: [path.join(PROJECT_DIR, "policy")],
        policyPackConfigs: [path.join(PROJECT_DIR, "policy", "config.prod.json")],
      });
      assert.deepEqual(engine.policyOptions("qa").policyPackConfigs, []);
    });
  });

  describe("PulumiEngine against the real CLI", function () {
    this.timeout(600_000);
    let state: string;
    /** The project the engine runs on: a copy, since creating a stack writes its stack file. */
    let project: string;

    before(function () {
      const cli = findExecutable("pulumi");
      if (!cli) {
        console.log(
          "      (skipped: `pulumi` is not on PATH; install it from https://get.pulumi.com to run these tests)",
        );
        this.skip();
      }
      const hasCredentials =
        process.env.AWS_ACCESS_KEY_ID ||
        process.env.AWS_PROFILE ||
        fs.existsSync(path.join(os.homedir(), ".aws", "credentials"));
      if (!hasCredentials) {
        console.log(
          "      (skipped: `pulumi` is on PATH but no AWS credentials are configured for the AWS provider)",
        );
        this.skip();
      }
      state = tempDir("platform-state-");
      project = projectCopy();
    });

    after(() => {
      if (state) fs.rmSync(state, { recursive: true, force: true });
      if (project) fs.rmSync(project, { recursive: true, force: true });
      assert.deepEqual(stackFiles(), repoStackFiles, "the repository's stack files are untouched");
    });

    it("previews the dev stack on a local file backend, with the policy pack", async () => {
      const engine = new PulumiEngine({
        projectDir: project,
        backendUrl: `file://${state}`,
        workspacesDir: path.join(state, "workspaces"),
        passphrase: "test-only",
        secretsProvider: "passphrase",
      });
      const events: auto.EngineEvent[] = [];
      await assert.rejects(engine.preview(DEV), StackNotFoundEngineError, "a preview creates no stack");
      const preview = await engine.preview(DEV, {
        createStack: true,
        onEvent: (event) => events.push(event),
      });
      assert.ok((preview.changeSummary.create ?? 0) > 50, JSON.stringify(preview.changeSummary));
      assert.equal(preview.mandatoryCount, 0, JSON.stringify(preview.violations, null, 2));
      assert.ok(events.some((event) => event.preludeEvent));
      const summary = events.find((event) => event.summaryEvent)?.summaryEvent;
      assert.ok(summary && Object.keys(summaryPolicyPacks(summary)).length > 0, "the policy pack ran");
      assert.equal(await engine.deployedRevision(DEV), undefined, "a preview deploys nothing");
      assert.match(
        fs.readFileSync(path.join(project, "Pulumi.dev.yaml"), "utf8"),
        /^encryptionsalt: /m,
        "the new stack's salt went to the copy's stack file",
      );
    });
  });
});
