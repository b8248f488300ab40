import * as fs from "node:fs";
import * as path from "node:path";
import { SettingsError } from "../../components/settings";
import { listStages as listStageFiles } from "../plan/stack-config";
import { readStage, regionStackName, type StageInfo } from "../rollout/targets";
import type { JobStore, StackStatusRow } from "./jobs/store";

/**
 * The project's stages, read with readStage (YAML and the settings schema: a few milliseconds)
 * once and again only when the project's or the stage's stack file changes, so that accepting a
 * job costs no file parsing. Errors are cached the same way and thrown again.
 */
export class StageCatalog {
  private readonly cache = new Map<string, { signature: string; info?: StageInfo; error?: unknown }>();

  constructor(readonly projectDir: string) {}

  /** The stages with a stack file (region stacks' own files excluded: they are not stages), sorted. */
  names(): string[] {
    return listStageFiles(this.projectDir);
  }

  /** readStage, cached. @throws RolloutUsageError (unknown stage), SettingsError (invalid settings) */
  read(stage: string): StageInfo {
    const signature = this.signature(stage);
    let entry = this.cache.get(stage);
    if (!entry || entry.signature !== signature) {
      try {
        entry = { signature, info: readStage(stage, this.projectDir) };
      } catch (error) {
        entry = { signature, error };
      }
      this.cache.set(stage, entry);
    }
    if (entry.error !== undefined) throw entry.error;
    return entry.info!;
  }

  /** Modification times and sizes of the files a stage's settings come from. */
  private signature(stage: string): string {
    return ["Pulumi.yaml", `Pulumi.${stage}.yaml`, `Pulumi.${stage}.yml`]
      .map((file) => {
        try {
          const stat = fs.statSync(path.join(this.projectDir, file));
          return `${stat.mtimeMs}:${stat.size}`;
        } catch {
          return "-";
        }
      })
      .join("|");
  }
}

export interface StackStatus extends Omit<StackStatusRow, "stackName"> {
  region: string;
  stackName: string;
  primary: boolean;
}

export interface StageStatus {
  stage: string;
  app?: string;
  primaryRegion?: string;
  regions: StackStatus[];
  /** Why the stage's settings could not be read. */
  error?: string;
}

export interface StackList {
  stages: StageStatus[];
  /** Every stage's regions, once, in order of first appearance. */
  regions: string[];
}

/**
 * The stages (every `Pulumi.<stage>.yaml` that is not a region stack's file), their region stacks,
 * and the last job, rollout and drift check of each stack.
 */
export function listStages(catalog: StageCatalog, store: JobStore): StackList {
  const names = catalog.names();
  const statuses = store.stackStatuses();
  const stages: StageStatus[] = [];
  const regions: string[] = [];
  const regionStacks = new Set<string>();
  const infos = names.map((stage) => {
    try {
      const info = catalog.read(stage);
      for (const region of info.regions) {
        if (region !== info.primaryRegion)
          regionStacks.add(regionStackName(stage, region, info.primaryRegion));
      }
      return { stage, info };
    } catch (error) {
      if (error instanceof SettingsError) return { stage, error: error.message };
      throw error;
    }
  });
  for (const entry of infos) {
    // `prod-eu-west-1` with a file of its own is a region stack of prod, not a stage.
    if (regionStacks.has(entry.stage)) continue;
    const { info } = entry;
    if (!info) {
      stages.push({ stage: entry.stage, regions: [], error: entry.error });
      continue;
    }
    stages.push({
      stage: info.stage,
      app: info.app,
      primaryRegion: info.primaryRegion,
      regions: info.regions.map((region) => {
        const stackName = regionStackName(info.stage, region, info.primaryRegion);
        const status = statuses.get(stackName);
        if (!regions.includes(region)) regions.push(region);
        return {
          region,
          stackName,
          primary: region === info.primaryRegion,
          lastJob: status?.lastJob,
          rollout: status?.rollout,
          drift: status?.drift,
        };
      }),
    });
  }
  return { stages, regions };
}
