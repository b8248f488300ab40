/**
 * The arguments @pulumi/policy's analyzer server builds for policies under the engine
 * (`server.js` makeAnalyzeRpcFun / makeAnalyzeStackRpcFun), built here from a recorded plan instead
 * of gRPC requests, so that the pack's own policy objects run offline with the same inputs.
 */
import type {
  PolicyProviderResource,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
} from "@pulumi/policy";
import type { RecordedResource } from "../plan/mocks";
import type { PlanResult } from "../plan/types";

type Props = Record<string, unknown>;

// Internal modules of @pulumi/policy: the same proxy and type checks the server uses.
const proxy = require("@pulumi/policy/proxy") as {
  unknownCheckingProxy<T extends object>(value: T): T;
  UnknownValueError: new (...args: never[]) => Error;
};
const policyModule = require("@pulumi/policy/policy") as {
  getPulumiType(value: unknown): string | undefined;
};

export const UnknownValueError = proxy.UnknownValueError;
export const getPulumiType = policyModule.getPulumiType;

/** The value the engine sends for an output unknown during a preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Thrown by `args.notApplicable()`: the policy does not apply to this resource or stack. */
export class NotApplicableError extends Error {
  constructor(readonly reason?: string) {
    super(reason ?? "Policy does not apply");
  }
}

function throwNotApplicable(reason?: string): never {
  throw new NotApplicableError(reason);
}

/** Thrown when a policy writes to its arguments, which are views of the plan's own objects. */
export class ReadOnlyArgumentsError extends TypeError {
  constructor(property: PropertyKey) {
    super(`policies must not change their arguments (tried to change ${String(property)})`);
    this.name = "ReadOnlyArgumentsError";
  }
}

/** A secret as the plan records it (`{ <sig>: <secret sig>, value }`) is its value to a policy. */
function unwrapSecret(value: unknown): unknown {
  let unwrapped = value;
  while (
    unwrapped !== null &&
    typeof unwrapped === "object" &&
    (unwrapped as Props)[SIG_KEY] === SECRET_SIG
  ) {
    unwrapped = (unwrapped as Props).value;
  }
  return unwrapped;
}

function refuse(_target: object, property: PropertyKey): never {
  throw new ReadOnlyArgumentsError(property);
}

const viewHandler: ProxyHandler<object> = {
  get: (target, property) => view(Reflect.get(target, property)),
  set: refuse,
  deleteProperty: refuse,
  defineProperty: refuse,
};

/**
 * A recorded value as `deserializeProperties(props, false)` gives it to a policy, without copying
 * it: a read-only view that unwraps secrets as they are read (a policy cannot tell a secret from a
 * literal, under the engine either) and passes everything else, unknown sentinels included, as it
 * is. Views are made on each read, like the unknown-checking proxy's: short-lived, they cost less
 * than copying or remembering a 50,000-resource plan. (Plans are JSON: no property is undefined.)
 */
function view(value: unknown): unknown {
  const unwrapped = unwrapSecret(value);
  return unwrapped === null || typeof unwrapped !== "object" ? unwrapped : new Proxy(unwrapped, viewHandler);
}

/** Policy props: a view of recorded properties behind @pulumi/policy's unknown-checking proxy. */
export function policyProps(value: Props): Props {
  return proxy.unknownCheckingProxy(view(value) as Props);
}

/**
 * Outputs of a custom resource with the `id` a bridged provider includes in them (the plan records
 * the id beside the outputs), as a view rather than a copy. A class, so that a view costs one
 * small object rather than a handler of fresh closures.
 */
class WithIdHandler implements ProxyHandler<Props> {
  constructor(private readonly id: string) {}

  get(target: Props, property: PropertyKey): unknown {
    return property === "id" ? this.id : view(Reflect.get(target, property));
  }

  has(target: Props, property: PropertyKey): boolean {
    return property === "id" || Reflect.has(target, property);
  }

  ownKeys(target: Props): (string | symbol)[] {
    return [...Reflect.ownKeys(target), "id"];
  }

  getOwnPropertyDescriptor(target: Props, property: PropertyKey): PropertyDescriptor | undefined {
    return property === "id"
      ? { value: this.id, writable: true, enumerable: true, configurable: true }
      : Reflect.getOwnPropertyDescriptor(target, property);
  }

