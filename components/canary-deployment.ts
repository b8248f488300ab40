import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
// The hook's own route matcher (pure, no AWS SDK): the component and the hook agree on what matches.
import { matchRoute } from "../functions/shared/api-gateway-event";
import { type NamingContext, physicalName } from "./naming";
import { LIVE_ALIAS, ServerlessFunction } from "./serverless-function";
import { DEPLOYMENT_TYPES, type DeploymentType } from "./settings";
import { TrafficShift } from "./traffic-shift";

/** The AWS managed policy CodeDeploy needs to shift Lambda aliases and invoke `CodeDeployHook_*` functions. */
export const CODEDEPLOY_LAMBDA_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda";

/** A traffic shift of its own: `percent` first (canary) or every interval (linear). */
export interface CustomDeploymentType {
  type: "canary" | "linear";
  /** Share of traffic shifted per step, 1 to 99. */
  percent: number;
  /** Minutes between steps, 1 to 2880. */
  intervalMinutes: number;
}

/** A smoke request a hook sends to the new version before (pre) or after (post) traffic moves. */
export interface SmokeTest {
  /** @default "GET" */
  method?: string;
  /**
   * The route's path template, as the API declares it: the hook sends it as the event's `resource`
   * and derives `pathParameters` by matching `path` against it, as API Gateway does.
   * @example "/users/{userId}"
   */
  resource: string;
  /**
   * The concrete path requested, with an optional query string; must match `resource`.
   * @example "/users/__smoke__"
   * @example "/users?limit=1"
   */
  path: string;
  /** JSON body of the request. @default undefined */
  body?: string;
  /** Expected status code. @default 200 */
  expectStatus?: number;
  /** A substring the response body must contain. @default undefined */
  expectBody?: string;
}

export interface DeployedFunction {
  function: ServerlessFunction;
  /** CloudWatch alarm names that roll the deployment back (at least the function's errors alarm). */
  alarms: pulumi.Input<string>[];
  /** Smoke test run by a PreTraffic hook on the new version. @default undefined (no hook) */
  preTraffic?: SmokeTest;
  /** Smoke test run by a PostTraffic hook once all traffic is on the new version. @default undefined */
  postTraffic?: SmokeTest;
}

export interface CanaryDeploymentArgs {
  naming: NamingContext;
  /**
   * How CodeDeploy shifts traffic: one of SAM's names, or a custom canary/linear shape.
   * @example "Canary10Percent5Minutes"
   * @example { type: "linear", percent: 20, intervalMinutes: 2 }
   */
  deploymentType: DeploymentType | CustomDeploymentType;
  /** Functions whose `live` alias CodeDeploy shifts, by a short key (`list`, `get`, ...). */
  functions: Record<string, DeployedFunction>;
  /** Settings for hook functions (they run briefly and need little). */
  hookSettings: {
    logRetentionDays: number;
    architecture?: "arm64" | "x86_64";
    runtime?: "nodejs22.x" | "nodejs24.x";
  };
  /** How long `pulumi up` waits for a deployment before stopping it and failing. @default 3600 */
  deploymentTimeoutSeconds?: number;
}

/** `Canary10Percent5Minutes` -> `CodeDeployDefault.LambdaCanary10Percent5Minutes`. */
export function predefinedConfigName(type: DeploymentType): string {
  return `CodeDeployDefault.Lambda${type}`;
}

/**
 * CodeDeploy canary/linear rollouts of Lambda aliases, as SAM's DeploymentPreference does them:
 * an application per stack, a deployment group per function (traffic control, rollback on failure,
 * alarm and stop), optional PreTraffic/PostTraffic hook functions, and a traffic shift during
 * `pulumi up` that fails the update when CodeDeploy rolls back.
 *
 * @example
 * new CanaryDeployment("users-deploy", {
 *   naming, deploymentType: "Canary10Percent5Minutes", hookSettings: { logRetentionDays: 7 },
 *   functions: { list: { function: list, alarms: monitoring.rollbackAlarms["users-list"], preTraffic: { resource: "/users", path: "/users?limit=1" } } },
 * });
 */
export class CanaryDeployment extends pulumi.ComponentResource {
  static readonly type = "platform:codedeploy:CanaryDeployment";

  readonly application: aws.codedeploy.Application;
  readonly serviceRole: aws.iam.Role;
  readonly deploymentConfigName: pulumi.Output<string>;
  readonly deploymentGroups: Record<string, aws.codedeploy.DeploymentGroup> = {};
  readonly hooks: Record<string, ServerlessFunction> = {};
  readonly shifts: Record<string, TrafficShift> = {};

