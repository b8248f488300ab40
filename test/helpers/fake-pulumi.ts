import type * as auto from "@pulumi/pulumi/automation";
import type { PulumiWorkspace } from "../../automation/engine/pulumi-workspace";

/** The Automation API's StackNotFoundError, matched by name as the engine does. */
export class FakeStackNotFoundError extends Error {
  constructor(stackName: string) {
    super(`no stack named '${stackName}' found`);
    this.name = "StackNotFoundError";
  }
}

/** What a fake stack's preview/up does: resolve with a summary, or run a body (events, signal). */
export type FakeOperation = (options: {
  onEvent?: (event: auto.EngineEvent) => void;
  signal?: AbortSignal;
}) => Promise<void>;

export interface FakeWorkspaceOptions {
  /** Stacks that exist before the test. @default none */
  existing?: string[];
  /** `pulumi version`. @default "3.249.0" */
  version?: string;
  /** What preview does. @default resolves at once */
  preview?: FakeOperation;
  /** What up does. @default resolves at once */
  up?: FakeOperation;
}

/**
 * A PulumiWorkspace without a CLI: stacks exist in a set, every call is recorded (with the
 * LocalWorkspace options it got), and preview/up run the given bodies.
 */
export class FakePulumiWorkspace implements PulumiWorkspace {
  readonly stacks: Set<string>;
  readonly calls: { method: string; stackName: string; options?: auto.LocalWorkspaceOptions }[] = [];
  /** The signals the Automation API was given (what would SIGINT the CLI). */
  readonly signals: AbortSignal[] = [];

  constructor(private readonly options: FakeWorkspaceOptions = {}) {
    this.stacks = new Set(options.existing ?? []);
  }

  async cliVersion(): Promise<string | undefined> {
    this.calls.push({ method: "cliVersion", stackName: "" });
    return this.options.version ?? "3.249.0";
  }

  async selectStack(args: auto.LocalProgramArgs, options: auto.LocalWorkspaceOptions): Promise<auto.Stack> {
    this.calls.push({ method: "selectStack", stackName: args.stackName, options });
    if (!this.stacks.has(args.stackName)) throw new FakeStackNotFoundError(args.stackName);
    return this.stack(args.stackName);
  }

  async createStack(args: auto.LocalProgramArgs, options: auto.LocalWorkspaceOptions): Promise<auto.Stack> {
    this.calls.push({ method: "createStack", stackName: args.stackName, options });
    this.stacks.add(args.stackName);
    return this.stack(args.stackName);
  }

  /** The methods called, as `method stackName`. */
  methods(): string[] {
    return this.calls.map((call) => `${call.method}${call.stackName ? ` ${call.stackName}` : ""}`);
  }

  private stack(stackName: string): auto.Stack {
    const run = async (operation: FakeOperation | undefined, options: Parameters<FakeOperation>[0]) => {
      if (options.signal) this.signals.push(options.signal);
      await operation?.(options);
    };
    const fake = {
      name: stackName,
      workspace: {
        removeStack: async (name: string) => {
          this.calls.push({ method: "removeStack", stackName: name });
          this.stacks.delete(name);
        },
      },
      preview: async (options: Parameters<FakeOperation>[0]) => {
        this.calls.push({ method: "preview", stackName });
        await run(this.options.preview, options);
        return { changeSummary: { create: 1 }, stdout: "", stderr: "" };
      },
      up: async (options: Parameters<FakeOperation>[0]) => {
        this.calls.push({ method: "up", stackName });
        await run(this.options.up, options);
        return { outputs: {}, summary: { resourceChanges: { create: 1 } }, stdout: "", stderr: "" };
      },
      listTags: async () => ({}),
      setTag: async () => undefined,
      removeTag: async () => undefined,
    };
    return fake as unknown as auto.Stack;
  }
}
