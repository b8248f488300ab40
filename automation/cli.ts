import { Command, CommanderError } from "commander";
import { PlanError, planStack } from "./plan/plan";
import { planToJson, renderPlanText } from "./plan/render";
import { UnknownStackError } from "./plan/stack-config";

/** Exit codes: 0 success, 1 the operation failed (or found problems), 2 bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Thrown by commands to end with a message and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Builds the `platform` command line. */
export function buildCli(io: CliIo): Command {
  const program = new Command("platform")
    .description("Serverless platform: offline plans, policy checks, cost, multi-region rollout and drift")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command("plan")
    .description("Run the program for a stack under Pulumi's mock runtime and print the planned resources")
    .argument("<stack>", "stack name (dev, prod, or a region stack such as prod-eu-west-1)")
    .option("--json", "print {stack, resources, outputs} as JSON")
    .action(async (stack: string, options: { json?: boolean }) => {
      const plan = await planStack(stack);
      io.stdout(`${options.json ? JSON.stringify(planToJson(plan), null, 2) : renderPlanText(plan)}\n`);
    });

  return program;
}

/** Runs the CLI and returns the exit code (never calls process.exit). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    await buildCli(io).parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof UnknownStackError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof CliExit) {
      io.stderr(`${error.message}\n`);
      return error.code;
    }
    io.stderr(
      `error: ${error instanceof PlanError ? error.message : error instanceof Error ? error.stack : String(error)}\n`,
    );
    return EXIT.failed;
  }
}

/** The process entry: runs the CLI on process.argv and sets the exit code. */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}

if (require.main === module) void main();