  constructor(name: string, args: CanaryDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super(CanaryDeployment.type, name, {}, opts);
    validateDeploymentArgs(name, args);
    const { naming } = args;
    const applicationName = physicalName(naming, name, { maxLength: 100 });

    this.application = new aws.codedeploy.Application(
      `${name}-app`,
      { name: applicationName, computePlatform: "Lambda" },
      { parent: this },
    );
    this.serviceRole = new aws.iam.Role(
      `${name}-role`,
      {
        name: physicalName(naming, `${name}-role`, { global: true }),
        description: `CodeDeploy service role of ${applicationName}`,
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "codedeploy.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        }),
      },
      { parent: this },
    );
    const rolePolicy = new aws.iam.RolePolicyAttachment(
      `${name}-role-policy`,
      { role: this.serviceRole.name, policyArn: CODEDEPLOY_LAMBDA_POLICY_ARN },
      { parent: this },
    );

    if (typeof args.deploymentType === "string") {
      this.deploymentConfigName = pulumi.output(predefinedConfigName(args.deploymentType));
    } else {
      const custom = args.deploymentType;
      const shape = `${custom.type === "canary" ? "Canary" : "Linear"}${custom.percent}Percent${custom.intervalMinutes}Minutes`;
      const config = new aws.codedeploy.DeploymentConfig(
        `${name}-config`,
        {
          deploymentConfigName: physicalName(naming, shape, { maxLength: 100 }),
          computePlatform: "Lambda",
          trafficRoutingConfig:
            custom.type === "canary"
              ? {
                  type: "TimeBasedCanary",
                  timeBasedCanary: { interval: custom.intervalMinutes, percentage: custom.percent },
                }
              : {
                  type: "TimeBasedLinear",
                  timeBasedLinear: { interval: custom.intervalMinutes, percentage: custom.percent },
                },
        },
        { parent: this },
      );
      this.deploymentConfigName = config.deploymentConfigName;
    }

    for (const [key, deployed] of Object.entries(args.functions)) {
      const fn = deployed.function;
      const groupName = physicalName(naming, `${fn.logicalName}`, { maxLength: 100 });
      const group = new aws.codedeploy.DeploymentGroup(
        `${name}-${key}-group`,
        {
          appName: this.application.name,
          deploymentGroupName: groupName,
          serviceRoleArn: this.serviceRole.arn,
          deploymentConfigName: this.deploymentConfigName,
          deploymentStyle: { deploymentOption: "WITH_TRAFFIC_CONTROL", deploymentType: "BLUE_GREEN" },
          autoRollbackConfiguration: {
            enabled: true,
            events: ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
          },
          alarmConfiguration: { enabled: true, alarms: deployed.alarms },
        },
        { parent: this, dependsOn: [rolePolicy] },
      );
      this.deploymentGroups[key] = group;

      const hookNames: { pre?: pulumi.Output<string>; post?: pulumi.Output<string> } = {};
      for (const phase of ["pre", "post"] as const) {
        const smoke = phase === "pre" ? deployed.preTraffic : deployed.postTraffic;
        if (!smoke) continue;
        const hook = this.createHook(name, key, phase, fn, group, smoke, args);
        this.hooks[`${key}-${phase}`] = hook;
        hookNames[phase] = hook.function.name;
      }

      this.shifts[key] = new TrafficShift(
        `${name}-${key}-shift`,
        {
          region: naming.region,
          applicationName: this.application.name,
          deploymentGroupName: group.deploymentGroupName,
          functionName: fn.function.name,
          aliasName: LIVE_ALIAS,
          targetVersion: fn.version,
          beforeAllowTrafficHook: hookNames.pre,
          afterAllowTrafficHook: hookNames.post,
          timeoutSeconds: args.deploymentTimeoutSeconds ?? 3600,
        },
        { parent: this, dependsOn: [group, fn.alias, ...Object.values(this.hooks).map((h) => h.alias)] },
      );
    }

    this.registerOutputs({
      applicationName: this.application.name,
      deploymentConfigName: this.deploymentConfigName,
    });
  }

