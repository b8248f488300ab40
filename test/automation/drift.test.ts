import * as assert from "node:assert/strict";
import type {
  EngineEvent,
  PropertyDiff,
  StepEventMetadata,
  StepEventStateMetadata,
} from "@pulumi/pulumi/automation";
import { DiffKind } from "@pulumi/pulumi/automation";
import { detectDrift, remediateDrift } from "../../automation/drift/detect";
import { extractDrift, maskSecrets, parsePropertyPath, SECRET } from "../../automation/drift/extract";
import { renderDriftText } from "../../automation/drift/render";
import { cliSummaryEvent } from "../../automation/engine/events";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { StackRef, UpOperationOptions, UpResult } from "../../automation/engine/types";
import { deployedShift, refreshOf, trafficShiftState } from "../helpers/drift";

/*
 * Fixtures shaped as the Automation API delivers the events of `pulumi refresh --preview-only`
 * (`stack.previewRefresh()`): per resource a resourcePreEvent with op `refresh`, then a
 * resOutputsEvent whose op is the refresh's result (`same`, `update`, `delete`), with `old` (the
 * recorded state) and `new` (the live state); secrets serialized by the engine's blinding crypter.
 */

const STACK = "prod-us-west-2";
const PROJECT = "platform";
const PROVIDER = `urn:pulumi:${STACK}::${PROJECT}::pulumi:providers:aws::default_7_48_0::04da6b54-80e4-46f7-96ec-b56ff0331ba9`;

/** A secret value as it appears in engine events (the blinding crypter's ciphertext). */
const secret = () => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  ciphertext: "[secret]",
});

function urn(type: string, name: string): string {
  return `urn:pulumi:${STACK}::${PROJECT}::platform:index:Platform$platform:lambda:ServerlessFunction$${type}::${name}`;
}

function state(
  type: string,
  name: string,
  id: string,
  outputs: Record<string, unknown>,
): StepEventStateMetadata {
  return {
    type,
    urn: urn(type, name),
    custom: true,
    id,
    parent: `urn:pulumi:${STACK}::${PROJECT}::platform:index:Platform$platform:lambda:ServerlessFunction::${name.replace(/-(function|alias)$/, "")}`,
    inputs: Object.fromEntries(
      Object.entries(outputs).filter(([key]) => !["arn", "lastModified"].includes(key)),
    ),
    outputs,
    provider: `${PROVIDER}`,
  };
}

let sequence = 0;
function event(fields: Partial<EngineEvent>): EngineEvent {
  return { sequence: sequence++, timestamp: 1767225600 + sequence, ...fields };
}

/** The two events of one refreshed resource. */
function refreshed(
  recorded: StepEventStateMetadata,
  live: StepEventStateMetadata | undefined,
  result: "same" | "update" | "delete",
  diff: { diffs?: string[]; detailedDiff?: Record<string, PropertyDiff> } = {},
): EngineEvent[] {
  const base: StepEventMetadata = {
    op: "refresh",
    urn: recorded.urn,
    type: recorded.type,
    old: recorded,
    new: live,
    provider: PROVIDER,
  };
  return [
    event({ resourcePreEvent: { metadata: base, planning: true } }),
    event({ resOutputsEvent: { metadata: { ...base, op: result, ...diff }, planning: true } }),
  ];
}

const FUNCTION = "aws:lambda/function:Function";
const ALIAS = "aws:lambda/alias:Alias";

function functionState(memorySize: number, extra: Record<string, unknown> = {}): StepEventStateMetadata {
  return state(FUNCTION, "users-list-function", "platform-prod-users-list", {
    name: "platform-prod-users-list",
    memorySize,
    timeout: 15,
    tags: { app: "platform", stage: "prod" },
    environment: { variables: { TABLE_NAME: "platform-prod-users-table", API_KEY: secret() } },
    arn: "arn:aws:lambda:us-west-2:123456789012:function:platform-prod-users-list",
    ...extra,
  });
}

