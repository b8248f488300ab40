import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AssumeRoleSettings, AwsClientSettings } from "./traffic-shift-clients";
import {
  DEFAULT_POLL_INTERVAL_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  trafficShiftProvider,
} from "./traffic-shift-provider";

export {
  type AssumeRoleSettings,
  type AwsClientSettings,
  awsCredentials,
  createClients,
  isThrottlingError,
  retryThrottled,
  type TrafficShiftClients,
  whileInterruptible,
} from "./traffic-shift-clients";
export {
  buildAppSpec,
  DEFAULT_POLL_INTERVAL_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  describeFailure,
  diffTrafficShift,
  findFailedHook,
  parseActivatedAlarms,
  readTrafficShift,
  type ShiftOptions,
  shiftTraffic,
  type TrafficShiftInputs,
  type TrafficShiftState,
  trafficShiftProvider,
  waitForDeployment,
} from "./traffic-shift-provider";

export interface TrafficShiftArgs {
  /**
   * Region of the function and the CodeDeploy application. Dynamic providers do not inherit the AWS
   * provider's configuration, so it is explicit; an explicit `aws` provider's region wins over it.
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
  /**
   * The AWS identity of the CodeDeploy and Lambda calls. A dynamic provider does not inherit the
   * stack's `aws` provider, so by default it is copied from it: the explicit `aws` provider in
   * `opts.provider` or the parents' `providers`, else the `aws:*` stack config (profile, keys,
   * assumeRoles, stsRegion, endpoints). Keys and external ids are stored as secrets.
   * @default the stack's aws provider settings
   */
  aws?: pulumi.Input<AwsClientSettings>;
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
  /** The version the alias points at once this resource is up to date (as last read, after a refresh). */
  declare readonly currentVersion: pulumi.Output<string>;

  constructor(name: string, args: TrafficShiftArgs, opts?: pulumi.CustomResourceOptions) {
    validateTrafficShiftArgs(name, args);
    const awsProvider = explicitAwsProvider(opts);
    const { region, aws: settings } = awsProvider
      ? settingsOfProvider(awsProvider, args.region)
      : { region: args.region, aws: args.aws ?? settingsOfStackConfig() };
    // The aws provider belongs to the settings above: as this resource's own provider it would not match.
    const ownOpts = opts?.provider === awsProvider ? { ...opts, provider: undefined } : opts;
    super(
      trafficShiftProvider,
      name,
      {
        ...args,
        region,
        aws: args.aws ?? settings,
        timeoutSeconds: args.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        pollIntervalSeconds: args.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS,
        deploymentId: undefined,
        currentVersion: undefined,
        additionalVersionWeights: undefined,
      },
      { ...ownOpts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "aws"] },
      "platform",
      "TrafficShift",
    );
  }
}

/** The `aws` provider the stack gives this resource: `opts.provider`, else one of its parents' `providers`. */
function explicitAwsProvider(opts: pulumi.CustomResourceOptions | undefined): aws.Provider | undefined {
  const candidate = opts?.provider ?? opts?.parent?.getProvider("aws:lambda/alias:Alias");
  return candidate && aws.Provider.isInstance(candidate) ? candidate : undefined;
}

const secret = (value: string | undefined) => (value === undefined ? undefined : pulumi.secret(value));

/** The default `aws` provider's settings, from the `aws:*` stack config. */
export function settingsOfStackConfig(): pulumi.Input<AwsClientSettings> | undefined {
  const endpoints = Object.assign({}, ...(aws.config.endpoints ?? [])) as Record<string, string | undefined>;
  return compactSettings({
    profile: aws.config.profile,
    accessKey: secret(aws.config.accessKey),
    secretKey: secret(aws.config.secretKey),
    token: secret(aws.config.token),
    assumeRoles: aws.config.assumeRoles?.map((role) => ({
      roleArn: role.roleArn ?? "",
      sessionName: role.sessionName,
      externalId: secret(role.externalId),
      durationSeconds: parseDurationSeconds(role.duration),
    })),
    stsRegion: aws.config.stsRegion,
    endpoints: { codedeploy: endpoints.codedeploy, lambda: endpoints.lambda, sts: endpoints.sts },
  });
}

