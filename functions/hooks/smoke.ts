import {
  CodeDeployClient,
  GetApplicationRevisionCommand,
  GetDeploymentCommand,
  PutLifecycleEventHookExecutionStatusCommand,
} from "@aws-sdk/client-codedeploy";
import { GetAliasCommand, InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { apiGatewayEvent, matchRoute } from "../shared/api-gateway-event";
import { logger } from "../shared/logger";

/** What CodeDeploy sends a BeforeAllowTraffic / AfterAllowTraffic hook. */
export interface CodeDeployHookEvent {
  DeploymentId: string;
  LifecycleEventHookExecutionId: string;
}

export type HookStatus = "Succeeded" | "Failed";

/** The request the hook sends and what it expects back, from the hook function's environment. */
export interface SmokeConfig {
  /** `TARGET_FUNCTION`: name of the function under deployment. */
  targetFunction: string;
  /** `SMOKE_METHOD`. @default "GET" */
  method: string;
  /** `SMOKE_PATH`: the concrete path, with an optional query string. @default "/health" */
  path: string;
  /**
   * `SMOKE_RESOURCE`: the route's path template, which API Gateway sends as `resource` and matches
   * SMOKE_PATH against for `pathParameters`. Required when SMOKE_PATH is set.
   * @default "/health" (with SMOKE_PATH's default)
   * @example "/users/{userId}"
   */
  resource: string;
  /** `SMOKE_BODY`: request body. @default undefined */
  body?: string;
  /** `SMOKE_EXPECT_STATUS`. @default 200 */
  expectStatus: number;
  /** `SMOKE_EXPECT_BODY`: a substring the response body must contain. @default undefined */
  expectBody?: string;
}

/** The function's entry in the deployment's AppSpec: the alias and the versions it moves between. */
export interface DeploymentTarget {
  alias: string;
  currentVersion: string;
  targetVersion: string;
}

// Created once per container; the Lambda runtime provides region and credentials.
const codeDeploy = new CodeDeployClient({});
const lambda = new LambdaClient({});

/** The User-Agent of smoke requests, so that they can be told apart in logs. */
export const SMOKE_USER_AGENT = "codedeploy-smoke-test";

/** Time kept back from the hook's own timeout to report the result even when the smoke request hangs. */
const REPORT_RESERVE_MS = 5_000;

export function readSmokeConfig(env: NodeJS.ProcessEnv = process.env): SmokeConfig {
  const targetFunction = env.TARGET_FUNCTION;
  if (!targetFunction) throw new Error("TARGET_FUNCTION is not set");
  const expectStatus = Number(env.SMOKE_EXPECT_STATUS ?? "200");
  if (!Number.isInteger(expectStatus) || expectStatus < 100 || expectStatus > 599) {
    throw new Error(`SMOKE_EXPECT_STATUS must be an HTTP status code (got ${env.SMOKE_EXPECT_STATUS})`);
  }
  const path = env.SMOKE_PATH || "/health";
  if (!path.startsWith("/")) throw new Error(`SMOKE_PATH must start with / (got ${path})`);
  // Without the template the event cannot carry pathParameters, and every route with a parameter
  // would answer 400: no guessing it from the path.
  const resource = env.SMOKE_RESOURCE || (env.SMOKE_PATH ? undefined : "/health");
  if (!resource) {
    throw new Error(
      `SMOKE_RESOURCE is not set: it must be the route's path template that SMOKE_PATH ${path} is sent to (e.g. /users/{userId})`,
    );
  }
  let parameters: Record<string, string> | undefined;
  try {
    parameters = matchRoute(resource, path);
  } catch (error) {
    throw new Error(`SMOKE_RESOURCE: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!parameters) {
    throw new Error(
      `SMOKE_PATH ${path} does not match SMOKE_RESOURCE ${resource}: literal segments must be equal, {name} matches one segment, {name+} the rest`,
    );
  }
  return {
    targetFunction,
    method: (env.SMOKE_METHOD || "GET").toUpperCase(),
    path,
    resource,
    body: env.SMOKE_BODY,
    expectStatus,
    expectBody: env.SMOKE_EXPECT_BODY || undefined,
  };
}

/**
 * Runs the smoke test of one lifecycle hook and reports the outcome to CodeDeploy. Any error
 * (configuration, AppSpec, invoke) is reported as Failed and the handler returns normally, so that
 * CodeDeploy rolls back at once instead of waiting an hour for a status. Only a failure to report
 * is thrown: Lambda then retries the asynchronous invocation.
 *
 * - BeforeAllowTraffic: the alias still points at the current version only, so the new version is
 *   read from the deployment's AppSpec (`TargetVersion`) and invoked by version number.
 * - AfterAllowTraffic: all traffic is on the new version; the alias must point at `TargetVersion`,
 *   and is invoked through the alias, as callers reach it.
 */
export async function runSmokeHook(
  phase: "pre" | "post",
  event: CodeDeployHookEvent,
  context?: Pick<Context, "getRemainingTimeInMillis">,
): Promise<HookStatus> {
  logger.resetKeys();
  logger.appendKeys({
    phase,
    deploymentId: event?.DeploymentId,
    lifecycleEventHookExecutionId: event?.LifecycleEventHookExecutionId,
  });
  if (!event?.DeploymentId || !event.LifecycleEventHookExecutionId) {
    throw new Error(
      "Not a CodeDeploy lifecycle hook event: DeploymentId and LifecycleEventHookExecutionId required",
    );
  }
  const remainingMs = context?.getRemainingTimeInMillis() ?? 60_000;
  const abortSignal = AbortSignal.timeout(Math.max(1_000, remainingMs - REPORT_RESERVE_MS));

  let status: HookStatus = "Failed";
  try {
    const config = readSmokeConfig();
    const target = await readDeploymentTarget(event.DeploymentId, config.targetFunction, abortSignal);
    let qualifier = target.targetVersion;
    if (phase === "post") {
      const alias = await lambda.send(
        new GetAliasCommand({ FunctionName: config.targetFunction, Name: target.alias }),
        { abortSignal },
      );
      if (alias.FunctionVersion !== target.targetVersion) {
        throw new Error(
          `Alias ${target.alias} points at version ${alias.FunctionVersion}, not the deployed ${target.targetVersion}`,
        );
      }
      qualifier = target.alias;
    }
    const problem = await smokeTest(config, qualifier, event.DeploymentId, abortSignal);
    if (problem) {
      logger.error("Smoke test failed", { problem, qualifier, target });
    } else {
      logger.info("Smoke test passed", { qualifier, target });
      status = "Succeeded";
    }
  } catch (error) {
    logger.error("Smoke test could not run", error instanceof Error ? error : String(error));
  }

  await codeDeploy.send(
    new PutLifecycleEventHookExecutionStatusCommand({
      deploymentId: event.DeploymentId,
      lifecycleEventHookExecutionId: event.LifecycleEventHookExecutionId,
      status,
    }),
  );
  logger.info("Reported lifecycle hook status", { status });
  return status;
}

/**
 * The target function's entry in the deployment's AppSpec. The event carries only ids, and the new
 * version is not on the alias before traffic moves, so the AppSpec is the source: GetDeployment
 * gives the revision, GetApplicationRevision its content.
 */
export async function readDeploymentTarget(
  deploymentId: string,
  functionName: string,
  abortSignal?: AbortSignal,
): Promise<DeploymentTarget> {
  const { deploymentInfo } = await codeDeploy.send(new GetDeploymentCommand({ deploymentId }), {
    abortSignal,
  });
  if (!deploymentInfo?.applicationName || !deploymentInfo.revision) {
    throw new Error(`Deployment ${deploymentId} has no application or revision`);
  }
  const { revision } = await codeDeploy.send(
    new GetApplicationRevisionCommand({
      applicationName: deploymentInfo.applicationName,
      revision: deploymentInfo.revision,
    }),
    { abortSignal },
  );
  const content = revision?.appSpecContent?.content ?? revision?.string?.content;
  if (!content) throw new Error(`Deployment ${deploymentId} has no inline AppSpec content`);
  let appSpec: { Resources?: Record<string, { Properties?: Record<string, unknown> }>[] };
  try {
    appSpec = JSON.parse(content);
  } catch {
    throw new Error(`The AppSpec of deployment ${deploymentId} is not JSON`);
  }
  for (const resources of appSpec.Resources ?? []) {
    for (const resource of Object.values(resources ?? {})) {
      const properties = resource?.Properties ?? {};
      if (properties.Name !== functionName) continue;
      const { Alias, CurrentVersion, TargetVersion } = properties;
      if (typeof Alias !== "string" || typeof TargetVersion !== "string") {
        throw new Error(`The AppSpec entry of ${functionName} has no Alias or TargetVersion`);
      }
      return { alias: Alias, currentVersion: String(CurrentVersion), targetVersion: TargetVersion };
    }
  }
  throw new Error(`The AppSpec of deployment ${deploymentId} does not deploy ${functionName}`);
}

/** Invokes `function:qualifier` with the smoke request; returns what is wrong, or undefined. */
export async function smokeTest(
  config: SmokeConfig,
  qualifier: string,
  requestId: string,
  abortSignal?: AbortSignal,
): Promise<string | undefined> {
  const request = `${config.method} ${config.path} on ${config.targetFunction}:${qualifier}`;
  const response = await lambda.send(
    new InvokeCommand({
      FunctionName: config.targetFunction,
      Qualifier: qualifier,
      InvocationType: "RequestResponse",
      Payload: Buffer.from(JSON.stringify(smokeEvent(config, requestId))),
    }),
    { abortSignal },
  );
  const payload = response.Payload ? Buffer.from(response.Payload).toString("utf8") : "";
  if (response.FunctionError) {
    return `${request} raised a function error (${response.FunctionError}): ${payload.slice(0, 500)}`;
  }
  let result: { statusCode?: unknown; body?: unknown };
  try {
    result = JSON.parse(payload);
  } catch {
    return `${request} returned a payload that is not an API Gateway proxy response: ${payload.slice(0, 500)}`;
  }
  if (result?.statusCode !== config.expectStatus) {
    return `${request} returned status ${String(result?.statusCode)}, expected ${config.expectStatus}`;
  }
  const body = typeof result.body === "string" ? result.body : "";
  if (config.expectBody !== undefined && !body.includes(config.expectBody)) {
    return `${request} returned a body without ${JSON.stringify(config.expectBody)}: ${body.slice(0, 500)}`;
  }
  return undefined;
}

/**
 * The smoke request as API Gateway would send it through the route: `resource` is the template,
 * `pathParameters` come from matching SMOKE_PATH against it, as for a caller of the deployed API.
 */
export function smokeEvent(config: SmokeConfig, requestId: string): APIGatewayProxyEvent {
  return apiGatewayEvent({
    resource: config.resource,
    httpMethod: config.method,
    path: config.path,
    headers: {
      Accept: "application/json",
      "User-Agent": SMOKE_USER_AGENT,
      ...(config.body !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    body: config.body ?? null,
    stage: "smoke-test",
    region: process.env.AWS_REGION,
    identity: { sourceIp: "127.0.0.1" },
    requestId: `smoke-${requestId}`,
  });
}