function aliasState(functionVersion: string, weights?: Record<string, number>): StepEventStateMetadata {
  return state(
    ALIAS,
    "users-list-alias",
    "arn:aws:lambda:us-west-2:123456789012:function:platform-prod-users-list:live",
    {
      name: "live",
      functionName: "platform-prod-users-list",
      functionVersion,
      routingConfig: weights ? { additionalVersionWeights: weights } : null,
    },
  );
}

const stackEvents = (): EngineEvent[] => {
  const stackState: StepEventStateMetadata = {
    type: "pulumi:pulumi:Stack",
    urn: `urn:pulumi:${STACK}::${PROJECT}::pulumi:pulumi:Stack::${PROJECT}-${STACK}`,
    id: "",
    parent: "",
    inputs: {},
    outputs: {},
    provider: "",
  };
  return refreshed(stackState, stackState, "same");
};

const detailed = (kind: DiffKind, inputDiff = false): PropertyDiff => ({ diffKind: kind, inputDiff });

describe("drift extraction from refresh events", () => {
  it("lists each drifted resource with its changed properties, recorded and live values", () => {
    const events = [
      event({ preludeEvent: { config: { "aws:region": "us-west-2" } } }),
      ...stackEvents(),
      ...refreshed(
        functionState(1024),
        functionState(512, { tags: { app: "platform", stage: "prod", owner: "someone" } }),
        "update",
        {
          diffs: ["memorySize", "tags"],
          detailedDiff: {
            memorySize: detailed(DiffKind.update, true),
            "tags.owner": detailed(DiffKind.add, true),
          },
        },
      ),
      ...refreshed(aliasState("3"), aliasState("3"), "same"),
      event({
        summaryEvent: cliSummaryEvent({
          maybeCorrupt: false,
          durationSeconds: 3,
          resourceChanges: { same: 2, update: 1 },
          PolicyPacks: {},
        }),
      }),
    ];
    const findings = extractDrift(events);
    assert.equal(findings.drifted.length, 1);
    const [drifted] = findings.drifted;
    assert.equal(drifted.urn, urn(FUNCTION, "users-list-function"));
    assert.equal(drifted.type, FUNCTION);
    assert.equal(drifted.name, "users-list-function");
    assert.equal(drifted.change, "update");
    assert.deepEqual(drifted.properties, [
      { path: "memorySize", kind: "update", recorded: 1024, live: 512 },
      { path: "tags.owner", kind: "add", recorded: undefined, live: "someone" },
    ]);
    assert.deepEqual(findings.expected, []);
  });

  it("finds nothing when every resource refreshed as same", () => {
    const events = [
      ...stackEvents(),
      ...refreshed(functionState(1024), functionState(1024), "same"),
      ...refreshed(aliasState("7"), aliasState("7"), "same"),
    ];
    assert.deepEqual(extractDrift(events), { drifted: [], expected: [] });
  });

  it("shows CodeDeploy's changes to the live alias as expected, not as drift", () => {
    const events = [
      ...stackEvents(),
      ...refreshed(functionState(1024), functionState(1024), "same"),
      ...refreshed(aliasState("3"), aliasState("4"), "update", {
        diffs: ["functionVersion"],
        detailedDiff: { functionVersion: detailed(DiffKind.update) },
      }),
      ...refreshOf(trafficShiftState(deployedShift("4")), trafficShiftState(deployedShift("4"))),
    ];
    const findings = extractDrift(events);
    assert.deepEqual(findings.drifted, []);
    assert.equal(findings.expected.length, 1);
    assert.equal(findings.expected[0].type, ALIAS);
    assert.match(findings.expected[0].reason, /CodeDeploy/);
    assert.deepEqual(findings.expected[0].properties, [
      { path: "functionVersion", kind: "update", recorded: "3", live: "4" },
    ]);
  });

  it("still reports other changes to the alias as drift", () => {
    const changed = aliasState("4");
    changed.outputs = { ...changed.outputs, description: "edited in the console" };
    const findings = extractDrift([
      ...refreshed(aliasState("3"), changed, "update", { diffs: ["functionVersion", "description"] }),
      ...refreshOf(trafficShiftState(deployedShift("4")), trafficShiftState(deployedShift("4"))),
    ]);
    assert.deepEqual(
      findings.drifted.map((resource) => resource.properties.map((property) => property.path)),
      [["description"]],
    );
    assert.deepEqual(
      findings.expected.map((resource) => resource.properties.map((property) => property.path)),
      [["functionVersion"]],
    );
  });

  it("masks secrets in recorded and live values", () => {
    const recorded = functionState(1024);
    const live = functionState(1024, {
      environment: { variables: { TABLE_NAME: "platform-prod-users-table", API_KEY: secret() } },
      tags: { app: "platform", stage: "prod", token: secret() },
    });
    const findings = extractDrift(
      refreshed(recorded, live, "update", {
        detailedDiff: {
          'environment.variables["API_KEY"]': detailed(DiffKind.update),
          "tags.token": detailed(DiffKind.add),
        },
      }),
    );
    assert.deepEqual(findings.drifted[0].properties, [
      { path: 'environment.variables["API_KEY"]', kind: "update", recorded: SECRET, live: SECRET },
      { path: "tags.token", kind: "add", recorded: SECRET, live: SECRET },
    ]);
    assert.ok(!JSON.stringify(findings).includes("ciphertext"));
  });

  it("compares old and new outputs when the engine sent no diff", () => {
    const findings = extractDrift(
      refreshed(
        functionState(1024),
        functionState(1024, { timeout: 29, environment: { variables: { API_KEY: secret() } } }),
        "update",
      ),
    );
    assert.deepEqual(findings.drifted[0].properties, [
      {
        path: "environment",
        kind: "update",
        recorded: { variables: { TABLE_NAME: "platform-prod-users-table", API_KEY: SECRET } },
        live: { variables: { API_KEY: SECRET } },
      },
      { path: "timeout", kind: "update", recorded: 15, live: 29 },
    ]);
  });

  it("reports a resource deleted outside Pulumi", () => {
    const findings = extractDrift(refreshed(functionState(1024), undefined, "delete"));
    assert.deepEqual(
      findings.drifted.map((resource) => [resource.name, resource.change, resource.properties]),
      [["users-list-function", "delete", []]],
    );
  });

  it("parses property paths and masks nested secrets", () => {
    assert.deepEqual(parsePropertyPath('a.b[0]["c.d"].e'), ["a", "b", 0, "c.d", "e"]);
    assert.deepEqual(maskSecrets({ a: [secret(), "x"], b: "[secret]" }), { a: [SECRET, "x"], b: SECRET });
  });
});

