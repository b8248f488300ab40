import { detectDrift, REMEDIATION_MODES, type RemediationMode, remediateDrift } from "../drift/detect";
import { driftToJson, renderDriftText } from "../drift/render";
import { chooseEngine } from "../engine/choose";
import { PULUMI_INSTALL_HINT } from "../engine/offline";
import { PROJECT_DIR } from "../plan/plan";
import { computeRevision } from "../rollout/revision";
import { readStage, selectTargets } from "../rollout/targets";
import { CliExit, EXIT, type RegisterCommand } from "./io";
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
        "fix drifted stacks: up (restore the code's desired state) or refresh (accept the live state into the state); never done without this flag",
        remediationMode,
      )
      .option("--json", "print the drift report as JSON")
      .action(async (stage: string, flags: { remediate?: RemediationMode; json?: boolean }) => {
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const info = usage(() => readStage(stage, projectDir));
        const stacks = selectTargets(info);
        const engine = (deps.engine ?? (() => chooseEngine({ projectDir })))();
        if (engine.kind === "offline") {
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
      });
  };
}

/** `platform drift <stage> [--remediate up|refresh] [--json]`. */
export const registerDrift: RegisterCommand = driftCommand();
