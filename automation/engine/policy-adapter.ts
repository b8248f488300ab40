import type { PlanResult } from "../plan/types";
import type { PolicyReport } from "../policy/evaluate";

export type { PolicyReport, Violation } from "../policy/evaluate";

/** Offline policy evaluation of a plan (automation/policy/evaluate.ts). */
export type EvaluatePlan = (plan: PlanResult, options?: { stage?: string }) => Promise<PolicyReport>;

/**
 * `evaluatePlan` of automation/policy/evaluate.ts, loaded on first use: that module loads the
 * policy pack and the AWS provider SDK, which a CLI run with the Pulumi engine never needs.
 */
export const evaluatePlan: EvaluatePlan = (plan, options) => {
  const module = require("../policy/evaluate") as typeof import("../policy/evaluate");
  return module.evaluatePlan(plan, options);
};