describe("drift detection over a stage's stacks", () => {
  const stacks: StackRef[] = [
    { stage: "prod", region: "us-east-1", stackName: "prod" },
    { stage: "prod", region: "us-west-2", stackName: "prod-us-west-2" },
  ];
  const driftEvents = () =>
    refreshed(functionState(1024), functionState(512), "update", {
      detailedDiff: { memorySize: detailed(DiffKind.update) },
    });

  it("checks every stack with a preview-only refresh and reports drift per stack", async () => {
    const engine = new InMemoryEngine({ regions: { "us-west-2": { refreshEvents: driftEvents() } } });
    const report = await detectDrift({ engine, stage: "prod", stacks });
    assert.deepEqual(
      report.stacks.map((stack) => [stack.stackName, stack.state, stack.drifted.length]),
      [
        ["prod", "clean", 0],
        ["prod-us-west-2", "drifted", 1],
      ],
    );
    assert.equal(report.driftedCount, 1);
    assert.deepEqual(engine.callsOf("refreshPreview").length, 2);
    assert.equal(engine.callsOf("up").length + engine.callsOf("refresh").length, 0, "nothing is written");
    const text = renderDriftText(report);
    assert.match(text, /prod \(us-east-1\): no drift/);
    assert.match(text, /prod-us-west-2 \(us-west-2\): 1 drifted resource/);
    assert.match(text, /memorySize: 1024 \(recorded\) -> 512 \(live\)/);
  });

  it("remediates only the drifted stacks, with the chosen mode", async () => {
    const engine = new InMemoryEngine({ regions: { "us-west-2": { refreshEvents: driftEvents() } } });
    const report = await detectDrift({ engine, stage: "prod", stacks });
    await remediateDrift(report, { engine, mode: "refresh" });
    assert.deepEqual(
      engine.callsOf("refresh").map((call) => call.stack.stackName),
      ["prod-us-west-2"],
    );
    assert.deepEqual(report.stacks[1].remediation, { mode: "refresh", state: "succeeded" });
    await remediateDrift(report, { engine, mode: "up", revision: "r9" });
    assert.deepEqual(
      engine.callsOf("up").map((call) => call.stack.stackName),
      ["prod-us-west-2"],
    );
    assert.equal(engine.revisionOf(stacks[1]), "r9");
  });

  it("remediates with up by refreshing first (pulumi up --refresh), so the check after it finds no drift", async () => {
    const engine = new InMemoryEngine({ regions: { "us-west-2": { refreshEvents: driftEvents() } } });
    const report = await detectDrift({ engine, stage: "prod", stacks });
    await remediateDrift(report, { engine, mode: "up" });
    assert.deepEqual(
      engine.callsOf("up").map((call) => [call.stack.stackName, call.refresh]),
      [["prod-us-west-2", true]],
    );
    assert.deepEqual(report.stacks[1].remediation, { mode: "up", state: "succeeded" });
    const after = await detectDrift({ engine, stage: "prod", stacks });
    assert.equal(after.driftedCount, 0);
  });

  it("checks each remediated stack again and reports drift an up left as a failed remediation, naming it", async () => {
    /** An engine whose update does not refresh, as `pulumi up` without --refresh. */
    class PlainUpEngine extends InMemoryEngine {
      override up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
        return super.up(stack, { ...options, refresh: false });
      }
    }
    const engine = new PlainUpEngine({ regions: { "us-west-2": { refreshEvents: driftEvents() } } });
    const report = await detectDrift({ engine, stage: "prod", stacks });
    await remediateDrift(report, { engine, mode: "up" });
    const remediation = report.stacks[1].remediation!;
    assert.equal(remediation.state, "failed");
    assert.equal(
      remediation.message,
      "up ran, but 1 resource(s) still drifted: aws:lambda/function:Function users-list-function (memorySize)",
    );
    assert.deepEqual(
      remediation.remaining?.map((resource) => resource.name),
      ["users-list-function"],
    );
    assert.equal(engine.callsOf("refreshPreview").length, 3, "two checks, then the one after the up");
  });

  it("keeps drift in place after a plain up: the update diffs the program against the recorded state", async () => {
    const engine = new InMemoryEngine({ regions: { "us-west-2": { refreshEvents: driftEvents() } } });
    await engine.up(stacks[1]);
    assert.equal((await detectDrift({ engine, stage: "prod", stacks })).driftedCount, 1);
    await engine.refresh(stacks[1]);
    assert.equal(
      (await detectDrift({ engine, stage: "prod", stacks })).driftedCount,
      0,
      "refresh records the live state",
    );
  });

  it("reports a stack whose check failed as an error", async () => {
    const engine = new InMemoryEngine({
      regions: { prod: { failures: { refreshPreview: "no stack named 'prod' found" } } },
    });
    const report = await detectDrift({ engine, stage: "prod", stacks });
    assert.equal(report.stacks[0].state, "error");
    assert.match(report.stacks[0].error!, /no stack named/);
  });
});
