import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { apiFunctions, knownString, lambdaIndex, TYPE } from "./graph";
import {
  globToRegExp,
  lambdaFunctionName,
  quoteList,
  readKnown,
  reference,
  reportUnknown,
  someOf,
  stackGraph,
} from "./util";

export const lambdaTracingActive: ResourceValidationPolicy = {
  name: "lambda-tracing-active",
  description: "Checks whether Lambda functions trace requests with X-Ray in Active mode.",
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
    const mode = fn.tracingConfig?.mode;
    if (mode !== "Active") {
      report(
        `Lambda function ${args.name} must set tracingConfig.mode to "Active" (got ${mode === undefined ? "no tracing config" : JSON.stringify(mode)}).`,
      );
    }
  }),
};

/** Node.js runtimes Lambda still supports (nodejs20.x is past end of life). */
export const DEFAULT_RUNTIMES = ["nodejs22.x", "nodejs24.x"];

export const lambdaSupportedRuntime: ResourceValidationPolicy = {
  name: "lambda-supported-runtime",
  description: "Checks whether Lambda functions use a supported runtime.",
  configSchema: {
    properties: {
      runtimes: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_RUNTIMES,
        description: "Runtimes functions may use.",
      },
    },
  },
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
    if (fn.packageType === "Image") args.notApplicable("container image functions have no runtime");
    const runtimes = args.getConfig<{ runtimes?: string[] }>().runtimes ?? DEFAULT_RUNTIMES;
    if (fn.runtime === undefined || !runtimes.includes(fn.runtime)) {
      report(
        `Lambda function ${args.name} must use one of the runtimes ${quoteList(runtimes)} (got ${fn.runtime === undefined ? "none" : JSON.stringify(fn.runtime)}).`,
      );
    }
  }),
};

/**
 * True when a property was set by the program. Bridged providers may fill in schema defaults when
 * they check inputs, and list those properties in `__defaults`: such a value was not chosen.
 */
function setExplicitly(props: Record<string, unknown>, property: string): boolean {
  if (props[property] === undefined || props[property] === null) return false;
  const defaults = readKnown(() => props.__defaults);
  return !(defaults.known && Array.isArray(defaults.value) && defaults.value.includes(property));
}

export const lambdaMemoryAndTimeoutSet: ResourceValidationPolicy = {
  name: "lambda-memory-timeout-set",
  description:
    "Checks whether Lambda functions set memory and timeout explicitly (the defaults, 128 MB and 3 s, are rarely right).",
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
    const props = fn as Record<string, unknown>;
    for (const [property, what] of [
      ["memorySize", "memory (memorySize, in MB)"],
      ["timeout", "timeout (timeout, in seconds)"],
    ] as const) {
      if (!setExplicitly(props, property))
        report(`Lambda function ${args.name} must set its ${what} explicitly.`);
    }
  }),
};

export const lambdaApiTimeout: StackValidationPolicy = {
  name: "lambda-api-timeout",
  description:
    "Checks whether Lambda functions behind API Gateway time out before the API's integration timeout (29 s).",
  configSchema: {
    properties: {
      maxTimeoutSeconds: {
        type: "integer",
        minimum: 1,
        default: 29,
        description: "The API's integration timeout, in seconds.",
      },
    },
  },
  validateStack: (args, report) => {
    const max = args.getConfig<{ maxTimeoutSeconds?: number }>().maxTimeoutSeconds ?? 29;
    const behindApi = apiFunctions(args.resources);
    for (const [fn, integrations] of behindApi.functions) {
      const read = readKnown(() => fn.props.timeout as number | undefined);
      if (!read.known) {
        reportUnknown(
          report,
          `the timeout of Lambda function ${fn.name}, which API Gateway invokes, is unknown.`,
          fn.urn,
        );
        continue;
      }
      const timeout = read.value ?? 3;
      if (timeout > max) {
        report(
          `Lambda function ${fn.name} has a timeout of ${timeout} s but is invoked by API Gateway (${someOf(integrations.map((i) => i.name))}), which gives up after ${max} s: set timeout to at most ${max}.`,
          fn.urn,
        );
      }
    }
    for (const integration of behindApi.unresolved) {
      reportUnknown(
        report,
        `the function API integration ${integration.name} invokes is unknown.`,
        integration.urn,
      );
    }
  },
};

export const DEFAULT_SECRET_NAME_PATTERNS = ["*SECRET*", "*PASSWORD*", "*TOKEN*", "*API_KEY*"];
/** Values that point at a secret rather than hold one: ARNs, SSM parameter names, dynamic references. */
export const DEFAULT_SECRET_REFERENCE_PATTERNS = [
  "^$",
  "^arn:aws[a-z-]*:(secretsmanager|ssm|kms):",
  "^/[A-Za-z0-9_.\\-/]+$",
  "^\\{\\{resolve:",
];

