/** What went wrong, in terms a caller can act on (the HTTP service maps it to a status). */
export type EngineErrorKind = "stackNotFound" | "concurrentUpdate" | "cancelled" | "unavailable" | "failed";

const HTTP_STATUS: Record<EngineErrorKind, number> = {
  stackNotFound: 404,
  concurrentUpdate: 409,
  cancelled: 499,
  unavailable: 501,
  failed: 500,
};

/** An engine operation failed; `message` keeps the engine's own words, `detail` its full output. */
export class EngineError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    readonly stackName?: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = "EngineError";
    this.httpStatus = HTTP_STATUS[kind];
  }
}

export class StackNotFoundEngineError extends EngineError {
  constructor(stackName: string, detail?: string) {
    super(
      "stackNotFound",
      `stack "${stackName}" does not exist (it has never been deployed)`,
      stackName,
      detail,
    );
    this.name = "StackNotFoundEngineError";
  }
}

export class ConcurrentUpdateEngineError extends EngineError {
  constructor(stackName: string, detail?: string) {
    super(
      "concurrentUpdate",
      `stack "${stackName}" is being updated by someone else (the backend holds its lock); retry when that update ends`,
      stackName,
      detail,
    );
    this.name = "ConcurrentUpdateEngineError";
  }
}

export class EngineCancelledError extends EngineError {
  constructor(stackName: string | undefined, reason?: unknown) {
    super("cancelled", `cancelled: ${reasonText(reason)}`, stackName);
    this.name = "EngineCancelledError";
  }
}

/** The operation needs something this engine does not have (the Pulumi CLI, for OfflineEngine). */
export class EngineUnavailableError extends EngineError {
  constructor(message: string, stackName?: string) {
    super("unavailable", message, stackName);
    this.name = "EngineUnavailableError";
  }
}

/** The text of an abort reason: `signal.abort(new Error("x"))` -> "x". */
export function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  if (reason === undefined) return "aborted";
  return String(reason);
}

/** The `error:` lines of a Pulumi CLI's stderr, which say why a command failed. */
function errorLines(text: string): string {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /^error:/i.test(line));
  return lines.join("; ");
}

interface CommandErrorLike {
  name: string;
  message: string;
  commandResult?: { stderr?: string; stdout?: string; code?: number };
}

/**
 * Maps any error an operation raised to an EngineError: the Automation API's StackNotFoundError
 * and ConcurrentUpdateError to their typed errors, an aborted operation to EngineCancelledError,
 * and anything else to EngineError("failed") with the engine's message kept.
 */
export function toEngineError(error: unknown, stackName?: string, signal?: AbortSignal): EngineError {
  if (error instanceof EngineError) return error;
  if (signal?.aborted) return new EngineCancelledError(stackName, signal.reason);
  const candidate = (error ?? {}) as Partial<CommandErrorLike>;
  // Matched by name so that this module does not load the Automation API.
  const detail = candidate.commandResult?.stderr ?? (error instanceof Error ? error.message : undefined);
  if (candidate.name === "StackNotFoundError") return new StackNotFoundEngineError(stackName ?? "?", detail);
  if (candidate.name === "ConcurrentUpdateError")
    return new ConcurrentUpdateEngineError(stackName ?? "?", detail);
  if (candidate.name === "CommandError") {
    const stderr = candidate.commandResult?.stderr ?? "";
    const message =
      errorLines(stderr) || stderr.trim().split("\n").slice(-3).join(" ") || String(candidate.message);
    return new EngineError("failed", message, stackName, `${candidate.message ?? ""}`);
  }
  return new EngineError("failed", error instanceof Error ? error.message : String(error), stackName);
}
