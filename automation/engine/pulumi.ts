import * as fs from "node:fs";
import * as path from "node:path";
import type * as auto from "@pulumi/pulumi/automation";
import { PROJECT_DIR } from "../plan/plan";
import { abortError, childController } from "./abort";
import { type BackendInfo, DEFAULT_LOCAL_PASSPHRASE, resolveBackend, STATE_DIR_NAME } from "./backend";
import { checkCliVersion } from "./cli-version";
import { EngineError, StackNotFoundEngineError, toEngineError } from "./errors";
import { countViolations, violationFromEvent } from "./events";
import { describeFailedResources } from "./failures";
import { cliCancelSignal, defaultPulumiWorkspace, type PulumiWorkspace } from "./pulumi-workspace";
import {
  type CancelOptions,
  type Engine,
  isStepEvent,
  type OperationOptions,
  type PolicyViolation,
  type PreviewOperationOptions,
  type PreviewResult,
  REVISION_TAG,
  type RefreshPreviewResult,
  type RefreshResult,
  type StackOutputs,
  type StackRef,
  type UpOperationOptions,
  type UpResult,
} from "./types";
import { persistSecretsSettings, prepareStackWorkspace, stackSecretsProvider } from "./workspace";

export { DEFAULT_LOCAL_PASSPHRASE, STATE_DIR_NAME } from "./backend";

export interface PulumiEngineOptions {
  /** The project (Pulumi.yaml, the program, the stack files, policy/). @default PROJECT_DIR */
  projectDir?: string;
  /**
   * The state backend, passed to the CLI. Leave it unset to use the backend the CLI itself uses
   * (PULUMI_BACKEND_URL, the project's `backend.url`, else the one `pulumi login` selected).
   * @default undefined (the CLI's own, see resolveBackend)
   */
  backendUrl?: string;
  /**
   * Use the project's own local backend `file://<projectDir>/.pulumi-state` (git-ignored), with
   * DEFAULT_LOCAL_PASSPHRASE unless a passphrase is set.
   * @default process.env.PLATFORM_LOCAL_BACKEND is 1/true/yes
   */
  localBackend?: boolean;
  /**
   * The passphrase of stacks whose secrets provider is `passphrase`.
   * @default process.env.PULUMI_CONFIG_PASSPHRASE; DEFAULT_LOCAL_PASSPHRASE only for the project's
   * local backend (and never when PULUMI_CONFIG_PASSPHRASE_FILE is set)
   */
  passphrase?: string;
  /**
   * The secrets provider a stack is created with, when its stack file names none.
   * @default the stack file's `secretsprovider`; else `passphrase` for the project's local
   * backend; else the CLI's default for the backend (Pulumi Cloud's own secrets manager, or
   * `passphrase` on a self-managed backend)
   */
  secretsProvider?: string;
  /** Where each stack's work directory is made. @default `<projectDir>/.pulumi-state/workspaces` */
  workspacesDir?: string;
  /** More environment for every Pulumi command (AWS_PROFILE, ...). */
  env?: Record<string, string>;
  /** Config added to every stack (`namespace:key` -> value), after the stack file's. */
  extraConfig?: Record<string, string>;
  /** Run the policy pack (`<projectDir>/policy`) on preview and up. @default true */
  policyPack?: boolean;
  /** The environment the defaults are read from. @default process.env */
  processEnv?: NodeJS.ProcessEnv;
  /** The Automation API (a fake one in tests). @default defaultPulumiWorkspace (LocalWorkspace) */
  workspace?: PulumiWorkspace;
  /**
   * How long an aborted operation waits for the CLI to announce a cancel of its own (it got the
   * same Ctrl-C or SIGTERM) before sending it SIGINT: a second signal would make it stop at once.
   * @default 2000
   */
  cliSignalWaitMs?: number;
}

/** The hint of a preview of a stack that does not exist. */
export const PREVIEW_CREATES_NO_STACK =
  "a preview does not create stacks; the stack's first rollout creates it (and previews it first)";

