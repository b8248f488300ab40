import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_DIR } from "../../automation/plan/plan";

/** What a project needs to be planned: the program, its components and handlers, its stack files. */
export const PROGRAM_FILES = [
  "index.ts",
  "components",
  "functions",
  "Pulumi.yaml",
  "Pulumi.dev.yaml",
  "package.json",
  "tsconfig.json",
  "tsconfig.pulumi.json",
];

/** The project's program, handlers and dev stack file in a temporary folder, sharing node_modules. */
export function copyProject(prefix = "platform-project-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const entry of PROGRAM_FILES) {
    fs.cpSync(path.join(PROJECT_DIR, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}
