import * as assert from "node:assert/strict";
import { GetAliasCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { type AwsClientStub, mockClient } from "aws-sdk-client-mock";
import { extractDrift } from "../../automation/drift/extract";
import { renderDriftText } from "../../automation/drift/render";
import { type TrafficShiftState, trafficShiftProvider } from "../../components/traffic-shift";
import {
  ALIAS_TYPE,
  aliasState,
  deployedShift,
  refreshOf,
  TRAFFIC_SHIFT_TYPE,
  trafficShiftState,
} from "../helpers/drift";

/*
 * The TrafficShift provider's `read` and the drift extraction must agree: a refresh runs the real
 * `read` against the alias (Lambda GetAlias faked at the SDK client), and its result is the live
 * state of the TrafficShift's refresh events, next to the alias's own.
 */
describe("drift of the live alias against the version the stack deployed", () => {
  let lambda: AwsClientStub<LambdaClient>;
  before(() => {
    lambda = mockClient(LambdaClient);
  });
  beforeEach(() => lambda.reset());
  after(() => lambda.restore());

  /** A refresh of the alias (created on version 1) and of its TrafficShift, read by the real provider. */
  async function refreshWithAliasOn(
    liveVersion: string,
    deployedVersion: string,
    weights?: Record<string, number>,
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
    return [...refreshOf(aliasState("1"), aliasState(liveVersion, weights)), ...refreshOf(recorded, live)];
  }

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

  it("reports weights to another version as drift, even on the deployed version", async () => {
    const findings = extractDrift(await refreshWithAliasOn("4", "4", { "2": 0.5 }));

    const alias = findings.drifted.find((resource) => resource.type === ALIAS_TYPE);
    assert.deepEqual(
      alias?.properties.map((property) => property.path),
      ["functionVersion", "routingConfig"],
    );
    assert.match(alias?.reason ?? "", /sends 50% to version 2, but the stack last deployed version 4 alone/);
    assert.ok(findings.drifted.some((resource) => resource.type === TRAFFIC_SHIFT_TYPE));
  });

  it("reports a change of the live alias as drift when no TrafficShift deploys it", () => {
    const findings = extractDrift(refreshOf(aliasState("1"), aliasState("4")));

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
  });
});
