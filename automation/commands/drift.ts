import {
  type DriftReport,
  detectDrift,
  driftFromEventLogs,
  REMEDIATION_MODES,
  type RemediationMode,
  remediateDrift,
  type StackDriftReport,
} from "../drift/detect";
import { type EventLog, EventLogError, readEventLog } from "../drift/event-log";
import { driftToJson, renderDriftText } from "../drift/render";
import type * as Choose from "../engine/choose";
import type * as Offline from "../engine/offline";
import { PROJECT_DIR } from "../plan/plan";
import { computeRevision } from "../rollout/revision";
import type * as Targets from "../rollout/targets";
import type { RegionTarget } from "../rollout/types";
import { CliExit, type CliIo, EXIT, type RegisterCommand } from "./io";
import { announceEngine, type EngineCommandDeps, usage } from "./rollout";

function remediationMode(value: string): RemediationMode {
  if (!(REMEDIATION_MODES as readonly string[]).includes(value)) {
    throw new CliExit(
      EXIT.usage,
      `error: --remediate must be up (restore the code's desired state) or refresh (accept the live state), got ${JSON.stringify(value)}`,
    );
  }
  return value as RemediationMode;
}

/** Each log's stack, found by the stack its URNs name; a log of another stack is a usage error. */
function logsOfStacks(files: string[], stacks: RegionTarget[], stage: string) {
  const seen = new Map<string, string>();
  return files.map((file) => {
    let log: EventLog;
    try {
      log = readEventLog(file);
    } catch (error) {
      if (error instanceof EventLogError)
        throw new CliExit(EXIT.usage, `error: --event-log ${error.message}`);
      throw error;
    }
    const names = stacks.map((stack) => stack.stackName).join(", ");
    if (log.stackName === undefined) {
      throw new CliExit(
        EXIT.usage,
        `error: --event-log ${file}: no resource event names a stack; expected the log of \`pulumi refresh --preview-only --event-log <file>\` on a stack of ${stage} (${names})`,
      );
    }
    const stack = stacks.find((candidate) => candidate.stackName === log.stackName);
    if (!stack) {
      throw new CliExit(
        EXIT.usage,
        `error: --event-log ${file} is a log of stack ${JSON.stringify(log.stackName)}, which is not a stack of ${stage} (${names})`,
      );
    }
    const other = seen.get(stack.stackName);
    if (other !== undefined) {
      throw new CliExit(
        EXIT.usage,
        `error: --event-log ${other} and ${file} are both logs of stack ${stack.stackName}; give one log per stack`,
      );
    }
    seen.set(stack.stackName, file);
    return { stack, log };
  });
}

/** Prints the report and ends as a live check does: 1 when a stack drifted (unremediated) or could not be checked. */
function reportAndExit(io: CliIo, report: DriftReport, drifted: StackDriftReport[], flags: DriftFlags): void {
  io.stdout(
    flags.json ? `${JSON.stringify(driftToJson(report), null, 2)}\n` : `${renderDriftText(report)}\n`,
  );
  const errors = report.stacks.filter((stack) => stack.state === "error");
  const unresolved = drifted.filter((stack) => stack.remediation?.state !== "succeeded");
  if (errors.length > 0) {
    throw new CliExit(
      EXIT.failed,
      `error: drift check failed for ${errors.map((stack) => `${stack.stackName} (${stack.error})`).join(", ")}`,
    );
  }
  if (unresolved.length > 0) {
    const hint = flags.remediate
      ? "remediation failed"
      : "run with --remediate up or --remediate refresh to fix";
    throw new CliExit(
      EXIT.failed,
      `drift found in ${unresolved.map((stack) => stack.stackName).join(", ")}: ${hint}`,
    );
  }
}

interface DriftFlags {
  remediate?: RemediationMode;
  json?: boolean;
  eventLog?: string[];
}

/** `platform drift`, with its engine injectable. */
export function driftCommand(deps: EngineCommandDeps = {}): RegisterCommand {
  return (program, io) => {
    program
      .command("drift")
      .description(
        "Detect drift in every region stack of a stage with a preview-only refresh (nothing is written); CodeDeploy's alias changes are expected, not drift",
      )
      .argument("<stage>", "stage name (dev, prod)")
      .option(
        "--remediate <mode>",
        "fix drifted stacks: up (refresh, then restore the code's desired state: pulumi up --refresh) or refresh (accept the live state into the state), then check them again; never done without this flag",
        remediationMode,
      )
      .option("--json", "print the drift report as JSON")
      .option(
        "--event-log <file>",
        "read a stack's drift from the JSONL event log of `pulumi refresh --preview-only --event-log <file>` instead of running the engine (no Pulumi CLI needed); repeat for several stacks of the stage",
        (file: string, files: string[] = []) => [...files, file],
      )
      .action(async (stage: string, flags: DriftFlags) => {
        // Required here, not at the top: they load the Pulumi SDK and the engines, which `platform
        // --help` and the plan commands do without.
        const { readStage, selectTargets } = require("../rollout/targets") as typeof Targets;
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const info = usage(() => readStage(stage, projectDir));
        const stacks = selectTargets(info);
        if (flags.eventLog) {
          if (flags.remediate) {
            throw new CliExit(
              EXIT.usage,
              "error: --remediate needs the engine, so it cannot be combined with --event-log (a log is only read)",
            );
          }
          const logs = logsOfStacks(flags.eventLog, stacks, stage);
          if (!flags.json) {
            io.stdout(
              `Reading drift of ${stage} from event logs: ${logs.map(({ stack, log }) => `${stack.stackName} (${log.file})`).join(", ")}\n`,
            );
          }
          const report = driftFromEventLogs(stage, logs);
          reportAndExit(
            io,
            report,
            report.stacks.filter((stack) => stack.state === "drifted"),
            flags,
          );
          return;
        }
        const { chooseEngine } = require("../engine/choose") as typeof Choose;
        const engine = (deps.engine ?? (() => chooseEngine({ projectDir })))();
        if (engine.kind === "offline") {
          const { PULUMI_INSTALL_HINT } = require("../engine/offline") as typeof Offline;
          throw new CliExit(
            EXIT.failed,
            `error: drift detection reads the live cloud state, which needs the Pulumi CLI: ${PULUMI_INSTALL_HINT}`,
          );
        }
        await announceEngine(engine, io);
        if (!flags.json) {
          io.stdout(`Checking drift of ${stage}: ${stacks.map((stack) => stack.stackName).join(", ")}\n`);
        }
        let report = await detectDrift({
          engine,
          stage,
          stacks,
          parallelism: info.parallelism,
          signal: io.signal,
        });
        const drifted = report.stacks.filter((stack) => stack.state === "drifted");
        if (flags.remediate && drifted.length > 0) {
          if (!flags.json) {
            io.stdout(`Remediating ${drifted.length} stack(s) with ${flags.remediate}...\n`);
          }
          const revision =
            flags.remediate === "up"
              ? await (deps.revision ?? computeRevision)(projectDir, stage)
              : undefined;
          report = await remediateDrift(report, {
            engine,
            mode: flags.remediate,
            revision,
            parallelism: info.parallelism,
            signal: io.signal,
          });
        }
        reportAndExit(io, report, drifted, flags);
      });
  };
}

/** `platform drift <stage> [--remediate up|refresh] [--event-log <file>]... [--json]`. */
export const registerDrift: RegisterCommand = driftCommand();
