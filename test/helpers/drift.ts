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
