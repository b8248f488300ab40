import { runCli } from "../../automation/cli";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `platform` CLI in-process with captured output. */
export async function cli(...argv: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    isTTY: false,
  });
  return { code, stdout, stderr };
}