/** Stack outputs as plain values, secrets masked. */
function plainOutputs(outputs: auto.OutputMap): StackOutputs {
  return Object.fromEntries(
    Object.entries(outputs).map(([key, output]) => [key, output.secret ? "[secret]" : output.value]),
  );
}

/**
 * The engine on the Pulumi CLI through the Automation API: a LocalWorkspace on the project's
 * program (not an inline program), one work directory per stack (see prepareStackWorkspace), the
 * backend the CLI is logged in to and the stack's own secrets provider, the policy pack and the
 * stage's policy config on preview and up, engine events forwarded as they come, cancellation
 * through the abort signal (the CLI gets one SIGINT and stops cleanly), and the deployed revision
 * recorded as the stack tag `platform:revision` (its first operation checks the CLI's version).
 *
 * Operations on one stack are serialised within this process; across processes the backend's
 * stack lock applies and a conflict rejects with ConcurrentUpdateEngineError.
 */
export class PulumiEngine implements Engine {
  readonly kind = "pulumi" as const;
  readonly projectDir: string;
  /** The backend, as the CLI will use it (see resolveBackend). */
  readonly backend: BackendInfo;
  readonly workspacesDir: string;
  /** The environment every Pulumi command gets on top of this process's (backend override, passphrase, options.env). */
  readonly envVars: Readonly<Record<string, string>>;
  private readonly workspace: PulumiWorkspace;
  private readonly inFlight = new Map<string, { controller: AbortController; done: Promise<unknown> }>();
  private readonly locks = new Map<string, Promise<void>>();
  private cliChecked?: Promise<void>;

  constructor(private readonly options: PulumiEngineOptions = {}) {
    const env = options.processEnv ?? process.env;
    this.projectDir = path.resolve(options.projectDir ?? PROJECT_DIR);
    this.backend = resolveBackend({
      projectDir: this.projectDir,
      env,
      backendUrl: options.backendUrl,
      local: options.localBackend,
    });
    this.workspacesDir = options.workspacesDir ?? path.join(this.projectDir, STATE_DIR_NAME, "workspaces");
    this.workspace = options.workspace ?? defaultPulumiWorkspace;
    const envVars: Record<string, string> = { PULUMI_SKIP_UPDATE_CHECK: "true" };
    // Only an explicit choice is passed on: otherwise the CLI finds the backend `pulumi up` uses.
    if (this.backend.override !== undefined) envVars.PULUMI_BACKEND_URL = this.backend.override;
    const passphrase = options.passphrase ?? env.PULUMI_CONFIG_PASSPHRASE;
    if (passphrase !== undefined) envVars.PULUMI_CONFIG_PASSPHRASE = passphrase;
    else if (this.backend.localProjectBackend && !env.PULUMI_CONFIG_PASSPHRASE_FILE)
      envVars.PULUMI_CONFIG_PASSPHRASE = DEFAULT_LOCAL_PASSPHRASE;
    this.envVars = { ...envVars, ...options.env };
  }

  /** The backend's URL; undefined when only the CLI knows it (encrypted credentials). */
  get backendUrl(): string | undefined {
    return this.backend.url;
  }

  /** `<backend> ; secrets: ...`: what the CLI and the service print at start. */
  describeBackend(): string {
    const secrets =
      this.envVars.PULUMI_CONFIG_PASSPHRASE === DEFAULT_LOCAL_PASSPHRASE
        ? "each stack's own secrets provider (passphrase: the local default, not a secret)"
        : "each stack's own secrets provider (from its stack file)";
    return `${this.backend.description}; secrets: ${secrets}`;
  }

