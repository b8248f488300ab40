import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { projectDirOf } from "../plan/projects";
import { planToJson, renderPlanText } from "../plan/render";
import { CliExit, EXIT, type RegisterCommand } from "./io";
import { reportStacks, type StackReport, selectStacks, stackArguments } from "./multi-stack";

interface PlanFlags {
  json?: boolean;
  config: Record<string, string>;
  allRegions?: boolean;
}

/** `platform plan <stack...> [--all-regions] [--json] [--config key=value]`: offline plans of stacks. */
export const registerPlan: RegisterCommand = (program, io) => {
  stackArguments(
    program
      .command("plan")
      .description("Run the program for stacks under Pulumi's mock runtime and print the planned resources"),
  )
    .option("--json", "print {stack, resources, outputs} as JSON (an array of them for several stacks)")
    .option(
      "-c, --config <key=value...>",
      "override a config value for this plan only, in every stack named (e.g. platform:memoryMb=512)",
      collectConfig,
      {},
    )
    .action(async (names: string[], options: PlanFlags) => {
      const selection = selectStacks(names, {
        allRegions: options.allRegions,
        projectDir: PROJECT_DIR,
        withPipeline: true,
      });
      const planOne = async (stack: string): Promise<StackReport> => {
        try {
          const plan = await planStack(stack, {
            configOverrides: options.config,
            projectDir: projectDirOf(stack),
          });
          const document = options.json ? planToJson(plan) : undefined;
          return {
            output: document ? JSON.stringify(document, null, 2) : renderPlanText(plan),
            document,
            warnings: plan.warnings,
          };
        } catch (error) {
          if (error instanceof PlanError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
          throw error;
        }
      };
      await reportStacks(io, selection, planOne, { machineReadable: options.json === true });
    });
};

/** Collects repeated `--config key=value` flags; a key without a namespace is a platform key. */
function collectConfig(pair: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([^=]+)=(.*)$/s.exec(pair);
  if (!match) throw new CliExit(EXIT.usage, `error: --config takes key=value (got ${JSON.stringify(pair)})`);
  const key = match[1].includes(":") ? match[1] : `platform:${match[1]}`;
  return { ...previous, [key]: match[2] };
}
