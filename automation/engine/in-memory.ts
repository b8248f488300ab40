import type { EngineEvent, OpMap } from "@pulumi/pulumi/automation";
import { delay } from "./abort";
import { EngineCancelledError, EngineError } from "./errors";
import { countViolations, EngineEventSequence, resourceUrn, stepMetadata } from "./events";
import type {
  Engine,
  OperationOptions,
  PolicyViolation,
  PreviewResult,
  RefreshPreviewResult,
  RefreshResult,
  StackOutputs,
  StackRef,
  UpOperationOptions,
  UpResult,
} from "./types";

/** The operations whose duration and failure a script controls. */
export type ScriptedOperation =
  | "preview"
  | "up"
  | "refreshPreview"
  | "refresh"
  | "outputs"
  | "deployedRevision"
  | "recordRevision";

/** How one region (or stack) behaves. */
export interface RegionScript {
  /** Milliseconds each operation takes. @default 0 for every operation */
  durations?: Partial<Record<ScriptedOperation, number>>;
  /** Operations that fail, with the engine's message (or the error to throw). */
  failures?: Partial<Record<ScriptedOperation, string | Error>>;
  /** Policy violations the preview reports. @default [] */
  violations?: PolicyViolation[];
  /** Outputs of `up` and `outputs`. @default apiUrl, stage and region of the stack */
  outputs?: StackOutputs;
  /** The revision the stack is deployed at before the first `up`. @default none */
  revision?: string;
  /**
   * Step events `refreshPreview` returns (drift fixtures): how the live resources differ from the
   * recorded state. The difference lasts, as on a real stack, until an `up` with `refresh`
   * (restores the live resources) or a `refresh` (records the live state) ends it; a plain `up`
   * diffs the program against the recorded state and leaves it. @default [] (no drift)
   */
  refreshEvents?: EngineEvent[];
  /**
   * Milliseconds an aborted operation takes to stop, as the CLI finishing a clean cancel: the
   * operation settles, and the stack's lock is released, only then.
   * @default 0
   */
  cancelMs?: number;
}

export interface InMemoryEngineOptions {
  /** The behaviour of every region, unless `regions` says otherwise. */
  defaults?: RegionScript;
  /** Per region (`us-west-2`) or per stack name (`prod-us-west-2`); the stack name wins. */
  regions?: Record<string, RegionScript>;
  /** The Pulumi project name in URNs. @default "platform" */
  project?: string;
}

/** One call the engine received. */
export interface EngineCall {
  operation: ScriptedOperation | "cancel";
  stack: StackRef;
  /** `performance.now()` when the call started and ended. */
  startedAt: number;
  endedAt?: number;
  outcome?: "ok" | "failed" | "cancelled";
  /** Operations in flight, this one included, when it started. */
  concurrentAtStart: number;
  /** For `up`: whether it refreshed first (`pulumi up --refresh`). */
  refresh?: boolean;
}

/** The resources a scripted stack has, for realistic step events. */
const RESOURCES: { type: string; name: string; parents: string[] }[] = [
  { type: "pulumi:pulumi:Stack", name: "", parents: [] },
  { type: "platform:index:Platform", name: "users", parents: ["pulumi:pulumi:Stack"] },
  { type: "aws:lambda/function:Function", name: "users-list-function", parents: ["platform:index:Platform"] },
  { type: "aws:lambda/alias:Alias", name: "users-list-alias", parents: ["platform:index:Platform"] },
  { type: "aws:apigateway/stage:Stage", name: "users-api-stage", parents: ["platform:index:Platform"] },
];

/**
 * A scripted engine for tests and benchmarks: per-region durations and failures per operation,
 * abort signals honoured (the operation rejects with EngineCancelledError, after `cancelMs`), every call
 * recorded with timings and concurrency, realistic engine events, and an in-memory record of
 * each stack's deployed revision.
 */
export class InMemoryEngine implements Engine {
  readonly kind = "in-memory" as const;
  readonly calls: EngineCall[] = [];
  /** The most operations (cancel excluded) that were ever in flight at once. */
  maxConcurrent = 0;
  private active = 0;
  private readonly revisions = new Map<string, string | undefined>();
  private readonly deployedOutputs = new Map<string, StackOutputs>();
  /** Stacks whose scripted drift (refreshEvents) an `up --refresh` or a `refresh` has ended. */
  private readonly driftEnded = new Set<string>();
  /** Operations in flight per stack (what the backend's stack lock would hold). */
  private readonly running = new Map<string, Set<Promise<unknown>>>();
  private readonly project: string;

