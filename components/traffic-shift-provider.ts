import type {
  CodeDeployClient,
  DeploymentInfo,
  DeploymentStatus,
  LifecycleEvent,
} from "@aws-sdk/client-codedeploy";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type * as pulumi from "@pulumi/pulumi";

// Everything in this module runs inside the TrafficShift dynamic provider: Pulumi serializes the
// provider with every function it references. So: no Pulumi at runtime, no module-level clients
// or state, the AWS SDK required inside each function (the imports above are types, erased), and
// the provider defined here, next to its functions, because a function imported from another
// module is serialized with that whole module.
type CodeDeploySdk = typeof import("@aws-sdk/client-codedeploy");
type LambdaSdk = typeof import("@aws-sdk/client-lambda");

/** What the provider receives: plain values, every `Input` resolved. */
export interface TrafficShiftInputs {
  /** AWS region of the function and the CodeDeploy application. */
  region: string;
  applicationName: string;
  deploymentGroupName: string;
  functionName: string;
  /** The alias CodeDeploy shifts (`live`). */
  aliasName: string;
  /** The version the alias must end on (the function's newly published version). */
  targetVersion: string;
  /** Function CodeDeploy invokes before any traffic moves (the AppSpec's BeforeAllowTraffic). */
  beforeAllowTrafficHook?: string;
  /** Function CodeDeploy invokes once all traffic has moved (the AppSpec's AfterAllowTraffic). */
  afterAllowTrafficHook?: string;
  /** How long to wait for a terminal state before stopping the deployment. */
  timeoutSeconds?: number;
  /** First wait between two status polls; it grows by half after each poll, up to a minute. */
  pollIntervalSeconds?: number;
}

/** What the provider records: the inputs plus where the alias is and which deployment put it there. */
export interface TrafficShiftState extends TrafficShiftInputs {
  /** The version the alias points at after this operation. */
  currentVersion: string;
  /** The CodeDeploy deployment that last shifted the alias (absent until one did). */
  deploymentId?: string;
}

export interface TrafficShiftClients {
  codeDeploy: CodeDeployClient;
  lambda: LambdaClient;
}

/** How a shift waits and retries; time is injectable so that tests never wait. */
export interface ShiftOptions {
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
  /** The deployment recorded by the previous operation, kept when no new deployment is needed. */
  previousDeploymentId?: string;
  /** Attempts per API call when AWS throttles it. @default 6 */
  throttleAttempts?: number;
}

export const DEFAULT_TIMEOUT_SECONDS = 3600;
export const DEFAULT_POLL_INTERVAL_SECONDS = 15;

/**
 * Properties that identify the alias: a change means another alias, so the shift is replaced (and
 * its create deploys only if that alias is not on the target version yet).
 */
export const REPLACE_ON_CHANGE = [
  "region",
  "applicationName",
  "deploymentGroupName",
  "functionName",
  "aliasName",
] as const;

/**
 * A change only when the target version changes (or the alias is another one). Hook names, timeout
 * and poll interval are read at the next deployment, so changing them alone starts none.
 */
export function diffTrafficShift(
  olds: TrafficShiftState,
  news: TrafficShiftInputs,
): { changes: boolean; replaces: string[]; deleteBeforeReplace: boolean } {
  const replaces = REPLACE_ON_CHANGE.filter((key) => olds[key] !== news[key]);
  return {
    changes: replaces.length > 0 || olds.targetVersion !== news.targetVersion,
    replaces,
    deleteBeforeReplace: false,
  };
}

/**
 * The AppSpec of a Lambda deployment, as JSON. `version` is the string "0.0", as CloudFormation
 * writes it: `JSON.stringify(0.0)` would give `0`.
 */
export function buildAppSpec(spec: {
  functionName: string;
  aliasName: string;
  currentVersion: string;
  targetVersion: string;
  beforeAllowTrafficHook?: string;
  afterAllowTrafficHook?: string;
}): string {
  const hooks: Record<string, string>[] = [];
  if (spec.beforeAllowTrafficHook) hooks.push({ BeforeAllowTraffic: spec.beforeAllowTrafficHook });
  if (spec.afterAllowTrafficHook) hooks.push({ AfterAllowTraffic: spec.afterAllowTrafficHook });
  return JSON.stringify({
    version: "0.0",
    Resources: [
      {
        [spec.functionName]: {
          Type: "AWS::Lambda::Function",
          Properties: {
            Name: spec.functionName,
            Alias: spec.aliasName,
            CurrentVersion: spec.currentVersion,
            TargetVersion: spec.targetVersion,
          },
        },
      },
    ],
    ...(hooks.length > 0 ? { Hooks: hooks } : {}),
  });
}

