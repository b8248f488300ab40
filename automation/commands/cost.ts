import { SETTINGS_FIELDS, SettingsError } from "../../components/settings";
import { estimatePlan, type TrafficAssumptions } from "../cost/estimate";
import { costToJson, renderCostText, type TrafficSources } from "../cost/render";
import { readStackSettings } from "../cost/stack-settings";
import { PlanError, planStack } from "../plan/plan";
import { CliExit, EXIT, type RegisterCommand } from "./io";

/**
 * A parser for a traffic flag, with the limits of the setting it overrides, so that a flag and a
 * stack file accept the same values.
 */
function trafficFlag(flag: string, setting: "monthlyRequests" | "averageDurationMs") {
  const field = SETTINGS_FIELDS[setting];
  return (value: string): number => {
    const number = /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!field.schema.safeParse(number).success) {
      throw new CliExit(EXIT.usage, `error: ${flag} must be ${field.allowed} (got ${JSON.stringify(value)})`);
    }
    return number;
  };
}

interface CostOptions {
  json?: boolean;
  requests?: number;
  durationMs?: number;
}

/** `platform cost <stack> [--requests N] [--duration-ms D] [--json]`: a monthly cost estimate. */
export const registerCost: RegisterCommand = (program, io) => {
  program
    .command("cost")
    .description(
      "Estimate a stack's monthly cost from its planned resources and the stage's traffic assumptions",
    )
    .argument("<stack>", "stack name (dev, prod, or a region stack such as prod-eu-west-1)")
    .option(
      "--requests <n>",
      "API requests per month (default: the stack's platform:monthlyRequests)",
      trafficFlag("--requests", "monthlyRequests"),
    )
    .option(
      "--duration-ms <ms>",
      "average function duration in ms (default: the stack's platform:averageDurationMs)",
      trafficFlag("--duration-ms", "averageDurationMs"),
    )
    .option("--json", "print the estimate as JSON, every figure unrounded")
    .action(async (stack: string, options: CostOptions) => {
      try {
        const settings = readStackSettings(stack);
        const traffic: TrafficAssumptions = {
          monthlyRequests: options.requests ?? settings.traffic.monthlyRequests,
          averageDurationMs: options.durationMs ?? settings.traffic.averageDurationMs,
        };
        const sources: TrafficSources = {
          monthlyRequests: options.requests === undefined ? "platform:monthlyRequests" : "--requests",
          averageDurationMs:
            options.durationMs === undefined ? "platform:averageDurationMs" : "--duration-ms",
        };
        const plan = await planStack(stack);
        const estimate = estimatePlan(plan, traffic, { stageRegions: settings.regions });
        io.stdout(
          `${options.json ? JSON.stringify(costToJson(estimate, sources), null, 2) : renderCostText(estimate, sources)}\n`,
        );
      } catch (error) {
        if (error instanceof PlanError || error instanceof SettingsError) {
          throw new CliExit(EXIT.failed, `error: ${error.message}`);
        }
        throw error;
      }
    });
};
