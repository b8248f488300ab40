import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as auto from "@pulumi/pulumi/automation";
import { detectDrift } from "../../automation/drift/detect";
import { checkCliVersion, compareVersions, MIN_CLI_VERSION } from "../../automation/engine/cli-version";
import {
  EngineCancelledError,
  EngineError,
  EngineUnavailableError,
  StackNotFoundEngineError,
} from "../../automation/engine/errors";
import { PulumiEngine } from "../../automation/engine/pulumi";
import { cliCancelSignal } from "../../automation/engine/pulumi-workspace";
import type { StackRef } from "../../automation/engine/types";
import {
  ScriptedPulumiWorkspace,
  type ScriptedWorkspaceOptions,
  sdkCommandError,
  unreadableTableRefresh,
} from "../helpers/engine-workspace";
import { FakePulumiWorkspace, type FakeWorkspaceOptions } from "../helpers/fake-pulumi";

const DEV: StackRef = { stage: "dev", region: "us-east-1", stackName: "dev" };

function engineWith(
  options: FakeWorkspaceOptions,
  env: NodeJS.ProcessEnv = { PULUMI_BACKEND_URL: "s3://state" },
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-cli-project-"));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: platform\nruntime: nodejs\n");
  fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n");
  const workspace = new FakePulumiWorkspace(options);
  const engine = new PulumiEngine({
    projectDir: dir,
    processEnv: env,
    workspace,
    policyPack: false,
    cliSignalWaitMs: 50,
  });
  return { engine, workspace };
}

/** A PulumiEngine on a temporary project (dev and prod-eu-west-1) and a ScriptedPulumiWorkspace. */
function scriptedEngine(options: ScriptedWorkspaceOptions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-cli-project-"));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: platform\nruntime: nodejs\n");
  fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n");
  fs.writeFileSync(path.join(dir, "Pulumi.prod-eu-west-1.yaml"), "config:\n  aws:region: eu-west-1\n");
  const workspace = new ScriptedPulumiWorkspace(options);
  const engine = new PulumiEngine({
    projectDir: dir,
    processEnv: { PULUMI_BACKEND_URL: "s3://state" },
    workspace,
    policyPack: false,
    cliSignalWaitMs: 50,
  });
  return { engine, workspace, dir };
}

const PROD_EU: StackRef = { stage: "prod", region: "eu-west-1", stackName: "prod-eu-west-1" };

const CLI_CANCELLING: auto.EngineEvent = {
  sequence: 9,
  timestamp: 0,
  stdoutEvent: {
    message:
      "SIGTERM received; cancelling. If you would like to terminate immediately, send SIGTERM again.\n",
    color: "never",
  },
};

