import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { diffCommand } from "../../automation/commands/diff";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { runCommand } from "../helpers/cli";
import { PROGRAM_FILES } from "../helpers/project";

const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    .toString()
    .trim();

/** Edits `Pulumi.dev.yaml` of the temporary repo by replacing one line. */
function editDevStack(dir: string, from: RegExp, to: string): void {
  const file = path.join(dir, "Pulumi.dev.yaml");
  const text = fs.readFileSync(file, "utf8");
  assert.match(text, from);
  fs.writeFileSync(file, text.replace(from, to));
}

function commitAll(dir: string, message: string): string {
  git(dir, "add", "-A");
  git(dir, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

/**
 * A temporary git repository holding this project's program (as committed here), with three
 * commits: a stack file the program rejects, the stack as it is, then a change to it. The working
 * tree is the last commit, so `--base HEAD~1` compares the change with the stack as it is.
 */
function temporaryRepo(): { dir: string; broken: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-diff-test-"));
  const archive = execFileSync("git", ["archive", "--format=tar", "HEAD", "--", ...PROGRAM_FILES], {
    cwd: PROJECT_DIR,
    maxBuffer: 1 << 30,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: archive });
  fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"), "dir");
  fs.writeFileSync(path.join(dir, ".gitignore"), "node_modules\n");
  git(dir, "init", "-q");
  editDevStack(dir, /platform:memoryMb: \d+/, "platform:memoryMb: 5");
  const broken = commitAll(dir, "a memory size Lambda rejects");
  editDevStack(dir, /platform:memoryMb: 5/, "platform:memoryMb: 256");
  editDevStack(dir, /platform:deletionProtection: false/, "platform:deletionProtection: true");
  commitAll(dir, "the dev stack");
  editDevStack(dir, /platform:memoryMb: 256/, "platform:memoryMb: 512");
  editDevStack(dir, /platform:deletionProtection: true/, "platform:deletionProtection: false");
  commitAll(dir, "more memory, no deletion protection");
  return { dir, broken };
}

describe("platform diff on a git repository's history", function () {
  this.timeout(180_000); // each side is the program under the mock runtime, bundles included
  let repo: { dir: string; broken: string };
  before(() => {
    repo = temporaryRepo();
  });
  after(() => fs.rmSync(repo.dir, { recursive: true, force: true }));

  const diff = (...argv: string[]) => runCommand(diffCommand({ projectDir: repo.dir }), ["diff", ...argv]);

  describe("dev --base HEAD~1 --format markdown", () => {
    let run: Awaited<ReturnType<typeof diff>>;
    before(async () => {
      run = await diff("dev", "--base", "HEAD~1", "--format", "markdown");
    });

    it("exits 0 with a markdown comment naming the base commit", () => {
      assert.equal(run.code, 0, run.stderr);
      const commit = git(repo.dir, "rev-parse", "HEAD~1");
      assert.match(run.stdout, new RegExp(`base \`HEAD~1\` \\(${commit.slice(0, 12)}\\)`));
    });

    it("lists every function as updated with its memory size going from 256 to 512", () => {
      assert.match(run.stdout, /^0 to add, 0 to replace, \d+ to update, 0 to remove;/m);
      for (const name of ["users-get-function", "users-create-function", "users-list-function"]) {
        assert.match(
          run.stdout,
          new RegExp(`\\| \`${name}\` \\| \`memorySize\` \\| \`256\` \\| \`512\` \\|`),
        );
      }
    });

    it("reports the table's deletion protection turned off and its advisory finding introduced", () => {
      assert.match(
        run.stdout,
        /\| `users-table-table` \| `deletionProtectionEnabled` \| `true` \| `false` \|/,
      );
      assert.match(
        run.stdout,
        /\| introduced \| advisory \| `dynamodb-deletion-protection` \| `users-table-table` \|/,
      );
      // One finding per table of the stack (every service's tables lose their protection).
      const introduced = Number(/policy: (\d+) finding\(s\) introduced, 0 fixed/.exec(run.stdout)?.[1]);
      const rows = run.stdout.match(/\| introduced \| advisory \| `dynamodb-deletion-protection` \|/g) ?? [];
      assert.ok(introduced >= 1);
      assert.equal(rows.length, introduced);
    });

    it("gives a higher monthly cost, with the Lambda lines that changed", () => {
      const match = /cost: (\$[\d.]+) -> (\$[\d.]+) a month \(\+\$[\d.]+\)/.exec(run.stdout);
      assert.ok(match, run.stdout);
      assert.ok(Number(match[2].slice(1)) > Number(match[1].slice(1)));
      assert.match(run.stdout, /\| Lambda platform-dev-users-get \| \$/);
    });
  });

  it("prints JSON with the summary counts with --format json", async () => {
    const { code, stdout, stderr } = await diff("dev", "--base", "HEAD~1", "--format", "json");
    assert.equal(code, 0, stderr);
    const json = JSON.parse(stdout) as {
      summary: { update: number; findingsIntroduced: number };
      base: { exists: boolean };
    };
    assert.ok(json.summary.update >= 6);
    const markdown = await diff("dev", "--base", "HEAD~1", "--format", "markdown");
    const introduced = Number(/policy: (\d+) finding\(s\) introduced/.exec(markdown.stdout)?.[1]);
    assert.equal(json.summary.findingsIntroduced, introduced, "JSON and markdown count the same findings");
    assert.equal(json.base.exists, true);
  });

  it("exits 2 naming the ref when the base names no commit", async () => {
    const { code, stderr } = await diff("dev", "--base", "no-such-branch");
    assert.equal(code, 2);
    assert.match(stderr, /--base no-such-branch: no such commit/);
  });

  it("exits 2 for an option-like ref instead of passing it to git", async () => {
    const { code, stderr } = await diff("dev", "--base=--output=/tmp/x");
    assert.equal(code, 2);
    assert.match(stderr, /not a git ref/);
  });

  it("exits 1 naming the base revision when the program fails there", async () => {
    const { code, stderr } = await diff("dev", "--base", repo.broken);
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`cannot plan stack dev at base revision ${repo.broken} \\(${repo.broken.slice(0, 12)}\\)`),
    );
    assert.match(stderr, /memoryMb/);
  });

  it("exits 2 naming the stacks there are for a stack the working tree does not have", async () => {
    const { code, stderr } = await diff("staging", "--base", "HEAD~1");
    assert.equal(code, 2);
    assert.match(stderr, /Unknown stack "staging".*Stacks: dev/);
  });

  it("removes its copy of the base revision", async () => {
    const before = fs
      .readdirSync(os.tmpdir())
      .filter((name) => name.startsWith("platform-diff-") && !name.includes("test"));
    await diff("dev", "--base", "HEAD~1", "--format", "json");
    const after = fs
      .readdirSync(os.tmpdir())
      .filter((name) => name.startsWith("platform-diff-") && !name.includes("test"));
    assert.deepEqual(
      after.filter((name) => !before.includes(name)),
      [],
    );
  });
});
