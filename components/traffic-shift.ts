import * as pulumi from "@pulumi/pulumi";
import {
  DEFAULT_POLL_INTERVAL_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  trafficShiftProvider,
} from "./traffic-shift-provider";

export {
  buildAppSpec,
  createClients,
  DEFAULT_POLL_INTERVAL_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  describeFailure,
  diffTrafficShift,
  findFailedHook,
  isThrottlingError,
  parseActivatedAlarms,
  retryThrottled,
  type ShiftOptions,
  shiftTraffic,
  type TrafficShiftClients,
  type TrafficShiftInputs,
  type TrafficShiftState,
  trafficShiftProvider,
  waitForDeployment,
} from "./traffic-shift-provider";

export interface TrafficShiftArgs {
  /**
   * Region of the function and the CodeDeploy application. Dynamic providers do not inherit the AWS
   * provider's configuration, so it is explicit.
   * @example "eu-west-1"
   */
  region: pulumi.Input<string>;
  /** The CodeDeploy application (compute platform Lambda). */
  applicationName: pulumi.Input<string>;
  /** The deployment group whose configuration, alarms and rollback settings the deployment uses. */
  deploymentGroupName: pulumi.Input<string>;
  /** The function whose alias is shifted. */
  functionName: pulumi.Input<string>;
  /** The alias CodeDeploy shifts. @example "live" */
  aliasName: pulumi.Input<string>;
  /** The version the alias must end on: the function's published `version` output. */
  targetVersion: pulumi.Input<string>;
  /**
   * Name of the function CodeDeploy invokes before any traffic moves (AppSpec `BeforeAllowTraffic`);
   * it must be named `CodeDeployHook_*` for the managed CodeDeploy role to invoke it.
   * @default undefined (no hook)
   */
  beforeAllowTrafficHook?: pulumi.Input<string>;
  /** Name of the function CodeDeploy invokes after all traffic moved (AppSpec `AfterAllowTraffic`). @default undefined */
  afterAllowTrafficHook?: pulumi.Input<string>;
  /** Seconds `pulumi up` waits for the deployment before stopping it (with rollback) and failing. @default 3600 */
  timeoutSeconds?: number;
  /** First wait between status polls, in seconds; it grows by half after each poll, up to 60. @default 15 */
  pollIntervalSeconds?: number;
}

/**
 * Shifts a Lambda alias to the function's newly published version through CodeDeploy during
 * `pulumi up`, like CloudFormation's CodeDeployLambdaAliasUpdate policy does for SAM: a change of
 * `targetVersion` starts a deployment (AppSpec with the hooks), waits for it, and fails the update
 * (naming the deployment and the alarm or hook) when CodeDeploy fails, stops or times out. On
 * create, the alias already points at the first version, so nothing is deployed.
 *
 * @example
 * new TrafficShift("users-list-shift", {
 *   region: "eu-west-1", applicationName: app.name, deploymentGroupName: group.deploymentGroupName,
 *   functionName: fn.function.name, aliasName: "live", targetVersion: fn.version,
 *   beforeAllowTrafficHook: preHook.function.name,
 * }, { dependsOn: [group, fn.alias] });
 */
export class TrafficShift extends pulumi.dynamic.Resource {
  /** The CodeDeploy deployment that last shifted the alias (undefined until one did). */
  declare readonly deploymentId: pulumi.Output<string | undefined>;
  /** The version the alias points at once this resource is up to date. */
  declare readonly currentVersion: pulumi.Output<string>;

  constructor(name: string, args: TrafficShiftArgs, opts?: pulumi.CustomResourceOptions) {
    validateTrafficShiftArgs(name, args);
    super(
      trafficShiftProvider,
      name,
      {
        ...args,
        timeoutSeconds: args.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        pollIntervalSeconds: args.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS,
        deploymentId: undefined,
        currentVersion: undefined,
      },
      opts,
      "platform",
      "TrafficShift",
    );
  }
}

function validateTrafficShiftArgs(name: string, args: TrafficShiftArgs): void {
  const problems: string[] = [];
  if (
    args.timeoutSeconds !== undefined &&
    (!Number.isInteger(args.timeoutSeconds) ||
      args.timeoutSeconds < 60 ||
      args.timeoutSeconds > 7 * 24 * 3600)
  ) {
    problems.push(
      `timeoutSeconds must be an integer from 60 to ${7 * 24 * 3600} (got ${args.timeoutSeconds})`,
    );
  }
  if (
    args.pollIntervalSeconds !== undefined &&
    (!Number.isInteger(args.pollIntervalSeconds) ||
      args.pollIntervalSeconds < 1 ||
      args.pollIntervalSeconds > 300)
  ) {
    problems.push(`pollIntervalSeconds must be an integer from 1 to 300 (got ${args.pollIntervalSeconds})`);
  }
  if (problems.length > 0) throw new Error(`TrafficShift ${name}: ${problems.join("; ")}`);
}
