import * as fs from "node:fs";
import * as path from "node:path";
import { Option } from "commander";
import type * as Pack from "../../policy/pack";
import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { projectDirOf } from "../plan/projects";
import type { PlanResult } from "../plan/types";
import { PolicyConfigError } from "../policy/config";
import type * as Evaluate from "../policy/evaluate";
import { type PackInfo, policyReportJson, renderPolicyText, SARIF_SCHEMA, toSarif } from "../policy/render";
import { CliExit, EXIT, type RegisterCommand } from "./io";
import { reportStacks, type StackReport, selectStacks, stackArguments, startEach } from "./multi-stack";

const FORMATS = ["text", "json", "sarif"] as const;
type Format = (typeof FORMATS)[number];

/** What the command needs from outside: how a stack is planned (tests pass a recorded plan). */
export interface PolicyCommandDeps {
  planStack: (stack: string) => Promise<PlanResult>;
  /** Where stack files are, for SARIF locations. @default PROJECT_DIR */
  projectDir?: string;
}

/** The stack file a violation is located in: `Pulumi.<stack>.yaml`, or the stage's for a region stack. */
function stackFile(plan: PlanResult, projectDir: string): string {
  for (const name of [plan.stack, plan.stage]) {
    for (const ext of ["yaml", "yml"]) {
      const file = `Pulumi.${name}.${ext}`;
      if (fs.existsSync(path.join(projectDir, file))) return file;
    }
  }
  return "Pulumi.yaml";
}

/** Several stacks' SARIF logs as one log with every run, in order (SARIF 2.1.0 allows several runs). */
function combineSarif(logs: object[]): object {
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: logs.flatMap((log) => (log as { runs: object[] }).runs),
  };
}

interface PolicyFlags {
  format: Format;
  policyPackConfig?: string;
  allRegions?: boolean;
}

/** `platform policy <stack...> [--all-regions] [--format text|json|sarif] [--policy-pack-config <file>]`. */
export function policyCommand(
  deps: PolicyCommandDeps = { planStack: (stack) => planStack(stack, { projectDir: projectDirOf(stack) }) },
): RegisterCommand {
  return (program, io) => {
    stackArguments(
      program
        .command("policy")
        .description(
          "Plan stacks offline and check each against the policy pack (policy/), as `pulumi preview --policy-pack policy` would; exits 1 on a mandatory violation in any of them",
        ),
    )
      .addOption(
        new Option(
          "--format <format>",
          "output format (several stacks: text sections, a JSON array, one SARIF log with a run per stack)",
        )
          .choices(FORMATS)
          .default("text"),
      )
      .option(
        "--policy-pack-config <file>",
        "policy pack config to use instead of policy/config.<stage>.json (the file `pulumi preview --policy-pack-config` takes)",
      )
      .action(async (names: string[], options: PolicyFlags) => {
        let config: object | undefined;
        if (options.policyPackConfig) {
          try {
            config = JSON.parse(fs.readFileSync(options.policyPackConfig, "utf8")) as object;
          } catch (error) {
            throw new CliExit(
              EXIT.usage,
              `error: cannot read --policy-pack-config: ${(error as Error).message}`,
            );
          }
        }
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const selection = selectStacks(names, {
          allRegions: options.allRegions,
          projectDir,
          withPipeline: true,
        });
        // Planning starts first: the plan hosts start while this process loads the policy pack
        // (the Pulumi SDK and @pulumi/aws), which `platform --help` and the other commands never load.
        const plans = startEach(selection.stacks, deps.planStack);
        const { PACK_ENFORCEMENT_LEVEL, PACK_NAME, policies } = require("../../policy/pack") as typeof Pack;
        const { evaluatePlan, PolicyEvaluationError, packVersion, resolvePolicyConfig } =
          require("../policy/evaluate") as typeof Evaluate;
        const checkOne = async (stack: string): Promise<StackReport> => {
          try {
            const plan = await plans.get(stack)!;
            const { resolved, source } = resolvePolicyConfig(plan.stage, { config });
            const report = await evaluatePlan(plan, { config });
            const pack: PackInfo = {
              name: PACK_NAME,
              version: packVersion(),
              policies,
              configSource: options.policyPackConfig ?? (source === "(none)" ? undefined : source),
              levels: new Map(
                policies.map((policy) => [
                  policy.name,
                  resolved.get(policy.name)?.enforcementLevel ||
                    policy.enforcementLevel ||
                    PACK_ENFORCEMENT_LEVEL,
                ]),
              ),
            };
            const document =
              options.format === "json"
                ? policyReportJson(report, pack)
                : options.format === "sarif"
                  ? toSarif(report, pack, stackFile(plan, projectDir))
                  : undefined;
            return {
              output: document ? JSON.stringify(document, null, 2) : renderPolicyText(report, pack),
              document,
              failure:
                report.mandatoryCount > 0
                  ? new CliExit(
                      EXIT.failed,
                      `error: ${report.mandatoryCount} mandatory policy violation(s) on stack ${report.stack}`,
                    )
                  : undefined,
            };
          } catch (error) {
            if (error instanceof PlanError || error instanceof PolicyEvaluationError) {
              throw new CliExit(EXIT.failed, `error: ${error.message}`);
            }
            if (error instanceof PolicyConfigError) throw new CliExit(EXIT.usage, `error: ${error.message}`);
            throw error;
          }
        };
        await reportStacks(io, selection, checkOne, {
          machineReadable: options.format !== "text",
          combine: options.format === "sarif" ? combineSarif : undefined,
        });
      });
  };
}

/** The `platform policy` command, planning stacks with the offline planner. */
export const registerPolicy: RegisterCommand = policyCommand();
