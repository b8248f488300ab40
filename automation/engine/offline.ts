import type { OpMap } from "@pulumi/pulumi/automation";
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
  UpResult,
} from "./types";

/** How to get the Pulumi CLI, for the messages of operations that need it. */
export const PULUMI_INSTALL_HINT =
  "install the Pulumi CLI (curl -fsSL https://get.pulumi.com | sh, or your package manager, e.g. brew install pulumi) and make sure `pulumi` is on PATH";

export interface OfflineEngineOptions {
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** Runs the program under the mock runtime. @default planStack */
  plan?: (stackName: string, options: { projectDir: string }) => Promise<PlanResult>;
  /** Evaluates the policy pack against a plan. @default automation/policy/evaluate.ts */
  evaluate?: EvaluatePlan;
}

/**
 * The engine without the Pulumi CLI: `preview` is the offline plan (the program under Pulumi's mock
 * runtime) plus the policy pack evaluated against it; every resource is a planned `create`, as
 * there is no state to compare with. Operations that need the engine and cloud credentials (`up`,
 * `refreshPreview`, `refresh`, `outputs`) fail at once and say how to install the CLI.
 */
export class OfflineEngine implements Engine {
  readonly kind = "offline" as const;
  private readonly projectDir: string;

  constructor(private readonly options: OfflineEngineOptions = {}) {
    this.projectDir = options.projectDir ?? PROJECT_DIR;
  }

  async preview(stack: StackRef, options: OperationOptions = {}): Promise<PreviewResult> {
    const { signal, onEvent } = options;
    try {
      if (signal?.aborted) throw abortError(signal);
      const plan = await (this.options.plan ?? planStack)(stack.stackName, { projectDir: this.projectDir });
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
      if (error instanceof UnknownStackError)
        throw new StackNotFoundEngineError(stack.stackName, error.message);
      if (error instanceof PlanError)
        throw new EngineError("failed", error.message, stack.stackName, error.detail);
      throw toEngineError(error, stack.stackName, signal);
    }
  }

  private unavailable(operation: string, stack: StackRef): EngineUnavailableError {
    return new EngineUnavailableError(
      `${operation} of stack "${stack.stackName}" needs the Pulumi CLI, which is not on PATH: ${PULUMI_INSTALL_HINT}`,
      stack.stackName,
    );
  }

  async up(stack: StackRef): Promise<UpResult> {
    throw this.unavailable("up", stack);
  }

  async refreshPreview(stack: StackRef): Promise<RefreshPreviewResult> {
    throw this.unavailable("drift detection (a preview-only refresh)", stack);
  }

  async refresh(stack: StackRef): Promise<RefreshResult> {
    throw this.unavailable("refresh", stack);
  }

  async outputs(stack: StackRef): Promise<StackOutputs> {
    throw this.unavailable("reading outputs", stack);
  }

  /** Offline there is no state, so no stack is deployed at any revision. */
  async deployedRevision(): Promise<string | undefined> {
    return undefined;
  }

  async recordRevision(stack: StackRef, _revision?: string): Promise<void> {
    throw this.unavailable("recording the deployed revision", stack);
  }

  /** An offline preview runs to its end (a child process a few seconds long); nothing to cancel. */
  async cancel(): Promise<void> {}
}
