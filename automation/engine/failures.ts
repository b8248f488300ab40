import type { EngineEvent } from "@pulumi/pulumi/automation";
import { urnName } from "./events";

/**
 * A failure the engine reported in its event stream: a resource operation that failed
 * (`resOpFailedEvent`) and/or a `diagnosticEvent` of severity `error`, which the engine sends
 * before the failed event with the provider's reason.
 */
export interface EngineFailure {
  /** The resource's URN; undefined for an error about the whole operation. */
  urn?: string;
  /** The resource's type (`aws:lambda/function:Function`), when known. */
  type?: string;
  /** The resource's logical name. */
  name?: string;
  /** The step that failed (`create`, `update`, `refresh`, ...), from its resOpFailedEvent. */
  op?: string;
  /** The engine's diagnostics about it, in event order, without color codes or `error:` prefixes. */
  diagnostics: string[];
}

const STACK_TYPE = "pulumi:pulumi:Stack";

/** `<urn>::<type chain>::<name>` -> the last type of the chain. */
function urnType(urn: string): string | undefined {
  const parts = urn.split("::");
  return parts.length >= 4 ? parts[parts.length - 2].split("$").pop() : undefined;
}

/** ANSI color codes (ESC [ ... m), in case a log was written with color on. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/**
 * A diagnostic's text on one line: no ANSI or Pulumi color markup, no `error:` prefix, and no
 * `Preview failed:` (the engine's prefix of a step's error in a preview or a preview-only refresh,
 * where it sends no resOpFailedEvent: the diagnostic is all that names the resource).
 */
function plain(message: string): string {
  return message
    .replace(ANSI, "")
    .replace(/<\{%[^%]*%\}>/g, "")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/^error:\s*/i, "")
    .replace(/^Preview failed:\s*/i, "");
}

/**
 * The failures in an engine event stream, in sequence order (the order the events arrived in
 * does not matter): one per failed resource with its diagnostics, then one per error diagnostic
 * that names no resource (or only the stack, as the engine's closing "update failed" does).
 */
export function engineFailures(events: Iterable<EngineEvent>): EngineFailure[] {
  const sorted = [...events].sort((a, b) => (a.sequence ?? 0) - (b.sequence ?? 0));
  const byUrn = new Map<string, EngineFailure>();
  const general: EngineFailure[] = [];
  const resource = (urn: string): EngineFailure => {
    let failure = byUrn.get(urn);
    if (!failure) {
      failure = { urn, type: urnType(urn), name: urnName(urn), diagnostics: [] };
      byUrn.set(urn, failure);
    }
    return failure;
  };
  for (const event of sorted) {
    const failed = event.resOpFailedEvent?.metadata;
    if (failed?.urn) {
      const failure = resource(failed.urn);
      failure.type = failed.type ?? failure.type;
      failure.op = failed.op;
    }
    const diagnostic = event.diagnosticEvent;
    if (diagnostic?.severity !== "error") continue;
    const text = plain(diagnostic.message ?? "");
    if (!text) continue;
    if (diagnostic.urn && urnType(diagnostic.urn) !== STACK_TYPE) {
      const failure = resource(diagnostic.urn);
      if (!failure.diagnostics.includes(text)) failure.diagnostics.push(text);
    } else if (!general.some((failure) => failure.diagnostics.includes(text))) {
      general.push({ urn: diagnostic.urn, diagnostics: [text] });
    }
  }
  return [...byUrn.values(), ...general];
}

/** One failure as a sentence: the resource (type, name, step) and the engine's diagnostic. */
export function describeEngineFailure(failure: EngineFailure): string {
  const reason = failure.diagnostics.join("; ");
  if (failure.name === undefined) return reason;
  const what = `${failure.type ?? "resource"} ${failure.name}`;
  const step = failure.op ? ` (${failure.op})` : "";
  return reason ? `${what} failed${step}: ${reason}` : `${what} failed${step}`;
}

/**
 * The failures as one message. With `thrown` (the engine's own error message), a diagnostic that
 * names no resource and that message already says is left out: it would only repeat it.
 */
export function describeEngineFailures(failures: EngineFailure[], thrown = ""): string {
  return failures
    .filter((failure) => failure.name !== undefined || !failure.diagnostics.every((d) => thrown.includes(d)))
    .map(describeEngineFailure)
    .join("; ");
}

/**
 * The error of a failed command, described by the failures its events reported: the CLI's own
 * message (a CommandError's stderr) says why but not about which resource, and a preview-mode
 * step (a preview, a preview-only refresh) sends no resOpFailedEvent, only an error diagnostic
 * with the resource's URN. Undefined when the events name no failed resource.
 */
export function describeFailedResources(events: Iterable<EngineEvent>): string | undefined {
  const failures = engineFailures(events).filter((failure) => failure.name !== undefined);
  return failures.length > 0 ? describeEngineFailures(failures) : undefined;
}
