import type * as Settings from "../../components/settings";
import { estimatePlan, type TrafficAssumptions } from "../cost/estimate";
import { costToJson, renderCostText, type TrafficSources } from "../cost/render";
import type * as StackSettings from "../cost/stack-settings";
import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { CliExit, EXIT, type RegisterCommand } from "./io";
import { reportStacks, type StackReport, selectStacks, stackArguments, startEach } from "./multi-stack";

/**
 * The stack settings' schema and reader, loaded when a flag is parsed or the action runs: they load
 * the Pulumi SDK, which `platform --help` and the other commands do without.
 */
const settingsModule = () => require("../../components/settings") as typeof Settings;

/**
 * A parser for a traffic flag, with the limits of the setting it overrides, so that a flag and a
 * stack file accept the same values.
 */
function trafficFlag(flag: string, setting: "monthlyRequests" | "averageDurationMs") {
  return (value: string): number => {
    const field = settingsModule().SETTINGS_FIELDS[setting];
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
  allRegions?: boolean;
}

/** `platform cost <stack...> [--all-regions] [--requests N] [--duration-ms D] [--json]`: monthly cost estimates. */
export const registerCost: RegisterCommand = (program, io) => {
  stackArguments(
    program
      .command("cost")
      .description(
        "Estimate stacks' monthly cost from their planned resources and their stages' traffic assumptions",
      ),
  )
    .option(
      "--requests <n>",
      "API requests per month, in every stack named (default: each stack's platform:monthlyRequests)",
      trafficFlag("--requests", "monthlyRequests"),
    )
    .option(
      "--duration-ms <ms>",
      "average function duration in ms, in every stack named (default: each stack's platform:averageDurationMs)",
      trafficFlag("--duration-ms", "averageDurationMs"),
    )
    .option(
      "--json",
      "print the estimate as JSON, every figure unrounded (an array of them for several stacks)",
    )
    .action(async (names: string[], options: CostOptions) => {
      // Cost knows the application's stacks only (the pipeline's resources have no traffic model).
      const selection = selectStacks(names, {
        allRegions: options.allRegions,
        projectDir: PROJECT_DIR,
        withPipeline: false,
      });
      // Planning starts first: the plan hosts start while this process loads the stack settings.
      const plans = startEach(selection.stacks, (stack) => planStack(stack));
      const { readStackSettings } = require("../cost/stack-settings") as typeof StackSettings;
      const { SettingsError } = settingsModule();
      const estimateOne = async (stack: string): Promise<StackReport> => {
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
          const plan = await plans.get(stack)!;
          const estimate = estimatePlan(plan, traffic, { stageRegions: settings.regions });
          const document = options.json ? costToJson(estimate, sources) : undefined;
          return {
            output: document ? JSON.stringify(document, null, 2) : renderCostText(estimate, sources),
            document,
          };
        } catch (error) {
          if (error instanceof PlanError || error instanceof SettingsError) {
            throw new CliExit(EXIT.failed, `error: ${error.message}`);
          }
          throw error;
        }
      };
      await reportStacks(io, selection, estimateOne, { machineReadable: options.json === true });
    });
};
