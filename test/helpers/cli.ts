import { runCli } from "../../automation/cli";
import type { CliIo, RegisterCommand } from "../../automation/commands/io";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` through the real `runCli` (same exit-code mapping) with captured output; pass
 * `commands` to register commands with injected dependencies instead of the real ones.
 */
export async function runCommands(
  argv: string[],
  options: { commands?: RegisterCommand[]; io?: Partial<CliIo> } = {},
): Promise<CliRun> {
  const run: CliRun = { code: 0, stdout: "", stderr: "" };
  const io: CliIo = {
    stdout: (text) => {
      run.stdout += text;
    },
    stderr: (text) => {
      run.stderr += text;
    },
    isTTY: false,
    ...options.io,
  };
  run.code = await runCli(argv, io, options.commands);
  return run;
}

/** Runs the `platform` CLI in-process with captured output. */
export function cli(...argv: string[]): Promise<CliRun> {
  return runCommands(argv);
}

/** Runs one command (registered with its test dependencies) through the real CLI runner. */
export function runCommand(
  register: RegisterCommand,
  argv: string[],
  io: Partial<CliIo> = {},
): Promise<CliRun> {
  return runCommands(argv, { commands: [register], io });
}
