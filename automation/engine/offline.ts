import { DiffKind, type OpMap } from "@pulumi/pulumi/automation";
import { assetCacheDir } from "../local/cloud";
import { LocalDeployError, LocalTargets } from "../local/targets";
import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { UnknownStackError } from "../plan/stack-config";
import type { PlanResult } from "../plan/types";
import { abortError } from "./abort";
import { EngineError, EngineUnavailableError, StackNotFoundEngineError, toEngineError } from "./errors";
import { countOp, countViolations, EngineEventSequence, stepMetadata } from "./events";
import { type EvaluatePlan, evaluatePlan } from "./policy-adapter";
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

/** How to get the Pulumi CLI, for the messages of operations that need it. */
export const PULUMI_INSTALL_HINT =
  "install the Pulumi CLI (curl -fsSL https://get.pulumi.com | sh, or your package manager, e.g. brew install pulumi) and make sure `pulumi` is on PATH";

export interface OfflineEngineOptions {
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** Runs the program under the mock runtime. @default planStack */
  plan?: (stackName: string, options: { projectDir: string; assetDir?: string }) => Promise<PlanResult>;
  /**
   * Where `up` deploys: each stack's local cloud on this machine (tables on dynalite, functions in
   * worker threads, the API on loopback), or false for none (then `up` fails saying how to install
   * the Pulumi CLI). @default local clouds under `<projectDir>/.data/local/<stack>`
   */
  local?: LocalTargets | false;
  /** Evaluates the policy pack against a plan. @default automation/policy/evaluate.ts */
  evaluate?: EvaluatePlan;
}

/**
 * The engine without the Pulumi CLI, and without AWS: `preview` is the offline plan (the program
 * under Pulumi's mock runtime) plus the policy pack evaluated against it; every resource is a
 * planned `create`, as there is no state to compare with. `up` deploys the plan to the stack's
 * local cloud on this machine, not to AWS: it counts only once the plan's PreTraffic hooks passed
 * against the new functions; `outputs` give the local API's URL, so the health gate calls it;
 * `refreshPreview` compares the local cloud with the plan. Nothing here reaches AWS.
 */
export class OfflineEngine implements Engine {
  readonly kind = "offline" as const;
  private readonly projectDir: string;
  private readonly local: LocalTargets | false;

  constructor(private readonly options: OfflineEngineOptions = {}) {
    this.projectDir = options.projectDir ?? PROJECT_DIR;
    this.local = options.local ?? new LocalTargets(this.projectDir, { unref: true });
  }

  describeBackend(): string {
    return this.local
      ? `offline: plans and policy here, deployments to local clouds on this machine (${this.projectDir}/.data/local), never to AWS`
      : "offline: plans and policy only; deployments need the Pulumi CLI";
  }

  private plan(stack: StackRef): Promise<PlanResult> {
    return (this.options.plan ?? planStack)(stack.stackName, {
      projectDir: this.projectDir,
      assetDir: assetCacheDir(this.projectDir),
    });
  }

  private meaning(error: unknown, stack: StackRef, signal?: AbortSignal): never {
    if (error instanceof UnknownStackError)
      throw new StackNotFoundEngineError(stack.stackName, error.message);
    if (error instanceof PlanError)
      throw new EngineError("failed", error.message, stack.stackName, error.detail);
    if (error instanceof LocalDeployError) throw new EngineError("failed", error.message, stack.stackName);
    throw toEngineError(error, stack.stackName, signal);
  }

  private deployed(stack: StackRef) {
    const cloud = this.local ? this.local.get(stack.stackName) : undefined;
    if (!cloud) {
      throw new StackNotFoundEngineError(
        stack.stackName,
        `stack "${stack.stackName}" is not deployed to the local cloud yet (deploy it with a rollout first)`,
      );
    }
    return cloud;
  }

  async preview(stack: StackRef, options: OperationOptions = {}): Promise<PreviewResult> {
    const { signal, onEvent } = options;
    try {
      if (signal?.aborted) throw abortError(signal);
      const plan = await this.plan(stack);
      if (signal?.aborted) throw abortError(signal);
      const report = await (this.options.evaluate ?? evaluatePlan)(plan, { stage: stack.stage });
      const violations: PolicyViolation[] = report.violations.map((violation) => ({
        ...violation,
        policyPackName: "platform",
      }));
      const events = new EngineEventSequence();
      const changeSummary: OpMap = {};
      onEvent?.(events.prelude({ "aws:region": plan.region }));
      for (const resource of plan.resources) {
        countOp(changeSummary, "create");
        onEvent?.(events.resourcePre(stepMetadata("create", resource.urn, resource.type), true));
      }
      if (onEvent) for (const violation of violations) onEvent(events.policy(violation));
      onEvent?.(events.summary(changeSummary, 0));
      return { stack, changeSummary, violations, ...countViolations(violations) };
    } catch (error) {
      this.meaning(error, stack, signal);
    }
  }

