import {
  DiffKind,
  type EngineEvent,
  type StepEventMetadata,
  type StepEventStateMetadata,
} from "@pulumi/pulumi/automation";
import { cliSummaryEvent } from "../../automation/engine/events";
import {
  diffTrafficShift,
  type TrafficShiftInputs,
  type TrafficShiftState,
} from "../../components/traffic-shift-provider";

const URN = "urn:pulumi:prod-eu-west-1::platform::aws:dynamodb/table:Table::users-table";

function tableState(billingMode: string): StepEventStateMetadata {
  const outputs = { name: "platform-prod-users-table", billingMode, deletionProtectionEnabled: true };
  return {
    type: "aws:dynamodb/table:Table",
    urn: URN,
    id: "platform-prod-users-table",
    parent: "",
    inputs: outputs,
    outputs,
    provider: "",
  };
}

/** A preview-only refresh that finds the table switched to provisioned capacity in the console. */
export const tableDrift = (): EngineEvent[] => {
  const metadata = {
    op: "refresh" as const,
    urn: URN,
    type: "aws:dynamodb/table:Table",
    old: tableState("PAY_PER_REQUEST"),
    new: tableState("PROVISIONED"),
    provider: "",
  };
  return [
    { sequence: 1, timestamp: 1, resourcePreEvent: { metadata, planning: true } },
    {
      sequence: 2,
      timestamp: 2,
      resOutputsEvent: {
        metadata: {
          ...metadata,
          op: "update",
          detailedDiff: { billingMode: { diffKind: DiffKind.update, inputDiff: false } },
        },
        planning: true,
      },
    },
  ];
};

/*
 * A canary-deployed function's `live` alias and its TrafficShift, as a preview-only refresh reports
 * them: the alias's recorded state is where Pulumi created it (it ignores the version afterwards),
 * and the TrafficShift records the version the stack last deployed (its target).
 */
const CANARY_STACK = "prod-eu-west-1";
const NODEJS_PROVIDER = `urn:pulumi:${CANARY_STACK}::platform::pulumi:providers:pulumi-nodejs::default`;
const AWS_PROVIDER = `urn:pulumi:${CANARY_STACK}::platform::pulumi:providers:aws::default_7_48_0::9b1c3f0e-6a55-4f1e-b0a4-2f1f0d7c6a11`;
export const ALIAS_TYPE = "aws:lambda/alias:Alias";
export const TRAFFIC_SHIFT_TYPE = "pulumi-nodejs:dynamic/platform:TrafficShift";
const FUNCTION_NAME = "platform-prod-users-list";

function canaryUrn(type: string, name: string): string {
  return `urn:pulumi:${CANARY_STACK}::platform::platform:index:Platform$platform:codedeploy:CanaryDeployment$${type}::${name}`;
}

/** The alias with its version and weights (`routingConfig` as the aws provider reads it). */
export function aliasState(
  functionVersion: string,
  weights?: Record<string, number>,
): StepEventStateMetadata {
  const outputs = {
    name: "live",
    functionName: FUNCTION_NAME,
    functionVersion,
    routingConfig: weights ? { additionalVersionWeights: weights } : null,
    arn: `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}:live`,
  };
  const { arn: _arn, ...inputs } = outputs;
  return {
    type: ALIAS_TYPE,
    urn: canaryUrn(ALIAS_TYPE, "users-list-alias"),
    custom: true,
    id: outputs.arn,
    parent: "",
    inputs,
    outputs,
    provider: AWS_PROVIDER,
  };
}

/** The TrafficShift's state: provider outputs as `outputs`, what the program gave as `inputs`. */
export function trafficShiftState(outputs: Record<string, unknown>): StepEventStateMetadata {
  const {
    currentVersion: _current,
    deploymentId: _deployment,
    additionalVersionWeights: _weights,
    ...inputs
  } = outputs;
  return {
    type: TRAFFIC_SHIFT_TYPE,
    urn: canaryUrn(TRAFFIC_SHIFT_TYPE, "users-deploy-list-shift"),
    custom: true,
    id: `${FUNCTION_NAME}:live`,
    parent: "",
    inputs: { ...inputs, __provider: "exports.handler = __f0; /* serialized provider */" },
    outputs: { ...outputs, __provider: "exports.handler = __f0; /* serialized provider */" },
    provider: NODEJS_PROVIDER,
  };
}

