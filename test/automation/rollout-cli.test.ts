import * as assert from "node:assert/strict";
import { Command } from "commander";
import type { CliIo } from "../../automation/commands/io";
import { type RolloutCommandDeps, registerRollout, rolloutCommand } from "../../automation/commands/rollout";
import { InMemoryEngine, type InMemoryEngineOptions } from "../../automation/engine/in-memory";
import { OfflineEngine } from "../../automation/engine/offline";
import type { Engine } from "../../automation/engine/types";
import { runCommand } from "../helpers/cli";

function rollout(
  argv: string[],
  script: InMemoryEngineOptions = {},
  deps: RolloutCommandDeps = {},
  io: Partial<CliIo> = {},
) {
  const engine = new InMemoryEngine(script);
  const register = rolloutCommand({
    engine: () => engine,
    revision: async () => "0123456789abcdef0123456789abcdef01234567",
    health: async () => {},
    ...deps,
  });
  return { engine, result: runCommand(register, ["rollout", ...argv], io) };
}

describe("platform rollout", () => {
  it("is a command named rollout", () => {
    const program = new Command("platform");
    registerRollout(program, { stdout: () => {}, stderr: () => {} });
    assert.deepEqual(
      program.commands.map((command) => command.name()),
      ["rollout"],
    );
  });

  it("--dry-run shows the waves and previews every region without deploying", async () => {
    const { engine, result } = rollout(["prod", "--dry-run"]);
    const { code, stdout } = await result;
    assert.equal(code, 0);
    assert.match(stdout, /Dry run of the rollout of prod at revision 0123456789ab/);
    assert.match(stdout, /wave 1 \(canary, alone\): us-east-1/);
    assert.match(stdout, /wave 2 \(2 at a time\): us-west-2, eu-west-1/);
    assert.match(stdout, /us-west-2\s+prod-us-west-2\s+2\s+previewed\s+preview/);
    assert.match(stdout, /passed: 3 region\(s\) previewed/);
    assert.equal(engine.callsOf("up").length, 0);
    assert.equal(engine.callsOf("preview").length, 3);
  });

  it("deploys every region and ends with a summary table (exit 0)", async () => {
    const { engine, result } = rollout(["prod"], { defaults: { durations: { up: 2 } } });
    const { code, stdout, stderr } = await result;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^us-east-1\s+prod\s+preview\s+running/m, "plain progress lines");
    assert.match(stdout, /REGION\s+STACK\s+WAVE\s+STATE\s+GATE\s+ELAPSED\s+DETAIL/);
    for (const [region, stack] of [
      ["us-east-1", "prod"],
      ["us-west-2", "prod-us-west-2"],
      ["eu-west-1", "prod-eu-west-1"],
    ]) {
      assert.match(
        stdout,
        new RegExp(`^${region}\\s+${stack}\\s+\\d\\s+succeeded\\s+health\\s+\\d+\\.\\ds\\s+https://`, "m"),
      );
    }
    assert.match(stdout, /Rollout of prod succeeded: 3 region\(s\) deployed at revision 0123456789ab/);
    assert.deepEqual(
      engine.callsOf("up").map((call) => call.stack.stackName),
      ["prod", "prod-us-west-2", "prod-eu-west-1"],
    );
  });

  it("exits 1 and says which region failed at which gate and why", async () => {
    const { result } = rollout(["prod", "--parallel", "1"], {
      regions: {
        "us-west-2": { failures: { up: "AccessDenied: not authorized to perform iam:CreateRole" } },
      },
    });
    const { code, stdout, stderr } = await result;
    assert.equal(code, 1);
    assert.match(stdout, /^us-west-2\s+prod-us-west-2\s+2\s+failed\s+up\s+[\d.]+s\s+AccessDenied/m);
    assert.match(
      stdout,
      /^eu-west-1\s+prod-eu-west-1\s+2\s+skipped\s+-\s+-\s+not started: us-west-2 failed at up/m,
    );
    assert.match(stdout, /failed: us-west-2 \(prod-us-west-2\) failed at up: AccessDenied/);
    assert.match(stderr, /rollout of prod failed \(us-west-2 at up\)/);
  });

  it("--json prints the report for machines", async () => {
    const { result } = rollout(["prod", "--json", "--regions", "us-east-1,eu-west-1"]);
    const { code, stdout } = await result;
    assert.equal(code, 0);
    const report = JSON.parse(stdout);
    assert.equal(report.status, "succeeded");
    assert.deepEqual(
      report.regions.map((region: { stackName: string; state: string }) => [region.stackName, region.state]),
      [
        ["prod", "succeeded"],
        ["prod-eu-west-1", "succeeded"],
      ],
    );
    assert.equal(report.revision, "0123456789abcdef0123456789abcdef01234567");
  });

  it("takes the first selected region as the canary when the primary is not selected", async () => {
    const { engine, result } = rollout(["prod", "--json", "--regions", "eu-west-1,us-west-2"]);
    const report = JSON.parse((await result).stdout);
    assert.deepEqual(
      report.waves.map((wave: { regions: string[] }) => wave.regions),
      [["us-west-2"], ["eu-west-1"]],
    );
    assert.equal(engine.callsOf("up")[0].stack.stackName, "prod-us-west-2");
  });

  it("redraws the region lines in place on a terminal", async () => {
    const { result } = rollout(["prod"], { defaults: { durations: { up: 5 } } }, {}, { isTTY: true });
    const { code, stdout } = await result;
    assert.equal(code, 0);
    assert.ok(stdout.includes("\x1b[3A"), "moves the cursor up over the three region lines");
    assert.ok(stdout.includes("\x1b[2K"), "clears each line before rewriting it");
  });

  it("cancels on Ctrl-C (the abort signal) and exits 1", async () => {
    const abort = new AbortController();
    const { engine, result } = rollout(
      ["prod"],
      { defaults: { durations: { up: 500 } } },
      {},
      { signal: abort.signal },
    );
    setTimeout(() => abort.abort(new Error("interrupted (Ctrl-C)")), 30);
    const { code, stdout, stderr } = await result;
    assert.equal(code, 1);
    assert.match(stdout, /^us-east-1\s+prod\s+1\s+cancelled\s+up/m);
    assert.match(stdout, /was cancelled/);
    assert.match(stderr, /rollout of prod cancelled/);
    assert.equal(engine.callsOf("cancel").length, 1);
  });

  it("refuses to deploy without the Pulumi CLI and says how to install it", async () => {
    const offline: Engine = new OfflineEngine();
    const register = rolloutCommand({ engine: () => offline, revision: async () => "r" });
    const { code, stderr } = await runCommand(register, ["rollout", "prod"]);
    assert.equal(code, 1);
    assert.match(stderr, /needs the Pulumi CLI/);
    assert.match(stderr, /get\.pulumi\.com/);
    assert.match(stderr, /--dry-run/);
  });

  describe("bad usage (exit 2)", () => {
    for (const [title, argv, message] of [
      ["an unknown stage", ["staging"], /unknown stage "staging": stages are dev, prod/],
      ["a region stack instead of a stage", ["prod-us-west-2"], /unknown stage "prod-us-west-2"/],
      [
        "a region not in the stage",
        ["prod", "--regions", "us-east-1,ap-south-1"],
        /region ap-south-1 not in stage "prod"/,
      ],
      [
        "a parallelism of 0",
        ["prod", "--parallel", "0"],
        /--parallel must be an integer from 1 to 32 \(got "0"\)/,
      ],
      ["a parallelism that is not a number", ["prod", "--parallel", "many"], /--parallel must be/],
      ["a parallelism over the limit", ["prod", "--parallel", "33"], /--parallel must be/],
    ] as const) {
      it(`rejects ${title}`, async () => {
        const { engine, result } = rollout([...argv]);
        const { code, stderr } = await result;
        assert.equal(code, 2, stderr);
        assert.match(stderr, message);
        assert.equal(engine.calls.length, 0);
      });
    }

    it("rejects a missing stage argument", async () => {
      const { result } = rollout([]);
      assert.equal((await result).code, 2);
    });
  });
});
