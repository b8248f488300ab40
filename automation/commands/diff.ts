import { Option } from "commander";
import { type CostEstimate, estimatePlan } from "../cost/estimate";
import type * as StackSettings from "../cost/stack-settings";
import { type DiffSide, diffPlans, type PlanDiff } from "../diff/compare";
import { diffToJson, renderDiffMarkdown, renderDiffText } from "../diff/render";
import { checkoutRevision, RevisionError } from "../diff/revision";
import { evaluatePlan } from "../engine/policy-adapter";
import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { projectDirOf } from "../plan/projects";
import { MissingRegionStackFileError, readStackConfig, UnknownStackError } from "../plan/stack-config";
import type { PlanResult } from "../plan/types";
import { PolicyConfigError } from "../policy/config";
import { CliExit, EXIT, type RegisterCommand } from "./io";

const FORMATS = ["text", "markdown", "json"] as const;
type Format = (typeof FORMATS)[number];

export interface DiffCommandDeps {
  /** The project (in a git repository) whose working tree is compared. @default PROJECT_DIR */
  projectDir?: string;
}

/** True when `projectDir` has a stack file for `stack` (at the base, a new stack has none). */
function stackExists(projectDir: string, stack: string): boolean {
  try {
    readStackConfig(projectDir, stack);
    return true;
  } catch (error) {
    if (error instanceof UnknownStackError || error instanceof MissingRegionStackFileError) return false;
    throw error;
  }
}

/** The application's cost model for the stack; none for a stack without platform settings (the pipeline). */
function costOf(plan: PlanResult, projectDir: string): CostEstimate | undefined {
  // Required when a plan is costed, not at CLI start: stack settings load the Pulumi SDK.
  const { readStackSettings } = require("../cost/stack-settings") as typeof StackSettings;
  let settings: ReturnType<typeof readStackSettings>;
  try {
    settings = readStackSettings(plan.stack, projectDir);
  } catch {
    return undefined;
  }
  return estimatePlan(plan, settings.traffic, { stageRegions: settings.regions });
}

/** Plans one side; a failure names the revision it happened at. */
async function planSide(stack: string, projectDir: string, label: string): Promise<DiffSide> {
  let plan: PlanResult;
  try {
    plan = await planStack(stack, { projectDir });
  } catch (error) {
    if (error instanceof PlanError) {
      throw new CliExit(EXIT.failed, `error: cannot plan stack ${stack} at ${label}: ${error.detail}`);
    }
    throw error;
  }
  return { plan, policy: await evaluatePlan(plan), cost: costOf(plan, projectDir) };
}

/** The difference between the stack at `base` and in the working tree of `projectDir`. */
export async function diffStack(stack: string, base: string, projectDir: string): Promise<PlanDiff> {
  const headDir = projectDirOf(stack, projectDir);
  // Unknown in the working tree: the planner's error names the stacks there is (exit 2).
  readStackConfig(headDir, stack);
  let revision: ReturnType<typeof checkoutRevision>;
  try {
    revision = checkoutRevision(projectDir, base);
  } catch (error) {
    if (error instanceof RevisionError) throw new CliExit(EXIT.usage, `error: ${error.message}`);
    throw error;
  }
  try {
    const baseDir = projectDirOf(stack, revision.projectDir);
    const baseExists = stackExists(baseDir, stack);
    const baseLabel = `base revision ${base} (${revision.commit.slice(0, 12)})`;
    const [before, after] = await Promise.all([
      baseExists ? planSide(stack, baseDir, baseLabel) : Promise.resolve<DiffSide>({}),
      planSide(stack, headDir, "the working tree"),
    ]);
    return diffPlans(
      stack,
      { ref: base, commit: revision.commit, exists: baseExists },
      before,
      after as Required<Pick<DiffSide, "plan" | "policy">> & DiffSide,
    );
  } finally {
    revision.dispose();
  }
}

/** `platform diff <stack> [--base <git-ref>] [--format text|markdown|json]`. */
export function diffCommand(deps: DiffCommandDeps = {}): RegisterCommand {
  return (program, io) => {
    program
      .command("diff")
      .description(
        "Plan a stack at a base git revision and in the working tree (offline) and report resources added, removed, replaced and changed (with the changed inputs, secrets masked), policy findings introduced or fixed, and the monthly cost delta",
      )
      .argument("<stack>", "stack name (dev, prod, a region stack such as prod-eu-west-1, or pipeline)")
      .option("--base <git-ref>", "the revision to compare with (a branch, tag, commit or HEAD~1)", "HEAD")
      .addOption(
        new Option("--format <format>", "output format (markdown: a pull-request comment)")
          .choices(FORMATS)
          .default("text"),
      )
      .action(async (stack: string, options: { base: string; format: Format }) => {
        try {
          const diff = await diffStack(stack, options.base, deps.projectDir ?? PROJECT_DIR);
          const output =
            options.format === "json"
              ? JSON.stringify(diffToJson(diff), null, 2)
              : options.format === "markdown"
                ? renderDiffMarkdown(diff)
                : renderDiffText(diff);
          io.stdout(`${output}\n`);
        } catch (error) {
          if (error instanceof PolicyConfigError) throw new CliExit(EXIT.usage, `error: ${error.message}`);
          throw error;
        }
      });
  };
}

/** The `platform diff` command on this project. */
export const registerDiff: RegisterCommand = diffCommand();
