import type { RegionReport, RegionState, RolloutEvent, RolloutReport } from "./types";

/** `0.4s`, `12.3s`, `2m05s`. */
export function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

function shortRevision(revision: string | undefined): string {
  if (!revision) return "(none)";
  return revision.startsWith("sha256:")
    ? `${revision.slice(0, 19)} (uncommitted changes)`
    : revision.slice(0, 12);
}

/** The waves of a rollout, before it starts. */
export function renderPlan(event: Extract<RolloutEvent, { type: "rollout-started" }>): string {
  const lines = [
    `${event.dryRun ? "Dry run of the rollout" : "Rollout"} of ${event.stage} at revision ${shortRevision(event.revision)}`,
  ];
  for (const wave of event.waves) {
    const how = wave.kind === "canary" ? "canary, alone" : `${wave.parallelism} at a time`;
    lines.push(`  wave ${wave.index} (${how}): ${wave.regions.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

interface RegionLine {
  region: string;
  stackName: string;
  wave: number;
  gate?: string;
  state: RegionState;
  elapsedMs: number;
  /** performance.now() minus elapsedMs when the region was last seen running. */
  since?: number;
  message?: string;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/**
 * Progress of a rollout on a terminal: one line per region with its gate, state and elapsed time.
 * Live (`live: true`): the lines are redrawn in place with ANSI cursor movement as events come and
 * every `tickMs`; otherwise a plain line is written whenever a region changes gate or state.
 */
export class RolloutProgress {
  private readonly lines = new Map<string, RegionLine>();
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  private widths = { region: 6, stack: 5 };

  constructor(
    private readonly write: (text: string) => void,
    private readonly options: { live: boolean; tickMs?: number } = { live: false },
  ) {}

  handle(event: RolloutEvent): void {
    if (event.type === "rollout-started") {
      this.write(renderPlan(event));
      for (const wave of event.waves) {
        wave.regions.forEach((region, index) => {
          const stackName = wave.stackNames[index];
          this.lines.set(region, { region, stackName, wave: wave.index, state: "pending", elapsedMs: 0 });
        });
      }
      const lines = [...this.lines.values()];
      this.widths.region = Math.max(6, ...lines.map((line) => line.region.length));
      this.widths.stack = Math.max(5, ...lines.map((line) => line.stackName.length));
      if (this.options.live) {
        this.redraw();
        this.timer = setInterval(() => this.redraw(), this.options.tickMs ?? 250);
        this.timer.unref();
      }
      return;
    }
    if (event.type === "rollout-finished") {
      this.stop();
      return;
    }
    if (event.type !== "region") return;
    const previous = this.lines.get(event.region);
    const line: RegionLine = {
      region: event.region,
      stackName: event.stackName,
      wave: event.wave,
      gate: event.gate,
      state: event.state,
      elapsedMs: event.elapsedMs,
      since: event.state === "running" ? performance.now() - event.elapsedMs : undefined,
      message: event.message,
    };
    this.lines.set(event.region, line);
    this.widths.stack = Math.max(this.widths.stack, event.stackName.length);
    if (this.options.live) {
      this.redraw();
    } else if (
      (line.gate !== undefined || line.state !== "running") &&
      (!previous || previous.state !== line.state || previous.gate !== line.gate)
    ) {
      // Plain output: a line per gate started and per final state (not the start itself).
      this.write(`${this.format(line)}\n`);
    }
  }

  private format(line: RegionLine): string {
    const elapsed = line.since !== undefined ? performance.now() - line.since : line.elapsedMs;
    const shown = line.state === "pending" || line.state === "skipped" ? "" : formatElapsed(elapsed);
    const text = [
      pad(line.region, this.widths.region),
      pad(line.stackName, this.widths.stack),
      pad(line.gate ?? "-", 7),
      pad(line.state, 9),
      pad(shown, 7),
    ].join("  ");
    return line.message && line.state !== "running" ? `${text}  ${line.message}` : text.trimEnd();
  }

  private redraw(): void {
    const lines = [...this.lines.values()].map((line) => this.format(line));
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : "";
    for (const line of lines) text += `\r\x1b[2K${line}\n`;
    this.drawn = lines.length;
    this.write(text);
  }

  /** Stops the live redraw, after a last one (once). */
  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.redraw();
  }
}

/** `98 to create, 2 to update` and the policy violations, for a previewed region. */
function previewText(region: RegionReport): string {
  const changes = Object.entries(region.changeSummary ?? {})
    .filter(([op, count]) => op !== "same" && (count ?? 0) > 0)
    .map(([op, count]) => `${count} to ${op}`);
  const advisory = (region.violations ?? []).filter(
    (violation) => violation.enforcementLevel === "advisory",
  ).length;
  if (advisory > 0) changes.push(`${advisory} advisory violation${advisory > 1 ? "s" : ""}`);
  return changes.join(", ") || "no changes";
}

function detail(region: RegionReport): string {
  if (region.message) return region.message;
  if (region.state === "previewed") return previewText(region);
  if (region.state === "succeeded" && typeof region.outputs?.apiUrl === "string")
    return region.outputs.apiUrl;
  return "";
}

/** The summary table and the verdict. */
export function renderSummary(report: RolloutReport): string {
  const header = ["REGION", "STACK", "WAVE", "STATE", "GATE", "ELAPSED", "DETAIL"];
  const rows = report.regions.map((region) => [
    region.region,
    region.stackName,
    String(region.wave),
    region.state,
    region.gate ?? "-",
    region.state === "skipped" ? "-" : formatElapsed(region.elapsedMs),
    detail(region),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  const format = (row: string[]) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : pad(cell, widths[column])))
      .join("  ")
      .trimEnd();
  const lines = ["", format(header), ...rows.map(format), "", verdict(report)];
  return `${lines.join("\n")}\n`;
}

/** One sentence: what happened to the rollout. */
export function verdict(report: RolloutReport): string {
  const what = report.dryRun ? "Dry run of the rollout" : "Rollout";
  const took = formatElapsed(report.elapsedMs);
  if (report.status === "failed" && report.failure) {
    const { region, stackName, gate, message } = report.failure;
    return `${what} of ${report.stage} failed: ${region} (${stackName}) failed at ${gate}: ${message}`;
  }
  if (report.status === "cancelled") return `${what} of ${report.stage} was cancelled after ${took}.`;
  const count = (state: RegionState) => report.regions.filter((region) => region.state === state).length;
  if (report.dryRun)
    return `${what} of ${report.stage} passed: ${count("previewed")} region(s) previewed in ${took}.`;
  const upToDate = count("upToDate");
  return `${what} of ${report.stage} succeeded: ${count("succeeded")} region(s) deployed${upToDate ? `, ${upToDate} already up to date` : ""} at revision ${shortRevision(report.revision)} in ${took}.`;
}

/** The report for machines. */
export function rolloutToJson(report: RolloutReport): object {
  return report;
}
