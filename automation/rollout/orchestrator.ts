import type { EngineEvent } from "@pulumi/pulumi/automation";
import pLimit from "p-limit";
import { abortError, childController } from "../engine/abort";
import { missingPrerequisite, PrerequisiteEngineError, reasonText } from "../engine/errors";
import { describeEngineFailures, type EngineFailure, engineFailures } from "../engine/failures";
import type { Engine, OperationOptions, StackOutputs } from "../engine/types";
import { createHealthGate, type HealthGate } from "./health";
import { planWaves } from "./targets";
import type {
  Gate,
  RegionReport,
  RegionState,
  RegionTarget,
  RolloutEvent,
  RolloutFailure,
  RolloutListener,
  RolloutReport,
} from "./types";

export interface RolloutOptions {
  engine: Engine;
  stage: string;
  /** The regions, in order; the first is the canary (see selectTargets). */
  targets: RegionTarget[];
  /** Regions deployed at once after the canary (`platform:rolloutParallelism` or --parallel). */
  parallelism: number;
  /**
   * The revision being deployed. Each stack records it once its update succeeded and its health
   * gate passed, and a region whose stack already records it is not deployed again (`upToDate`),
   * so that a halted or interrupted rollout resumes where it stopped.
   */
  revision?: string;
  /** Preview every region (policy included) and change nothing; a failure does not halt. */
  dryRun?: boolean;
  /** When a region fails, cancel the regions in flight instead of letting them finish. */
  cancelInFlight?: boolean;
  /** Aborting it (Ctrl-C) cancels the regions in flight and skips the others. */
  signal?: AbortSignal;
  onEvent?: RolloutListener;
  /** The health gate. @default createHealthGate({ app }) (HTTP smoke path + CloudWatch alarms) */
  health?: HealthGate;
  /** For the default health gate's alarm prefix. @default "platform" */
  app?: string;
}

interface RegionRun {
  target: RegionTarget;
  wave: number;
  report: RegionReport;
  startedAt: number;
  controller?: AbortController;
  /** True while an engine operation (not the health gate) runs, so cancel goes to the engine. */
  inEngine: boolean;
  /** The engine's cancel, once asked: the region ends only when it has settled (the stack is released). */
  cancelling?: Promise<void>;
}

/**
 * The message of a gate's failure: a known missing AWS prerequisite first, then the resources the
 * engine's event stream reported as failed with its diagnostics, then the thrown error's message.
 */
function failureMessage(error: unknown, streamed: EngineFailure[] = []): string {
  const message = error === undefined ? "" : error instanceof Error ? error.message : String(error);
  const events = describeEngineFailures(streamed, message);
  if (error instanceof PrerequisiteEngineError) return events ? `${message}; ${events}` : message;
  const detail = events && message ? `${events} (engine: ${message})` : events || message;
  const prerequisite = missingPrerequisite(`${message}\n${events}`);
  return prerequisite ? `${prerequisite} (engine: ${detail})` : detail;
}

/** A gate that failed, with its message already composed (thrown error and event stream). */
class GateFailure extends Error {}

const now = () => performance.now();

