import type { DeploymentInfo, DeploymentStatus, LifecycleEvent } from "@aws-sdk/client-codedeploy";
import type { GetAliasCommandOutput } from "@aws-sdk/client-lambda";
import type * as pulumi from "@pulumi/pulumi";
import {
  type AwsClientSettings,
  createClients,
  retryThrottled,
  type TrafficShiftClients,
  whileInterruptible,
} from "./traffic-shift-clients";

// Everything in this module runs inside the TrafficShift dynamic provider: Pulumi serializes the
// provider with every function it references. So: no Pulumi at runtime, no module-level clients
// or state, the AWS SDK required inside each function (the imports above are types, erased), and
// the provider defined here, next to its functions. A module it imports (traffic-shift-clients.ts)
// is serialized whole, so it follows the same rules.
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
  /** The stack's AWS identity (profile, role, keys, endpoints). @default the SDK's default chain */
  aws?: AwsClientSettings;
}

/** What the provider records: the inputs plus where the alias is and which deployment put it there. */
export interface TrafficShiftState extends TrafficShiftInputs {
  /** The version the alias points at after this operation. */
  currentVersion: string;
  /** The CodeDeploy deployment that last shifted the alias (absent until one did). */
  deploymentId?: string;
  /**
   * Weights of other versions on the alias, as a refresh read them (absent when the alias sends all
   * traffic to `currentVersion`, which is the case outside a deployment).
   */
  additionalVersionWeights?: Record<string, number>;
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
  /**
   * Cancels the wait: the deployment is stopped with automatic rollback and the shift fails naming
   * it. The provider aborts it when the engine interrupts the provider process.
   */
  signal?: AbortSignal;
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
 * A change when the target version changes (or the alias is another one), when a refresh found the
 * alias elsewhere than the target (moved outside Pulumi: the update shifts it back through
 * CodeDeploy), or when the AWS identity changes (the update records it, deploying nothing if the
 * alias is on target). Hook names, timeout and poll interval are read at the next deployment, so
 * changing them alone starts none.
 */
export function diffTrafficShift(
  olds: TrafficShiftState,
  news: TrafficShiftInputs,
): { changes: boolean; replaces: string[]; deleteBeforeReplace: boolean } {
  const replaces = REPLACE_ON_CHANGE.filter((key) => olds[key] !== news[key]);
  const aliasElsewhere =
    (olds.currentVersion !== undefined && olds.currentVersion !== news.targetVersion) ||
    Object.keys(olds.additionalVersionWeights ?? {}).length > 0;
  const identityChanged =
    JSON.stringify(sortedKeys(olds.aws ?? {})) !== JSON.stringify(sortedKeys(news.aws ?? {}));
  return {
    changes:
      replaces.length > 0 || olds.targetVersion !== news.targetVersion || aliasElsewhere || identityChanged,
    replaces,
    deleteBeforeReplace: false,
  };
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, child]) => child !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, child]) => [key, sortedKeys(child)]),
  );
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

  if (options.signal?.aborted) {
    throw new Error(
      `Shift of ${input.functionName}:${input.aliasName} to version ${input.targetVersion} was cancelled ` +
        `(${abortReason(options.signal)}) before a CodeDeploy deployment started; the alias stays on version ${currentVersion}.`,
    );
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

/**
 * Polls with a growing interval until Succeeded; throws on Failed/Stopped. On timeout or when
 * `options.signal` aborts, stops the deployment with automatic rollback and throws naming it.
 */
export async function waitForDeployment(
  deploymentId: string,
  shift: TrafficShiftInputs & { currentVersion: string },
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<void> {
  const { GetDeploymentCommand } = require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const signal = options.signal;
  const attempts = options.throttleAttempts ?? 6;
  const timeoutMs = (shift.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const deadline = now() + timeoutMs;
  let intervalMs = (shift.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS) * 1000;
  const what = `${shift.functionName}:${shift.aliasName} (version ${shift.currentVersion} -> ${shift.targetVersion})`;
  // Resolves when the signal aborts, so that a cancel does not wait for the end of a poll interval.
  const aborted = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    else signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  let status: DeploymentStatus | undefined;

  for (;;) {
    if (signal?.aborted) {
      // One attempt only: the engine kills the provider a few seconds after interrupting it.
      const stopped = await stopWithRollback(deploymentId, shift, clients, sleep, 1);
      throw new Error(
        `CodeDeploy deployment ${deploymentId} of ${what} was cancelled (${abortReason(signal)}) ` +
          `while ${status ?? "starting"}; ${stopped}.`,
      );
    }
    const { deploymentInfo } = await retryThrottled(
      () => clients.codeDeploy.send(new GetDeploymentCommand({ deploymentId })),
      sleep,
      attempts,
    );
    status = deploymentInfo?.status;
    if (status === "Succeeded") return;
    if (status === "Failed" || status === "Stopped") {
      throw new Error(await describeFailure({ deploymentId, ...deploymentInfo }, shift, clients, options));
    }
    const remainingMs = deadline - now();
    if (remainingMs <= 0) {
      const stopped = await stopWithRollback(deploymentId, shift, clients, sleep, attempts);
      throw new Error(
        `CodeDeploy deployment ${deploymentId} of ${what} did not finish within ${timeoutMs / 1000}s ` +
          `(last status ${status ?? "unknown"}); ${stopped}.`,
      );
    }
    await Promise.race([sleep(Math.min(intervalMs, remainingMs)), aborted]);
    intervalMs = Math.min(intervalMs * 1.5, 60_000);
  }
}

/** Stops a deployment with automatic rollback; says how that went, for the error message. */
async function stopWithRollback(
  deploymentId: string,
  shift: { currentVersion: string },
  clients: TrafficShiftClients,
  sleep: (ms: number) => Promise<void>,
  attempts: number,
): Promise<string> {
  const { StopDeploymentCommand } = require("@aws-sdk/client-codedeploy") as CodeDeploySdk;
  try {
    const result = await retryThrottled(
      () => clients.codeDeploy.send(new StopDeploymentCommand({ deploymentId, autoRollbackEnabled: true })),
      sleep,
      attempts,
    );
    const detail = `${result.status ?? "no status"}${result.statusMessage ? `: ${result.statusMessage}` : ""}`;
    return `stopped it with automatic rollback (${detail}), so the alias goes back to version ${shift.currentVersion}`;
  } catch (error) {
    return `could not stop it (${error instanceof Error ? error.message : String(error)}); stop it in the CodeDeploy console`;
  }
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? "aborted");
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
 * Where the alias is now, for a refresh: the recorded state with the alias's live version and
 * weights. `undefined` when the alias (or its function) is gone.
 */
export async function readTrafficShift(
  state: TrafficShiftState,
  clients: TrafficShiftClients,
  options: ShiftOptions = {},
): Promise<TrafficShiftState | undefined> {
  const { GetAliasCommand } = require("@aws-sdk/client-lambda") as LambdaSdk;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let alias: GetAliasCommandOutput;
  try {
    alias = await retryThrottled(
      () =>
        clients.lambda.send(new GetAliasCommand({ FunctionName: state.functionName, Name: state.aliasName })),
      sleep,
      options.throttleAttempts ?? 6,
    );
  } catch (error) {
    if ((error as { name?: string }).name === "ResourceNotFoundException") return undefined;
    throw error;
  }
  const { additionalVersionWeights: _recorded, ...rest } = state;
  const weights = alias.RoutingConfig?.AdditionalVersionWeights ?? {};
  return {
    ...rest,
    currentVersion: alias.FunctionVersion ?? state.currentVersion,
    ...(Object.keys(weights).length > 0 ? { additionalVersionWeights: weights } : {}),
  };
}

/** The provider behind `TrafficShift`: the logic above with real clients and real time. */
export const trafficShiftProvider: pulumi.dynamic.ResourceProvider<TrafficShiftInputs, TrafficShiftState> = {
  async diff(_id, olds, news) {
    return diffTrafficShift(olds, news);
  },

  async create(inputs) {
    const outs = await whileInterruptible((signal) =>
      shiftTraffic(inputs, createClients(inputs.region, inputs.aws), { signal }),
    );
    return { id: `${inputs.functionName}:${inputs.aliasName}`, outs };
  },

  async read(id, props) {
    const state = props as TrafficShiftState;
    const live = await readTrafficShift(state, createClients(state.region, state.aws));
    // No id: the alias is gone, and so is what this resource shifts.
    return live ? { id, props: live } : {};
  },

  async update(_id, olds, news) {
    const outs = await whileInterruptible((signal) =>
      shiftTraffic(news, createClients(news.region, news.aws), {
        previousDeploymentId: olds.deploymentId,
        signal,
      }),
    );
    return { outs };
  },

  async delete() {
    // The alias belongs to the function: removing the shift leaves it where CodeDeploy put it.
  },
};