/** The recorded outputs of a TrafficShift whose last deployment put the alias on `version`. */
export function deployedShift(version: string): Record<string, unknown> {
  return {
    region: "eu-west-1",
    applicationName: "platform-prod-deploy",
    deploymentGroupName: FUNCTION_NAME,
    functionName: FUNCTION_NAME,
    aliasName: "live",
    targetVersion: version,
    currentVersion: version,
    deploymentId: "d-LAST",
    timeoutSeconds: 3600,
    pollIntervalSeconds: 15,
  };
}

/** What the canary alias ignores (components/serverless-function.ts): CodeDeploy moves it. */
export const CANARY_ALIAS_IGNORE_CHANGES = ["functionVersion", "routingConfig"];

/**
 * How the engine frames a refresh's result. `desired-state` is Pulumi's since 3.120
 * (pkg/resource/deploy/step.go, RefreshStep): the provider diffs the live state against the
 * recorded inputs with the resource's ignoreChanges, the step is `same` when that diff is empty
 * (whatever the live outputs) and `update` with the provider's diff otherwise. `legacy` is the
 * engine before 3.120 or with PULUMI_ENABLE_LEGACY_REFRESH_DIFF: any output change is an `update`,
 * with no diff.
 */
export type RefreshDiffModel = "desired-state" | "legacy";

