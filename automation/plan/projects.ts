import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR } from "./plan";

/**
 * The delivery pipeline is a Pulumi project of its own (`pipeline/Pulumi.yaml`, stack `pipeline`):
 * it is not a stage of the application, so the application's stack listings (stages, region
 * stacks, the service, the rollout) never see it, while `platform plan|policy|diff pipeline` find it.
 */
export const PIPELINE_FOLDER = "pipeline";

const hasStackFile = (dir: string, stack: string) =>
  ["yaml", "yml"].some((ext) => fs.existsSync(path.join(dir, `Pulumi.${stack}.${ext}`)));

/**
 * The project folder holding `stack`'s stack file: the application's (`projectDir`), or the
 * pipeline project's when only it has one. Unknown stacks resolve to `projectDir`, whose planner
 * then names the stacks it has.
 */
export function projectDirOf(stack: string, projectDir: string = PROJECT_DIR): string {
  const pipelineDir = path.join(projectDir, PIPELINE_FOLDER);
  return !hasStackFile(projectDir, stack) && hasStackFile(pipelineDir, stack) ? pipelineDir : projectDir;
}
