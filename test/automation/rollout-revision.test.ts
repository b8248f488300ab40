import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { computeRevision, hashFiles } from "../../automation/rollout/revision";
import { RolloutUsageError, readStage, selectTargets } from "../../automation/rollout/targets";

/** A small project: program, config and a test file (which is not part of a revision). */
function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-revision-"));
  fs.mkdirSync(path.join(dir, "components"));
  fs.mkdirSync(path.join(dir, "test"));
  fs.writeFileSync(path.join(dir, "index.ts"), "export const x = 1;\n");
  fs.writeFileSync(path.join(dir, "components", "a.ts"), "export const a = 1;\n");
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: platform\nruntime: nodejs\n");
  fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), "config:\n  aws:region: us-east-1\n");
  fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: us-east-1\n");
  fs.writeFileSync(path.join(dir, "test", "a.test.ts"), "// test\n");
  return dir;
}

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
    cwd: dir,
    encoding: "utf8",
  }).trim();
}

describe("rollout revisions", () => {
  it("is the git commit when the program and config have no uncommitted change", async () => {
    const dir = project();
    git(dir, "init", "-q");
    git(dir, "add", ".");
    git(dir, "commit", "-q", "-m", "init");
    const head = git(dir, "rev-parse", "HEAD");
    assert.equal(await computeRevision(dir, "prod"), head);
    fs.writeFileSync(path.join(dir, "test", "a.test.ts"), "// changed test\n");
    fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: eu-west-1\n");
    assert.equal(await computeRevision(dir, "prod"), head, "tests and other stages do not count");
  });

  it("is a sha256 of the program and config when they have uncommitted changes", async () => {
    const dir = project();
    git(dir, "init", "-q");
    git(dir, "add", ".");
    git(dir, "commit", "-q", "-m", "init");
    fs.writeFileSync(path.join(dir, "components", "a.ts"), "export const a = 2;\n");
    const dirty = await computeRevision(dir, "prod");
    assert.match(dirty, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await computeRevision(dir, "prod"), dirty, "stable");
    fs.writeFileSync(path.join(dir, "components", "b.ts"), "export const b = 1;\n");
    assert.notEqual(await computeRevision(dir, "prod"), dirty, "a new file is a new revision");
  });

  it("is the sha256 outside a git checkout, and changes with the stage's config", async () => {
    const dir = project();
    const first = await computeRevision(dir, "prod");
    assert.equal(first, hashFiles(dir, ["index.ts", "components", "Pulumi.yaml", "Pulumi.prod.yaml"]));
    fs.writeFileSync(path.join(dir, "Pulumi.prod.yaml"), "config:\n  aws:region: us-west-2\n");
    assert.notEqual(await computeRevision(dir, "prod"), first);
  });
});

describe("rollout targets from the stage's settings", () => {
  it("reads the prod stage: three regions, the first primary, its rollout parallelism and drift schedule", () => {
    const prod = readStage("prod");
    assert.deepEqual(prod, {
      stage: "prod",
      app: "platform",
      regions: ["us-east-1", "us-west-2", "eu-west-1"],
      primaryRegion: "us-east-1",
      parallelism: 2,
      driftSchedule: "0 */6 * * *",
    });
    assert.deepEqual(
      selectTargets(prod).map((target) => target.stackName),
      ["prod", "prod-us-west-2", "prod-eu-west-1"],
    );
  });

  it("rejects an unknown stage and a region the stage does not have", () => {
    assert.throws(() => readStage("staging"), RolloutUsageError);
    assert.throws(
      () => selectTargets(readStage("dev"), ["eu-west-1"]),
      /region eu-west-1 not in stage "dev" \(its regions: us-east-1\)/,
    );
  });
});
