import * as fs from "node:fs";
import * as path from "node:path";
import * as auto from "@pulumi/pulumi/automation";
import { PROJECT_DIR } from "../plan/plan";
import { abortError, childController } from "./abort";
import { StackNotFoundEngineError, toEngineError } from "./errors";
import { countViolations, violationFromEvent } from "./events";
import {
  type Engine,
  isStepEvent,
  type OperationOptions,
  type PolicyViolation,
  type PreviewResult,
  REVISION_TAG,
  type RefreshPreviewResult,
  type RefreshResult,
  type StackOutputs,
  type StackRef,
  type UpOperationOptions,
  type UpResult,
} from "./types";
import { prepareStackWorkspace } from "./workspace";

/**
 * The passphrase of the default local file backend's secrets provider. It protects nothing: it
 * exists so that local use needs no setup. Any shared backend must set PULUMI_CONFIG_PASSPHRASE
 * (or PULUMI_CONFIG_PASSPHRASE_FILE), or use another secrets provider.
 */
export const DEFAULT_LOCAL_PASSPHRASE = "platform-local-only-not-a-secret";

/** The default state directory (git-ignored): `file://<project>/.pulumi-state`. */
export const STATE_DIR_NAME = ".pulumi-state";

export interface PulumiEngineOptions {
  /** The project (Pulumi.yaml, the program, the stack files, policy/). @default PROJECT_DIR */
  projectDir?: string;
  /**
   * The state backend.
   * @default process.env.PULUMI_BACKEND_URL, else `file://<projectDir>/.pulumi-state`
   */
  backendUrl?: string;
  /**
   * The secrets provider's passphrase.
   * @default process.env.PULUMI_CONFIG_PASSPHRASE; else, unless PULUMI_CONFIG_PASSPHRASE_FILE is
   * set, DEFAULT_LOCAL_PASSPHRASE (local use only)
   */
  passphrase?: string;
  /** The secrets provider new stacks are created with. @default "passphrase" */
  secretsProvider?: string;
  /** Where each stack's work directory is made. @default `<projectDir>/.pulumi-state/workspaces` */
  workspacesDir?: string;
  /** More environment for every Pulumi command (AWS_PROFILE, ...). */
  env?: Record<string, string>;
  /** Config added to every stack (`namespace:key` -> value), after the stage's and aws:region. */
  extraConfig?: Record<string, string>;
  /** Run the policy pack (`<projectDir>/policy`) on preview and up. @default true */
  policyPack?: boolean;
  /** The environment the defaults are read from. @default process.env */
  processEnv?: NodeJS.ProcessEnv;
}

/** Stack outputs as plain values, secrets masked. */
function plainOutputs(outputs: auto.OutputMap): StackOutputs {
  return Object.fromEntries(
    Object.entries(outputs).map(([key, output]) => [key, output.secret ? "[secret]" : output.value]),
  );
}

/**
 * The engine on the Pulumi CLI through the Automation API: a LocalWorkspace on the project's
 * program (not an inline program), one work directory per stack (see prepareStackWorkspace), the
 * policy pack and the stage's policy config on preview and up, engine events forwarded as they
 * come, cancellation through the abort signal (the CLI gets SIGINT and stops cleanly) or
 * `stack.cancel()`, and the deployed revision recorded as the stack tag `platform:revision`.
 *
 * Operations on one stack are serialised within this process; across processes the backend's
 * stack lock applies and a conflict rejects with ConcurrentUpdateEngineError.
 */
export class PulumiEngine implements Engine {
  readonly kind = "pulumi" as const;
  readonly projectDir: string;
  readonly backendUrl: string;
  readonly workspacesDir: string;
  /** The environment every Pulumi command gets (backend, passphrase, options.env). */
  readonly envVars: Readonly<Record<string, string>>;
  private readonly defaultStateDir: string;
  private readonly inFlight = new Map<string, AbortController>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(private readonly options: PulumiEngineOptions = {}) {
    const env = options.processEnv ?? process.env;
    this.projectDir = path.resolve(options.projectDir ?? PROJECT_DIR);
    this.defaultStateDir = path.join(this.projectDir, STATE_DIR_NAME);
    this.backendUrl = options.backendUrl ?? env.PULUMI_BACKEND_URL ?? `file://${this.defaultStateDir}`;
    this.workspacesDir = options.workspacesDir ?? path.join(this.projectDir, STATE_DIR_NAME, "workspaces");
    const envVars: Record<string, string> = {
      PULUMI_BACKEND_URL: this.backendUrl,
      PULUMI_SKIP_UPDATE_CHECK: "true",
    };
    const passphrase = options.passphrase ?? env.PULUMI_CONFIG_PASSPHRASE;
    if (passphrase !== undefined) envVars.PULUMI_CONFIG_PASSPHRASE = passphrase;
    else if (!env.PULUMI_CONFIG_PASSPHRASE_FILE) envVars.PULUMI_CONFIG_PASSPHRASE = DEFAULT_LOCAL_PASSPHRASE;
    this.envVars = { ...envVars, ...options.env };
  }

  /** `--policy-pack policy --policy-pack-config policy/config.<stage>.json` (when that file exists). */
  policyOptions(stage: string): { policyPacks?: string[]; policyPackConfigs?: string[] } {
    if (this.options.policyPack === false) return {};
    const policyDir = path.join(this.projectDir, "policy");
    const config = path.join(policyDir, `config.${stage}.json`);
    return { policyPacks: [policyDir], policyPackConfigs: fs.existsSync(config) ? [config] : [] };
  }

  /** Runs `body` once every earlier operation on the same stack (in this process) has ended. */
  private async exclusive<T>(stackName: string, body: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(stackName) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.locks.set(stackName, tail);
    await previous;
    try {
      return await body();
    } finally {
      release();
      if (this.locks.get(stackName) === tail) this.locks.delete(stackName);
    }
  }

