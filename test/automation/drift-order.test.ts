import * as assert from "node:assert/strict";
import type { EngineEvent, StepEventStateMetadata } from "@pulumi/pulumi/automation";
import fc from "fast-check";
import { extractDrift } from "../../automation/drift/extract";
import { renderDriftText } from "../../automation/drift/render";
import {
  aliasState,
  deployedShift,
  interleave,
  LIVE_FUNCTION_ID,
  OLD_FUNCTION_ID,
  REPLACED_FUNCTION_TYPE,
  refreshOf,
  replacedFunctionRefresh,
  tableDrift,
  trafficShiftState,
} from "../helpers/drift";

/*
 * The engine refreshes resources in parallel: the pre-event and the result of one state come in
 * that order, but the events of different states (several states of one URN included) interleave
 * in any way. The drift report must not depend on it.
 */

/** A queue's state, for generated stacks: `urn` picks one of a few URNs, so that states share them. */
function queueState(
  urn: number,
  id: string,
  delaySeconds: number,
  pendingDeletion: boolean,
): StepEventStateMetadata {
  const outputs = { name: id, delaySeconds, arn: `arn:aws:sqs:eu-west-1:123456789012:${id}` };
  return {
    type: "aws:sqs/queue:Queue",
    urn: `urn:pulumi:prod-eu-west-1::platform::platform:index:Platform$aws:sqs/queue:Queue::queue-${urn}`,
    custom: true,
    ...(pendingDeletion ? { delete: true } : {}),
    id,
    parent: "",
    inputs: { name: id, delaySeconds },
    outputs,
    provider: "",
  };
}

/** Generated refresh steps: each a state (unique id) of one of three URNs, unchanged, changed or gone. */
const generatedSteps = fc
  .uniqueArray(
    fc.record({
      urn: fc.integer({ min: 0, max: 2 }),
      id: fc.stringMatching(/^[a-z0-9]{7}$/),
      pendingDeletion: fc.boolean(),
      outcome: fc.constantFrom("same", "changed", "gone"),
    }),
    { selector: (step) => step.id, minLength: 1, maxLength: 8 },
  )
  .map((specs) =>
    specs.map(({ urn, id, pendingDeletion, outcome }) => {
      const recorded = queueState(urn, id, 0, pendingDeletion);
      const live =
        outcome === "gone" ? undefined : queueState(urn, id, outcome === "changed" ? 30 : 0, pendingDeletion);
      return refreshOf(recorded, live);
    }),
  );

/** The fixed steps: a replaced function's two states, a drifted table, the canary alias and its shift. */
const fixedSteps = (): EngineEvent[][] => [
  ...replacedFunctionRefresh(),
  tableDrift(),
  refreshOf(aliasState("1"), aliasState("4")),
  refreshOf(trafficShiftState(deployedShift("4")), trafficShiftState(deployedShift("4"))),
];

/** Orders: for each event, which pending step's next event comes (see interleave). */
const orders = fc.array(fc.nat({ max: 50 }), { maxLength: 40 });

describe("drift from any order of the engine's events", () => {
  it("reports both states of a URN: the replacement's change and the old function pending deletion", () => {
    const findings = extractDrift(replacedFunctionRefresh().flat());

    assert.deepEqual(
      findings.drifted.map((resource) => [
        resource.type,
        resource.id,
        resource.pendingDeletion ?? false,
        resource.change,
        resource.properties.map((property) => [property.path, property.recorded, property.live]),
      ]),
      [
        [REPLACED_FUNCTION_TYPE, LIVE_FUNCTION_ID, false, "update", [["memorySize", 512, 1024]]],
        [REPLACED_FUNCTION_TYPE, OLD_FUNCTION_ID, true, "delete", []],
      ],
    );
  });

  it("keeps the replacement's drift when the old state's result comes last", () => {
    const [live, old] = replacedFunctionRefresh();
    const findings = extractDrift([live[0], old[0], live[1], old[1]]);

    assert.ok(
      findings.drifted.some((resource) => resource.id === LIVE_FUNCTION_ID && resource.change === "update"),
    );
  });

  it("says in the text report which state is the one pending deletion", () => {
    const findings = extractDrift(replacedFunctionRefresh().flat());
    const text = renderDriftText({
      stage: "prod",
      driftedCount: findings.drifted.length,
      stacks: [
        { stage: "prod", region: "eu-west-1", stackName: "prod-eu-west-1", state: "drifted", ...findings },
      ],
    });

    assert.match(
      text,
      /~ aws:lambda\/function:Function users-list-function \(old state pending deletion, id users-list-function-1b9e4d0\): deleted outside Pulumi/,
    );
    assert.match(text, /~ aws:lambda\/function:Function users-list-function\n/);
  });

  it("gives the same report for every interleaving the engine may produce (property)", () => {
    const steps = fixedSteps();
    const expected = extractDrift(interleave(steps, []));
    fc.assert(
      fc.property(orders, (order) => {
        assert.deepEqual(extractDrift(interleave(steps, order)), expected);
      }),
      { numRuns: 300 },
    );
  });

  it("reports one entry per changed or gone state of generated stacks, in any interleaving (property)", () => {
    fc.assert(
      fc.property(generatedSteps, orders, (steps, order) => {
        const findings = extractDrift(interleave(steps, order));
        assert.deepEqual(findings, extractDrift(interleave(steps, [])));
        const changed = steps.filter(([, result]) => result.resOutputsEvent?.metadata.op !== "same");
        assert.equal(findings.drifted.length, changed.length);
      }),
      { numRuns: 300 },
    );
  });

  it("gives the same report for the events in any order at all, as lines of a log may be (property)", () => {
    const events = interleave(fixedSteps(), []);
    const expected = extractDrift(events);
    fc.assert(
      fc.property(fc.shuffledSubarray(events, { minLength: events.length }), (shuffled) => {
        assert.deepEqual(extractDrift(shuffled), expected);
      }),
      { numRuns: 300 },
    );
  });

  it("judges the alias against the live TrafficShift, not one pending deletion, in either order", () => {
    const live = refreshOf(trafficShiftState(deployedShift("4")), trafficShiftState(deployedShift("4")));
    const oldState = { ...trafficShiftState(deployedShift("2")), id: "old-shift", delete: true };
    const old = refreshOf(oldState, oldState);
    const alias = refreshOf(aliasState("1"), aliasState("4"));

    for (const events of [
      [...live, ...old, ...alias],
      [...old, ...live, ...alias],
    ]) {
      const findings = extractDrift(events);
      assert.deepEqual(findings.drifted, []);
      assert.equal(findings.expected.length, 1);
    }
  });
});
