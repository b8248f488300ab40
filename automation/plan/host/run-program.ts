/**
 * The plan host: a child process (forked by the Planner, automation/plan/plan-hosts.ts) that keeps
 * Pulumi's SDKs loaded and runs the Pulumi program once per request, under the recording mock
 * runtime with the stack's config, as the engine would, and answers with what was registered.
 *
 * The mock runtime is process-global, so plans run one at a time here, and each starts clean:
 * `setMocks` resets the runtime's store (stack resource, monitor, options) and `setAllConfig`
 * replaces the whole config. The program loads afresh for every plan, except the unchanged modules
 * of the component library between plans of the same stack (program-modules.ts): a changed source
 * is picked up, and no module state leaks between plans. Packages stay loaded: that
 * is what makes the second plan fast. A plan that fails ends the host, since the program may have
 * left work pending; the Planner starts another.
 */
// First: source maps and stack traces off, and parts of the SDK deferred, before the SDK loads.
import "./preload";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { inConstructionOrder, installMockRuntime, settled } from "../mocks";
import type { HostReply, HostRequest, PlanPhases, PlanResult } from "../types";
import { ProgramModules } from "./program-modules";

/** How long this host took to load (the SDKs, the mock runtime), reported with its first plan. */
let hostStarted = Math.round(performance.now());

/**
 * The program's modules: which stay loaded from one plan to the next. Only the platform's own
 * library may: the components (`components/`) and the handlers' shared code they import
 * (`functions/shared/`: the event builder, the metric names, the service declaration types), of the
 * project this host plans, its working directory. A component importing a module that loads afresh
 * would load afresh with it.
 */
const programModules = new ProgramModules({
  keptFolders: [path.join(process.cwd(), "components"), path.join(process.cwd(), "functions", "shared")],
});

let current: { id: number; stderr: string[] } | undefined;

// The program's warnings (`pulumi.log.warn` writes `warning: ...` to stderr) belong to the plan
// that runs, so stderr is collected per plan and sent with its answer.
const writeStderr = process.stderr.write.bind(process.stderr);
process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  if (current) {
    current.stderr.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }
  return (writeStderr as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stderr.write;

function reply(message: HostReply): Promise<void> {
  return new Promise((resolve) => process.send?.(message, () => resolve()) ?? resolve());
}

/** Makes this process's environment the one the request carries (the caller's, without secrets). */
function useEnvironment(env: Record<string, string>): void {
  for (const name of Object.keys(process.env)) if (!(name in env)) delete process.env[name];
  Object.assign(process.env, env);
}

/**
 * Bundles every handler that planned before and whose sources changed, together (one esbuild
 * service, concurrently), before the program asks for them one by one. Uses the program's own
 * bundler when it has one (`components/bundle.ts`): a project without it bundles nothing ahead.
 */
async function prepareHandlerBundles(): Promise<void> {
  const bundler = path.join(process.cwd(), "components", "bundle.ts");
  if (!fs.existsSync(bundler)) return;
  const { prepareBundles, knownBundles, forgetCheckedBundles } = require(
    bundler,
  ) as typeof import("../../../components/bundle");
  if (typeof prepareBundles !== "function" || typeof knownBundles !== "function") return;
  // The bundler may have stayed loaded from the last plan: every bundle is checked again.
  forgetCheckedBundles?.();
  await prepareBundles(knownBundles(process.cwd()));
}

async function plan(request: HostRequest["request"], phases: PlanPhases): Promise<PlanResult> {
  let mark = performance.now();
  const lap = (phase: keyof PlanPhases) => {
    const now = performance.now();
    phases[phase] = Math.round((now - mark) * 10) / 10;
    mark = now;
  };
  const { stackConfig } = request;
  pulumi.runtime.setAllConfig(stackConfig.config, stackConfig.secretKeys);
  const runtime = await installMockRuntime({
    project: stackConfig.project,
    stack: stackConfig.stack,
    region: stackConfig.region,
    preview: false,
    assetDir: request.assetDir,
  });
  lap("runtimeMs");
  await prepareHandlerBundles();
  lap("bundlesMs");

  let loaded = 0;
  const exports = await pulumi.runtime.runInPulumiStack(async () => {
    const started = performance.now();
    const program = require(request.programPath);
    loaded = performance.now() - started;
    return program;
  });
  await settled();
  const outputs = (await resolve(exports ?? {})) as Record<string, unknown>;
  await settled();
  lap("programMs");
  phases.programLoadMs = Math.round(loaded * 10) / 10;
  return {
    project: stackConfig.project,
    stack: stackConfig.stack,
    stage: stackConfig.stage,
    region: runtime.region,
    accountId: runtime.accountId,
    resources: inConstructionOrder(runtime),
    outputs,
  };
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
/** Answers the running plan with its error and ends the host: the program may have left work pending. */
function fail(error: unknown): void {
  if (failed) return;
  failed = true;
  const message = error instanceof Error ? error.message : String(error);
  const running = current;
  current = undefined;
  const done = () => setImmediate(() => process.exit(1));
  if (running) void reply({ id: running.id, error: message, stderr: running.stderr.join("") }).then(done);
  else {
    writeStderr(`${message}\n`);
    done();
  }
}

let queue = Promise.resolve();
process.on("message", (message: HostRequest) => {
  queue = queue.then(async () => {
    if (failed) return;
    current = { id: message.id, stderr: [] };
    try {
      useEnvironment(message.env);
      const { stackConfig, programPath } = message.request;
      const reload = programModules.beforePlan(
        JSON.stringify([process.cwd(), stackConfig, programPath, message.env]),
        programPath,
      );
      const phases: PlanPhases = {
        hostStartMs: hostStarted,
        modulesKept: reload.kept,
        runtimeMs: 0,
        bundlesMs: 0,
        programLoadMs: 0,
        programMs: 0,
      };
      hostStarted = 0;
      const result = await plan(message.request, phases);
      const running = current;
      current = undefined;
      if (running && !failed)
        await reply({ id: running.id, result, stderr: running.stderr.join(""), phases });
    } catch (error) {
      fail(error);
    }
  });
});
// The Planner's process is gone (or closed this host): nothing more to plan.
process.on("disconnect", () => process.exit(0));
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