  private async select(stack: StackRef, create: boolean): Promise<auto.Stack> {
    // The default backend's directory is ours to create; any other backend is the user's.
    if (this.backendUrl === `file://${this.defaultStateDir}`)
      fs.mkdirSync(this.defaultStateDir, { recursive: true });
    const workDir = prepareStackWorkspace(
      this.projectDir,
      this.workspacesDir,
      stack,
      this.options.extraConfig,
    );
    const args = { stackName: stack.stackName, workDir };
    const options: auto.LocalWorkspaceOptions = {
      envVars: this.envVars,
      secretsProvider: this.options.secretsProvider ?? "passphrase",
    };
    return create
      ? auto.LocalWorkspace.createOrSelectStack(args, options)
      : auto.LocalWorkspace.selectStack(args, options);
  }

  private operate<T>(
    stack: StackRef,
    options: OperationOptions,
    create: boolean,
    body: (pulumiStack: auto.Stack, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return this.exclusive(stack.stackName, async () => {
      const { controller, release } = childController(options.signal);
      this.inFlight.set(stack.stackName, controller);
      try {
        if (controller.signal.aborted) throw abortError(controller.signal);
        const pulumiStack = await this.select(stack, create);
        return await body(pulumiStack, controller.signal);
      } catch (error) {
        throw toEngineError(error, stack.stackName, controller.signal);
      } finally {
        this.inFlight.delete(stack.stackName);
        release();
      }
    });
  }

  preview(stack: StackRef, options: OperationOptions = {}): Promise<PreviewResult> {
    return this.operate(stack, options, true, async (pulumiStack, signal) => {
      const violations: PolicyViolation[] = [];
      const onEvent = (event: auto.EngineEvent) => {
        if (event.policyEvent) violations.push(violationFromEvent(event.policyEvent));
        options.onEvent?.(event);
      };
      let changeSummary: auto.OpMap = {};
      try {
        const result = await pulumiStack.preview({
          ...this.policyOptions(stack.stage),
          onEvent,
          signal,
          color: "never",
        });
        changeSummary = result.changeSummary;
      } catch (error) {
        // A mandatory violation fails `pulumi preview`: that is the preview's answer, not an engine error.
        if (signal.aborted || !violations.some((violation) => violation.enforcementLevel === "mandatory")) {
          throw error;
        }
      }
      return { stack, changeSummary, violations, ...countViolations(violations) };
    });
  }

  up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    return this.operate(stack, options, true, async (pulumiStack, signal) => {
      // A failed update must not keep claiming the previous revision.
      if (options.revision) await pulumiStack.removeTag(REVISION_TAG).catch(() => undefined);
      const result = await pulumiStack.up({
        ...this.policyOptions(stack.stage),
        onEvent: options.onEvent,
        signal,
        color: "never",
      });
      if (options.revision) await pulumiStack.setTag(REVISION_TAG, options.revision);
      return {
        stack,
        outputs: plainOutputs(result.outputs),
        summary: result.summary.resourceChanges ?? {},
        revision: options.revision,
      };
    });
  }

  refreshPreview(stack: StackRef, options: OperationOptions = {}): Promise<RefreshPreviewResult> {
    return this.operate(stack, options, false, async (pulumiStack, signal) => {
      const events: auto.EngineEvent[] = [];
      // `refresh --preview-only`: reads the live state, writes nothing (never --expect-no-changes,
      // which refreshes the state before failing).
      const result = await pulumiStack.previewRefresh({
        onEvent: (event) => {
          if (isStepEvent(event)) events.push(event);
          options.onEvent?.(event);
        },
        signal,
        color: "never",
      });
      return { stack, changeSummary: result.changeSummary, events };
    });
  }

  refresh(stack: StackRef, options: OperationOptions = {}): Promise<RefreshResult> {
    return this.operate(stack, options, false, async (pulumiStack, signal) => {
      const result = await pulumiStack.refresh({ onEvent: options.onEvent, signal, color: "never" });
      return { stack, summary: result.summary.resourceChanges ?? {} };
    });
  }

  outputs(stack: StackRef, options: OperationOptions = {}): Promise<StackOutputs> {
    return this.operate(stack, options, false, async (pulumiStack) =>
      plainOutputs(await pulumiStack.outputs()),
    );
  }

  async deployedRevision(stack: StackRef, options: OperationOptions = {}): Promise<string | undefined> {
    try {
      return await this.operate(stack, options, false, async (pulumiStack) => {
        const tags = await pulumiStack.listTags();
        return tags[REVISION_TAG] || undefined;
      });
    } catch (error) {
      if (error instanceof StackNotFoundEngineError) return undefined;
      throw error;
    }
  }

  recordRevision(
    stack: StackRef,
    revision: string | undefined,
    options: OperationOptions = {},
  ): Promise<void> {
    return this.operate(stack, options, false, async (pulumiStack) => {
      if (revision !== undefined) await pulumiStack.setTag(REVISION_TAG, revision);
      else await pulumiStack.removeTag(REVISION_TAG).catch(() => undefined);
    });
  }

  /**
   * Cancels the stack's operation: this process's, through its signal (the CLI stops cleanly);
   * otherwise the backend's update in progress (`pulumi cancel`, which may leave resources in an
   * unknown state, as the CLI warns).
   */
  async cancel(stack: StackRef): Promise<void> {
    const controller = this.inFlight.get(stack.stackName);
    if (controller) {
      controller.abort(new Error("cancelled by request"));
      return;
    }
    try {
      await (await this.select(stack, false)).cancel();
    } catch (error) {
      throw toEngineError(error, stack.stackName);
    }
  }
}