/**
 * Moves the alias to `targetVersion` through CodeDeploy and waits for the outcome. No deployment
 * when the alias already points there (CodeDeploy rejects equal versions): that is the case on
 * create, where the alias was just created on the first version. Throws, naming the deployment and
 * the alarm or hook that stopped it, when CodeDeploy fails, stops or times out.
 */
export async function shiftTraffic(
  input: TrafficShiftInputs,
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<TrafficShiftState> {
  const { GetAliasCommand } = require("@aws-sdk/client-lambda") as LambdaSdk;
  const { CreateDeploymentCommand } = require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const attempts = options.throttleAttempts ?? 6;
  const call = <T>(send: () => Promise<T>) => retryThrottled(send, sleep, attempts);

  const alias = await call(() =>
    clients.lambda.send(new GetAliasCommand({ FunctionName: input.functionName, Name: input.aliasName })),
  );
  const currentVersion = alias.FunctionVersion;
  if (!currentVersion) {
    throw new Error(`Alias ${input.functionName}:${input.aliasName} has no function version`);
  }
  if (currentVersion === input.targetVersion) {
    return { ...input, currentVersion, deploymentId: options.previousDeploymentId };
  }

  const content = buildAppSpec({ ...input, currentVersion });
  let deploymentId: string | undefined;
  try {
    const created = await call(() =>
      clients.codeDeploy.send(
        new CreateDeploymentCommand({
          applicationName: input.applicationName,
          deploymentGroupName: input.deploymentGroupName,
          description: `pulumi: ${input.functionName}:${input.aliasName} ${currentVersion} -> ${input.targetVersion}`,
          revision: { revisionType: "AppSpecContent", appSpecContent: { content } },
        }),
      ),
    );
    deploymentId = created.deploymentId;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Error(
      `Could not start a CodeDeploy deployment of ${input.functionName}:${input.aliasName} ` +
        `(version ${currentVersion} -> ${input.targetVersion}) in ${input.applicationName}/${input.deploymentGroupName}: ${reason}`,
    );
  }
  if (!deploymentId) throw new Error("CodeDeploy CreateDeployment returned no deploymentId");

  await waitForDeployment(deploymentId, { ...input, currentVersion }, clients, { ...options, sleep });
  return { ...input, currentVersion: input.targetVersion, deploymentId };
}

/** Polls with a growing interval until Succeeded; throws on Failed/Stopped; stops it on timeout. */
export async function waitForDeployment(
  deploymentId: string,
  shift: TrafficShiftInputs & { currentVersion: string },
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<void> {
  const { GetDeploymentCommand, StopDeploymentCommand } =
    require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const attempts = options.throttleAttempts ?? 6;
  const timeoutMs = (shift.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const deadline = now() + timeoutMs;
  let intervalMs = (shift.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS) * 1000;
  const what = `${shift.functionName}:${shift.aliasName} (version ${shift.currentVersion} -> ${shift.targetVersion})`;

  for (;;) {
    const { deploymentInfo } = await retryThrottled(
      () => clients.codeDeploy.send(new GetDeploymentCommand({ deploymentId })),
      sleep,
      attempts,
    );
    const status: DeploymentStatus | undefined = deploymentInfo?.status;
    if (status === "Succeeded") return;
    if (status === "Failed" || status === "Stopped") {
      throw new Error(await describeFailure({ deploymentId, ...deploymentInfo }, shift, clients, options));
    }
    const remainingMs = deadline - now();
    if (remainingMs <= 0) {
      let stopped: string;
      try {
        const result = await retryThrottled(
          () =>
            clients.codeDeploy.send(new StopDeploymentCommand({ deploymentId, autoRollbackEnabled: true })),
          sleep,
          attempts,
        );
        const detail = `${result.status ?? "no status"}${result.statusMessage ? `: ${result.statusMessage}` : ""}`;
        stopped = `stopped it with automatic rollback (${detail}), so the alias goes back to version ${shift.currentVersion}`;
      } catch (error) {
        stopped = `could not stop it (${error instanceof Error ? error.message : String(error)}); stop it in the CodeDeploy console`;
      }
      throw new Error(
        `CodeDeploy deployment ${deploymentId} of ${what} did not finish within ${timeoutMs / 1000}s ` +
          `(last status ${status ?? "unknown"}); ${stopped}.`,
      );
    }
    await sleep(Math.min(intervalMs, remainingMs));
    intervalMs = Math.min(intervalMs * 1.5, 60_000);
  }
}

/**
 * Why a deployment failed or stopped, for the `pulumi up` error: the deployment id, the alarms in
 * ALARM (CodeDeploy lists them in the ALARM_ACTIVE message as `Activated alarms: <a> <b>`), or the
 * lifecycle hook that failed (from the deployment target's lifecycle events), and the rollback.
 */
export async function describeFailure(
  deployment: DeploymentInfo & { deploymentId: string },
  shift: TrafficShiftInputs & { currentVersion: string },
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<string> {
  const what = `${shift.functionName}:${shift.aliasName} (version ${shift.currentVersion} -> ${shift.targetVersion})`;
  const outcome = deployment.status === "Stopped" ? "was stopped" : "failed";
  const parts = [`CodeDeploy deployment ${deployment.deploymentId} of ${what} ${outcome}`];
  const error = deployment.errorInformation;
  if (error?.code === "ALARM_ACTIVE") {
    const alarms = parseActivatedAlarms(error.message);
    parts.push(
      alarms.length > 0
        ? `alarm(s) in ALARM: ${alarms.join(", ")}`
        : `an alarm is in ALARM (${error.message})`,
    );
  } else {
    const hook = await findFailedHook(deployment.deploymentId, shift, clients, options);
    if (hook) {
      const hookName = hook.functionName ? ` (${hook.functionName})` : "";
      parts.push(
        `lifecycle hook ${hook.lifecycleEventName}${hookName} failed${hook.message ? `: ${hook.message}` : ""}`,
      );
    }
    if (error?.code || error?.message)
      parts.push(`${error.code ?? "error"}: ${error.message ?? "no message"}`);
  }
  const rollback = deployment.rollbackInfo;
  if (rollback?.rollbackDeploymentId) {
    parts.push(
      `CodeDeploy rolls the alias back to version ${shift.currentVersion} (rollback deployment ${rollback.rollbackDeploymentId})`,
    );
  } else if (rollback?.rollbackMessage) {
    parts.push(rollback.rollbackMessage);
  }
  return `${parts.join("; ")}.`;
}

/** `... Activated alarms: <api-errors> <api-latency>` -> `["api-errors", "api-latency"]`. */
export function parseActivatedAlarms(message: string | undefined): string[] {
  const listed = /Activated alarms:(.*)$/s.exec(message ?? "")?.[1] ?? "";
  const bracketed = [...listed.matchAll(/<([^>]+)>/g)].map((match) => match[1].trim());
  if (bracketed.length > 0) return bracketed;
  return listed
    .split(/[\s,]+/)
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

/** The first failed lifecycle event of the deployment's Lambda target, or undefined if none can be read. */
export async function findFailedHook(
  deploymentId: string,
  shift: TrafficShiftInputs,
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<{ lifecycleEventName: string; functionName?: string; message?: string } | undefined> {
  const { ListDeploymentTargetsCommand, GetDeploymentTargetCommand } =
    require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const attempts = options.throttleAttempts ?? 6;
  try {
    const listed = await retryThrottled(
      () => clients.codeDeploy.send(new ListDeploymentTargetsCommand({ deploymentId })),
      sleep,
      attempts,
    );
    for (const targetId of listed?.targetIds ?? []) {
      const target = await retryThrottled(
        () => clients.codeDeploy.send(new GetDeploymentTargetCommand({ deploymentId, targetId })),
        sleep,
        attempts,
      );
      const events: LifecycleEvent[] = target?.deploymentTarget?.lambdaTarget?.lifecycleEvents ?? [];
      const failed = events.find((event) => event.status === "Failed");
      if (failed?.lifecycleEventName) {
        const functionName =
          failed.lifecycleEventName === "BeforeAllowTraffic"
            ? shift.beforeAllowTrafficHook
            : failed.lifecycleEventName === "AfterAllowTraffic"
              ? shift.afterAllowTrafficHook
              : undefined;
        return {
          lifecycleEventName: failed.lifecycleEventName,
          functionName,
          message: failed.diagnostics?.message,
        };
      }
    }
  } catch {
    // The failure is reported anyway, from the deployment's own error information.
  }
  return undefined;
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

/** The SDK clients of one region, created inside the provider process (never captured). */
export function createClients(region: string): TrafficShiftClients {
  const { CodeDeployClient } = require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const { LambdaClient } = require("@aws-sdk/client-lambda") as LambdaSdk;
  return { codeDeploy: new CodeDeployClient({ region }), lambda: new LambdaClient({ region }) };
}

/** The provider behind `TrafficShift`: the logic above with real clients and real time. */
export const trafficShiftProvider: pulumi.dynamic.ResourceProvider<TrafficShiftInputs, TrafficShiftState> = {
  async diff(_id, olds, news) {
    return diffTrafficShift(olds, news);
  },

  async create(inputs) {
    const outs = await shiftTraffic(inputs, createClients(inputs.region));
    return { id: `${inputs.functionName}:${inputs.aliasName}`, outs };
  },

  async update(_id, olds, news) {
    const outs = await shiftTraffic(news, createClients(news.region), {
      previousDeploymentId: olds.deploymentId,
    });
    return { outs };
  },

  async delete() {
    // The alias belongs to the function: removing the shift leaves it where CodeDeploy put it.
  },
};
