import * as assert from "node:assert/strict";
import { Command } from "commander";
import { driftCommand, registerDrift } from "../../automation/commands/drift";
import { InMemoryEngine, type InMemoryEngineOptions } from "../../automation/engine/in-memory";
import { OfflineEngine } from "../../automation/engine/offline";
import { runCommand } from "../helpers/cli";
import { tableDrift } from "../helpers/drift";

function drift(argv: string[], script: InMemoryEngineOptions = {}) {
  const engine = new InMemoryEngine(script);
  const register = driftCommand({ engine: () => engine, revision: async () => "r1" });
  return { engine, result: runCommand(register, ["drift", ...argv]) };
}

describe("platform drift", () => {
  it("is a command named drift", () => {
    const program = new Command("platform");
    registerDrift(program, { stdout: () => {}, stderr: () => {} });
    assert.deepEqual(
      program.commands.map((command) => command.name()),
      ["drift"],
    );
  });

  it("exits 0 when no stack drifted", async () => {
    const { engine, result } = drift(["prod"]);
    const { code, stdout } = await result;
    assert.equal(code, 0);
    assert.match(stdout, /Checking drift of prod: prod, prod-us-west-2, prod-eu-west-1/);
    assert.match(stdout, /No drift in 3 stacks\./);
    assert.equal(engine.callsOf("refreshPreview").length, 3);
  });

  it("exits 1 and lists the drifted resources when drift is found, changing nothing", async () => {
    const { engine, result } = drift(["prod"], { regions: { "eu-west-1": { refreshEvents: tableDrift() } } });
    const { code, stdout, stderr } = await result;
    assert.equal(code, 1);
    assert.match(stdout, /prod-eu-west-1 \(eu-west-1\): 1 drifted resource/);
    assert.match(stdout, /~ aws:dynamodb\/table:Table users-table/);
    assert.match(stdout, /billingMode: "PAY_PER_REQUEST" \(recorded\) -> "PROVISIONED" \(live\)/);
    assert.match(stderr, /drift found in prod-eu-west-1: run with --remediate up or --remediate refresh/);
    assert.equal(engine.callsOf("up").length + engine.callsOf("refresh").length, 0);
  });

  it("--json prints the report", async () => {
    const { result } = drift(["prod", "--json"], {
      regions: { "eu-west-1": { refreshEvents: tableDrift() } },
    });
    const { code, stdout } = await result;
    assert.equal(code, 1);
    const report = JSON.parse(stdout);
    assert.equal(report.driftedCount, 1);
    assert.deepEqual(report.stacks[2].drifted[0].properties, [
      { path: "billingMode", kind: "update", recorded: "PAY_PER_REQUEST", live: "PROVISIONED" },
    ]);
  });

  it("--remediate up deploys the drifted stacks only and exits 0 when that worked", async () => {
    const { engine, result } = drift(["prod", "--remediate", "up"], {
      regions: { "eu-west-1": { refreshEvents: tableDrift() } },
    });
    const { code, stdout } = await result;
    assert.equal(code, 0);
    assert.deepEqual(
      engine.callsOf("up").map((call) => [call.stack.stackName, call.refresh]),
      [["prod-eu-west-1", true]],
    );
    assert.match(stdout, /remediation \(up\): succeeded/);
  });

  it("--remediate refresh accepts the live state of the drifted stacks", async () => {
    const { engine, result } = drift(["prod", "--remediate", "refresh"], {
      regions: { "eu-west-1": { refreshEvents: tableDrift() } },
    });
    assert.equal((await result).code, 0);
    assert.deepEqual(
      engine.callsOf("refresh").map((call) => call.stack.stackName),
      ["prod-eu-west-1"],
    );
  });

  it("exits 1 when a remediation fails", async () => {
    const { result } = drift(["prod", "--remediate", "up"], {
      regions: { "eu-west-1": { refreshEvents: tableDrift(), failures: { up: "ConditionalCheckFailed" } } },
    });
    const { code, stdout, stderr } = await result;
    assert.equal(code, 1);
    assert.match(stdout, /remediation \(up\): failed: ConditionalCheckFailed/);
    assert.match(stderr, /remediation failed/);
  });

  it("exits 1 when a stack cannot be checked", async () => {
    const { result } = drift(["prod"], {
      regions: { "us-west-2": { failures: { refreshPreview: "no stack named 'prod-us-west-2' found" } } },
    });
    const { code, stderr } = await result;
    assert.equal(code, 1);
    assert.match(stderr, /drift check failed for prod-us-west-2/);
  });

  it("needs the Pulumi CLI and says how to install it", async () => {
    const { code, stderr } = await runCommand(driftCommand({ engine: () => new OfflineEngine() }), [
      "drift",
      "dev",
    ]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /needs the Pulumi CLI: install the Pulumi CLI \(curl -fsSL https:\/\/get\.pulumi\.com \| sh/,
    );
  });

  it("rejects an unknown remediation mode (exit 2)", async () => {
    const { engine, result } = drift(["prod", "--remediate", "auto"]);
    const { code, stderr } = await result;
    assert.equal(code, 2);
    assert.match(stderr, /--remediate must be up .* or refresh/);
    assert.equal(engine.calls.length, 0);
  });

  it("rejects an unknown stage (exit 2)", async () => {
    const { result } = drift(["qa"]);
    const { code, stderr } = await result;
    assert.equal(code, 2);
    assert.match(stderr, /unknown stage "qa"/);
  });
});
