import type { RecordedResource } from "./mocks";
import type { StackConfig } from "./stack-config";

/** What the plan's child process is asked to do. */
export interface PlanRequest {
  stackConfig: StackConfig;
  /** Absolute path of the Pulumi program (`index.ts`). */
  programPath: string;
  /** Where the child writes its PlanResult as JSON. */
  resultPath: string;
  /** Where the child keeps the content of text assets (handler bundles), named by sha256. */
  assetDir?: string;
}

/** A stack's planned resources and outputs, from the program run under the mock runtime. */
export interface PlanResult {
  project: string;
  stack: string;
  stage: string;
  region: string;
  accountId: string;
  /** Every registration in order, the `pulumi:pulumi:Stack` root first. */
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** The program's warnings (`pulumi.log.warn`), as `pulumi preview` would show them. */
  warnings?: string[];
}