/**
 * An explicit provider's region and settings, from its Terraform-named configuration (the
 * provider's `terraformConfig` method: `region`, `profile`, `assume_role`, `endpoints`, ...).
 */
export function settingsOfProvider(
  provider: aws.Provider,
  fallbackRegion: pulumi.Input<string>,
): { region: pulumi.Output<string>; aws: pulumi.Output<AwsClientSettings | undefined> } {
  const config = provider.terraformConfig().apply((answer) => (answer?.result ?? {}) as TerraformAwsConfig);
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  return {
    region: pulumi
      .all([config, fallbackRegion])
      .apply(([terraform, fallback]) => text(terraform.region) ?? fallback),
    aws: config.apply((terraform) => {
      const endpoints = Object.assign({}, ...(terraform.endpoints ?? [])) as Record<string, unknown>;
      const settings = compactSettings({
        profile: text(terraform.profile),
        accessKey: secret(text(terraform.access_key)),
        secretKey: secret(text(terraform.secret_key)),
        token: secret(text(terraform.token)),
        assumeRoles: (terraform.assume_role ?? []).map((role) => ({
          roleArn: text(role.role_arn) ?? "",
          sessionName: text(role.session_name),
          externalId: secret(text(role.external_id)),
          durationSeconds: parseDurationSeconds(text(role.duration)),
        })),
        stsRegion: text(terraform.sts_region),
        endpoints: {
          codedeploy: text(endpoints.codedeploy),
          lambda: text(endpoints.lambda),
          sts: text(endpoints.sts),
        },
      });
      // Lifted so that its secrets (keys, external ids) keep the whole value secret.
      return pulumi.output(settings) as pulumi.Output<AwsClientSettings | undefined>;
    }),
  };
}

interface TerraformAwsConfig {
  region?: unknown;
  profile?: unknown;
  access_key?: unknown;
  secret_key?: unknown;
  token?: unknown;
  sts_region?: unknown;
  assume_role?: Record<string, unknown>[];
  endpoints?: Record<string, unknown>[];
}

type SettingsDraft = Omit<AwsClientSettings, "accessKey" | "secretKey" | "token" | "assumeRoles"> & {
  accessKey?: pulumi.Output<string>;
  secretKey?: pulumi.Output<string>;
  token?: pulumi.Output<string>;
  assumeRoles?: (Omit<AssumeRoleSettings, "externalId"> & { externalId?: pulumi.Output<string> })[];
};

/** The settings without empty fields; undefined when nothing is set (the SDK's default chain). */
function compactSettings(draft: SettingsDraft): pulumi.Input<AwsClientSettings> | undefined {
  const endpoints = Object.fromEntries(Object.entries(draft.endpoints ?? {}).filter(([, url]) => url));
  const roles = (draft.assumeRoles ?? [])
    .filter((role) => role.roleArn)
    .map((role) => Object.fromEntries(Object.entries(role).filter(([, value]) => value !== undefined)));
  const settings = Object.fromEntries(
    Object.entries({
      ...draft,
      assumeRoles: roles.length > 0 ? roles : undefined,
      endpoints: Object.keys(endpoints).length > 0 ? endpoints : undefined,
    }).filter(([, value]) => value !== undefined),
  );
  return Object.keys(settings).length > 0 ? (settings as pulumi.Input<AwsClientSettings>) : undefined;
}

/** `"1h"`, `"15m"`, `"900s"`, `"1h30m"` (the provider's duration format) in seconds. */
function parseDurationSeconds(duration: string | undefined): number | undefined {
  if (!duration) return undefined;
  const units: Record<string, number> = { h: 3600, m: 60, s: 1 };
  const parts = [...duration.matchAll(/(\d+)([hms])/g)];
  if (parts.length === 0) return undefined;
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * units[unit], 0);
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
