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
  /** `hint`: what to do about it, appended to the message. */
  constructor(stackName: string, detail?: string, hint?: string) {
    super(
      "stackNotFound",
      `stack "${stackName}" does not exist (it has never been deployed)${hint ? `: ${hint}` : ""}`,
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

/**
 * An update failed because an AWS account prerequisite is missing (a quota); `prerequisite` says
 * what to do, the message keeps the engine's own words after it.
 */
export class PrerequisiteEngineError extends EngineError {
  constructor(
    readonly prerequisite: string,
    engineMessage: string,
    stackName?: string,
    detail?: string,
  ) {
    super("failed", `${prerequisite} (engine: ${engineMessage})`, stackName, detail);
    this.name = "PrerequisiteEngineError";
  }
}

/**
 * Lambda's answer to PutProvisionedConcurrencyConfig (and PutFunctionConcurrency) when the
 * account's concurrency quota is too small: "InvalidParameterValueException: Specified
 * ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its
 * minimum value of [10]." (the CLI may wrap it across lines, hence the whitespace classes).
 */
const UNRESERVED_CONCURRENCY =
  /decreases\s+account's\s+Unreserved\s*Concurrent\s*Execution\s+below\s+its\s+minimum\s+value\s+of\s+\[\s*(\d+)\s*\]/i;

/** The prerequisite an engine failure names, when it is one this project knows; else undefined. */
export function missingPrerequisite(text: string): string | undefined {
  const match = UNRESERVED_CONCURRENCY.exec(text);
  if (!match) return undefined;
  return [
    `the AWS account's Lambda concurrency quota is too low for provisioned concurrency (Lambda keeps ${match[1]} concurrent executions unreserved; new accounts can have a quota as low as 10).`,
    'Prerequisite: request an increase of the Lambda quota "Concurrent executions" (Service Quotas code L-B99A9384) in this region,',
    "or set platform:provisionedConcurrency: 0 in the stage's stack file",
  ].join(" ");
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
 * a known missing account prerequisite (Lambda concurrency quota) to PrerequisiteEngineError, and
 * anything else to EngineError("failed") with the engine's message kept.
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
    const prerequisite = missingPrerequisite(`${stderr}\n${candidate.message ?? ""}`);
    if (prerequisite) {
      // The provider's error is wrapped over several lines: keep all of it from its first line.
      const start = stderr.search(/^\s*error:/im);
      const whole = start === -1 ? message : stderr.slice(start).replace(/\s+/g, " ").trim().slice(0, 1000);
      return new PrerequisiteEngineError(prerequisite, whole, stackName, `${candidate.message ?? ""}`);
    }
    return new EngineError("failed", message, stackName, `${candidate.message ?? ""}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  const prerequisite = missingPrerequisite(message);
  if (prerequisite) return new PrerequisiteEngineError(prerequisite, message, stackName);
  return new EngineError("failed", message, stackName);
}
