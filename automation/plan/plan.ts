import * as os from "node:os";
import * as path from "node:path";
import { accountSettingsConflict } from "./account-settings-check";
import { HostPool } from "./plan-hosts";
import { readStackConfig } from "./stack-config";
import type { PlanPhases, PlanRequest, PlanResult } from "./types";

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
  /** Called with where the plan's time went in its host (the benchmark's breakdown). */
  onPhases?(phases: PlanPhases): void;
}

export interface PlannerOptions {
  /** Plans at once, each in a host process of its own. @default os.availableParallelism() */
  maxHosts?: number;
  /** A host idle this long exits. @default 60000 */
  idleMs?: number;
  /** More Node.js flags for the host processes (`--cpu-prof` to profile them). @default [] */
  hostExecArgv?: string[];
}

/**
 * Plans stacks in warm hosts: child processes that keep Pulumi's SDKs loaded, run the program once
 * per plan (reloading its modules, so a changed program or stack file is picked up) and take cached
 * handler bundles. Plans of several stacks run in parallel, one host each, up to `maxHosts`.
 * The service, `platform dev` and the CLI share one (`sharedPlanner()`); idle hosts never keep a
 * process alive.
 */
export class Planner {
  private readonly hosts: HostPool;

  constructor(options: PlannerOptions = {}) {
    this.hosts = new HostPool({
      maxHosts: Math.max(1, options.maxHosts ?? os.availableParallelism()),
      idleMs: options.idleMs ?? 60_000,
      environment: () => childEnvironment(),
      // A larger young generation: a plan allocates about 450 MB, much of it alive until the plan
      // ends, and each scavenge copies what is alive. Semi-spaces of 32 to 256 MB instead of 64 MB
      // took a re-plan of dev from about 400 to 300 ms, for about 0.3 GB more memory per host (0.7 GB
      // after seven plans; measured interleaved). Hosts exit when idle (`idleMs`).
      execArgv: ["--min-semi-space-size=32", "--max-semi-space-size=256", ...(options.hostExecArgv ?? [])],
    });
  }

  /**
   * Runs the Pulumi program for a stack under Pulumi's mock runtime and returns every resource it
   * registered and the stack outputs.
   *
   * @throws UnknownStackError when the stack has no stack file; PlanError when the program fails.
   */
  async plan(stack: string, options: PlanOptions = {}): Promise<PlanResult> {
    const projectDir = path.resolve(options.projectDir ?? PROJECT_DIR);
    const stackConfig = readStackConfig(projectDir, stack);
    Object.assign(stackConfig.config, options.configOverrides);
    if (options.configOverrides?.["aws:region"]) stackConfig.region = options.configOverrides["aws:region"];
    const accountSettingsError = accountSettingsConflict(projectDir, stackConfig);
    if (accountSettingsError) throw new PlanError(stack, accountSettingsError);

    const request: PlanRequest = {
      stackConfig,
      programPath: path.resolve(projectDir, options.programPath ?? "index.ts"),
      assetDir: options.assetDir && path.resolve(options.assetDir),
    };
    const reply = await this.hosts.run(projectDir, request);
    if ("error" in reply) throw new PlanError(stack, `${reply.stderr}${reply.error}`.trim());
    // What the program said with pulumi.log.warn (the engine would show it in preview and up).
    reply.result.warnings = reply.stderr
      .split("\n")
      .filter((line) => line.startsWith("warning: "))
      .map((line) => line.slice("warning: ".length).replace(/^\[runtime\] /, ""));
    options.onPhases?.(reply.phases);
    return reply.result;
  }

  /** Plans several stacks, in parallel as far as the hosts allow; results in the order asked. */
  planMany(stacks: readonly string[], options: PlanOptions = {}): Promise<PlanResult[]> {
    return Promise.all(stacks.map((stack) => this.plan(stack, options)));
  }

  /** How many host processes run now. */
  get hostCount(): number {
    return this.hosts.size;
  }

  /** Ends the hosts (a later plan starts new ones). */
  close(): void {
    this.hosts.close();
  }
}

let shared: Planner | undefined;

/** The process's planner: warm hosts shared by every caller of `planStack`. */
export function sharedPlanner(): Planner {
  shared ??= new Planner();
  return shared;
}

/**
 * Runs the Pulumi program for a stack under Pulumi's mock runtime, in a warm plan host of the
 * shared planner (the mock runtime is process-global, so never in this process), and returns every
 * resource it registered and the stack outputs.
 *
 * @throws UnknownStackError when the stack has no stack file; PlanError when the program fails.
 */
export function planStack(stack: string, options: PlanOptions = {}): Promise<PlanResult> {
  return sharedPlanner().plan(stack, options);
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
