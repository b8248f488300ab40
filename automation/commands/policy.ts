import * as fs from "node:fs";
import * as path from "node:path";
import { Option } from "commander";
import { PACK_ENFORCEMENT_LEVEL, PACK_NAME, policies } from "../../policy/pack";
import { PlanError, PROJECT_DIR, planStack } from "../plan/plan";
import { projectDirOf } from "../plan/projects";
import type { PlanResult } from "../plan/types";
import { PolicyConfigError } from "../policy/config";
import { evaluatePlan, PolicyEvaluationError, packVersion, resolvePolicyConfig } from "../policy/evaluate";
import { type PackInfo, policyReportJson, renderPolicyText, toSarif } from "../policy/render";
import { CliExit, EXIT, type RegisterCommand } from "./io";

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

/** `platform policy <stack> [--format text|json|sarif] [--policy-pack-config <file>]`. */
export function policyCommand(
  deps: PolicyCommandDeps = { planStack: (stack) => planStack(stack, { projectDir: projectDirOf(stack) }) },
): RegisterCommand {
  return (program, io) => {
    program
      .command("policy")
      .description(
        "Plan a stack offline and check it against the policy pack (policy/), as `pulumi preview --policy-pack policy` would; exits 1 on a mandatory violation",
      )
      .argument("<stack>", "stack name (dev, prod, or a region stack such as prod-eu-west-1)")
      .addOption(new Option("--format <format>", "output format").choices(FORMATS).default("text"))
      .option(
        "--policy-pack-config <file>",
        "policy pack config to use instead of policy/config.<stage>.json (the file `pulumi preview --policy-pack-config` takes)",
      )
      .action(async (stack: string, options: { format: Format; policyPackConfig?: string }) => {
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
        try {
          const plan = await deps.planStack(stack);
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
          const output =
            options.format === "json"
              ? JSON.stringify(policyReportJson(report, pack), null, 2)
              : options.format === "sarif"
                ? JSON.stringify(
                    toSarif(report, pack, stackFile(plan, deps.projectDir ?? PROJECT_DIR)),
                    null,
                    2,
                  )
                : renderPolicyText(report, pack);
          io.stdout(`${output}\n`);
          if (report.mandatoryCount > 0) {
            throw new CliExit(
              EXIT.failed,
              `error: ${report.mandatoryCount} mandatory policy violation(s) on stack ${report.stack}`,
            );
          }
        } catch (error) {
          if (error instanceof PlanError || error instanceof PolicyEvaluationError) {
            throw new CliExit(EXIT.failed, `error: ${error.message}`);
          }
          if (error instanceof PolicyConfigError) throw new CliExit(EXIT.usage, `error: ${error.message}`);
          throw error;
        }
      });
  };
}

/** The `platform policy` command, planning stacks with the offline planner. */
export const registerPolicy: RegisterCommand = policyCommand();