  /**
   * Checks once that the CLI is recent enough for this backend (stack tags); every operation
   * waits for it and fails with its EngineUnavailableError.
   */
  start(): Promise<void> {
    this.cliChecked ??= this.workspace
      .cliVersion()
      .then((version) => checkCliVersion(version, this.backend.kind));
    return this.cliChecked;
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

  /** The work directory and LocalWorkspace options of a stack. */
  private stackArgs(stack: StackRef): { args: auto.LocalProgramArgs; options: auto.LocalWorkspaceOptions } {
    // The project's local state directory is ours to create; any other backend is the user's.
    if (this.backend.source === "local" && this.backend.url?.startsWith("file://"))
      fs.mkdirSync(this.backend.url.slice("file://".length), { recursive: true });
    const workDir = prepareStackWorkspace(
      this.projectDir,
      this.workspacesDir,
      stack,
      this.options.extraConfig,
    );
    const secretsProvider =
      this.options.secretsProvider ??
      stackSecretsProvider(workDir, stack.stackName) ??
      (this.backend.localProjectBackend ? "passphrase" : undefined);
    return {
      args: { stackName: stack.stackName, workDir },
      options: { envVars: { ...this.envVars }, ...(secretsProvider ? { secretsProvider } : {}) },
    };
  }

  private async select(
    stack: StackRef,
    create: boolean,
  ): Promise<{ pulumiStack: auto.Stack; created: boolean }> {
    const { args, options } = this.stackArgs(stack);
    try {
      return { pulumiStack: await this.workspace.selectStack(args, options), created: false };
    } catch (error) {
      if (!create || (error as Error)?.name !== "StackNotFoundError") throw error;
      const pulumiStack = await this.workspace.createStack(args, options);
      if (args.workDir) persistSecretsSettings(this.projectDir, args.workDir, stack);
      return { pulumiStack, created: true };
    }
  }

  private operate<T>(
    stack: StackRef,
    options: OperationOptions,
    create: boolean,
    body: (pulumiStack: auto.Stack, signal: AbortSignal, created: boolean) => Promise<T>,
  ): Promise<T> {
    return this.exclusive(stack.stackName, async () => {
      const { controller, release } = childController(options.signal);
      let settle!: () => void;
      const done = new Promise<void>((resolve) => {
        settle = resolve;
      });
      this.inFlight.set(stack.stackName, { controller, done });
      try {
        await this.start();
        if (controller.signal.aborted) throw abortError(controller.signal);
        const { pulumiStack, created } = await this.select(stack, create);
        // A cancel while the stack was selected: the CLI command never starts (see withCli).
        if (controller.signal.aborted && !created) throw abortError(controller.signal);
        return await body(pulumiStack, controller.signal, created);
      } catch (error) {
        throw toEngineError(error, stack.stackName, controller.signal);
      } finally {
        this.inFlight.delete(stack.stackName);
        settle();
        release();
      }
    });
  }

  /**
   * Runs a CLI command with the operation's signal passed on as one clean SIGINT (cliCancelSignal).
   * An operation cancelled before it gets here (during the version check, the stack's selection,
   * a tag's removal) does not start the command: the Automation API only listens to the signal
   * once it has spawned the CLI, and would run the whole update.
   */
  private async withCli<T>(
    signal: AbortSignal,
    onEvent: ((event: auto.EngineEvent) => void) | undefined,
    run: (cli: { signal: AbortSignal; onEvent: (event: auto.EngineEvent) => void }) => Promise<T>,
  ): Promise<T> {
    if (signal.aborted) throw abortError(signal);
    const cli = cliCancelSignal(signal, onEvent, this.options.cliSignalWaitMs ?? 2000);
    try {
      return await run(cli);
    } finally {
      cli.dispose();
    }
  }

  preview(stack: StackRef, options: PreviewOperationOptions = {}): Promise<PreviewResult> {
    return this.operate(
      stack,
      options,
      options.createStack === true,
      async (pulumiStack, signal, created) => {
        const violations: PolicyViolation[] = [];
        let changeSummary: auto.OpMap = {};
        try {
          const result = await this.withCli(signal, options.onEvent, (cli) =>
            pulumiStack.preview({
              ...this.policyOptions(stack.stage),
              onEvent: (event) => {
                if (event.policyEvent) violations.push(violationFromEvent(event.policyEvent));
                cli.onEvent(event);
              },
              signal: cli.signal,
              color: "never",
            }),
          );
          changeSummary = result.changeSummary;
        } catch (error) {
          // A mandatory violation fails `pulumi preview`: that is the preview's answer, not an engine error.
          if (signal.aborted || !violations.some((violation) => violation.enforcementLevel === "mandatory")) {
            await this.removeCreated(pulumiStack, created);
            throw error;
          }
        }
        const result = { stack, changeSummary, violations, ...countViolations(violations) };
        if (result.mandatoryCount > 0) await this.removeCreated(pulumiStack, created);
        return result;
      },
    ).catch((error: unknown) => {
      if (error instanceof StackNotFoundEngineError && !options.createStack) {
        throw new StackNotFoundEngineError(stack.stackName, error.detail, PREVIEW_CREATES_NO_STACK);
      }
      throw error;
    });
  }

  /** A stack this preview created for a deployment that will not happen now is removed (it is empty). */
  private async removeCreated(pulumiStack: auto.Stack, created: boolean): Promise<void> {
    if (!created) return;
    await pulumiStack.workspace.removeStack(pulumiStack.name).catch(() => undefined);
  }

  up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    return this.operate(stack, options, true, async (pulumiStack, signal) => {
      // A failed update must not keep claiming the previous revision.
      if (options.revision) await pulumiStack.removeTag(REVISION_TAG).catch(() => undefined);
      const result = await this.withCli(signal, options.onEvent, (cli) =>
        pulumiStack.up({
          ...this.policyOptions(stack.stage),
          ...(options.refresh ? { refresh: true } : {}),
          onEvent: cli.onEvent,
          signal: cli.signal,
          color: "never",
        }),
      );
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
      const diagnostics: auto.EngineEvent[] = [];
      // `refresh --preview-only`: reads the live state, writes nothing (never --expect-no-changes,
      // which refreshes the state before failing).
      try {
        const result = await this.withCli(signal, options.onEvent, (cli) =>
          pulumiStack.previewRefresh({
            onEvent: (event) => {
              if (isStepEvent(event)) events.push(event);
              else if (event.diagnosticEvent?.severity === "error") diagnostics.push(event);
              cli.onEvent(event);
            },
            signal: cli.signal,
            color: "never",
          }),
        );
        return { stack, changeSummary: result.changeSummary, events };
      } catch (error) {
        // The CLI exits 1 on a resource it could not read; only the events say which one.
        const failed = signal.aborted ? undefined : describeFailedResources([...events, ...diagnostics]);
        if (!failed) throw error;
        const engineError = toEngineError(error, stack.stackName);
        throw new EngineError("failed", failed, stack.stackName, engineError.detail ?? engineError.message);
      }
    });
  }

  refresh(stack: StackRef, options: OperationOptions = {}): Promise<RefreshResult> {
    return this.operate(stack, options, false, async (pulumiStack, signal) => {
      const result = await this.withCli(signal, options.onEvent, (cli) =>
        pulumiStack.refresh({ onEvent: cli.onEvent, signal: cli.signal, color: "never" }),
      );
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
   * Cancels this process's operation on the stack and resolves once it has stopped (the CLI
   * finished its clean cancel and released the stack). With `backendUpdate`, and no operation of
   * ours on the stack, it cancels the backend's update in progress instead (`pulumi cancel`).
   */
  async cancel(stack: StackRef, options: CancelOptions = {}): Promise<void> {
    const operation = this.inFlight.get(stack.stackName);
    if (operation) {
      operation.controller.abort(new Error("cancelled by request"));
      await operation.done;
      return;
    }
    if (!options.backendUpdate) return;
    try {
      await (await this.select(stack, false)).pulumiStack.cancel();
    } catch (error) {
      throw toEngineError(error, stack.stackName);
    }
  }
}