describe("the Pulumi engine and the CLI", () => {
  describe("CLI version", () => {
    it("compares versions by major, minor and patch", () => {
      assert.equal(compareVersions("3.248.0", "3.249.0"), -1);
      assert.equal(compareVersions("v3.249.0", "3.249.0"), 0);
      assert.equal(compareVersions("3.250.1-alpha.x", "3.249.0"), 1);
      assert.equal(compareVersions("4.0.0", "3.999.9"), 1);
    });

    it("refuses a CLI too old for stack tags on a self-managed backend, naming the minimum", () => {
      assert.throws(
        () => checkCliVersion("3.210.0", "diy"),
        (error: Error) =>
          error instanceof EngineUnavailableError &&
          error.message.includes("Pulumi CLI 3.210.0 is too old") &&
          error.message.includes(`>= ${MIN_CLI_VERSION.diy}`) &&
          error.message.includes("platform:revision"),
      );
      assert.doesNotThrow(() => checkCliVersion("3.249.0", "diy"));
      assert.doesNotThrow(
        () => checkCliVersion("3.100.0", "cloud"),
        "Pulumi Cloud has had stack tags for long",
      );
    });

    it("checks the version once, before the first operation, and fails every operation with its message", async () => {
      const { engine, workspace } = engineWith({ version: "3.230.0", existing: ["dev"] });
      await assert.rejects(engine.outputs(DEV), /Pulumi CLI 3\.230\.0 is too old.*>= 3\.249\.0/);
      await assert.rejects(engine.preview(DEV), EngineUnavailableError);
      assert.deepEqual(workspace.methods(), ["cliVersion"], "no stack was touched, the CLI asked once");
    });
  });

  describe("preview", () => {
    it("does not create a stack that does not exist: it says so instead", async () => {
      const { engine, workspace } = engineWith({});
      await assert.rejects(
        engine.preview(DEV),
        (error: Error) =>
          error instanceof StackNotFoundEngineError && /a preview does not create stacks/.test(error.message),
      );
      assert.ok(!workspace.methods().includes("createStack dev"), workspace.methods().join(", "));
      assert.equal(workspace.stacks.size, 0);
    });

    it("creates the stack when the caller deploys it next, and removes it again when the preview fails", async () => {
      const failing = engineWith({
        preview: async () => {
          throw new Error("preview failed");
        },
      });
      await assert.rejects(failing.engine.preview(DEV, { createStack: true }), /preview failed/);
      assert.deepEqual(failing.workspace.methods().slice(1), [
        "selectStack dev",
        "createStack dev",
        "preview dev",
        "removeStack dev",
      ]);
      assert.equal(failing.workspace.stacks.size, 0);

      const passing = engineWith({});
      await passing.engine.preview(DEV, { createStack: true });
      assert.ok(passing.workspace.stacks.has("dev"), "kept for the update that follows");
    });
  });

  describe("up", () => {
    it("passes refresh to the Automation API's up (pulumi up --refresh) when asked, and not otherwise", async () => {
      const received: auto.UpOptions[] = [];
      const { engine } = engineWith({
        existing: ["dev"],
        up: async (options) => {
          received.push(options as auto.UpOptions);
        },
      });
      await engine.up(DEV, { refresh: true });
      await engine.up(DEV);
      assert.deepEqual(
        received.map((options) => options.refresh),
        [true, undefined],
      );
    });
  });

  describe("drift check (refresh --preview-only)", () => {
    /** The engine's answer to a refresh that cannot read the table: events, then the CLI's exit 1. */
    const failingRefresh = () => {
      const { events, output } = unreadableTableRefresh(PROD_EU.stackName);
      return scriptedEngine({
        existing: [PROD_EU.stackName],
        previewRefresh: async ({ onEvent }) => {
          for (const event of events) onEvent?.(event);
          throw sdkCommandError(`refresh --preview-only --stack ${PROD_EU.stackName}`, output);
        },
      });
    };

    it("names the resource it could not read and why when the CLI fails, from the engine's diagnostic", async () => {
      const { engine } = failingRefresh();
      await assert.rejects(
        engine.refreshPreview(PROD_EU),
        (error: Error) =>
          error instanceof EngineError &&
          error.message ===
            "aws:dynamodb/table:Table users-table failed: reading DynamoDB Table (platform-prod-users-table): operation error DynamoDB: DescribeTable, https response error StatusCode: 400, AccessDeniedException: not authorized to perform dynamodb:DescribeTable",
      );
    });

    it("reports the stack as an error naming the resource in the drift report", async () => {
      const { engine } = failingRefresh();
      const report = await detectDrift({ engine, stage: "prod", stacks: [PROD_EU] });
      assert.equal(report.stacks[0].state, "error");
      assert.match(
        report.stacks[0].error!,
        /^aws:dynamodb\/table:Table users-table failed: reading DynamoDB Table/,
      );
      assert.doesNotMatch(report.stacks[0].error!, /Preview failed/);
    });

    it("keeps the CLI's message when the events name no resource", async () => {
      const { engine } = scriptedEngine({
        existing: [PROD_EU.stackName],
        previewRefresh: async () => {
          throw sdkCommandError("refresh --preview-only", "error: failed to load plugin aws\n");
        },
      });
      await assert.rejects(
        engine.refreshPreview(PROD_EU),
        (error: Error) =>
          error instanceof EngineError && error.message === "error: failed to load plugin aws",
      );
    });
  });

  describe("cancel", () => {
    it("sends the CLI one SIGINT when it has not cancelled on its own", async () => {
      const controller = new AbortController();
      const cli = cliCancelSignal(controller.signal, undefined, 20);
      controller.abort(new Error("stop"));
      assert.equal(cli.signal.aborted, false, "it waits for the CLI's own announcement first");
      await new Promise((resolve) => setTimeout(resolve, 40));
      assert.equal(cli.signal.aborted, true);
      cli.dispose();
    });

    it("sends no second signal to a CLI that already got the Ctrl-C or SIGTERM (it would stop at once)", async () => {
      const controller = new AbortController();
      const cli = cliCancelSignal(controller.signal, undefined, 20);
      controller.abort(new Error("SIGTERM"));
      cli.onEvent(CLI_CANCELLING);
      await new Promise((resolve) => setTimeout(resolve, 40));
      assert.equal(cli.signal.aborted, false);
      cli.dispose();
    });

    it("does not start the CLI when the operation is cancelled while its stack is being selected", async () => {
      let release!: () => void;
      const selectGate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { engine, workspace } = scriptedEngine({ existing: ["dev"], selectGate });
      const controller = new AbortController();
      const up = engine.up(DEV, { signal: controller.signal }).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(workspace.calls, ["selectStack dev"], "waiting on the selection");
      controller.abort(new Error("Ctrl-C"));
      release();
      const error = await up;
      assert.ok(error instanceof EngineCancelledError, String(error));
      assert.equal((error as Error).message, "cancelled: Ctrl-C");
      assert.deepEqual(workspace.calls, ["selectStack dev"], "no update ran");
    });

    it("does not start the CLI when engine.cancel comes while the stack is being selected", async () => {
      let release!: () => void;
      const selectGate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { engine, workspace } = scriptedEngine({ existing: ["prod-eu-west-1"], selectGate });
      const check = engine.refreshPreview(PROD_EU).catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const cancelled = engine.cancel(PROD_EU);
      release();
      await cancelled;
      assert.ok((await check) instanceof EngineCancelledError);
      assert.deepEqual(workspace.calls, ["selectStack prod-eu-west-1"]);
    });

    it("resolves cancel only once the operation has stopped", async () => {
      let stopped = false;
      const { engine } = engineWith({
        existing: ["dev"],
        up: ({ signal }) =>
          new Promise<void>((_, reject) => {
            // The CLI takes a while to finish its clean cancel after the SIGINT.
            signal?.addEventListener("abort", () =>
              setTimeout(() => {
                stopped = true;
                reject(new Error("update cancelled"));
              }, 30),
            );
          }),
      });
      const up = engine.up(DEV);
      const settled = up.catch((error: unknown) => error);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await engine.cancel(DEV);
      assert.equal(stopped, true, "cancel waited for the CLI");
      assert.ok((await settled) instanceof EngineCancelledError);
    });
  });
});