  private unavailable(operation: string, stack: StackRef): EngineUnavailableError {
    return new EngineUnavailableError(
      `${operation} of stack "${stack.stackName}" needs the Pulumi CLI, which is not on PATH: ${PULUMI_INSTALL_HINT}`,
      stack.stackName,
    );
  }

  /** Deploys the plan to the stack's local cloud; fails, rolled back, when a PreTraffic hook fails. */
  async up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    if (!this.local) throw this.unavailable("up", stack);
    const { signal, onEvent } = options;
    try {
      if (signal?.aborted) throw abortError(signal);
      const plan = await this.plan(stack);
      if (signal?.aborted) throw abortError(signal);
      this.local.recordRevision(stack.stackName, undefined);
      const { changes } = await this.local.deploy(stack.stackName, plan);
      const events = new EngineEventSequence();
      const summary: OpMap = {};
      onEvent?.(events.prelude({ "aws:region": plan.region }));
      for (const change of changes) {
        const op = /created|started/.test(change) ? "create" : /deleted/.test(change) ? "delete" : "update";
        countOp(summary, op);
        onEvent?.(events.diagnostic(`local cloud: ${change}`, "info"));
      }
      onEvent?.(events.summary(summary, 0));
      if (options.revision) this.local.recordRevision(stack.stackName, options.revision);
      return {
        stack,
        outputs: this.local.outputs(stack.stackName) ?? {},
        summary,
        revision: options.revision,
      };
    } catch (error) {
      this.meaning(error, stack, signal);
    }
  }

  /** How the stack's local cloud differs from its plan, as the step events of a refresh. */
  async refreshPreview(stack: StackRef, options: OperationOptions = {}): Promise<RefreshPreviewResult> {
    if (!this.local) throw this.unavailable("drift detection (a preview-only refresh)", stack);
    try {
      const cloud = this.deployed(stack);
      const plan = await this.plan(stack);
      const drift = await cloud.drift(plan);
      const events = new EngineEventSequence();
      const stepEvents = drift.flatMap((difference) => {
        const resource = plan.resources.find(
          (r) =>
            r.type === difference.type && (r.outputs.name === difference.name || r.id === difference.name),
        );
        const urn =
          resource?.urn ??
          `urn:pulumi:${stack.stackName}::${plan.project}::${difference.type}::${difference.name}`;
        const state = {
          type: difference.type,
          urn,
          id: difference.name,
          parent: "",
          provider: "",
          inputs: {},
          outputs: { name: difference.name },
        };
        const pre = { ...stepMetadata("refresh", urn, difference.type), old: state };
        const result = difference.gone
          ? { ...stepMetadata("delete", urn, difference.type), old: state }
          : {
              ...stepMetadata("update", urn, difference.type),
              old: state,
              new: state,
              detailedDiff: { local: { diffKind: DiffKind.update, inputDiff: false } },
            };
        return [events.resourcePre(pre, true), events.resOutputs(result, true)];
      });
      for (const event of stepEvents) options.onEvent?.(event);
      return {
        stack,
        changeSummary: drift.length > 0 ? { update: drift.length } : { same: plan.resources.length },
        events: stepEvents,
      };
    } catch (error) {
      this.meaning(error, stack, options.signal);
    }
  }

  /** A local cloud has no state apart from itself: a refresh only brings it to the plan again. */
  async refresh(stack: StackRef, options: OperationOptions = {}): Promise<RefreshResult> {
    if (!this.local) throw this.unavailable("refresh", stack);
    try {
      const cloud = this.deployed(stack);
      const changes = await cloud.apply(await this.plan(stack));
      return { stack, summary: { update: changes.length } };
    } catch (error) {
      this.meaning(error, stack, options.signal);
    }
  }

  async outputs(stack: StackRef): Promise<StackOutputs> {
    if (!this.local) throw this.unavailable("reading outputs", stack);
    this.deployed(stack);
    return this.local.outputs(stack.stackName) ?? {};
  }

  /** The revision last deployed to the stack's local cloud by this process, if any. */
  async deployedRevision(stack: StackRef): Promise<string | undefined> {
    return this.local ? this.local.revision(stack.stackName) : undefined;
  }

  async recordRevision(stack: StackRef, revision?: string): Promise<void> {
    if (!this.local) throw this.unavailable("recording the deployed revision", stack);
    this.local.recordRevision(stack.stackName, revision);
  }

  /** Stops every local cloud this engine started. */
  async close(): Promise<void> {
    if (this.local) await this.local.closeAll();
  }

  /** An offline preview runs to its end (a child process a few seconds long); nothing to cancel. */
  async cancel(): Promise<void> {}
}
