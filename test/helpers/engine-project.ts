import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";

/** What a copy leaves out: history, the local state and scratch directories. */
const LEFT_OUT = new Set([".git", ".pulumi-state", ".data", "test-output"]);

/** Pulumi.yaml and the stack files: what the engine (and the CLI) may write to. */
const STACK_FILE = /^Pulumi(\.[^.]+)?\.ya?ml$/;

/**
 * A throwaway copy of the project for tests that run the engine on it: the project and stack files
 * are copied (creating a stack writes its secrets settings into the project's stack file, see
 * persistSecretsSettings), everything else is a symlink to the project (the program, policy/,
 * node_modules), so the program runs as it is. The caller removes the directory.
 */
export function projectCopy(projectDir: string = PROJECT_DIR): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "platform-project-copy-"));
  for (const entry of fs.readdirSync(projectDir)) {
    if (LEFT_OUT.has(entry)) continue;
    const source = path.join(projectDir, entry);
    if (STACK_FILE.test(entry)) fs.copyFileSync(source, path.join(copy, entry));
    else fs.symlinkSync(source, path.join(copy, entry));
  }
  return copy;
}

/** The project's Pulumi.yaml and stack files with their text, to show a test left them alone. */
export function stackFiles(projectDir: string = PROJECT_DIR): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(projectDir)
      .filter((entry) => STACK_FILE.test(entry))
      .sort()
      .map((entry) => [entry, fs.readFileSync(path.join(projectDir, entry), "utf8")]),
  );
}
