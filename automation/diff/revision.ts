import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A git ref that names no commit, or a project that is not in a git repository. */
export class RevisionError extends Error {
  constructor(
    readonly ref: string,
    message: string,
  ) {
    super(message);
    this.name = "RevisionError";
  }
}

/** The project as it was at a commit, in a temporary folder; `dispose()` removes it. */
export interface ProjectRevision {
  ref: string;
  commit: string;
  /** The project's folder inside the copy (it may not exist at that commit). */
  projectDir: string;
  dispose(): void;
}

function git(cwd: string, args: string[], input?: Buffer): Buffer {
  return execFileSync("git", args, {
    cwd,
    input,
    maxBuffer: 1 << 30,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

const stderrOf = (error: unknown) =>
  ((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim();

/** The commit `ref` names in the repository holding `projectDir`. */
export function resolveCommit(projectDir: string, ref: string): { commit: string; toplevel: string } {
  let toplevel: string;
  try {
    toplevel = git(projectDir, ["rev-parse", "--show-toplevel"]).toString().trim();
  } catch (error) {
    throw new RevisionError(
      ref,
      `--base ${ref}: ${projectDir} is not in a git repository (${stderrOf(error)})`,
    );
  }
  // A ref starting with "-" would be read as an option by git.
  if (ref.startsWith("-") || ref.trim() === "") {
    throw new RevisionError(
      ref,
      `--base ${JSON.stringify(ref)}: not a git ref (a branch, tag, commit or HEAD~1)`,
    );
  }
  try {
    const commit = git(projectDir, [
      "rev-parse",
      "--verify",
      "--quiet",
      "--end-of-options",
      `${ref}^{commit}`,
    ])
      .toString()
      .trim();
    return { commit, toplevel };
  } catch {
    throw new RevisionError(
      ref,
      `--base ${ref}: no such commit in the repository at ${toplevel} (a branch, tag, commit or HEAD~1; in a shallow clone, fetch the base first: git fetch --deepen or actions/checkout with fetch-depth: 0)`,
    );
  }
}

/** The nearest node_modules folder at or above `dir`. */
function nodeModulesOf(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    const candidate = path.join(current, "node_modules");
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(current) === current) return undefined;
  }
}

/**
 * Extracts the repository's tree at `ref` (git archive: committed files only) into a temporary
 * folder, with the working tree's node_modules linked at the same place, so that the base's
 * program runs with the same installed packages (one @pulumi/pulumi instance, whose mock runtime
 * the planner installs).
 *
 * @throws RevisionError for a ref that names no commit.
 */
export function checkoutRevision(projectDir: string, ref: string): ProjectRevision {
  const realProjectDir = fs.realpathSync(projectDir);
  const { commit, toplevel } = resolveCommit(realProjectDir, ref);
  const relative = path.relative(fs.realpathSync(toplevel), realProjectDir);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "platform-diff-"));
  const dispose = () => fs.rmSync(root, { recursive: true, force: true });
  try {
    const archive = git(toplevel, ["archive", "--format=tar", commit]);
    execFileSync("tar", ["-x", "-C", root], { input: archive, stdio: ["pipe", "ignore", "pipe"] });
    const nodeModules = nodeModulesOf(realProjectDir);
    if (nodeModules) {
      const inRepo = path.relative(fs.realpathSync(toplevel), path.dirname(nodeModules));
      const linkDir = inRepo.startsWith("..") ? path.join(root, relative) : path.join(root, inRepo);
      fs.mkdirSync(linkDir, { recursive: true });
      const link = path.join(linkDir, "node_modules");
      if (!fs.existsSync(link)) fs.symlinkSync(nodeModules, link, "dir");
    }
  } catch (error) {
    dispose();
    throw error;
  }
  return { ref, commit, projectDir: path.join(root, relative), dispose };
}
