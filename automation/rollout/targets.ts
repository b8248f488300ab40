import {
  CONFIG_NAMESPACE,
  parseSettings,
  type RawConfig,
  SETTINGS_FIELDS,
  type SettingsKey,
} from "../../components/settings";
import { PROJECT_DIR } from "../plan/plan";
import { listStages, readStackConfig } from "../plan/stack-config";
import type { RegionTarget, RolloutWave } from "./types";

/** Bad input from the user (unknown stage, region not in the stage, bad parallelism): exit code 2. */
export class RolloutUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RolloutUsageError";
  }
}

/** What a rollout needs to know about a stage, from its stack file. */
export interface StageInfo {
  stage: string;
  app: string;
  /** The stage's regions, the primary first. */
  regions: string[];
  primaryRegion: string;
  /** `platform:rolloutParallelism`. */
  parallelism: number;
  /** `platform:driftSchedule`: when the service checks the stage for drift (cron); undefined: never. */
  driftSchedule?: string;
}

/**
 * Reads a stage's settings from `Pulumi.<stage>.yaml` (and the project's defaults).
 *
 * @throws RolloutUsageError when the stage has no stack file of its own; SettingsError when it is invalid.
 */
export function readStage(stage: string, projectDir: string = PROJECT_DIR): StageInfo {
  // A region stack's own file (`prod-eu-west-1`) is not a stage: its stage is rolled out instead.
  const stages = listStages(projectDir);
  if (!stages.includes(stage)) {
    throw new RolloutUsageError(
      `unknown stage "${stage}": stages are ${stages.join(", ") || "none"} (a stage has a Pulumi.<stage>.yaml; region stacks such as prod-eu-west-1 belong to their stage)`,
    );
  }
  const stackConfig = readStackConfig(projectDir, stage);
  const raw: RawConfig = {};
  for (const key of Object.keys(SETTINGS_FIELDS) as SettingsKey[]) {
    const value = stackConfig.config[`${CONFIG_NAMESPACE}:${key}`];
    if (value !== undefined) raw[key] = value;
  }
  const settings = parseSettings(raw, { stack: stage, region: stackConfig.region });
  return {
    stage,
    app: settings.app,
    regions: [...settings.regions],
    primaryRegion: settings.primaryRegion,
    parallelism: settings.rollout.parallelism,
    driftSchedule: settings.rollout.driftSchedule,
  };
}

/**
 * The stack of a stage's region. The primary region keeps the stage's own stack (`prod`), the one
 * `pulumi up -s prod` deploys, so that the rollout and a plain `pulumi up` manage the same
 * resources; every other region has `<stage>-<region>` (its config: the stage's plus aws:region).
 */
export function regionStackName(stage: string, region: string, primaryRegion: string): string {
  return region === primaryRegion ? stage : `${stage}-${region}`;
}

/**
 * The regions to roll out, in the stage's order (the primary first). `regions` selects some of
 * them; each must be one of the stage's.
 *
 * @throws RolloutUsageError for a region that is not in the stage, or an empty selection.
 */
export function selectTargets(info: StageInfo, regions?: string[]): RegionTarget[] {
  let selected = info.regions;
  if (regions !== undefined) {
    const unknown = regions.filter((region) => !info.regions.includes(region));
    if (unknown.length > 0) {
      throw new RolloutUsageError(
        `region${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} not in stage "${info.stage}" (its regions: ${info.regions.join(", ")})`,
      );
    }
    if (regions.length === 0) throw new RolloutUsageError("--regions needs at least one region");
    selected = info.regions.filter((region) => regions.includes(region));
  }
  return selected.map((region) => ({
    stage: info.stage,
    region,
    stackName: regionStackName(info.stage, region, info.primaryRegion),
    primary: region === info.primaryRegion,
  }));
}

/** Parses a parallelism (`--parallel`): an integer within the setting's bounds. */
export function parseParallelism(text: string): number {
  const value = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!SETTINGS_FIELDS.rolloutParallelism.schema.safeParse(value).success) {
    throw new RolloutUsageError(
      `--parallel must be ${SETTINGS_FIELDS.rolloutParallelism.allowed} (got ${JSON.stringify(text)})`,
    );
  }
  return value;
}

/**
 * The waves: the first target (the primary region when selected, else the first selected region
 * in the stage's order) alone as the canary, then all the others at `parallelism` at a time.
 */
export function planWaves(targets: RegionTarget[], parallelism: number): RolloutWave[] {
  if (targets.length === 0) return [];
  const [canary, ...rest] = targets;
  const waves: RolloutWave[] = [{ index: 1, kind: "canary", targets: [canary], parallelism: 1 }];
  if (rest.length > 0) waves.push({ index: 2, kind: "regions", targets: rest, parallelism });
  return waves;
}
