import * as assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { driftCommand } from "../../automation/commands/drift";
import { detectDrift } from "../../automation/drift/detect";
import { EventLogError, parseEventLog } from "../../automation/drift/event-log";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { Engine } from "../../automation/engine/types";
import { runCommand } from "../helpers/cli";
import { preludeEvent, refreshOf, summaryEvent, tableDrift, toJsonl } from "../helpers/drift";

/*
 * `platform drift <stage> --event-log <file>` reads what `pulumi refresh --preview-only
 * --event-log <file>` wrote (one EngineEvent per line) and reports as a live check would. The
 * fixture test/fixtures/drift/prod-eu-west-1.refresh.jsonl follows the CLI's log: sequence gaps,
 * interleaved steps, the summary's `PolicyPacks` key as the CLI writes it, a closing cancelEvent.
 */
const FIXTURE = path.join(__dirname, "..", "fixtures", "drift", "prod-eu-west-1.refresh.jsonl");

/** An engine factory that fails the test if the command asks for an engine. */
const noEngine = (): Engine => {
  throw new Error("the engine must not be used with --event-log");
};

function driftFromLogs(argv: string[]) {
  return runCommand(driftCommand({ engine: noEngine }), ["drift", ...argv]);
}

describe("platform drift --event-log", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "drift-log-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes a log file with these lines and returns its path. */
  function log(name: string, text: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  /** A complete log of the table's refresh on a prod stack, as the CLI writes it. */
  function tableLog(events: EngineEvent[]): string {
    return toJsonl([preludeEvent("eu-west-1"), ...events, summaryEvent(99, { same: 1 })]);
  }

  it("parses a log line by line, with the stack its URNs name and whether it ran to its summary", () => {
    const parsed = parseEventLog(readFileSync(FIXTURE, "utf8"), FIXTURE);

    assert.equal(parsed.events.length, 13);
    assert.equal(parsed.stackName, "prod-eu-west-1");
    assert.equal(parsed.project, "platform");
    assert.equal(parsed.complete, true);
  });

  it("exits 1 and lists every drifted state of the log, without running the engine", async () => {
    const { code, stdout, stderr } = await driftFromLogs(["prod", "--event-log", FIXTURE]);

    assert.equal(code, 1);
    assert.match(
      stdout,
      /Reading drift of prod from event logs: prod-eu-west-1 \(.*prod-eu-west-1\.refresh\.jsonl\)/,
    );
    assert.match(stdout, /prod-eu-west-1 \(eu-west-1\): 4 drifted resources/);
    assert.match(stdout, /billingMode: "PAY_PER_REQUEST" \(recorded\) -> "PROVISIONED" \(live\)/);
    assert.match(stdout, /memorySize: 512 \(recorded\) -> 1024 \(live\)/);
    assert.match(
      stdout,
      /users-list-function \(old state pending deletion, id users-list-function-1b9e4d0\): deleted outside Pulumi/,
    );
    assert.match(stderr, /drift found in prod-eu-west-1: run with --remediate up or --remediate refresh/);
  });

  it("masks secrets in the report read from a log", async () => {
    const { stdout } = await driftFromLogs(["prod", "--event-log", FIXTURE, "--json"]);

    const report = JSON.parse(stdout);
    const getFunction = report.stacks[0].drifted.find(
      (resource: { name: string }) => resource.name === "users-get-function",
    );
    assert.deepEqual(getFunction.properties, [
      { path: 'environment.variables["API_KEY"]', kind: "update", recorded: "[secret]", live: "[secret]" },
    ]);
    assert.ok(!stdout.includes("ciphertext") && !stdout.includes("1b47061264138c4ac30d75fd1eb44270"));
  });

  it("reports exactly what a live check of the same events reports", async () => {
    const events = parseEventLog(readFileSync(FIXTURE, "utf8")).events;
    const engine = new InMemoryEngine({ regions: { "eu-west-1": { refreshEvents: events } } });
    const live = await runCommand(driftCommand({ engine: () => engine }), ["drift", "prod", "--json"]);
    const fromLog = await driftFromLogs(["prod", "--event-log", FIXTURE, "--json"]);

    const liveStack = JSON.parse(live.stdout).stacks.find(
      (stack: { stackName: string }) => stack.stackName === "prod-eu-west-1",
    );
    assert.deepEqual(JSON.parse(fromLog.stdout).stacks, [liveStack]);
    assert.equal(fromLog.code, live.code);
  });

  it("exits 0 for the log of a stack without drift", async () => {
    const file = log(
      "clean.jsonl",
      tableLog(
        refreshOf(
          tableDrift()[0].resourcePreEvent!.metadata.old!,
          tableDrift()[0].resourcePreEvent!.metadata.old,
        ),
      ),
    );

    const { code, stdout } = await driftFromLogs(["prod", "--event-log", file]);

    assert.equal(code, 0);
    assert.match(stdout, /prod-eu-west-1 \(eu-west-1\): no drift/);
  });

  it("reads one log per stack when --event-log is repeated", async () => {
    const other = tableLog(tableDrift()).replaceAll("prod-eu-west-1", "prod-us-west-2");
    const { code, stdout } = await driftFromLogs([
      "prod",
      "--event-log",
      FIXTURE,
      "--event-log",
      log("us-west-2.jsonl", other),
    ]);

    assert.equal(code, 1);
    assert.match(stdout, /prod-us-west-2 \(us-west-2\): 1 drifted resource/);
    assert.match(stdout, /5 drifted resources in 2 stacks\./);
  });

  it("reports a malformed line by its number (exit 2)", async () => {
    const lines = tableLog(tableDrift()).split("\n");
    lines[2] = lines[2].slice(0, 40);
    const file = log("malformed.jsonl", lines.join("\n"));

    const { code, stderr } = await driftFromLogs(["prod", "--event-log", file]);

    assert.equal(code, 2);
    assert.match(stderr, /--event-log .*malformed\.jsonl:3: not JSON/);
  });

  it("names the field of a step event that is not an engine event", () => {
    const text = JSON.stringify({
      sequence: 1,
      timestamp: 1,
      resOutputsEvent: { metadata: { op: "update", type: "x" } },
    });

    assert.throws(
      () => parseEventLog(`\n${text}\n`, "refresh.jsonl"),
      (error: unknown) =>
        error instanceof EventLogError &&
        error.message === "refresh.jsonl:2: resOutputsEvent.metadata.urn must be a string, got nothing",
    );
  });

  it("rejects the log of a stack that is not one of the stage's (exit 2)", async () => {
    const { code, stderr } = await driftFromLogs(["dev", "--event-log", FIXTURE]);

    assert.equal(code, 2);
    assert.match(stderr, /is a log of stack "prod-eu-west-1", which is not a stack of dev \(dev\)/);
  });

  it("rejects a file that does not exist (exit 2)", async () => {
    const { code, stderr } = await driftFromLogs(["prod", "--event-log", path.join(dir, "missing.jsonl")]);

    assert.equal(code, 2);
    assert.match(stderr, /missing\.jsonl: no such file/);
  });

  it("rejects --remediate with --event-log, since a log is only read (exit 2)", async () => {
    const { code, stderr } = await driftFromLogs(["prod", "--event-log", FIXTURE, "--remediate", "up"]);

    assert.equal(code, 2);
    assert.match(stderr, /--remediate needs the engine/);
  });

  it("exits 1 naming the resource and the engine's diagnostic when the logged refresh failed on it", async () => {
    const [pre] = tableDrift();
    const { urn, type } = pre.resourcePreEvent!.metadata;
    const failed: EngineEvent[] = [
      pre,
      {
        sequence: 3,
        timestamp: 3,
        diagnosticEvent: {
          urn,
          message:
            "error: reading DynamoDB Table (platform-prod-users-table): AccessDeniedException: not authorized\n",
          color: "never",
          severity: "error",
        },
      },
      {
        sequence: 4,
        timestamp: 4,
        resOpFailedEvent: { metadata: { ...pre.resourcePreEvent!.metadata }, status: 1, steps: 0 },
      },
    ];
    const { code, stderr } = await driftFromLogs([
      "prod",
      "--event-log",
      log("failed.jsonl", tableLog(failed)),
    ]);

    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(
        `drift check failed for prod-eu-west-1 \\(${type.replace("/", "\\/")} users-table failed \\(refresh\\): reading DynamoDB Table \\(platform-prod-users-table\\): AccessDeniedException`,
      ),
    );
  });

  it("exits 1 for a log that ends before the engine's summary (an unfinished refresh)", async () => {
    const file = log("cut.jsonl", toJsonl([preludeEvent("eu-west-1"), ...tableDrift()]));

    const { code, stderr } = await driftFromLogs(["prod", "--event-log", file]);

    assert.equal(code, 1);
    assert.match(stderr, /cut\.jsonl ends before the engine's summary: the refresh did not finish/);
  });
});

describe("drift check of a refresh whose events report a failure", () => {
  it("reports the stack as an error naming the failed resource, not as clean", async () => {
    const [pre] = tableDrift();
    const engine = new InMemoryEngine({
      regions: {
        "eu-west-1": {
          refreshEvents: [
            pre,
            {
              sequence: 3,
              timestamp: 3,
              resOpFailedEvent: { metadata: pre.resourcePreEvent!.metadata, status: 1, steps: 0 },
            },
          ],
        },
      },
    });
    const report = await detectDrift({
      engine,
      stage: "prod",
      stacks: [{ stage: "prod", region: "eu-west-1", stackName: "prod-eu-west-1" }],
    });

    assert.equal(report.stacks[0].state, "error");
    assert.equal(report.stacks[0].error, "aws:dynamodb/table:Table users-table failed (refresh)");
  });
});
