import type * as Settings from "../../components/settings";
import type * as Choose from "../engine/choose";
import type * as Offline from "../engine/offline";
import type { Engine } from "../engine/types";
import { PROJECT_DIR } from "../plan/plan";
import type * as Health from "../rollout/health";
import type { HealthGate, HealthGateOptions } from "../rollout/health";
import type * as Orchestrator from "../rollout/orchestrator";
import { RolloutProgress, renderSummary, rolloutToJson, verdict } from "../rollout/render";
import { computeRevision } from "../rollout/revision";
import type * as Targets from "../rollout/targets";
import type { RolloutEvent } from "../rollout/types";
import { CliExit, type CliIo, EXIT, type RegisterCommand } from "./io";

/** What the rollout and drift commands run against; tests replace any of it. */
export interface EngineCommandDeps {
  /** @default chooseEngine (PulumiEngine when `pulumi` is on PATH, else OfflineEngine) */
  engine?: () => Engine;
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** @default computeRevision (git commit when clean, else a sha256 of program and config) */
  revision?: (projectDir: string, stage: string) => Promise<string>;
}

export interface RolloutCommandDeps extends EngineCommandDeps {
  /** Replaces the whole health gate. */
  health?: HealthGate;
  /** Options of the default health gate (fetch, alarm source, retries). */
  healthOptions?: Partial<HealthGateOptions>;
}

interface RolloutFlags {
  regions?: string[];
  parallel?: number;
  dryRun?: boolean;
  json?: boolean;
  cancelInFlight?: boolean;
}

/**
 * Says which state backend the engine uses (on stderr, so that --json output stays JSON) and
 * checks that it can run (the Pulumi CLI's version), before anything is deployed.
 */
export async function announceEngine(engine: Engine, io: CliIo): Promise<void> {
  const backend = engine.describeBackend?.();
  if (backend) io.stderr(`backend: ${backend}\n`);
  try {
    await engine.start?.();
  } catch (error) {
    throw new CliExit(EXIT.failed, `error: ${(error as Error).message}`);
  }
}

/** Runs a parser, turning its RolloutUsageError into a usage exit (code 2). */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    // Loaded by now: the parsers that throw these are theirs.
    const { RolloutUsageError } = require("../rollout/targets") as typeof Targets;
    const { SettingsError } = require("../../components/settings") as typeof Settings;
    if (error instanceof RolloutUsageError) throw new CliExit(EXIT.usage, `error: ${error.message}`);
    if (error instanceof SettingsError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
    throw error;
  }
}

function regionList(text: string): string[] {
  return text
    .split(",")
    .map((region) => region.trim())
    .filter(Boolean);
}

/** `platform rollout`, with its engine and health gate injectable. */
export function rolloutCommand(deps: RolloutCommandDeps = {}): RegisterCommand {
  return (program, io) => {
    program
      .command("rollout")
      .description(
        "Deploy a stage to all its regions in waves: the primary (canary) region alone, then the others in parallel; each region passes preview (policy), up and health",
      )
      .argument("<stage>", "stage name (dev, prod)")
      .option(
        "--regions <list>",
        "only these regions of the stage, comma-separated (e.g. us-east-1,eu-west-1)",
        regionList,
      )
      .option(
        "--parallel <n>",
        "regions deployed at once after the canary (default: the stage's platform:rolloutParallelism)",
        (value: string) =>
          usage(() => (require("../rollout/targets") as typeof Targets).parseParallelism(value)),
      )
      .option("--dry-run", "preview every region (with the policy pack) and change nothing")
      .option("--json", "print the rollout report as JSON (no live progress)")
      .option(
        "--cancel-in-flight",
        "when a region fails, cancel the regions in flight instead of letting them finish",
      )
      .action(async (stage: string, flags: RolloutFlags) => {
        // Required here, not at the top: they load the Pulumi SDK and the engines, which `platform
        // --help` and the plan commands do without.
        const { readStage, selectTargets } = require("../rollout/targets") as typeof Targets;
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const info = usage(() => readStage(stage, projectDir));
        const targets = usage(() => selectTargets(info, flags.regions));
        const { chooseEngine } = require("../engine/choose") as typeof Choose;
        const { runRollout } = require("../rollout/orchestrator") as typeof Orchestrator;
        const { createHealthGate } = require("../rollout/health") as typeof Health;
        const engine = (deps.engine ?? (() => chooseEngine({ projectDir })))();
        if (engine.kind === "offline" && !flags.dryRun) {
          const { PULUMI_INSTALL_HINT } = require("../engine/offline") as typeof Offline;
          throw new CliExit(
            EXIT.failed,
            `error: a rollout deploys, which needs the Pulumi CLI: ${PULUMI_INSTALL_HINT}. Without it, \`platform rollout ${stage} --dry-run\` previews every region offline (plan and policy), and the service (\`npm start\`) rolls out to local clouds on this machine, every gate included.`,
          );
        }
        await announceEngine(engine, io);
        const revision = await (deps.revision ?? computeRevision)(projectDir, stage);
        const progress = flags.json ? undefined : new RolloutProgress(io.stdout, { live: io.isTTY === true });
        const report = await runRollout({
          engine,
          stage,
          targets,
          parallelism: flags.parallel ?? info.parallelism,
          revision,
          dryRun: flags.dryRun,
          cancelInFlight: flags.cancelInFlight,
          signal: io.signal,
          health: deps.health ?? createHealthGate({ app: info.app, ...deps.healthOptions }),
          onEvent: progress ? (event: RolloutEvent) => progress.handle(event) : undefined,
        });
        progress?.stop();
        io.stdout(flags.json ? `${JSON.stringify(rolloutToJson(report), null, 2)}\n` : renderSummary(report));
        if (report.status !== "succeeded") {
          const where = report.failure ? ` (${report.failure.region} at ${report.failure.gate})` : "";
          throw new CliExit(
            EXIT.failed,
            flags.json ? verdict(report) : `error: rollout of ${report.stage} ${report.status}${where}`,
          );
        }
      });
  };
}

/** `platform rollout <stage> [--regions a,b] [--parallel N] [--dry-run] [--json] [--cancel-in-flight]`. */
export const registerRollout: RegisterCommand = rolloutCommand();
