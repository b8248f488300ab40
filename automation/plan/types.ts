import type { RecordedResource } from "./mocks";
import type { StackConfig } from "./stack-config";

/** What the plan host (host/run-program.ts) is asked to do. */
export interface PlanRequest {
  stackConfig: StackConfig;
  /** Absolute path of the Pulumi program (`index.ts`). */
  programPath: string;
  /** Where the host keeps the content of text assets (handler bundles), named by sha256. */
  assetDir?: string;
}

/** A message from the Planner to a plan host. */
export interface HostRequest {
  id: number;
  request: PlanRequest;
  /** The environment the program sees: the caller's, without its secrets. */
  env: Record<string, string>;
}

/** Where a plan's time went in its host, in milliseconds (what the benchmark prints). */
export interface PlanPhases {
  /** Loading the host itself (Node.js, tsx, Pulumi's SDK): only on a host's first plan, else 0. */
  hostStartMs: number;
  /** Program modules kept loaded from the host's last plan (see host/program-modules.ts). */
  modulesKept: number;
  /** Config and mock runtime reset. */
  runtimeMs: number;
  /** Checking (and rebuilding) the handler bundles planned before. */
  bundlesMs: number;
  /** Loading the program's modules (transpiled by tsx, components, @pulumi/aws modules first used). */
  programLoadMs: number;
  /** The whole program run until every registration settled, loading included. */
  programMs: number;
}

/** A plan host's answer: the plan, or the program's error; and what the program wrote to stderr. */
export type HostReply = { id: number; stderr: string } & (
  | { result: PlanResult; phases: PlanPhases }
  | { error: string }
);

/** A stack's planned resources and outputs, from the program run under the mock runtime. */
export interface PlanResult {
  project: string;
  stack: string;
  stage: string;
  region: string;
  accountId: string;
  /**
   * Every registration, the `pulumi:pulumi:Stack` root first, then in the order the program
   * constructed the resources (deterministic: not the order registrations happen to complete in).
   */
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** The program's warnings (`pulumi.log.warn`), as `pulumi preview` would show them. */
  warnings?: string[];
}
