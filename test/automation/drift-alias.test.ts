import * as assert from "node:assert/strict";
import { GetAliasCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { extractDrift } from "../../automation/drift/extract";
import { renderDriftText } from "../../automation/drift/render";
import { type TrafficShiftState, trafficShiftProvider } from "../../components/traffic-shift";
import {
  ALIAS_TYPE,
  aliasState,
  canaryFunctionState,
  deployedShift,
  type RefreshDiffModel,
  refreshOf,
  TRAFFIC_SHIFT_TYPE,
  trafficShiftState,
} from "../helpers/drift";

/*
 * The TrafficShift provider's `read` and the drift extraction must agree: a refresh runs the real
 * `read` against the alias (Lambda GetAlias faked at the SDK client), and its result is the live
 * state of the TrafficShift's refresh events, next to the alias's own. The events follow the
 * engine's desired-state refresh diff (Pulumi >= 3.120) unless a test asks for the legacy one: the
 * alias ignores functionVersion and routingConfig, so moving it alone leaves its step `same`.
 */
describe("drift of the live alias against the version the stack deployed", () => {
  let lambda: AwsClientStub<LambdaClient>;
  before(() => {
    lambda = mockClient(LambdaClient);
  });
  beforeEach(() => lambda.reset());
  after(() => lambda.restore());

  /** A refresh of the alias (recorded on `recordedVersion`) and of its TrafficShift, read by the real provider. */
  async function refreshWithAliasOn(
    liveVersion: string,
    deployedVersion: string,
    weights?: Record<string, number>,
    options: { model?: RefreshDiffModel; recordedVersion?: string; publishedVersion?: string } = {},
  ) {
    lambda.on(GetAliasCommand).resolves({
      FunctionVersion: liveVersion,
      RoutingConfig: weights ? { AdditionalVersionWeights: weights } : undefined,
    });
    const recorded = trafficShiftState(deployedShift(deployedVersion));
    const read = await trafficShiftProvider.read?.(
      String(recorded.id),
      recorded.outputs as TrafficShiftState,
    );
    const live = read?.id ? trafficShiftState({ ...read.props }) : undefined;
    const model = { model: options.model };
    const published = options.publishedVersion ?? deployedVersion;
    return [
      ...refreshOf(canaryFunctionState(published), canaryFunctionState(published), model),
      ...refreshOf(aliasState(options.recordedVersion ?? "1"), aliasState(liveVersion, weights), model),
      ...refreshOf(recorded, live, model),
    ];
  }

  const resultOf = (events: EngineEvent[], type: string) =>
    events.find((event) => event.resOutputsEvent?.metadata.type === type)?.resOutputsEvent?.metadata;

  it("counts the alias's version change as expected when the alias is on the version the stack last deployed", async () => {
    const findings = extractDrift(await refreshWithAliasOn("4", "4"));

    assert.deepEqual(findings.drifted, []);
    assert.deepEqual(
      findings.expected.map((resource) => [
        resource.type,
        resource.properties.map((property) => property.path),
      ]),
      [[ALIAS_TYPE, ["functionVersion"]]],
    );
  });

  it("reports the alias and its TrafficShift as drift when the alias was moved to another version", async () => {
    const findings = extractDrift(await refreshWithAliasOn("2", "4"));

    assert.deepEqual(findings.expected, []);
    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.deepEqual(alias?.properties, [
      { path: "functionVersion", kind: "update", recorded: "1", live: "2" },
    ]);
    assert.match(
      alias?.reason ?? "",
      /alias platform-prod-users-list:live is on version 2, but the stack last deployed version 4/,
    );
    const shift = findings.drifted.find((resource) => resource.type === TRAFFIC_SHIFT_TYPE);
    assert.deepEqual(shift?.properties, [
      { path: "currentVersion", kind: "update", recorded: "4", live: "2" },
    ]);
  });

  it("refreshes a hand-moved alias as same, with its live version in the step's new state (fixture)", async () => {
    const alias = resultOf(await refreshWithAliasOn("2", "4"), ALIAS_TYPE);

    assert.equal(alias?.op, "same");
    assert.equal(alias?.new?.outputs?.functionVersion, "2");
  });

  it("explains the TrafficShift's currentVersion by the same reason as the alias", async () => {
    const findings = extractDrift(await refreshWithAliasOn("2", "4"));

    const shift = findings.drifted.find((resource) => resource.type === TRAFFIC_SHIFT_TYPE);
    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.ok(alias?.reason);
    assert.equal(shift?.reason, alias?.reason);
  });

  it("reports the moved alias when its state already holds the live version (a refresh adopted it)", async () => {
    const findings = extractDrift(await refreshWithAliasOn("2", "4", undefined, { recordedVersion: "2" }));

    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.deepEqual(alias?.properties, [
      { path: "functionVersion", kind: "update", recorded: "2", live: "2" },
    ]);
    assert.match(alias?.reason ?? "", /is on version 2, but the stack last deployed version 4/);
  });

  it("reports a moved alias whose refresh diff names only another property edited by hand", async () => {
    const events = await refreshWithAliasOn("2", "4");
    const edited = aliasState("2");
    edited.inputs = { ...edited.inputs, description: "edited in the console" };
    edited.outputs = { ...edited.outputs, description: "edited in the console" };
    const aliasSteps = refreshOf(aliasState("1"), edited);
    const findings = extractDrift([
      ...events.filter(
        (event) => (event.resourcePreEvent ?? event.resOutputsEvent)?.metadata.type !== ALIAS_TYPE,
      ),
      ...aliasSteps,
    ]);

    assert.deepEqual(resultOf(aliasSteps, ALIAS_TYPE)?.detailedDiff, {
      description: { diffKind: "add", inputDiff: false },
    });
    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.deepEqual(
      alias?.properties.map((property) => property.path),
      ["functionVersion", "description"],
    );
    assert.match(alias?.reason ?? "", /is on version 2, but the stack last deployed version 4/);
  });

  it("counts a canary deployment under way (weighted to the function's new version) as expected, not drift", async () => {
    const findings = extractDrift(
      await refreshWithAliasOn("4", "4", { "5": 0.1 }, { recordedVersion: "4", publishedVersion: "5" }),
    );

    assert.deepEqual(findings.drifted, []);
    assert.deepEqual(
      findings.expected.map((resource) => [
        resource.type,
        resource.properties.map((property) => property.path),
      ]),
      [
        [ALIAS_TYPE, ["routingConfig"]],
        [TRAFFIC_SHIFT_TYPE, ["additionalVersionWeights"]],
      ],
    );
  });

  for (const [situation, live, weights, published] of [
    ["moved", "2", undefined, "4"],
    ["on the deployed version", "4", undefined, "4"],
    ["weighted by hand", "4", { "2": 0.5 }, "5"],
    ["shifting to the new version", "4", { "5": 0.1 }, "5"],
  ] as const) {
    it(`gives the same report under the legacy refresh diff for an alias ${situation}`, async () => {
      const options = { publishedVersion: published };
      const current = extractDrift(await refreshWithAliasOn(live, "4", weights, options));
      const legacy = extractDrift(
        await refreshWithAliasOn(live, "4", weights, { ...options, model: "legacy" }),
      );

      assert.deepEqual(legacy, current);
    });
  }

  it("reports the moved alias from the legacy refresh's update step", async () => {
    const events = await refreshWithAliasOn("2", "4", undefined, { model: "legacy" });
    const findings = extractDrift(events);

    assert.equal(resultOf(events, ALIAS_TYPE)?.op, "update");
    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.match(alias?.reason ?? "", /is on version 2, but the stack last deployed version 4/);
  });

  it("reports weights to another version as drift, even on the deployed version", async () => {
    const findings = extractDrift(
      await refreshWithAliasOn("4", "4", { "2": 0.5 }, { publishedVersion: "5" }),
    );

    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.deepEqual(
      alias?.properties.map((property) => property.path),
      ["functionVersion", "routingConfig"],
    );
    assert.match(alias?.reason ?? "", /sends 50% to version 2, but the stack last deployed version 4 alone/);
    assert.ok(findings.drifted.some((resource) => resource.type === TRAFFIC_SHIFT_TYPE));
  });

  it("reports a change of the live alias as drift when no TrafficShift deploys it", () => {
    // Without a TrafficShift the alias ignores nothing: the refresh diff names the version.
    const findings = extractDrift(refreshOf(aliasState("1"), aliasState("4"), { ignoreChanges: [] }));

    assert.equal(findings.drifted.length, 1);
    assert.match(findings.drifted[0].reason ?? "", /no TrafficShift of platform-prod-users-list:live/);
  });

  it("says in the report why the alias change is drift", async () => {
    const findings = extractDrift(await refreshWithAliasOn("2", "4"));
    const text = renderDriftText({
      stage: "prod",
      driftedCount: findings.drifted.length,
      stacks: [
        { stage: "prod", region: "eu-west-1", stackName: "prod-eu-west-1", state: "drifted", ...findings },
      ],
    });

    assert.match(
      text,
      /functionVersion: "1" \(recorded\) -> "2" \(live\)\n\s+why: alias platform-prod-users-list:live is on version 2/,
    );
    assert.match(
      text,
      /currentVersion: "4" \(recorded\) -> "2" \(live\)\n\s+why: alias platform-prod-users-list:live is on version 2/,
    );
  });
});
