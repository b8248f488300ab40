// First, before any import below can load @pulumi/pulumi: defers the SDK parts the CLI rarely uses.
import "./cli-preload";
import { Command, CommanderError } from "commander";
import { registerCost } from "./commands/cost";
import { registerDiff } from "./commands/diff";
import { registerDrift } from "./commands/drift";
import { CliExit, type CliIo, EXIT, type RegisterCommand } from "./commands/io";
import { registerDev, registerEvent, registerInvoke } from "./commands/local";
import { registerPlan } from "./commands/plan";
import { registerPolicy } from "./commands/policy";
import { registerRollout } from "./commands/rollout";
import { registerServe } from "./commands/serve";
import { registerStacks } from "./commands/stacks";
import { MissingRegionStackFileError, UnknownStackError } from "./plan/stack-config";

/** Every command of the `platform` CLI; each lives in automation/commands/. */
const COMMANDS: RegisterCommand[] = [
  registerPlan,
  registerPolicy,
  registerCost,
  registerRollout,
  registerDrift,
  registerServe,
  registerStacks,
  registerDev,
  registerInvoke,
  registerEvent,
  registerDiff,
];

/** Builds the `platform` command line. */
export function buildCli(io: CliIo, commands: RegisterCommand[] = COMMANDS): Command {
  const program = new Command("platform")
    .description(
      "Serverless platform: offline plans, policy checks, cost, multi-region rollout and drift, region stack files, and the HTTP service",
    )
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const register of commands) register(program, io);
  return program;
}

/**
 * Runs the CLI and returns the exit code (never calls process.exit). Tests may pass their own
 * commands (e.g. with an injected engine) and get the same exit-code mapping.
 */
export async function runCli(
  argv: string[],
  io: CliIo,
  commands: RegisterCommand[] = COMMANDS,
): Promise<number> {
  try {
    await buildCli(io, commands).parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof UnknownStackError || error instanceof MissingRegionStackFileError) {
      io.stderr(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof CliExit) {
      io.stderr(`${error.message}\n`);
      return error.code;
    }
    io.stderr(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  }
}

/** The process entry: runs the CLI on process.argv and sets the exit code; Ctrl-C aborts cleanly. */
export async function main(): Promise<void> {
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort(new Error("interrupted (Ctrl-C)")));
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: Boolean(process.stdout.isTTY),
    signal: abort.signal,
  });
}

if (require.main === module) void main();
