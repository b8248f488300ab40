import type { Context } from "aws-lambda";
import { type CodeDeployHookEvent, type HookStatus, runSmokeHook } from "./smoke";

/**
 * BeforeAllowTraffic hook: smoke-tests the new version (read from the deployment's AppSpec) before
 * CodeDeploy moves any traffic to it, and reports Succeeded or Failed.
 */
export const handler = (event: CodeDeployHookEvent, context?: Context): Promise<HookStatus> =>
  runSmokeHook("pre", event, context);