  private createHook(
    name: string,
    key: string,
    phase: "pre" | "post",
    target: ServerlessFunction,
    group: aws.codedeploy.DeploymentGroup,
    smoke: SmokeTest,
    args: CanaryDeploymentArgs,
  ): ServerlessFunction {
    const { naming } = args;
    // The managed CodeDeploy role may only invoke functions whose names start with CodeDeployHook_.
    const functionName = `CodeDeployHook_${physicalName(naming, `${target.logicalName}-${phase}`, { maxLength: 49 })}`;
    const hook = new ServerlessFunction(
      `${name}-${key}-${phase}-hook`,
      {
        naming,
        functionName,
        entry: phase === "pre" ? "functions/hooks/pre-traffic.ts" : "functions/hooks/post-traffic.ts",
        memoryMb: 256,
        timeoutSeconds: 60,
        logRetentionDays: args.hookSettings.logRetentionDays,
        architecture: args.hookSettings.architecture,
        runtime: args.hookSettings.runtime,
        environment: {
          TARGET_FUNCTION: target.function.name,
          SMOKE_METHOD: smoke.method ?? "GET",
          SMOKE_PATH: smoke.path,
          SMOKE_RESOURCE: smoke.resource,
          ...(smoke.body !== undefined ? { SMOKE_BODY: smoke.body } : {}),
          SMOKE_EXPECT_STATUS: String(smoke.expectStatus ?? 200),
          ...(smoke.expectBody !== undefined ? { SMOKE_EXPECT_BODY: smoke.expectBody } : {}),
        },
      },
      { parent: this },
    );
    hook.addPolicy("codedeploy-hook", [
      {
        Sid: "ReportHookStatus",
        Action: ["codedeploy:PutLifecycleEventHookExecutionStatus"],
        Resource: [group.arn],
      },
      {
        Sid: "InvokeTargetVersions",
        Action: ["lambda:InvokeFunction"],
        Resource: [pulumi.interpolate`${target.arn}:*`],
      },
      {
        Sid: "ReadDeployment",
        Action: ["codedeploy:GetDeployment"],
        Resource: [group.arn],
      },
      {
        Sid: "ReadAppSpec",
        Action: ["codedeploy:GetApplicationRevision"],
        Resource: [this.application.arn],
      },
      {
        Sid: "ReadTargetAlias",
        Action: ["lambda:GetAlias"],
        Resource: [target.aliasArn],
      },
    ]);
    return hook;
  }
}

function validateDeploymentArgs(name: string, args: CanaryDeploymentArgs): void {
  const problems: string[] = [];
  const type = args.deploymentType;
  if (typeof type === "string") {
    if (!(DEPLOYMENT_TYPES as readonly string[]).includes(type)) {
      problems.push(
        `deploymentType must be one of ${DEPLOYMENT_TYPES.join(", ")} or a custom { type, percent, intervalMinutes } (got ${JSON.stringify(type)})`,
      );
    }
  } else {
    if (type.type !== "canary" && type.type !== "linear")
      problems.push(`deploymentType.type must be canary or linear (got ${JSON.stringify(type.type)})`);
    if (!Number.isInteger(type.percent) || type.percent < 1 || type.percent > 99)
      problems.push(`deploymentType.percent must be an integer from 1 to 99 (got ${type.percent})`);
    if (!Number.isInteger(type.intervalMinutes) || type.intervalMinutes < 1 || type.intervalMinutes > 2880)
      problems.push(
        `deploymentType.intervalMinutes must be an integer from 1 to 2880 (got ${type.intervalMinutes})`,
      );
  }
  for (const [key, deployed] of Object.entries(args.functions)) {
    if (deployed.alarms.length === 0)
      problems.push(`functions.${key}.alarms must name at least one rollback alarm`);
    for (const field of ["preTraffic", "postTraffic"] as const) {
      const smoke = deployed[field];
      if (smoke) problems.push(...smokeTestProblems(`functions.${key}.${field}`, smoke));
    }
  }
  if (problems.length > 0) throw new Error(`CanaryDeployment ${name}: ${problems.join("; ")}`);
}

/**
 * What is wrong with a smoke test, checked with the hook's own matcher: a path that does not match
 * its route template would reach the handler without the path parameters the route gives it.
 */
function smokeTestProblems(field: string, smoke: SmokeTest): string[] {
  if (typeof smoke.resource !== "string" || smoke.resource === "") {
    return [`${field}.resource must be the route's path template (e.g. "/users/{userId}")`];
  }
  if (typeof smoke.path !== "string" || !smoke.path.startsWith("/")) {
    return [`${field}.path must start with / (got ${JSON.stringify(smoke.path)})`];
  }
  try {
    if (!matchRoute(smoke.resource, smoke.path)) {
      return [
        `${field}.path ${smoke.path} does not match ${field}.resource ${smoke.resource} ({name} matches one segment, {name+} the rest)`,
      ];
    }
  } catch (error) {
    return [`${field}.resource: ${error instanceof Error ? error.message : String(error)}`];
  }
  return [];
}