  constructor(private readonly options: InMemoryEngineOptions = {}) {
    this.project = options.project ?? "platform";
  }

  /** The script of a stack: defaults, then its region's, then its stack name's. */
  script(stack: StackRef): RegionScript {
    const byRegion = this.options.regions?.[stack.region];
    const byStack = this.options.regions?.[stack.stackName];
    const defaults = this.options.defaults ?? {};
    return {
      ...defaults,
      ...byRegion,
      ...byStack,
      durations: { ...defaults.durations, ...byRegion?.durations, ...byStack?.durations },
      failures: { ...defaults.failures, ...byRegion?.failures, ...byStack?.failures },
    };
  }

  /** Stacks an operation is still running on (locked, on a real backend). */
  lockedStacks(): string[] {
    return [...this.running.keys()].sort();
  }

  /** Calls of one operation, in start order. */
  callsOf(operation: EngineCall["operation"]): EngineCall[] {
    return this.calls.filter((call) => call.operation === operation);
  }

  /** The revision recorded on a stack (as `deployedRevision` answers it). */
  revisionOf(stack: StackRef): string | undefined {
    return this.revisions.has(stack.stackName)
      ? this.revisions.get(stack.stackName)
      : this.script(stack).revision;
  }

  private defaultOutputs(stack: StackRef): StackOutputs {
    return {
      apiUrl: `https://${stack.stackName.replace(/[^a-z0-9]/g, "")}.execute-api.${stack.region}.amazonaws.com/${stack.stage}/`,
      stage: stack.stage,
      region: stack.region,
    };
  }

  private run<T>(
    operation: ScriptedOperation,
    stack: StackRef,
    options: OperationOptions,
    body: (events: EngineEventSequence) => T,
    callDetail: Partial<EngineCall> = {},
  ): Promise<T> {
    const promise = this.perform(operation, stack, options, body, callDetail);
    const set = this.running.get(stack.stackName) ?? new Set<Promise<unknown>>();
    this.running.set(stack.stackName, set);
    set.add(promise);
    const release = () => {
      set.delete(promise);
      if (set.size === 0 && this.running.get(stack.stackName) === set) this.running.delete(stack.stackName);
    };
    promise.then(release, release);
    return promise;
  }

  private async perform<T>(
    operation: ScriptedOperation,
    stack: StackRef,
    options: OperationOptions,
    body: (events: EngineEventSequence) => T,
    callDetail: Partial<EngineCall>,
  ): Promise<T> {
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    const call: EngineCall = {
      operation,
      stack,
      startedAt: performance.now(),
      concurrentAtStart: this.active,
      ...callDetail,
    };
    this.calls.push(call);
    const script = this.script(stack);
    const events = new EngineEventSequence();
    try {
      if (options.onEvent) options.onEvent(events.prelude({ "aws:region": stack.region }));
      await delay(script.durations?.[operation] ?? 0, options.signal);
      const failure = script.failures?.[operation];
      if (failure !== undefined) {
        if (failure instanceof Error) throw failure;
        options.onEvent?.(events.diagnostic(`error: ${failure}`, "error"));
        throw new EngineError("failed", failure, stack.stackName);
      }
      const result = body(events);
      call.outcome = "ok";
      return result;
    } catch (error) {
      if (options.signal?.aborted) {
        await delay(script.cancelMs ?? 0);
        call.outcome = "cancelled";
        options.onEvent?.(events.cancel());
        throw new EngineCancelledError(stack.stackName, options.signal.reason);
      }
      call.outcome = "failed";
      throw error;
    } finally {
      call.endedAt = performance.now();
      this.active--;
    }
  }

