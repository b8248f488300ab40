import type { Command } from "commander";

/** Exit codes of every command: 0 success, 1 the operation failed (or found problems), 2 bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Thrown by a command to end with a message on stderr and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CliExit";
  }
}

/** Where commands write; tests capture it. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** True when stdout is an interactive terminal (live progress); false for pipes and tests. */
  isTTY?: boolean;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
}

/** Adds one command (with its options and action) to the `platform` program. */
export type RegisterCommand = (program: Command, io: CliIo) => void;
