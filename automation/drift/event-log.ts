import { readFileSync } from "node:fs";
import type { EngineEvent } from "@pulumi/pulumi/automation";

/** A line of an event log that is not an engine event: says which line and what is wrong. */
export class EventLogError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    problem: string,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${problem}`);
    this.name = "EventLogError";
  }
}

/** The events of a log, and what the log says about the operation as a whole. */
export interface EventLog {
  file: string;
  events: EngineEvent[];
  /** The stack the log's URNs name (`urn:pulumi:<stack>::...`); undefined when none does. */
  stackName?: string;
  /** The project the log's URNs name. */
  project?: string;
  /** True when the engine's summaryEvent is in the log: the operation ran to its end. */
  complete: boolean;
}

/** The step events, whose metadata the drift extraction reads. */
const STEP_EVENTS = ["resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why a parsed line is not an engine event this reader can use, or undefined when it is one. */
function problemOf(value: unknown): string | undefined {
  if (!isObject(value))
    return `expected a JSON object (one EngineEvent), got ${Array.isArray(value) ? "an array" : typeof value}`;
  if (value.sequence !== undefined && typeof value.sequence !== "number") {
    return `"sequence" must be a number, got ${JSON.stringify(value.sequence)}`;
  }
  for (const kind of STEP_EVENTS) {
    if (value[kind] === undefined) continue;
    const metadata = isObject(value[kind]) ? value[kind].metadata : undefined;
    if (!isObject(metadata)) return `${kind}.metadata must be an object (StepEventMetadata)`;
    for (const field of ["op", "urn", "type"]) {
      if (typeof metadata[field] !== "string") {
        return `${kind}.metadata.${field} must be a string, got ${JSON.stringify(metadata[field]) ?? "nothing"}`;
      }
    }
    for (const side of ["old", "new"]) {
      if (metadata[side] !== undefined && metadata[side] !== null && !isObject(metadata[side])) {
        return `${kind}.metadata.${side} must be an object (StepEventStateMetadata)`;
      }
    }
  }
  const diagnostic = value.diagnosticEvent;
  if (diagnostic !== undefined && (!isObject(diagnostic) || typeof diagnostic.message !== "string")) {
    return "diagnosticEvent.message must be a string";
  }
  return undefined;
}

/** `urn:pulumi:<stack>::<project>::...` -> stack and project. */
function stackOfUrn(urn: string): { stackName: string; project: string } | undefined {
  const match = /^urn:pulumi:([^:]+)::([^:]+)::/.exec(urn);
  return match ? { stackName: match[1], project: match[2] } : undefined;
}

/**
 * Parses an engine event log as `pulumi <command> --event-log <file>` writes it: one JSON
 * EngineEvent per line (the Automation API reads its own logs the same way, line by line). Blank
 * lines are skipped; any other line that is not an engine event is an EventLogError naming the
 * line. Events of a kind this reader does not know are kept, as newer engines add kinds.
 */
export function parseEventLog(text: string, file = "event log"): EventLog {
  const events: EngineEvent[] = [];
  const stacks = new Map<string, { stackName: string; project: string }>();
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const cut = index === lines.length - 1 || (index === lines.length - 2 && lines[index + 1] === "");
      throw new EventLogError(
        file,
        index + 1,
        `not JSON (${(error as Error).message})${cut ? "; the log may be cut off where the CLI was still writing it" : ""}`,
      );
    }
    const problem = problemOf(value);
    if (problem) throw new EventLogError(file, index + 1, problem);
    const event = value as EngineEvent;
    events.push(event);
    for (const kind of STEP_EVENTS) {
      const stack = event[kind] ? stackOfUrn(event[kind].metadata.urn) : undefined;
      if (stack) stacks.set(`${stack.stackName}::${stack.project}`, stack);
    }
  }
  if (stacks.size > 1) {
    throw new EventLogError(
      file,
      undefined,
      `the log names several stacks (${[...stacks.values()].map((s) => s.stackName).join(", ")}); give one log per stack`,
    );
  }
  const [stack] = stacks.values();
  return {
    file,
    events,
    stackName: stack?.stackName,
    project: stack?.project,
    complete: events.some((event) => event.summaryEvent !== undefined),
  };
}

/** Reads and parses an event log file; a file that cannot be read is an EventLogError too. */
export function readEventLog(file: string): EventLog {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EventLogError(file, undefined, code === "ENOENT" ? "no such file" : (error as Error).message);
  }
  return parseEventLog(text, file);
}
