import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** What a deployment is made of: the program, its dependencies and the project's config. */
export const PROGRAM_PATHS = [
  "index.ts",
  "components",
  "functions",
  "Pulumi.yaml",
  "package.json",
  "package-lock.json",
  "tsconfig.json",
];

/** The files a stage's deployment depends on: PROGRAM_PATHS and the stage's stack file. */
export function revisionPaths(projectDir: string, stage: string): string[] {
  return [...PROGRAM_PATHS, `Pulumi.${stage}.yaml`].filter((entry) =>
    fs.existsSync(path.join(projectDir, entry)),
  );
}

function listFiles(projectDir: string, entry: string): string[] {
  const full = path.join(projectDir, entry);
  if (!fs.statSync(full).isDirectory()) return [entry];
  return fs
    .readdirSync(full, { withFileTypes: true })
    .filter((child) => !child.name.startsWith(".") && child.name !== "node_modules")
    .flatMap((child) => listFiles(projectDir, path.join(entry, child.name)));
}

/** A sha256 over the files' paths and contents (in a stable order), as `sha256:<hex>`. */
export function hashFiles(projectDir: string, entries: string[]): string {
  const hash = createHash("sha256");
  const files = entries.flatMap((entry) => listFiles(projectDir, entry)).sort();
  for (const file of files) {
    hash.update(file.split(path.sep).join("/"));
    hash.update("\0");
    hash.update(fs.readFileSync(path.join(projectDir, file)));
    hash.update("\0");
  }
  return `sha256:${hash.digest("hex")}`;
}

/**
 * The revision a stage's stacks are deployed at: the git commit (`git rev-parse HEAD`) when the
 * program and config files have no uncommitted change, else a sha256 of those files (so that a
 * local, uncommitted change is a revision of its own). Without git, always the sha256.
 */
export async function computeRevision(projectDir: string, stage: string): Promise<string> {
  const entries = revisionPaths(projectDir, stage);
  try {
    const head = (await run("git", ["rev-parse", "HEAD"], { cwd: projectDir })).stdout.trim();
    const status = (
      await run("git", ["status", "--porcelain", "--untracked-files=all", "--", ...entries], {
        cwd: projectDir,
      })
    ).stdout.trim();
    if (/^[0-9a-f]{40,64}$/.test(head) && status === "") return head;
  } catch {
    // Not a git checkout, or no git: fall back to the content hash.
  }
  return hashFiles(projectDir, entries);
}