export const lambdaNoPlaintextSecrets: ResourceValidationPolicy = {
  name: "lambda-no-plaintext-secrets",
  description:
    "Checks whether Lambda environment variables named like secrets (*SECRET*, *PASSWORD*, *TOKEN*, *API_KEY*) hold a reference instead of a literal value.",
  configSchema: {
    properties: {
      namePatterns: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_SECRET_NAME_PATTERNS,
        description: "Globs (case-insensitive) of variable names that hold secrets.",
      },
      referencePatterns: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_SECRET_REFERENCE_PATTERNS,
        description:
          "Regular expressions of values that reference a secret (ARN, parameter name) rather than hold it.",
      },
    },
  },
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
    const config = args.getConfig<{ namePatterns?: string[]; referencePatterns?: string[] }>();
    const names = (config.namePatterns ?? DEFAULT_SECRET_NAME_PATTERNS).map(globToRegExp);
    const references = (config.referencePatterns ?? DEFAULT_SECRET_REFERENCE_PATTERNS).map(
      (pattern) => new RegExp(pattern),
    );
    const variables = (fn.environment?.variables ?? {}) as Record<string, unknown>;
    for (const name of Object.keys(variables)) {
      if (!names.some((pattern) => pattern.test(name))) continue;
      // A value unknown at preview is computed from another resource: it cannot be a literal.
      const value = readKnown(() => variables[name]);
      if (!value.known || typeof value.value !== "string") continue;
      if (references.some((pattern) => pattern.test(value.value as string))) continue;
      report(
        `Lambda function ${args.name} sets environment variable ${name} to a literal value: keep the secret in Secrets Manager or SSM Parameter Store and pass its ARN or parameter name, for the function to read at run time.`,
      );
    }
  }),
};

export const DEFAULT_ASYNC_PRINCIPALS = ["events.amazonaws.com", "sns.amazonaws.com", "s3.amazonaws.com"];

export const lambdaAsyncFailureDestination: StackValidationPolicy = {
  name: "lambda-async-failure-destination",
  description:
    "Checks whether Lambda functions invoked asynchronously have a dead-letter queue or an on-failure destination.",
  configSchema: {
    properties: {
      asyncPrincipals: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_ASYNC_PRINCIPALS,
        description: "Service principals whose invocations are asynchronous.",
      },
    },
  },
  validateStack: (args, report) => {
    const principals =
      args.getConfig<{ asyncPrincipals?: string[] }>().asyncPrincipals ?? DEFAULT_ASYNC_PRINCIPALS;
    const graph = stackGraph(args.resources);
    const lambdas = lambdaIndex(args.resources);
    const invokedBy = new Map<PolicyResource, string[]>();
    const withDestination = new Set<PolicyResource>();
    const invoked = (fn: PolicyResource, why: string) =>
      invokedBy.set(fn, [...(invokedBy.get(fn) ?? []), why]);

    for (const config of graph.ofType(TYPE.lambdaEventInvokeConfig)) {
      const fn = lambdas.resolve(reference(config, "functionName"));
      if (!fn) continue;
      invoked(fn, `event invoke config ${config.name}`);
      // An unknown destination (an ARN not created yet) is a destination.
      const destination = readKnown(() => config.props.destinationConfig?.onFailure?.destination);
      if (!destination.known || destination.value) withDestination.add(fn);
    }
    for (const permission of graph.ofType(TYPE.lambdaPermission)) {
      const principal = knownString(permission, "principal");
      if (principal === undefined) {
        reportUnknown(
          report,
          `the principal of Lambda permission ${permission.name} is unknown.`,
          permission.urn,
        );
        continue;
      }
      if (!principals.includes(principal)) continue;
      const fn = lambdas.resolve(reference(permission, "function"));
      if (fn) invoked(fn, `${principal} via permission ${permission.name}`);
    }
    for (const [fn, reasons] of invokedBy) {
      if (withDestination.has(fn)) continue;
      const deadLetter = readKnown(() => fn.props.deadLetterConfig?.targetArn);
      if (!deadLetter.known || deadLetter.value) continue;
      report(
        `Lambda function ${fn.name} is invoked asynchronously (${someOf(reasons)}) but has neither a dead-letter queue nor an on-failure destination: set deadLetterConfig.targetArn, or destinationConfig.onFailure in its FunctionEventInvokeConfig, so that failed events are kept.`,
        fn.urn,
      );
    }
  },
};

export const lambdaPermissionSourceArn: ResourceValidationPolicy = {
  name: "lambda-permission-source-arn",
  description:
    "Checks whether Lambda permissions name a principal other than `*` and, for AWS service principals, the source ARN allowed to invoke.",
  validateResource: validateResourceOfType(aws.lambda.Permission, (permission, args, report) => {
    const principal = permission.principal;
    // The function it concerns, by name when it is known (not during a preview of a new function).
    const target = readKnown(() => permission.function);
    const fn =
      target.known && typeof target.value === "string"
        ? `Lambda function ${lambdaFunctionName(target.value)}`
        : "the function";
    if (principal === "*") {
      report(
        `Lambda permission ${args.name} lets any principal ("*") invoke ${fn}: name the service or account that invokes it.`,
      );
      return;
    }
    if (!/\.amazonaws\.com(\.cn)?$/.test(principal)) return;
    // An unknown source ARN (of a resource not created yet) is set.
    const sourceArn = readKnown(() => permission.sourceArn);
    if (sourceArn.known && !sourceArn.value) {
      report(
        `Lambda permission ${args.name} lets ${principal} invoke ${fn} on behalf of any resource: set sourceArn to the ARN of the resource that invokes it.`,
      );
    }
    // A bucket ARN names no account: another account's bucket of that name could invoke the function.
    const sourceAccount = readKnown(() => permission.sourceAccount);
    if (principal === "s3.amazonaws.com" && sourceAccount.known && !sourceAccount.value) {
      report(
        `Lambda permission ${args.name} lets S3 invoke ${fn}: set sourceAccount too (a bucket ARN names no account).`,
      );
    }
  }),
};

export const lambdaArm64: ResourceValidationPolicy = {
  name: "lambda-arm64",
  description: "Checks whether Lambda functions run on arm64 (Graviton), which costs less per GB-second.",
  enforcementLevel: "advisory",
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, report) => {
    const architectures = fn.architectures ?? ["x86_64"];
    if (!architectures.includes("arm64")) {
      report(
        `Lambda function ${args.name} should set architectures to ["arm64"] (got ${quoteList(architectures)}).`,
      );
    }
  }),
};
