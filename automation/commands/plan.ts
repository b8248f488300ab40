import { PlanError, planStack } from "../plan/plan";
import { planToJson, renderPlanText } from "../plan/render";
import { CliExit, EXIT, type RegisterCommand } from "./io";

/** `platform plan <stack> [--json]`: the offline plan of a stack. */
export const registerPlan: RegisterCommand = (program, io) => {
  program
    .command("plan")
    .description("Run the program for a stack under Pulumi's mock runtime and print the planned resources")
    .argument("<stack>", "stack name (dev, prod, or a region stack such as prod-eu-west-1)")
    .option("--json", "print {stack, resources, outputs} as JSON")
    .action(async (stack: string, options: { json?: boolean }) => {
      try {
        const plan = await planStack(stack);
        io.stdout(`${options.json ? JSON.stringify(planToJson(plan), null, 2) : renderPlanText(plan)}\n`);
      } catch (error) {
        if (error instanceof PlanError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
        throw error;
      }
    });
};
