import type { EngineEvent, OpMap } from "@pulumi/pulumi/automation";

/** Which stack an operation is about: the stage, the AWS region and the Pulumi stack's name. */
export interface StackRef {
  stage: string;
  region: string;
  /** `<stage>` for the stage's primary region, `<stage>-<region>` for its other regions. */
  stackName: string;
}

/** Options every engine operation takes. */
export interface OperationOptions {
  /** Aborting it cancels the operation; the promise then rejects with an EngineCancelledError. */
  signal?: AbortSignal;
  /** Receives every engine event of the operation as the engine emits it. */
  onEvent?: (event: EngineEvent) => void;
}

export interface UpOperationOptions extends OperationOptions {
  /**
   * The revision being deployed: recorded on the stack (tag `platform:revision`) once the update
   * succeeds, and cleared before it starts so that a failed update never claims a revision.
   */
  revision?: string;
  /**
   * Refresh the state from the live resources before the update (`pulumi up --refresh`), so that
   * the update diffs the program against what is really deployed and restores what drifted. A
   * plain update diffs against the recorded state, which a preview-only refresh never wrote: it
   * would see no changes and leave the drift in place.
   * @default false
   */
  refresh?: boolean;
}

/** Options of a preview. */
export interface PreviewOperationOptions extends OperationOptions {
  /**
   * Create the stack when it does not exist, because the caller deploys it next (a rollout's
   * preview gate); it is removed again when the preview stops the deployment. Otherwise a preview
   * of a missing stack rejects with StackNotFoundEngineError: a preview never creates stacks.
   * @default false
   */
  createStack?: boolean;
}

/** Options of cancel. */
export interface CancelOptions {
  /**
   * With no operation of this process on the stack, cancel the backend's update in progress
   * (`pulumi cancel`): that stops someone else's update at once and may leave resources in an
   * unknown state, as the CLI warns. Never done by a rollout or the service.
   * @default false
   */
  backendUpdate?: boolean;
}

/** The stack tag that records the revision a stack was last deployed at. */
export const REVISION_TAG = "platform:revision";

/** A policy violation, whether the real engine or the offline evaluator found it. */
export interface PolicyViolation {
  policyName: string;
  /** `advisory` is the Pulumi CLI's `warning`. */
  enforcementLevel: "advisory" | "mandatory";
  message: string;
  policyPackName?: string;
  urn?: string;
  resourceType?: string;
  resourceName?: string;
}

/** Stack outputs as plain values; secret outputs are replaced by `[secret]`. */
export type StackOutputs = Record<string, unknown>;

export interface PreviewResult {
  stack: StackRef;
  /** Planned operations by kind (`create`, `update`, `same`, ...). */
  changeSummary: OpMap;
  violations: PolicyViolation[];
  /** Mandatory violations: any of them stops a deployment before it changes anything. */
  mandatoryCount: number;
  advisoryCount: number;
}

export interface UpResult {
  stack: StackRef;
  outputs: StackOutputs;
  /** Operations performed by kind. */
  summary: OpMap;
  /** The revision recorded on the stack, when one was given. */
  revision?: string;
}

/** A preview-only refresh: what the engine would adopt from the live state, as step events. */
export interface RefreshPreviewResult {
  stack: StackRef;
  changeSummary: OpMap;
  /** The step events (`resourcePreEvent`, `resOutputsEvent`, `resOpFailedEvent`) of the refresh. */
  events: EngineEvent[];
}

export interface RefreshResult {
  stack: StackRef;
  summary: OpMap;
}

/**
 * The engine port: everything the rollout, drift detection and the HTTP service do to a stack.
 * Implementations: PulumiEngine (Automation API + Pulumi CLI), OfflineEngine (mock runtime and
 * policy evaluation only), InMemoryEngine (scripted, for tests and benchmarks).
 *
 * Every operation rejects with an EngineError: StackNotFoundEngineError,
 * ConcurrentUpdateEngineError, EngineCancelledError, EngineUnavailableError or EngineError.
 */
export interface Engine {
  readonly kind: "pulumi" | "offline" | "in-memory";
  /** The state backend and secrets the engine uses, in one line (printed when a command or the service starts). */
  describeBackend?(): string;
  /** Checks once that the engine can run (the Pulumi CLI's version); rejects with EngineUnavailableError. */
  start?(): Promise<void>;
  /** Previews an update with the policy pack and the stage's policy config; never creates a stack unless asked. */
  preview(stack: StackRef, options?: PreviewOperationOptions): Promise<PreviewResult>;
  /** Deploys the stack (with the policy pack) and returns its outputs. */
  up(stack: StackRef, options?: UpOperationOptions): Promise<UpResult>;
  /** Reads the live state and reports what a refresh would change, without writing state. */
  refreshPreview(stack: StackRef, options?: OperationOptions): Promise<RefreshPreviewResult>;
  /** Adopts the live state into the stack's state (drift remediation `refresh`). */
  refresh(stack: StackRef, options?: OperationOptions): Promise<RefreshResult>;
  /** The outputs of the stack's last update. */
  outputs(stack: StackRef, options?: OperationOptions): Promise<StackOutputs>;
  /** The revision the stack was last successfully deployed at; undefined if none or no stack. */
  deployedRevision(stack: StackRef, options?: OperationOptions): Promise<string | undefined>;
  /** Records (or, with undefined, clears) the revision a stack is deployed at (tag `platform:revision`). */
  recordRevision(stack: StackRef, revision: string | undefined, options?: OperationOptions): Promise<void>;
  /**
   * Cancels this process's operation on the stack and resolves once it has stopped (so that no
   * stack stays locked); with `backendUpdate`, the backend's update in progress otherwise.
   */
  cancel(stack: StackRef, options?: CancelOptions): Promise<void>;
}

/** The events that describe steps (what drift detection reads). */
export function isStepEvent(event: EngineEvent): boolean {
  return Boolean(event.resourcePreEvent || event.resOutputsEvent || event.resOpFailedEvent);
}
