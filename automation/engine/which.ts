import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The absolute path of an executable found on PATH (as `which` finds it, without a shell), or
 * undefined. On Windows the PATHEXT extensions are tried too.
 */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? env.Path ?? "").split(path.delimiter).filter(Boolean);
  const extensions = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of dirs) {
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      try {
        if (!fs.statSync(candidate).isFile()) continue;
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // Not there, or not executable: keep looking.
      }
    }
  }
  return undefined;
}
