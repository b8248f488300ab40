import type { Context } from "aws-lambda";
import { type CodeDeployHookEvent, type HookStatus, runSmokeHook } from "./smoke";

/**
 * AfterAllowTraffic hook: once all traffic is on the new version, smoke-tests it through the alias
 * (as callers reach it) and reports Succeeded or Failed.
 */
export const handler = (event: CodeDeployHookEvent, context?: Context): Promise<HookStatus> =>
  runSmokeHook("post", event, context);
