import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { SettingsError } from "../../components/settings";
import { listStages as listStageFiles } from "../plan/stack-config";
import { readStage, regionStackName, type StageInfo } from "../rollout/targets";
import type { JobStoreApi, StackStatusRow } from "./jobs/store-api";

/**
 * The project's stages, read with readStage (YAML and the settings schema: a few milliseconds)
 * once and again only when the project's or the stage's stack file changes, so that accepting a
 * job costs no file parsing. Errors are cached the same way and thrown again, but only for stages
 * that have a stack file: a name asked for that has none is answered without being remembered, so
 * that the cache does not grow with every unknown name a client sends.
 */
export class StageCatalog {
  private readonly cache = new Map<string, { signature: string; info?: StageInfo; error?: unknown }>();

  constructor(readonly projectDir: string) {}

  /** The stages with a stack file (region stacks' own files excluded: they are not stages), sorted. */
  names(): string[] {
    return listStageFiles(this.projectDir);
  }

  /** Stages whose settings (or error) are cached. */
  get cachedStages(): number {
    return this.cache.size;
  }

  /**
   * readStage, cached. A stack file that cannot be read or parsed (malformed YAML, a directory)
   * is a SettingsError naming the file, and the line for YAML.
   * @throws RolloutUsageError (unknown stage), SettingsError (invalid settings or stack file)
   */
  read(stage: string): StageInfo {
    const files = stageFiles(stage);
    const signature = this.signature(files);
    let entry = this.cache.get(stage);
    if (!entry || entry.signature !== signature) {
      try {
        entry = { signature, info: readStage(stage, this.projectDir) };
      } catch (error) {
        entry = { signature, error: this.fileError(stage, files, error) };
      }
      // `-` for both of the stage's own files: no such stage, nothing worth remembering.
      if (!signature.endsWith("|-|-")) this.cache.set(stage, entry);
    }
    if (entry.error !== undefined) throw entry.error;
    return entry.info!;
  }

  /** An error reading or parsing one of the stage's files, as a SettingsError naming the file. */
  private fileError(stage: string, files: string[], error: unknown): unknown {
    if (error instanceof SettingsError || !(error instanceof Error)) return error;
    const errno = error as NodeJS.ErrnoException;
    if (errno.code) {
      // readFileSync names no path for EISDIR: find the file that cannot be read.
      const file =
        (errno.path && path.relative(this.projectDir, errno.path)) ||
        files.find((name) => unreadable(path.join(this.projectDir, name)));
      const cause = errno.code === "EISDIR" ? "it is a directory, not a file" : errno.code;
      if (file) return new SettingsError(stage, [`cannot read ${file}: ${cause}`]);
    }
    if (error.name !== "YAMLParseError") return error;
    // The YAML error knows the line, not the file: find the file that does not parse.
    for (const file of files) {
      let text: string;
      try {
        text = fs.readFileSync(path.join(this.projectDir, file), "utf8");
      } catch {
        continue;
      }
      const problem = parseDocument(text).errors[0];
      if (!problem) continue;
      const where = problem.linePos?.[0];
      const reason = problem.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      return new SettingsError(stage, [
        `${file}${where ? ` line ${where.line}, column ${where.col}` : ""}: ${reason} (not valid YAML)`,
      ]);
    }
    return error;
  }

  /** Modification times and sizes of the files a stage's settings come from. */
  private signature(files: string[]): string {
    return files
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

/** Whether a file exists but cannot be read as one. */
function unreadable(file: string): boolean {
  try {
    fs.readFileSync(file);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/** The files a stage's settings come from: the project's, then the stage's own (either extension). */
function stageFiles(stage: string): string[] {
  return ["Pulumi.yaml", `Pulumi.${stage}.yaml`, `Pulumi.${stage}.yml`];
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
  /** Why the stage's settings (or its stack file) could not be read. */
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
export async function listStages(
  catalog: StageCatalog,
  store: Pick<JobStoreApi, "stackStatuses">,
): Promise<StackList> {
  return listStagesWith(catalog, await store.stackStatuses());
}

/** listStages, with the stacks' statuses given (none: the stages and their stacks only). */
export function listStagesWith(
  catalog: StageCatalog,
  statuses = new Map<string, StackStatusRow>(),
): StackList {
  const names = catalog.names();
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
      // One stage that cannot be read is listed with its error; the others are still served.
      return { stage, error: error instanceof Error ? error.message : String(error) };
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
