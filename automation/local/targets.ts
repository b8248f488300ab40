/**
 * Where the offline engine deploys: one local cloud per stack (each region stack its own port and
 * data under `.data/local/<stack>`), brought to the planned state by `deploy`. A deploy runs the
 * plan's PreTraffic hooks against the new functions before it counts; when one fails, the stack is
 * put back on its previous plan, as CodeDeploy leaves the alias on the old version.
 */
import * as path from "node:path";
import type { PlanResult } from "../plan/types";
import { type HookOutcome, LocalCloud } from "./cloud";

/** A PreTraffic hook reported Failed: the deployment was rolled back. */
export class LocalDeployError extends Error {
  constructor(
    readonly stackName: string,
    readonly failed: HookOutcome[],
  ) {
    const lines = failed.map(
      (outcome) =>
        `PreTraffic hook ${outcome.hook} reported ${outcome.status} for ${outcome.target}: ${outcome.logs.slice(-3).join(" | ") || "no log"}`,
    );
    super(`the local deployment of stack ${stackName} was rolled back:\n${lines.join("\n")}`);
    this.name = "LocalDeployError";
  }
}

export interface LocalDeployResult {
  cloud: LocalCloud;
  changes: string[];
  hooks: HookOutcome[];
}

export class LocalTargets {
  private readonly clouds = new Map<string, LocalCloud>();
  private readonly revisions = new Map<string, string | undefined>();

  constructor(
    private readonly projectDir: string,
    /** `unref`: the clouds do not keep the process alive (they live while it runs for other reasons). */
    private readonly options: { inMemory?: boolean; unref?: boolean } = {},
  ) {}

  get(stackName: string): LocalCloud | undefined {
    return this.clouds.get(stackName);
  }

  /** Brings the stack's local cloud to `plan` and runs its PreTraffic hooks. */
  async deploy(stackName: string, plan: PlanResult): Promise<LocalDeployResult> {
    let cloud = this.clouds.get(stackName);
    let changes: string[];
    const previous = cloud?.plan;
    if (!cloud) {
      cloud = await LocalCloud.start({
        stack: stackName,
        projectDir: this.projectDir,
        plan,
        inMemory: this.options.inMemory,
        unref: this.options.unref,
        dataDir: path.join(this.projectDir, ".data", "local", stackName),
      });
      this.clouds.set(stackName, cloud);
      changes = ["local cloud started"];
    } else {
      changes = await cloud.apply(plan);
    }
    const hooks = await cloud.runPreTrafficHooks();
    const failed = hooks.filter((outcome) => outcome.status !== "Succeeded");
    if (failed.length > 0) {
      if (previous) await cloud.apply(previous);
      else {
        this.clouds.delete(stackName);
        await cloud.close();
      }
      throw new LocalDeployError(stackName, failed);
    }
    return { cloud, changes, hooks };
  }

  /** The stack's outputs as deployed locally: the plan's, with `apiUrl` the local API. */
  outputs(stackName: string): Record<string, unknown> | undefined {
    const cloud = this.clouds.get(stackName);
    if (!cloud) return undefined;
    return { ...cloud.plan.outputs, apiUrl: cloud.model.apis.length > 0 ? cloud.url : undefined };
  }

  revision(stackName: string): string | undefined {
    return this.revisions.get(stackName);
  }

  recordRevision(stackName: string, revision: string | undefined): void {
    this.revisions.set(stackName, revision);
  }

  async closeAll(): Promise<void> {
    const clouds = [...this.clouds.values()];
    this.clouds.clear();
    await Promise.all(clouds.map((cloud) => cloud.close()));
  }
}
