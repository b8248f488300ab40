/**
 * The offline engine deploys to local clouds: a rollout of prod runs every gate for real on this
 * machine (the preview's policy, the deployment with the real PreTraffic hooks smoke-testing the
 * real handlers, the health gate calling the local API), and a broken handler halts the canary.
 */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { extractDrift } from "../../automation/drift/extract";
import { OfflineEngine } from "../../automation/engine/offline";
import { assetCacheDir } from "../../automation/local/cloud";
import { LocalTargets } from "../../automation/local/targets";
import { PROJECT_DIR, planStack } from "../../automation/plan/plan";
import type { PlanResult } from "../../automation/plan/types";
import { runRollout } from "../../automation/rollout/orchestrator";
import { readStage, selectTargets } from "../../automation/rollout/targets";

const DEV = { stage: "dev", region: "us-east-1", stackName: "dev" };

/** A plan whose `get` handler answers 500 to everything: what a broken build would ship. */
async function planWithBrokenGet(
  stackName: string,
  options: { projectDir: string; assetDir?: string },
): Promise<PlanResult> {
  const plan = await planStack(stackName, options);
  const broken =
    'export const handler = async () => ({ statusCode: 500, body: JSON.stringify({ message: "broken" }) });\n';
  const sha256 = createHash("sha256").update(broken).digest("hex");
  fs.mkdirSync(assetCacheDir(PROJECT_DIR), { recursive: true });
  fs.writeFileSync(path.join(assetCacheDir(PROJECT_DIR), sha256), broken);
  for (const resource of plan.resources) {
    if (
      resource.type !== "aws:lambda/function:Function" ||
      !String(resource.outputs.name).endsWith("-users-get")
    )
      continue;
    for (const state of [resource.inputs, resource.outputs]) {
      state.code = { $archive: { "index.mjs": { bytes: broken.length, sha256 } } };
    }
  }
  return plan;
}

describe("the offline engine's local target", function () {
  this.timeout(240_000);

  describe("a dev stack deployed locally", () => {
    const targets = new LocalTargets(PROJECT_DIR, { inMemory: true });
    const engine = new OfflineEngine({ local: targets });
    after(() => engine.close());

    it("deploys with up and gives the local API as apiUrl, which answers the health route", async () => {
      const up = await engine.up(DEV, { revision: "r1" });
      assert.match(String(up.outputs.apiUrl), /^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${up.outputs.apiUrl}/health`);
      assert.equal(response.status, 200);
      assert.equal(await engine.deployedRevision(DEV), "r1");
    });

    it("finds no drift right after the deployment", async () => {
      const refresh = await engine.refreshPreview(DEV);
      assert.deepEqual(extractDrift(refresh.events).drifted, []);
    });

    it("reports a table deleted behind its back as drift of that table", async () => {
      const cloud = targets.get("dev");
      assert.ok(cloud);
      await cloud.dynamoDb.client.send(new DeleteTableCommand({ TableName: "platform-dev-users-table" }));
      const drifted = extractDrift((await engine.refreshPreview(DEV)).events).drifted;
      assert.deepEqual(
        drifted.map((d) => [d.type, d.change]),
        [["aws:dynamodb/table:Table", "delete"]],
      );
    });
  });

  describe("a prod rollout", () => {
    it("runs every gate of every region for real and succeeds", async () => {
      const engine = new OfflineEngine({ local: new LocalTargets(PROJECT_DIR, { inMemory: true }) });
      try {
        const info = readStage("prod");
        const report = await runRollout({
          engine,
          stage: "prod",
          targets: selectTargets(info),
          parallelism: 2,
          revision: "rev-1",
        });
        assert.equal(report.status, "succeeded", JSON.stringify(report.failure));
        assert.deepEqual(
          report.regions.map((region) => [
            region.stackName,
            region.state,
            region.gates.map((g) => `${g.gate}:${g.state}`).join(","),
          ]),
          info.regions.map((region, index) => [
            index === 0 ? "prod" : `prod-${region}`,
            "succeeded",
            "preview:succeeded,up:succeeded,health:succeeded",
          ]),
        );
      } finally {
        await engine.close();
      }
    });

    it("halts at the canary region when a handler fails its PreTraffic smoke test, naming the gate and hook", async () => {
      const engine = new OfflineEngine({
        local: new LocalTargets(PROJECT_DIR, { inMemory: true }),
        plan: planWithBrokenGet,
      });
      try {
        const report = await runRollout({
          engine,
          stage: "prod",
          targets: selectTargets(readStage("prod")),
          parallelism: 2,
        });
        assert.equal(report.status, "failed");
        assert.equal(report.failure?.stackName, "prod");
        assert.equal(report.failure?.gate, "up");
        assert.match(
          report.failure?.message ?? "",
          /CodeDeployHook_platform-prod-users-get-pre reported Failed for platform-prod-users-get/,
        );
        assert.ok(
          report.regions.slice(1).every((region) => region.state !== "succeeded"),
          "a region after the canary was deployed",
        );
      } finally {
        await engine.close();
      }
    });
  });
});
