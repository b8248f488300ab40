/**
 * Child-process entry of the offline plan: runs the Pulumi program under the recording mock
 * runtime with a stack's config, as the engine would, and writes what was registered as JSON.
 * The mock runtime is process-global, so each plan gets a process of its own.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { installMockRuntime, settled } from "./mocks";
import type { PlanRequest, PlanResult } from "./types";

async function main(): Promise<void> {
  const request = JSON.parse(process.env.PLATFORM_PLAN_REQUEST ?? "null") as PlanRequest | null;
  if (!request) throw new Error("PLATFORM_PLAN_REQUEST is not set: run this through planStack()");
  const { stackConfig } = request;
  pulumi.runtime.setAllConfig(stackConfig.config, stackConfig.secretKeys);
  const runtime = await installMockRuntime({
    project: stackConfig.project,
    stack: stackConfig.stack,
    region: stackConfig.region,
    preview: false,
    assetDir: request.assetDir,
  });

  const exports = await pulumi.runtime.runInPulumiStack(async () => require(request.programPath));
  await settled();
  const outputs = (await resolve(exports ?? {})) as Record<string, unknown>;
  await settled();

  const result: PlanResult = {
    project: stackConfig.project,
    stack: stackConfig.stack,
    stage: stackConfig.stage,
    region: runtime.region,
    accountId: runtime.accountId,
    resources: runtime.resources,
    outputs,
  };
  fs.writeFileSync(request.resultPath, JSON.stringify(result));
}

/** Resolves every Output in a value (all are known: the plan runs as an update, not a preview). */
async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    const unwrapped = await new Promise((done) => (value as pulumi.Output<unknown>).apply(done));
    return resolve(unwrapped);
  }
  if (value instanceof Promise) return resolve(await value);
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (value && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolve(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

let failed = false;
function fail(error: unknown): void {
  if (failed) return;
  failed = true;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
}

process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
main().catch(fail);