export interface RefreshOptions {
  /** @default "desired-state" */
  model?: RefreshDiffModel;
  /** The resource's ignoreChanges. @default CANARY_ALIAS_IGNORE_CHANGES for an alias, else none */
  ignoreChanges?: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The result op and diff the desired-state engine gives a resource that is still there. */
function desiredStateResult(
  recorded: StepEventStateMetadata,
  live: StepEventStateMetadata,
  ignoreChanges: string[],
): Partial<StepEventMetadata> {
  if (recorded.type === TRAFFIC_SHIFT_TYPE) {
    // The dynamic provider's diff, as the engine calls it: the live state as olds, the recorded
    // inputs as news. It returns no property diffs, only whether there are changes.
    const { changes } = diffTrafficShift(
      live.outputs as unknown as TrafficShiftState,
      recorded.inputs as unknown as TrafficShiftInputs,
    );
    return { op: changes ? "update" : "same" };
  }
  // A bridged provider reads the live inputs from the live state and diffs them with the recorded
  // ones, leaving out what the resource ignores; the engine inverts the diff (live is the new side).
  const before = recorded.inputs ?? {};
  const after = live.inputs ?? {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => !key.startsWith("__") && !ignoreChanges.includes(key) && !same(before[key], after[key]),
  );
  if (keys.length === 0) return { op: "same" };
  const kind = (key: string) =>
    !(key in before) ? DiffKind.add : !(key in after) ? DiffKind.delete : DiffKind.update;
  return {
    op: "update",
    diffs: keys,
    detailedDiff: Object.fromEntries(keys.map((key) => [key, { diffKind: kind(key), inputDiff: false }])),
  };
}

/**
 * The two events of one refreshed resource: the step's pre-event (op `refresh`) and its outputs
 * event, whose `new` is the live state whatever its op: `delete` when the resource is gone, else as
 * the engine's `model` decides (see RefreshDiffModel).
 */
export function refreshOf(
  recorded: StepEventStateMetadata,
  live: StepEventStateMetadata | undefined,
  options: RefreshOptions = {},
): EngineEvent[] {
  const metadata = {
    op: "refresh" as const,
    urn: recorded.urn,
    type: recorded.type,
    old: recorded,
    new: live,
    provider: recorded.provider ?? "",
  };
  const ignoreChanges =
    options.ignoreChanges ?? (recorded.type === ALIAS_TYPE ? CANARY_ALIAS_IGNORE_CHANGES : []);
  const result: Partial<StepEventMetadata> =
    live === undefined
      ? { op: "delete" }
      : options.model === "legacy"
        ? { op: same(recorded.outputs, live.outputs) ? "same" : "update" }
        : desiredStateResult(recorded, live, ignoreChanges);
  return [
    { sequence: 1, timestamp: 1, resourcePreEvent: { metadata, planning: true } },
    {
      sequence: 2,
      timestamp: 2,
      resOutputsEvent: { metadata: { ...metadata, ...result }, planning: true },
    },
  ];
}

/** The function of the canary fixtures, whose last publication is `version`. */
export function canaryFunctionState(version: string): StepEventStateMetadata {
  const inputs = { name: FUNCTION_NAME, memorySize: 512, runtime: "nodejs22.x", publish: true };
  return {
    type: "aws:lambda/function:Function",
    urn: `urn:pulumi:${CANARY_STACK}::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function`,
    custom: true,
    id: FUNCTION_NAME,
    parent: "",
    inputs,
    outputs: { ...inputs, version, arn: `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}` },
    provider: AWS_PROVIDER,
  };
}

/*
 * One URN, two states: a function replaced by an update whose old physical function is still in
 * the state, pending deletion (`delete: true`), next to its replacement. A preview-only refresh
 * reads each state on its own, with its own pre-event and result.
 */
const REPLACED_URN = `urn:pulumi:${CANARY_STACK}::platform::platform:index:Platform$platform:lambda:ServerlessFunction$aws:lambda/function:Function::users-list-function`;
export const REPLACED_FUNCTION_TYPE = "aws:lambda/function:Function";
export const LIVE_FUNCTION_ID = "users-list-function-7f3a2c1";
export const OLD_FUNCTION_ID = "users-list-function-1b9e4d0";

/** A state of the replaced function's URN (`pendingDeletion` for the old physical function). */
export function functionState(
  id: string,
  memorySize: number,
  options: { pendingDeletion?: boolean } = {},
): StepEventStateMetadata {
  const outputs = {
    name: id,
    memorySize,
    runtime: "nodejs22.x",
    arn: `arn:aws:lambda:eu-west-1:123456789012:function:${id}`,
  };
  return {
    type: REPLACED_FUNCTION_TYPE,
    urn: REPLACED_URN,
    custom: true,
    ...(options.pendingDeletion ? { delete: true } : {}),
    id,
    parent: `urn:pulumi:${CANARY_STACK}::platform::platform:index:Platform$platform:lambda:ServerlessFunction::users-list`,
    inputs: { name: id, memorySize, runtime: "nodejs22.x" },
    outputs,
    provider: AWS_PROVIDER,
  };
}

/**
 * The refresh of both states: the replacement's memory was changed in the console, and the old
 * function pending deletion is gone. Each state's two events, in one possible order.
 */
export function replacedFunctionRefresh(): EngineEvent[][] {
  return [
    refreshOf(functionState(LIVE_FUNCTION_ID, 512), functionState(LIVE_FUNCTION_ID, 1024)),
    refreshOf(functionState(OLD_FUNCTION_ID, 512, { pendingDeletion: true }), undefined),
  ];
}

/**
 * Merges the event pairs of several refresh steps into one stream, as the engine may interleave
 * them (it refreshes resources in parallel): `order` picks, position by position, which step's
 * next event comes (indices modulo the steps still pending), so each step keeps its pre-event
 * before its result. Sequence numbers are given in stream order, as the engine numbers events.
 */
export function interleave(steps: EngineEvent[][], order: number[]): EngineEvent[] {
  const pending = steps.map((events) => [...events]);
  const stream: EngineEvent[] = [];
  let pick = 0;
  while (pending.some((events) => events.length > 0)) {
    const open = pending.filter((events) => events.length > 0);
    const events = open[(order[pick++] ?? 0) % open.length];
    const event = events.shift()!;
    stream.push({ ...event, sequence: stream.length + 1 });
  }
  return stream;
}

/** Events as an event log file's text: one JSON EngineEvent per line, as `--event-log` writes them. */
export function toJsonl(events: EngineEvent[]): string {
  return `${events.map((event) => JSON.stringify(event)).join("\n")}\n`;
}

/** The engine's first and last events of an operation, which a complete event log has. */
export function preludeEvent(region: string): EngineEvent {
  return { sequence: 0, timestamp: 1767225600, preludeEvent: { config: { "aws:region": region } } };
}

export function summaryEvent(sequence: number, resourceChanges: Record<string, number>): EngineEvent {
  return {
    sequence,
    timestamp: 1767225603,
    summaryEvent: cliSummaryEvent({
      maybeCorrupt: false,
      durationSeconds: 3,
      resourceChanges,
      PolicyPacks: {},
    }),
  };
}
