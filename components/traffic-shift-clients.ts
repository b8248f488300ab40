import type { CodeDeployClient } from "@aws-sdk/client-codedeploy";
import type { LambdaClient } from "@aws-sdk/client-lambda";

// Runs inside the TrafficShift dynamic provider, serialized with it (see traffic-shift-provider.ts):
// no Pulumi, no module-level state, the AWS SDK required inside each function (these imports are
// types, erased). The credential packages are the ones the SDK's own default chain uses.
type CodeDeploySdk = typeof import("@aws-sdk/client-codedeploy");
type LambdaSdk = typeof import("@aws-sdk/client-lambda");
type StsSdk = typeof import("@aws-sdk/client-sts");
type IniSdk = typeof import("@aws-sdk/credential-provider-ini");
type AwsCredentials = {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
};

export interface TrafficShiftClients {
  codeDeploy: CodeDeployClient;
  lambda: LambdaClient;
}

/** One role of the `aws` provider's `assumeRoles` chain. */
export interface AssumeRoleSettings {
  roleArn: string;
  sessionName?: string;
  /** Secret in state. */
  externalId?: string;
  durationSeconds?: number;
}

/**
 * The identity and endpoints of the stack's `aws` provider, so that the CodeDeploy and Lambda calls
 * of the shift use the same account and role as every other resource of the stack. Unset fields
 * fall back to the SDK's default chain (environment, shared files, instance role), as the provider's do.
 */
export interface AwsClientSettings {
  /** Shared-config profile (`aws:profile`). */
  profile?: string;
  /** Static keys (`aws:accessKey`, `aws:secretKey`, `aws:token`); secret in state. */
  accessKey?: string;
  secretKey?: string;
  token?: string;
  /** Roles assumed in order, each with the previous credentials (`aws:assumeRoles`). */
  assumeRoles?: AssumeRoleSettings[];
  /** Region of the STS calls (`aws:stsRegion`). @default the shift's region */
  stsRegion?: string;
  /** Endpoint overrides (`aws:endpoints`) of the services the shift calls. */
  endpoints?: { codedeploy?: string; lambda?: string; sts?: string };
}

/**
 * The SDK clients of one region with the stack's AWS identity, created inside the provider process
 * (never captured).
 */
export function createClients(region: string, settings: AwsClientSettings = {}): TrafficShiftClients {
  const { CodeDeployClient } = require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const { LambdaClient } = require("@aws-sdk/client-lambda") as LambdaSdk;
  const credentials = awsCredentials(region, settings);
  const common = credentials ? { region, credentials } : { region };
  const { codedeploy, lambda } = settings.endpoints ?? {};
  return {
    codeDeploy: new CodeDeployClient(codedeploy ? { ...common, endpoint: codedeploy } : common),
    lambda: new LambdaClient(lambda ? { ...common, endpoint: lambda } : common),
  };
}

/**
 * The credentials the `aws` provider would use: static keys, else the profile, else the SDK's
 * default chain (undefined); then each role of the chain assumed with the previous credentials.
 */
export function awsCredentials(
  region: string,
  settings: AwsClientSettings,
): (() => Promise<AwsCredentials>) | undefined {
  let source: (() => Promise<AwsCredentials>) | undefined;
  if (settings.accessKey && settings.secretKey) {
    const keys = {
      accessKeyId: settings.accessKey,
      secretAccessKey: settings.secretKey,
      ...(settings.token ? { sessionToken: settings.token } : {}),
    };
    source = async () => keys;
  } else if (settings.profile) {
    const { fromIni } = require("@aws-sdk/credential-provider-ini") as IniSdk;
    const profile = fromIni({ profile: settings.profile });
    source = () => profile();
  }
  for (const role of settings.assumeRoles ?? []) {
    if (role.roleArn) source = assumeRoleCredentials(source, role, settings.stsRegion ?? region, settings);
  }
  return source;
}

/** Credentials of `role`, assumed with `source` (default chain if undefined), renewed before they expire. */
function assumeRoleCredentials(
  source: (() => Promise<AwsCredentials>) | undefined,
  role: AssumeRoleSettings,
  region: string,
  settings: AwsClientSettings,
): () => Promise<AwsCredentials> {
  const { STSClient, AssumeRoleCommand } = require("@aws-sdk/client-sts") as StsSdk;
  const sts = new STSClient({
    region,
    ...(source ? { credentials: source } : {}),
    ...(settings.endpoints?.sts ? { endpoint: settings.endpoints.sts } : {}),
  });
  let cached: AwsCredentials | undefined;
  return async () => {
    if (cached && (!cached.expiration || cached.expiration.getTime() - Date.now() > 5 * 60_000))
      return cached;
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName ?? "pulumi-traffic-shift",
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
        ...(role.durationSeconds ? { DurationSeconds: role.durationSeconds } : {}),
      }),
    );
    if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey) {
      throw new Error(`sts:AssumeRole of ${role.roleArn} returned no credentials`);
    }
    cached = {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken,
      expiration: Credentials.Expiration,
    };
    return cached;
  };
}

/**
 * Runs `send`, retrying with exponential backoff (1 s, 2 s, 4 s, ... up to 20 s) while AWS throttles
 * it. The SDK already retries throttling errors a few times with short delays; this outlasts a
 * longer burst, such as many region stacks polling CodeDeploy at once.
 */
export async function retryThrottled<T>(
  send: () => Promise<T>,
  sleep: (ms: number) => Promise<void>,
  attempts = 6,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await send();
    } catch (error) {
      if (attempt >= attempts || !isThrottlingError(error)) throw error;
      await sleep(Math.min(1000 * 2 ** (attempt - 1), 20_000));
    }
  }
}

/** ThrottlingException (CodeDeploy, "Rate exceeded"), TooManyRequestsException (Lambda), HTTP 429. */
export function isThrottlingError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { name, code, message, $metadata } = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const codes = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottledException",
  ];
  if (codes.includes(String(name)) || codes.includes(String(code))) return true;
  if ($metadata?.httpStatusCode === 429) return true;
  return /rate exceeded|too many requests/i.test(String(message ?? ""));
}

/**
 * Runs `run` with a signal that aborts when the process gets SIGINT or SIGTERM. The dynamic
 * provider host ignores the engine's Cancel call and the dynamic provider interface has no cancel
 * hook; what reaches the provider is the engine shutting its plugins down: SIGINT to the plugin's
 * process group, then SIGKILL 5 seconds later. Once every shift in flight has stopped its
 * deployment, the signal is raised again so that the process ends as it would have.
 */
export async function whileInterruptible<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals) => {
    if (received) return;
    received = name;
    controller.abort(new Error(`the Pulumi engine interrupted the provider with ${name}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await run(controller.signal);
  } catch (error) {
    // The engine may no longer read the reply; its plugin output (stderr) still reaches the user.
    if (received) console.error(`TrafficShift: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    const name = received;
    // Another shift still stopping its deployment keeps its listener; the last one re-raises.
    if (name && process.listenerCount(name) === 0) setTimeout(() => process.kill(process.pid, name), 200);
  }
}
