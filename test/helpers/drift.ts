import { DiffKind, type EngineEvent, type StepEventStateMetadata } from "@pulumi/pulumi/automation";

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

/**
 * The two events of one refreshed resource: the step's pre-event (op `refresh`) and its outputs
 * event, whose op is `same` when the live outputs equal the recorded ones, else `update` (or
 * `delete` when the resource is gone), with no diff: the engine leaves it to old vs new.
 */
export function refreshOf(
  recorded: StepEventStateMetadata,
  live: StepEventStateMetadata | undefined,
): EngineEvent[] {
  const sameOutputs = live !== undefined && JSON.stringify(recorded.outputs) === JSON.stringify(live.outputs);
  const metadata = {
    op: "refresh" as const,
    urn: recorded.urn,
    type: recorded.type,
    old: recorded,
    new: live,
    provider: recorded.provider ?? "",
  };
  return [
    { sequence: 1, timestamp: 1, resourcePreEvent: { metadata, planning: true } },
    {
      sequence: 2,
      timestamp: 2,
      resOutputsEvent: {
        metadata: { ...metadata, op: live === undefined ? "delete" : sameOutputs ? "same" : "update" },
        planning: true,
      },
    },
  ];
}
