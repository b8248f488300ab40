import { PlanError, planStack } from "../plan/plan";
import { projectDirOf } from "../plan/projects";
import { planToJson, renderPlanText } from "../plan/render";
import { CliExit, EXIT, type RegisterCommand } from "./io";

/** `platform plan <stack> [--json]`: the offline plan of a stack. */
export const registerPlan: RegisterCommand = (program, io) => {
  program
    .command("plan")
    .description("Run the program for a stack under Pulumi's mock runtime and print the planned resources")
    .argument("<stack>", "stack name (dev, prod, or a region stack such as prod-eu-west-1)")
    .option("--json", "print {stack, resources, outputs} as JSON")
    .option(
      "-c, --config <key=value...>",
      "override a config value for this plan only (e.g. platform:memoryMb=512)",
      collectConfig,
      {},
    )
    .action(async (stack: string, options: { json?: boolean; config: Record<string, string> }) => {
      try {
        const plan = await planStack(stack, {
          configOverrides: options.config,
          projectDir: projectDirOf(stack),
        });
        for (const warning of plan.warnings ?? []) io.stderr(`warning: ${warning}\n`);
        io.stdout(`${options.json ? JSON.stringify(planToJson(plan), null, 2) : renderPlanText(plan)}\n`);
      } catch (error) {
        if (error instanceof PlanError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
        throw error;
      }
    });
};

/** Collects repeated `--config key=value` flags; a key without a namespace is a platform key. */
function collectConfig(pair: string, previous: Record<string, string>): Record<string, string> {
  const match = /^([^=]+)=(.*)$/s.exec(pair);
  if (!match) throw new CliExit(EXIT.usage, `error: --config takes key=value (got ${JSON.stringify(pair)})`);
  const key = match[1].includes(":") ? match[1] : `platform:${match[1]}`;
  return { ...previous, [key]: match[2] };
}
