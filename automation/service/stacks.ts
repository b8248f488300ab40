import { SettingsError } from "../../components/settings";
import { listStacks } from "../plan/stack-config";
import { readStage, regionStackName } from "../rollout/targets";
import type { JobStore, StackStatusRow } from "./jobs/store";

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
export function listStages(projectDir: string, store: JobStore): StackList {
  const names = listStacks(projectDir);
  const statuses = store.stackStatuses();
  const stages: StageStatus[] = [];
  const regions: string[] = [];
  const regionStacks = new Set<string>();
  const infos = names.map((stage) => {
    try {
      const info = readStage(stage, projectDir);
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