/**
 * Rolls a stage out region by region: the canary region alone, then the others `parallelism` at
 * a time (p-limit). Each region passes its gates in order: `preview` (with the policy pack; a
 * mandatory violation stops the region before any change), `up`, then `health` (after which the
 * stack records the revision). A failure halts the rollout: regions not started are `skipped`, regions in flight
 * finish (or are cancelled with `cancelInFlight`). The abort signal cancels regions in flight
 * (engine cancel) and skips the rest. Progress goes to `onEvent`; the report says which region
 * failed at which gate and why.
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutReport> {
  const { engine, stage, targets, signal } = options;
  if (!Number.isInteger(options.parallelism) || options.parallelism < 1) {
    throw new RangeError(`parallelism must be a positive integer (got ${options.parallelism})`);
  }
  const dryRun = options.dryRun ?? false;
  // The offline engine deploys to local clouds: their API is real, but no CloudWatch alarm exists.
  const health =
    options.health ??
    createHealthGate({
      app: options.app ?? "platform",
      alarms: engine.kind === "offline" ? false : undefined,
    });
  const listener = options.onEvent;
  const emit = (event: RolloutEvent) => {
    if (!listener) return;
    try {
      listener(event);
    } catch {
      // A listener's failure must not break the rollout.
    }
  };

  const startedAt = now();
  const waves = planWaves(targets, options.parallelism);
  const waveSummary = waves.map((wave) => ({
    index: wave.index,
    kind: wave.kind,
    regions: wave.targets.map((target) => target.region),
    stackNames: wave.targets.map((target) => target.stackName),
    parallelism: wave.parallelism,
  }));
  const runs: RegionRun[] = [];
  for (const wave of waves) {
    for (const target of wave.targets) {
      runs.push({
        target,
        wave: wave.index,
        startedAt: 0,
        inEngine: false,
        report: {
          region: target.region,
          stackName: target.stackName,
          primary: target.primary,
          wave: wave.index,
          state: "pending",
          elapsedMs: 0,
          gates: [],
        },
      });
    }
  }
  const runOf = new Map(runs.map((run) => [run.target.stackName, run]));
  const inFlight = new Set<RegionRun>();
  let failure: RolloutFailure | undefined;

  const emitRegion = (run: RegionRun) => {
    if (!listener) return;
    const { report } = run;
    emit({
      type: "region",
      stage,
      region: report.region,
      stackName: report.stackName,
      wave: run.wave,
      gate: report.gate,
      state: report.state,
      elapsedMs: report.elapsedMs,
      message: report.message,
      gates: report.gates.map((gate) => ({ ...gate })),
    });
  };
  const finish = (run: RegionRun, state: RegionState, message?: string) => {
    run.report.state = state;
    run.report.message = message;
    if (run.startedAt > 0) run.report.elapsedMs = now() - run.startedAt;
    emitRegion(run);
  };
  const cancelRun = (run: RegionRun, reason: unknown) => {
    if (!run.controller || run.controller.signal.aborted) return;
    run.controller.abort(reason);
    if (run.inEngine) run.cancelling = engine.cancel(run.target).catch(() => undefined);
  };
  const halted = () => (failure !== undefined && !dryRun) || signal?.aborted === true;
  const skipReason = () =>
    signal?.aborted
      ? `not started: the rollout was cancelled (${reasonText(signal.reason)})`
      : `not started: ${failure?.region} failed at ${failure?.gate}`;

  const onAbort = () => {
    for (const run of inFlight) cancelRun(run, signal?.reason);
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  /**
   * Runs a gate. An engine gate also reads failures from the engine's event stream
   * (resOpFailedEvent, error diagnostics): they fail the gate even when the operation resolved,
   * unless `streamDecides` says the result has its own verdict (a preview's policy violations),
   * and the gate's message names each failed resource and the engine's diagnostic.
   */
  const runGate = async <T>(
    run: RegionRun,
    gate: Gate,
    body: (options: OperationOptions) => Promise<T>,
    viaEngine = true,
    streamDecides: (result: T) => boolean = () => true,
  ): Promise<T> => {
    // A gate never starts once its region is cancelled, whether or not the previous one noticed.
    if (run.controller?.signal.aborted) throw abortError(run.controller.signal);
    run.report.gate = gate;
    run.report.elapsedMs = now() - run.startedAt;
    emitRegion(run);
    const gateStart = now();
    run.inEngine = viaEngine;
    const streamed: EngineEvent[] = [];
    const options = engineOptions(run, gate, streamed);
    let result: T;
    try {
      result = await body(options);
    } catch (error) {
      const aborted = run.controller?.signal.aborted === true;
      const message = aborted
        ? reasonText(run.controller?.signal.reason)
        : failureMessage(error, engineFailures(streamed));
      run.report.gates.push({
        gate,
        state: aborted ? "cancelled" : "failed",
        elapsedMs: now() - gateStart,
        message,
      });
      run.inEngine = false;
      throw aborted ? error : new GateFailure(message, { cause: error });
    }
    run.inEngine = false;
    const failures = streamDecides(result) ? engineFailures(streamed) : [];
    if (failures.length > 0) {
      const message = failureMessage(undefined, failures);
      run.report.gates.push({ gate, state: "failed", elapsedMs: now() - gateStart, message });
      throw new GateFailure(message);
    }
    run.report.gates.push({ gate, state: "succeeded", elapsedMs: now() - gateStart });
    return result;
  };

  /** The engine's options for a gate: its events go to the listener and into `streamed`. */
  const engineOptions = (run: RegionRun, gate: Gate, streamed: EngineEvent[]): OperationOptions => ({
    signal: run.controller?.signal,
    onEvent: (event) => {
      if (event.diagnosticEvent?.severity === "error" || event.resOpFailedEvent) streamed.push(event);
      if (listener) {
        emit({
          type: "engine",
          stage,
          region: run.target.region,
          stackName: run.target.stackName,
          gate,
          event,
        });
      }
    },
  });

  const deployRegion = async (run: RegionRun): Promise<void> => {
    if (halted()) {
      finish(run, "skipped", skipReason());
      return;
    }
    const { controller, release } = childController(signal);
    run.controller = controller;
    run.startedAt = now();
    run.report.state = "running";
    inFlight.add(run);
    emitRegion(run);
    const { target } = run;
    try {
      let deployed: string | undefined;
      if (options.revision !== undefined) {
        run.inEngine = true;
        deployed = await engine.deployedRevision(target, { signal: controller.signal });
        run.inEngine = false;
        if (deployed === options.revision) {
          finish(run, "upToDate", `already at revision ${options.revision}`);
          return;
        }
      }
      // A deployment creates the stack it previews (removed again if the preview stops it); a dry
      // run never creates one.
      // A preview stopped by mandatory policy violations fails below, with the policy's message.
      const preview = await runGate(
        run,
        "preview",
        (engineOpts) => engine.preview(target, { ...engineOpts, createStack: !dryRun }),
        true,
        (result) => result.mandatoryCount === 0,
      );
      run.report.changeSummary = preview.changeSummary;
      run.report.violations = preview.violations;
      if (preview.mandatoryCount > 0) {
        const first = preview.violations.find((violation) => violation.enforcementLevel === "mandatory")!;
        const message = `${preview.mandatoryCount} mandatory policy violation${preview.mandatoryCount > 1 ? "s" : ""}, e.g. ${first.policyName}${first.resourceName ? ` on ${first.resourceName}` : ""}: ${first.message}`;
        run.report.gates[run.report.gates.length - 1] = {
          ...run.report.gates[run.report.gates.length - 1],
          state: "failed",
          message,
        };
        fail(run, "preview", message);
        return;
      }
      if (dryRun) {
        finish(run, "previewed");
        return;
      }
      const up = await runGate(run, "up", async (engineOpts) => {
        // The stack claims a revision only once deployed and healthy: cleared now, recorded after health.
        if (deployed !== undefined)
          await engine.recordRevision(target, undefined, { signal: controller.signal });
        return engine.up(target, engineOpts);
      });
      let outputs: StackOutputs = up.outputs;
      run.report.outputs = outputs;
      await runGate(
        run,
        "health",
        async () => {
          if (outputs.apiUrl === undefined) {
            run.inEngine = true;
            outputs = await engine.outputs(target, { signal: controller.signal });
            run.inEngine = false;
          }
          await health({ target, outputs, signal: controller.signal });
          if (options.revision !== undefined) {
            run.inEngine = true;
            await engine.recordRevision(target, options.revision, { signal: controller.signal });
          }
        },
        false,
      );
      finish(run, "succeeded");
    } catch (error) {
      if (controller.signal.aborted) {
        // Not cancelled until the engine has stopped: a shutdown that waits for the rollout then
        // leaves no stack locked mid-operation.
        await run.cancelling;
        finish(run, "cancelled", `cancelled: ${reasonText(controller.signal.reason)}`);
      } else {
        fail(
          run,
          run.report.gate ?? "preview",
          error instanceof GateFailure ? error.message : failureMessage(error),
        );
      }
    } finally {
      inFlight.delete(run);
      release();
    }
  };

  function fail(run: RegionRun, gate: Gate, message: string): void {
    run.report.gate = gate;
    const first = failure === undefined;
    if (first) failure = { region: run.target.region, stackName: run.target.stackName, gate, message };
    finish(run, "failed", message);
    if (first && !dryRun && options.cancelInFlight) {
      const reason = new Error(`${run.target.region} failed at ${gate}`);
      for (const other of inFlight) if (other !== run) cancelRun(other, reason);
    }
  }

  emit({ type: "rollout-started", stage, revision: options.revision, dryRun, waves: waveSummary });
  try {
    for (const wave of waves) {
      if (halted()) {
        for (const target of wave.targets) finish(runOf.get(target.stackName)!, "skipped", skipReason());
        continue;
      }
      emit({
        type: "wave-started",
        stage,
        wave: wave.index,
        regions: wave.targets.map((target) => target.region),
      });
      const limit = pLimit(wave.parallelism);
      await Promise.all(
        wave.targets.map((target) => limit(() => deployRegion(runOf.get(target.stackName)!))),
      );
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }

  const report: RolloutReport = {
    stage,
    revision: options.revision,
    dryRun,
    parallelism: options.parallelism,
    status: failure
      ? "failed"
      : runs.some((run) => run.report.state === "cancelled" || run.report.state === "skipped")
        ? "cancelled"
        : "succeeded",
    failure,
    waves: waveSummary,
    regions: runs.map((run) => run.report),
    elapsedMs: now() - startedAt,
  };
  emit({ type: "rollout-finished", report });
  return report;
}
