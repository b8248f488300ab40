import type { PolicyResource, ReportViolation } from "@pulumi/policy";

/**
 * @pulumi/policy's unknown-checking proxy throws this when a policy reads a value that is unknown
 * during `pulumi preview` (an output of a resource not created yet). The class is internal to the
 * package, so it is looked up where the proxy itself lives, which is the module instance that
 * throws it both under the engine and offline.
 */
const { UnknownValueError } = require("@pulumi/policy/proxy") as {
  UnknownValueError: new (...args: never[]) => Error;
};

/** True when `error` is @pulumi/policy's "value unknown during preview" error. */
export function isUnknownValueError(error: unknown): boolean {
  return error instanceof UnknownValueError;
}

/** A value read without letting "unknown during preview" escape: `known: false` instead. */
export type Known<T> = { known: true; value: T } | { known: false };

/**
 * Reads `read()`; an unknown value comes back as `{ known: false }`. Use it only where a policy can
 * decide without the value (it follows the dependency graph instead, or an unknown value cannot be
 * a violation); everywhere else let the error escape, so that @pulumi/policy reports "can't run
 * policy during preview" as an advisory diagnostic instead of passing silently.
 */
export function readKnown<T>(read: () => T): Known<T> {
  try {
    return { known: true, value: read() };
  } catch (error) {
    if (isUnknownValueError(error)) return { known: false };
    throw error;
  }
}

export function asArray<T>(value: T | T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

const globs = new Map<string, RegExp>();

/** `*SECRET*` -> /^.*SECRET.*$/i (glob with `*` and `?`, case-insensitive; compiled once). */
export function globToRegExp(glob: string): RegExp {
  let pattern = globs.get(glob);
  if (!pattern) {
    const escaped = glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    pattern = new RegExp(`^${escaped}$`, "i");
    if (globs.size < 10_000) globs.set(glob, pattern);
  }
  return pattern;
}

/** How many items a message lists before it says how many more there are. */
export const MAX_LISTED = 10;

/** A list for a message: `a, b, c and 4 more` (at most MAX_LISTED items, so messages stay short). */
export function someOf(values: readonly string[], max = MAX_LISTED): string {
  if (values.length <= max) return values.join(", ");
  return `${values.slice(0, max).join(", ")} and ${values.length - max} more`;
}

/** Quotes a list for a message: `"a", "b"` (at most MAX_LISTED items, then how many more). */
export function quoteList(values: readonly string[], max = MAX_LISTED): string {
  return someOf(
    values.map((value) => JSON.stringify(value)),
    max,
  );
}

/** The function name in a Lambda function reference: a name, a (qualified) ARN or a partial ARN. */
export function lambdaFunctionName(reference: string): string {
  const arn = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:/]+)/.exec(reference);
  if (arn) return arn[1];
  const partial = /^(?:\d{12}:)?function:([^:/]+)/.exec(reference);
  if (partial) return partial[1];
  return reference.split(":")[0];
}

/**
 * The Lambda function an API Gateway integration URI invokes
 * (`arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`).
 */
export function integrationFunctionName(uri: string): string | undefined {
  const match = /:lambda:path\/[^/]+\/functions\/(.+)\/invocations$/.exec(uri);
  return match ? lambdaFunctionName(match[1]) : undefined;
}

/**
 * The resources of a stack, indexed by type once per `resources` array. Stack policies look up what
 * they need here instead of scanning the stack per resource (O(n), not O(n²)).
 */
export interface StackGraph {
  ofType(type: string): PolicyResource[];
}

const graphs = new WeakMap<readonly PolicyResource[], StackGraph>();

export function stackGraph(resources: readonly PolicyResource[]): StackGraph {
  const cached = graphs.get(resources);
  if (cached) return cached;
  const byType = new Map<string, PolicyResource[]>();
  for (const resource of resources) {
    const list = byType.get(resource.type);
    if (list) list.push(resource);
    else byType.set(resource.type, [resource]);
  }
  const graph: StackGraph = { ofType: (type) => byType.get(type) ?? [] };
  graphs.set(resources, graph);
  return graph;
}

/** Memoizes a per-stack index (built from the graph once per `resources` array and key). */
export function memoByStack<T>(
  key: string,
  resources: readonly PolicyResource[],
  build: (graph: StackGraph) => T,
): T {
  let perStack = memos.get(resources);
  if (!perStack) {
    perStack = new Map();
    memos.set(resources, perStack);
  }
  if (!perStack.has(key)) perStack.set(key, build(stackGraph(resources)));
  return perStack.get(key) as T;
}
const memos = new WeakMap<readonly PolicyResource[], Map<string, unknown>>();

/**
 * What a reference property of a stack resource points at: the string value when it is known, and
 * the resources it was computed from (`propertyDependencies`), which are known even during a
 * preview, when ids and ARNs of new resources are not.
 */
export interface Reference {
  value?: string;
  dependencies: PolicyResource[];
}

export function reference(resource: PolicyResource, property: string): Reference {
  const read = readKnown(() => resource.props[property] as unknown);
  const dependencies = resource.propertyDependencies[property] ?? [];
  if (read.known && typeof read.value === "string") return { value: read.value, dependencies };
  return { dependencies };
}

/** `Lambda function users-list-function` (the logical name, which is what `pulumi preview` shows). */
export function describe(kind: string, resource: { name: string }): string {
  return `${kind} ${resource.name}`;
}

/**
 * Reports that a policy could not decide because a value is unknown until the update (during
 * `pulumi preview`, for outputs of resources not created yet). Such a report is always advisory:
 * it must not block a preview, but it must not pass silently either; `pulumi up` checks again with
 * the values known. @pulumi/policy's server takes this object form of a violation (name, message,
 * urn, enforcementLevel); its typed signature only declares the string form.
 */
export function reportUnknown(reportViolation: ReportViolation, message: string, urn?: string): void {
  const diagnostic = {
    message: `Could not check during preview: ${message}`,
    enforcementLevel: "advisory",
    urn,
  };
  (reportViolation as unknown as (violation: typeof diagnostic) => void)(diagnostic);
}