  private emitSteps(
    stack: StackRef,
    events: EngineEventSequence,
    onEvent: ((event: EngineEvent) => void) | undefined,
    op: "create" | "same" | "update",
    planning: boolean,
  ): OpMap {
    const summary: OpMap = {};
    for (const resource of RESOURCES) {
      const name = resource.name || `${this.project}-${stack.stackName}`;
      const urn = resourceUrn(stack.stackName, this.project, resource.type, name, resource.parents);
      const resourceOp = resource.type === "pulumi:pulumi:Stack" ? "same" : op;
      if (onEvent) {
        onEvent(events.resourcePre(stepMetadata(resourceOp, urn, resource.type), planning));
        onEvent(events.resOutputs(stepMetadata(resourceOp, urn, resource.type), planning));
      }
      summary[resourceOp] = (summary[resourceOp] ?? 0) + 1;
    }
    return summary;
  }

  preview(stack: StackRef, options: OperationOptions = {}): Promise<PreviewResult> {
    return this.run("preview", stack, options, (events) => {
      const deployed = this.revisionOf(stack) !== undefined;
      const changeSummary = this.emitSteps(
        stack,
        events,
        options.onEvent,
        deployed ? "update" : "create",
        true,
      );
      const violations = this.script(stack).violations ?? [];
      if (options.onEvent) for (const violation of violations) options.onEvent(events.policy(violation));
      options.onEvent?.(events.summary(changeSummary, 0));
      return { stack, changeSummary, violations, ...countViolations(violations) };
    });
  }

  up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    // Like PulumiEngine: a given revision is cleared when the update starts, set when it succeeds.
    if (options.revision !== undefined) this.revisions.set(stack.stackName, undefined);
    return this.run(
      "up",
      stack,
      options,
      (events) => {
        const summary = this.emitSteps(stack, events, options.onEvent, "update", false);
        options.onEvent?.(events.summary(summary, 0));
        const outputs = this.script(stack).outputs ?? this.defaultOutputs(stack);
        this.deployedOutputs.set(stack.stackName, outputs);
        if (options.revision !== undefined) this.revisions.set(stack.stackName, options.revision);
        // Only a refreshed update sees the live changes, and so restores them.
        if (options.refresh) this.driftEnded.add(stack.stackName);
        return { stack, outputs, summary, revision: options.revision };
      },
      options.refresh ? { refresh: true } : {},
    );
  }

  refreshPreview(stack: StackRef, options: OperationOptions = {}): Promise<RefreshPreviewResult> {
    return this.run("refreshPreview", stack, options, () => {
      const stepEvents = this.driftEnded.has(stack.stackName) ? [] : (this.script(stack).refreshEvents ?? []);
      if (options.onEvent) for (const event of stepEvents) options.onEvent(event);
      const changeSummary: OpMap = {};
      for (const event of stepEvents) {
        const op = event.resOutputsEvent?.metadata.op;
        if (op) changeSummary[op] = (changeSummary[op] ?? 0) + 1;
      }
      return { stack, changeSummary, events: stepEvents };
    });
  }

  refresh(stack: StackRef, options: OperationOptions = {}): Promise<RefreshResult> {
    return this.run("refresh", stack, options, (events) => {
      const summary = this.emitSteps(stack, events, options.onEvent, "same", false);
      this.driftEnded.add(stack.stackName);
      return { stack, summary };
    });
  }

  outputs(stack: StackRef, options: OperationOptions = {}): Promise<StackOutputs> {
    return this.run(
      "outputs",
      stack,
      options,
      () =>
        this.deployedOutputs.get(stack.stackName) ?? this.script(stack).outputs ?? this.defaultOutputs(stack),
    );
  }

  deployedRevision(stack: StackRef, options: OperationOptions = {}): Promise<string | undefined> {
    return this.run("deployedRevision", stack, options, () => this.revisionOf(stack));
  }

  recordRevision(
    stack: StackRef,
    revision: string | undefined,
    options: OperationOptions = {},
  ): Promise<void> {
    return this.run("recordRevision", stack, options, () => {
      this.revisions.set(stack.stackName, revision);
    });
  }

  /** Like PulumiEngine: resolves once the stack's operations (aborted by their signals) have stopped. */
  async cancel(stack: StackRef): Promise<void> {
    const call: EngineCall = {
      operation: "cancel",
      stack,
      startedAt: performance.now(),
      concurrentAtStart: this.active,
    };
    this.calls.push(call);
    await Promise.allSettled([...(this.running.get(stack.stackName) ?? [])]);
    call.endedAt = performance.now();
    call.outcome = "ok";
  }
}
