import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  accountSettingsConflict,
  accountSettingsManagers,
  findAccountSettingsConflicts,
} from "../../automation/plan/account-settings-check";
import { PlanError, PROJECT_DIR, planStack } from "../../automation/plan/plan";
import { readStackConfig, syncRegionStackFiles } from "../../automation/plan/stack-config";

const projects: string[] = [];

/** A project with the real Pulumi.yaml and these stack files (`name` -> YAML config lines). */
function project(stacks: Record<string, string[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-account-settings-"));
  projects.push(dir);
  fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  for (const [stack, lines] of Object.entries(stacks)) {
    fs.writeFileSync(
      path.join(dir, `Pulumi.${stack}.yaml`),
      `config:\n${lines.map((l) => `  ${l}\n`).join("")}`,
    );
  }
  return dir;
}

/** A stage's stack file lines: its regions (the first is aws:region) and whether it manages. */
function stage(name: string, regions: string[], manages: boolean, extra: string[] = []): string[] {
  return [
    `aws:region: ${regions[0]}`,
    `platform:stage: ${name}`,
    `platform:regions: [${regions.join(", ")}]`,
    `platform:manageAccountSettings: ${manages}`,
    ...extra,
  ];
}

describe("one API Gateway account-settings manager per account and region", () => {
  after(() => {
    for (const dir of projects) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the project's stack files name one manager per account and region", () => {
    const managers = accountSettingsManagers(PROJECT_DIR);
    assert.deepEqual(findAccountSettingsConflicts(managers), []);
    assert.deepEqual(
      managers.map((m) => `${m.stack} ${m.region}`),
      ["prod us-east-1", "prod-us-west-2 us-west-2", "prod-eu-west-1 eu-west-1"],
    );
  });

  it("refuses the plan of a stage when another stage manages the same region, naming both stack files, the region and the key", async () => {
    const dir = project({
      dev: stage("dev", ["us-east-1"], true),
      prod: stage("prod", ["us-east-1", "us-west-2"], true),
    });
    for (const stack of ["dev", "prod"]) {
      await assert.rejects(planStack(stack, { projectDir: dir }), (error: unknown) => {
        assert.ok(error instanceof PlanError);
        assert.match(
          error.message,
          /Pulumi\.dev\.yaml \(stack dev\) and Pulumi\.prod\.yaml \(stack prod\) both set platform:manageAccountSettings: true in region us-east-1/,
        );
        return true;
      });
    }
  });

  it("refuses the plan of a region stack whose region another stage manages", async () => {
    const dir = project({
      prod: stage("prod", ["us-east-1", "eu-west-1"], true),
      staging: stage("staging", ["eu-west-1"], true),
    });
    syncRegionStackFiles(dir); // a region stack has a file of its own, as `platform stacks sync` writes it
    await assert.rejects(
      planStack("prod-eu-west-1", { projectDir: dir }),
      /Pulumi\.prod-eu-west-1\.yaml \(stack prod-eu-west-1\) and Pulumi\.staging\.yaml \(stack staging\) both set platform:manageAccountSettings: true in region eu-west-1/,
    );
  });

  it("accepts two managers of one region whose aws:allowedAccountIds differ", () => {
    const dir = project({
      dev: stage("dev", ["us-east-1"], true, ['aws:allowedAccountIds: ["111111111111"]']),
      prod: stage("prod", ["us-east-1"], true, ['aws:allowedAccountIds: ["222222222222"]']),
    });
    assert.equal(accountSettingsConflict(dir, readStackConfig(dir, "dev")), undefined);
  });

  it("refuses two managers of one region when only one names its account", () => {
    const dir = project({
      dev: stage("dev", ["us-east-1"], true),
      prod: stage("prod", ["us-east-1"], true, ['aws:allowedAccountIds: ["222222222222"]']),
    });
    assert.match(String(accountSettingsConflict(dir, readStackConfig(dir, "dev"))), /in region us-east-1/);
  });

  it("reads a region stack's own stack file instead of its stage's", () => {
    const dir = project({
      prod: stage("prod", ["us-east-1", "eu-west-1"], true),
      "prod-eu-west-1": stage("prod", ["us-east-1", "eu-west-1"], false, ["aws:region: eu-west-1"]).slice(1),
      staging: stage("staging", ["eu-west-1"], true),
    });
    assert.equal(accountSettingsConflict(dir, readStackConfig(dir, "staging")), undefined);
  });

  it("judges the planned stack by its effective config, overrides included", () => {
    const dir = project({
      dev: stage("dev", ["us-east-1"], true),
      prod: stage("prod", ["us-east-1"], true),
    });
    const dev = readStackConfig(dir, "dev");
    dev.config["platform:manageAccountSettings"] = "false";
    assert.equal(accountSettingsConflict(dir, dev), undefined);
  });
});