  set(_target: Props, property: PropertyKey): never {
    throw new ReadOnlyArgumentsError(property);
  }

  deleteProperty(_target: Props, property: PropertyKey): never {
    throw new ReadOnlyArgumentsError(property);
  }

  defineProperty(_target: Props, property: PropertyKey): never {
    throw new ReadOnlyArgumentsError(property);
  }
}

function withId(outputs: Props, id: string): Props {
  return new Proxy(outputs, new WithIdHandler(id));
}

/** True when `type` is the type of `resourceClass` (as the server's isTypeOf decides it). */
export function isTypeOf(type: string, resourceClass: unknown): boolean {
  const pulumiType = getPulumiType(resourceClass);
  if (pulumiType) return type === pulumiType;
  const isInstance = (resourceClass as { isInstance?: (value: unknown) => boolean } | undefined)?.isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

/** The options the engine sends with a resource; the plan records ignoreChanges and the parent. */
export function resourceOptions(resource: RecordedResource): PolicyResourceOptions {
  const options: PolicyResourceOptions & { parent?: string } = {
    protect: false,
    ignoreChanges: [...resource.ignoreChanges],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
  };
  if (resource.parent) options.parent = resource.parent;
  return options;
}

const EMPTY_TAGS: ReadonlyMap<string, string> = new Map();

/** Builds each resource's provider (explicit providers from the plan, default ones synthesized). */
export class ProviderLookup {
  private readonly explicit = new Map<string, RecordedResource>();
  private readonly defaults = new Map<string, PolicyProviderResource>();

  constructor(private readonly plan: PlanResult) {
    for (const resource of plan.resources) {
      if (resource.type.startsWith("pulumi:providers:")) this.explicit.set(resource.urn, resource);
    }
  }

  /**
   * The provider of a resource: the one its `provider` reference (`<urn>::<id>`) names, or, for a
   * custom resource without one, the package's default provider the engine would create
   * (`default_<version>`, with the stack's region for aws).
   */
  providerOf(resource: RecordedResource): PolicyProviderResource | undefined {
    if (resource.provider) {
      const urn = resource.provider.split("::").slice(0, -1).join("::");
      const provider = this.explicit.get(urn);
      if (provider)
        return { type: provider.type, props: policyProps(provider.inputs), urn, name: provider.name };
    }
    if (!resource.custom || resource.type.startsWith("pulumi:providers:")) return undefined;
    const pkg = resource.type.slice(0, resource.type.indexOf(":"));
    let provider = this.defaults.get(pkg);
    if (!provider) {
      const version = packageVersion(pkg);
      const name = version ? `default_${version.replace(/[.+-]/g, "_")}` : "default";
      const props: Props = version ? { version } : {};
      if (pkg === "aws") props.region = this.plan.region;
      provider = {
        type: `pulumi:providers:${pkg}`,
        urn: `urn:pulumi:${this.plan.stack}::${this.plan.project}::pulumi:providers:${pkg}::${name}`,
        name,
        props: policyProps(props),
      };
      this.defaults.set(pkg, provider);
    }
    return provider;
  }
}

function packageVersion(pkg: string): string | undefined {
  try {
    return (require(`@pulumi/${pkg}/package.json`) as { version?: string }).version?.replace(/^v/, "");
  } catch {
    return undefined;
  }
}

/**
 * What a resource policy receives for one resource: its inputs as props (the engine analyzes a
 * resource before it is created or updated), built fresh for each validation. Props are
 * deserialized on first read. A class rather than an object literal of closures: one is built per
 * resource and validation, so it must be cheap.
 */
class ResourceArgs implements ResourceValidationArgs {
  readonly type: string;
  readonly urn: string;
  readonly name: string;
  readonly stackTags = EMPTY_TAGS;
  provider?: PolicyProviderResource;
  private cachedProps?: Props;
  private cachedOpts?: PolicyResourceOptions;

  constructor(
    private readonly resource: RecordedResource,
    private readonly config: () => Props,
  ) {
    this.type = resource.type;
    this.urn = resource.urn;
    this.name = resource.name;
  }

  get props(): Props {
    this.cachedProps ??= policyProps(this.resource.inputs);
    return this.cachedProps;
  }

  get opts(): PolicyResourceOptions {
    this.cachedOpts ??= resourceOptions(this.resource);
    return this.cachedOpts;
  }

  isType(resourceClass: unknown): boolean {
    return isTypeOf(this.type, resourceClass);
  }

  asType(resourceClass: unknown): never {
    return (isTypeOf(this.type, resourceClass) ? this.props : undefined) as never;
  }

  getConfig<T extends object>(): T {
    return this.config() as T;
  }

  notApplicable(reason?: string): never {
    throw new NotApplicableError(reason);
  }
}

export function resourceValidationArgs(
  resource: RecordedResource,
  getConfig: () => Props,
  provider: PolicyProviderResource | undefined,
): ResourceValidationArgs {
  const args = new ResourceArgs(resource, getConfig);
  if (provider) args.provider = provider;
  return args;
}

/** A resource as a stack policy receives it (see stackPolicyResources); props and options built on first read. */
class StackResource implements PolicyResource {
  readonly type: string;
  readonly urn: string;
  readonly name: string;
  provider?: PolicyProviderResource;
  parent?: PolicyResource;
  private cachedOpts?: PolicyResourceOptions;
  private cachedDependencies?: PolicyResource[];
  private cachedPropertyDependencies?: Record<string, PolicyResource[]>;

  constructor(
    private readonly recorded: RecordedResource,
    private readonly stackOutputs: Props,
    private readonly byUrn: ReadonlyMap<string, StackResource>,
  ) {
    this.type = recorded.type;
    this.urn = recorded.urn;
    this.name = recorded.name;
  }

  get dependencies(): PolicyResource[] {
    this.cachedDependencies ??= this.resolve(this.recorded.dependencies);
    return this.cachedDependencies;
  }

  get propertyDependencies(): Record<string, PolicyResource[]> {
    if (!this.cachedPropertyDependencies) {
      const resolved: Record<string, PolicyResource[]> = {};
      for (const key in this.recorded.propertyDependencies) {
        resolved[key] = this.resolve(this.recorded.propertyDependencies[key]);
      }
      this.cachedPropertyDependencies = resolved;
    }
    return this.cachedPropertyDependencies;
  }

  get props(): Props {
    // A fresh view per read: cheaper than keeping one per resource alive through the stack phase.
    return proxy.unknownCheckingProxy(this.outputs());
  }

  get opts(): PolicyResourceOptions {
    this.cachedOpts ??= resourceOptions(this.recorded);
    return this.cachedOpts;
  }

  isType(resourceClass: unknown): boolean {
    return isTypeOf(this.type, resourceClass);
  }

  asType(resourceClass: unknown): never {
    return (isTypeOf(this.type, resourceClass) ? this.props : undefined) as never;
  }

  /** Resources by URN; a URN of a resource outside the plan is left out, as the server does. */
  private resolve(urns: string[]): PolicyResource[] {
    const resources: PolicyResource[] = [];
    for (const urn of urns) {
      const resource = this.byUrn.get(urn);
      if (resource) resources.push(resource);
    }
    return resources;
  }

  private outputs(): Props {
    const recorded = this.recorded;
    if (recorded.type === "pulumi:pulumi:Stack" && !recorded.parent) return view(this.stackOutputs) as Props;
    if (recorded.custom && recorded.id !== undefined && recorded.outputs.id === undefined) {
      return withId(recorded.outputs, recorded.id);
    }
    return view(recorded.outputs) as Props;
  }
}

/**
 * The stack's resources as a stack policy receives them: every registered resource (components
 * and the stack included) with its outputs as props (the root stack's props are the stack
 * outputs; a custom resource's include its `id`, as a bridged provider's outputs do), the parent,
 * dependencies and property dependencies as resource objects.
 */
export function stackPolicyResources(plan: PlanResult, providers: ProviderLookup): PolicyResource[] {
  // Dependencies are resolved to resource objects on first read: most are never read.
  const byUrn = new Map<string, StackResource>();
  const built = plan.resources.map((recorded) => {
    const resource = new StackResource(recorded, plan.outputs, byUrn);
    const provider = providers.providerOf(recorded);
    if (provider) resource.provider = provider;
    byUrn.set(recorded.urn, resource);
    return resource;
  });
  plan.resources.forEach((recorded, index) => {
    const parent = recorded.parent ? byUrn.get(recorded.parent) : undefined;
    if (parent) built[index].parent = parent;
  });
  return built;
}

export { EMPTY_TAGS, throwNotApplicable };
