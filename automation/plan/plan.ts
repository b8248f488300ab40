import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { accountSettingsConflict } from "./account-settings-check";
import { readStackConfig } from "./stack-config";
import type { PlanRequest, PlanResult } from "./types";

/** The project's root directory (where Pulumi.yaml is). */
export const PROJECT_DIR = path.resolve(__dirname, "..", "..");

/** The program failed under the mock runtime (invalid config, a component's validation, ...). */
export class PlanError extends Error {
  constructor(
    readonly stack: string,
    readonly detail: string,
  ) {
    super(`Plan of stack "${stack}" failed:\n${detail}`);
    this.name = "PlanError";
  }
}

export interface PlanOptions {
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** The Pulumi program. @default `<projectDir>/index.ts` */
  programPath?: string;
  /** Replace or add config values (`namespace:key` -> string), e.g. to try a bad value. */
  configOverrides?: Record<string, string>;
  /**
   * Keep the content of every text asset (handler bundles) in this folder, named by the sha256
   * the plan records for it: what the local cloud runs. @default none
   */
  assetDir?: string;
}

/**
 * Runs the Pulumi program for a stack under Pulumi's mock runtime, in a child process (the mock
 * runtime is process-global), and returns every resource it registered and the stack outputs.
 *
 * @throws UnknownStackError when the stack has no stack file; PlanError when the program fails.
 */
export async function planStack(stack: string, options: PlanOptions = {}): Promise<PlanResult> {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const stackConfig = readStackConfig(projectDir, stack);
  Object.assign(stackConfig.config, options.configOverrides);
  if (options.configOverrides?.["aws:region"]) stackConfig.region = options.configOverrides["aws:region"];
  const accountSettingsError = accountSettingsConflict(projectDir, stackConfig);
  if (accountSettingsError) throw new PlanError(stack, accountSettingsError);

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-plan-"));
  const request: PlanRequest = {
    stackConfig,
    programPath: path.resolve(projectDir, options.programPath ?? "index.ts"),
    resultPath: path.join(workDir, "plan.json"),
    assetDir: options.assetDir && path.resolve(options.assetDir),
  };
  try {
    const { code, stderr } = await runChild(request, projectDir);
    if (code !== 0 || !fs.existsSync(request.resultPath)) {
      throw new PlanError(stack, stderr.trim() || `the program exited with code ${code}`);
    }
    const result = JSON.parse(fs.readFileSync(request.resultPath, "utf8")) as PlanResult;
    // What the program said with pulumi.log.warn (the engine would show it in preview and up).
    result.warnings = stderr
      .split("\n")
      .filter((line) => line.startsWith("warning: "))
      .map((line) => line.slice("warning: ".length).replace(/^\[runtime\] /, ""));
    return result;
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Secrets of this process that no child process may see: the service's API token would reach the
 * program (and anything it runs) through the inherited environment.
 */
export const PROCESS_SECRETS: readonly string[] = ["PLATFORM_API_TOKEN"];

/** This process's environment without its own secrets (PROCESS_SECRETS): what a child gets. */
export function childEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of PROCESS_SECRETS) delete copy[name];
  return copy;
}

function runChild(request: PlanRequest, cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "run-program.ts")], {
      cwd,
      env: { ...childEnvironment(), PLATFORM_PLAN_REQUEST: JSON.stringify(request) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}
