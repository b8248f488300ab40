import * as fs from "node:fs";
import * as path from "node:path";
import * as auto from "@pulumi/pulumi/automation";
import type { PulumiWorkspace } from "../../automation/engine/pulumi-workspace";
import { FakeStackNotFoundError } from "./fake-pulumi";

/** The Automation API's internals this helper builds its errors with (exported at runtime, not typed). */
const sdk = auto as unknown as {
  CommandResult: new (stdout: string, stderr: string, code: number, err?: Error) => object;
};
const sdkErrors = require("@pulumi/pulumi/automation/errors") as {
  createCommandError: (result: object) => auto.CommandError;
};

/**
 * The error the Automation API rejects with when the CLI exits non-zero, as @pulumi/pulumi 3.248
 * builds it (automation/cmd.js runPulumiCmd): execa's rejection is caught and wrapped, so
 * `commandResult.stdout` is empty, `stderr` is execa's message (`Command failed with exit code 1:
 * pulumi <args> --non-interactive`, then the CLI's output) and `code` is -2 (unknownErrCode).
 */
export function sdkCommandError(args: string, output: string, exitCode = 1): auto.CommandError {
  const message = `Command failed with exit code ${exitCode}: pulumi ${args} --non-interactive\n${output}`;
  return sdkErrors.createCommandError(new sdk.CommandResult("", message, -2, new Error(message)));
}

const TABLE_TYPE = "aws:dynamodb/table:Table";

/** The URN of the users table in a stack, as the program names it. */
export function tableUrn(stackName: string): string {
  return `urn:pulumi:${stackName}::platform::platform:index:Platform$platform:dynamodb:DataTable$${TABLE_TYPE}::users-table`;
}

/**
 * A preview-only refresh that cannot read the users table, as the real engine reports it: in
 * preview mode a failed step sends no resOpFailedEvent, only an error diagnostic with the
 * resource's URN whose message starts "Preview failed: "; then the CLI exits 1 and the Automation
 * API rejects with a CommandError whose text names no URN (`output` is what the CLI printed).
 */
export function unreadableTableRefresh(stackName: string): { events: auto.EngineEvent[]; output: string } {
  const urn = tableUrn(stackName);
  const stackUrn = `urn:pulumi:${stackName}::platform::pulumi:pulumi:Stack::platform-${stackName}`;
  const reason =
    "reading DynamoDB Table (platform-prod-users-table): operation error DynamoDB: DescribeTable, https response error StatusCode: 400, AccessDeniedException: not authorized to perform dynamodb:DescribeTable";
  const step = (type: string, resourceUrn: string) => ({
    op: "refresh" as const,
    urn: resourceUrn,
    type,
    provider: "",
  });
  const events: auto.EngineEvent[] = [
    { sequence: 0, timestamp: 1767225600, preludeEvent: { config: { "aws:region": "eu-west-1" } } },
    {
      sequence: 2,
      timestamp: 1767225600,
      resourcePreEvent: { metadata: step("pulumi:pulumi:Stack", stackUrn), planning: true },
    },
    {
      sequence: 4,
      timestamp: 1767225601,
      resourcePreEvent: { metadata: step(TABLE_TYPE, urn), planning: true },
    },
    {
      sequence: 5,
      timestamp: 1767225602,
      diagnosticEvent: {
        urn,
        prefix: "error: ",
        message: `Preview failed: ${reason}\n`,
        color: "never",
        severity: "error",
      },
    },
  ];
  const output = [
    `Previewing refresh (${stackName}):`,
    ` ~  aws:dynamodb:Table users-table refreshing (0s) error: Preview failed: ${reason}`,
    "Diagnostics:",
    "  aws:dynamodb:Table (users-table):",
    `    error: Preview failed: ${reason}`,
    "",
    "Resources:",
    "Duration: 2s",
    "",
  ].join("\n");
  return { events, output };
}

type OperationBody = (options: {
  onEvent?: (event: auto.EngineEvent) => void;
  signal?: AbortSignal;
  refresh?: boolean;
}) => Promise<void>;

export interface ScriptedWorkspaceOptions {
  /** Stacks that exist before the test. @default none */
  existing?: string[];
  /** Awaited by every selectStack before it answers (a `pulumi stack select` still running). */
  selectGate?: Promise<void>;
  /** What the stack operations do, given the options the engine passed. @default resolve at once */
  up?: OperationBody;
  previewRefresh?: OperationBody;
  /**
   * What `pulumi stack init` writes into the work directory's stack file (the secrets provider
   * settings of a new passphrase stack). @default { encryptionsalt: "v1:test-salt" }
   */
  createWrites?: Record<string, string>;
}

/**
 * A PulumiWorkspace without a CLI for the engine's own logic around the CLI: every call is
 * recorded, selectStack can be held, and createStack writes into the work directory as the CLI does.
 */
export class ScriptedPulumiWorkspace implements PulumiWorkspace {
  readonly stacks: Set<string>;
  readonly calls: string[] = [];

  constructor(private readonly options: ScriptedWorkspaceOptions = {}) {
    this.stacks = new Set(options.existing ?? []);
  }

  async cliVersion(): Promise<string | undefined> {
    return "3.249.0";
  }

  async selectStack(args: auto.LocalProgramArgs): Promise<auto.Stack> {
    this.calls.push(`selectStack ${args.stackName}`);
    await this.options.selectGate;
    if (!this.stacks.has(args.stackName)) throw new FakeStackNotFoundError(args.stackName);
    return this.stack(args.stackName);
  }

  async createStack(args: auto.LocalProgramArgs): Promise<auto.Stack> {
    this.calls.push(`createStack ${args.stackName}`);
    this.stacks.add(args.stackName);
    const written = this.options.createWrites ?? { encryptionsalt: "v1:test-salt" };
    if (args.workDir) {
      const file = path.join(args.workDir, `Pulumi.${args.stackName}.yaml`);
      fs.appendFileSync(
        file,
        Object.entries(written)
          .map(([key, value]) => `${key}: ${value}\n`)
          .join(""),
      );
    }
    return this.stack(args.stackName);
  }

  private stack(stackName: string): auto.Stack {
    const fake = {
      name: stackName,
      workspace: { removeStack: async () => undefined },
      up: async (options: Parameters<OperationBody>[0]) => {
        this.calls.push(`up ${stackName}`);
        await this.options.up?.(options);
        return { outputs: {}, summary: { resourceChanges: { update: 1 } }, stdout: "", stderr: "" };
      },
      previewRefresh: async (options: Parameters<OperationBody>[0]) => {
        this.calls.push(`previewRefresh ${stackName}`);
        await this.options.previewRefresh?.(options);
        return { changeSummary: { same: 1 }, stdout: "", stderr: "" };
      },
      listTags: async () => ({}),
      setTag: async () => undefined,
      removeTag: async () => {
        this.calls.push(`removeTag ${stackName}`);
      },
    };
    return fake as unknown as auto.Stack;
  }
}
