import * as aws from "@pulumi/aws";
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  validateResourceOfType,
} from "@pulumi/policy";
import { knownString, TYPE } from "./graph";
import { memoByStack, readKnown, reference, reportUnknown, stackGraph } from "./util";

export const apigatewayStageTracing: ResourceValidationPolicy = {
  name: "apigateway-stage-tracing",
  description: "Checks whether API Gateway stages trace requests with X-Ray.",
  validateResource: validateResourceOfType(aws.apigateway.Stage, (stage, args, report) => {
    if (stage.xrayTracingEnabled !== true) {
      report(`API Gateway stage ${args.name} must set xrayTracingEnabled to true.`);
    }
  }),
};

export const apigatewayStageAccessLogging: ResourceValidationPolicy = {
  name: "apigateway-stage-access-logging",
  description: "Checks whether API Gateway stages write access logs (a destination log group and a format).",
  validateResource: validateResourceOfType(aws.apigateway.Stage, (stage, args, report) => {
    const settings = stage.accessLogSettings;
    // Unknown values (the log group's ARN before it exists) are set.
    const destination = readKnown(() => settings?.destinationArn);
    const format = readKnown(() => settings?.format);
    if (!settings || (destination.known && !destination.value) || (format.known && !format.value)) {
      report(
        `API Gateway stage ${args.name} must set accessLogSettings with a destinationArn (a CloudWatch log group) and a format.`,
      );
    }
  }),
};

/** Whether a value is a positive number, or unknown (set from an output not known yet). */
function positiveOrUnknown(read: () => unknown): boolean {
  const value = readKnown(read);
  return !value.known || (typeof value.value === "number" && value.value > 0);
}

export const apigatewayStageThrottling: StackValidationPolicy = {
  name: "apigateway-stage-throttling",
  description:
    "Checks whether every API Gateway stage has method settings with a throttling rate and burst limit.",
  validateStack: (args, report) => {
    const graph = stackGraph(args.resources);
    const byStage = new Map<string, PolicyResource[]>();
    const add = (key: string, settings: PolicyResource) =>
      byStage.set(key, [...(byStage.get(key) ?? []), settings]);
    for (const settings of graph.ofType(TYPE.apiMethodSettings)) {
      const restApi = knownString(settings, "restApi");
      const stageName = knownString(settings, "stageName");
      if (restApi !== undefined && stageName !== undefined) add(`${restApi}/${stageName}`, settings);
      for (const dependency of settings.propertyDependencies.stageName ?? []) {
        if (dependency.type === TYPE.apiStage) add(dependency.urn, settings);
      }
    }
    for (const stage of graph.ofType(TYPE.apiStage)) {
      const restApi = knownString(stage, "restApi");
      const stageName = knownString(stage, "stageName");
      const candidates = new Set([
        ...(byStage.get(stage.urn) ?? []),
        ...(restApi !== undefined && stageName !== undefined
          ? (byStage.get(`${restApi}/${stageName}`) ?? [])
          : []),
      ]);
      const throttled = [...candidates].some(
        (settings) =>
          positiveOrUnknown(() => settings.props.settings?.throttlingRateLimit) &&
          positiveOrUnknown(() => settings.props.settings?.throttlingBurstLimit),
      );
      if (throttled) continue;
      if (candidates.size === 0 && (restApi === undefined || stageName === undefined)) {
        reportUnknown(
          report,
          `the REST API or name of API Gateway stage ${stage.name} is unknown.`,
          stage.urn,
        );
        continue;
      }
      report(
        `API Gateway stage ${stage.name} must be throttled: add an aws.apigateway.MethodSettings for it (methodPath "*/*") with settings.throttlingRateLimit and settings.throttlingBurstLimit above 0.`,
        stage.urn,
      );
    }
  },
};

/** Paths of API Gateway resources (`/users/{userId}`), from the parentId/pathPart chain. */
function resourcePaths(
  resources: readonly PolicyResource[],
): (ref: ReturnType<typeof reference>) => string | undefined {
  return memoByStack("api-paths", resources, (graph) => {
    const rootIds = new Set<string>();
    for (const api of graph.ofType(TYPE.restApi)) {
      const root = knownString(api, "rootResourceId");
      if (root !== undefined) rootIds.add(root);
    }
    const byId = new Map<string, PolicyResource>();
    for (const resource of graph.ofType(TYPE.apiResource)) {
      const id = knownString(resource, "id");
      if (id !== undefined) byId.set(id, resource);
    }
    const paths = new Map<PolicyResource, string | undefined>();
    // The path of what a resourceId/parentId reference names: the root ("") or an API resource.
    const pathOf = (ref: ReturnType<typeof reference>, depth: number): string | undefined => {
      const parent =
        ref.dependencies.find((dependency) => dependency.type === TYPE.apiResource) ??
        (ref.value !== undefined ? byId.get(ref.value) : undefined);
      if (parent) return depth > 50 ? undefined : pathOfResource(parent, depth + 1);
      const isRoot =
        (ref.value !== undefined && rootIds.has(ref.value)) ||
        ref.dependencies.some((dependency) => dependency.type === TYPE.restApi);
      return isRoot ? "" : undefined;
    };
    const pathOfResource = (resource: PolicyResource, depth: number): string | undefined => {
      if (!paths.has(resource)) {
        const parentPath = pathOf(reference(resource, "parentId"), depth);
        const part = knownString(resource, "pathPart");
        paths.set(
          resource,
          parentPath === undefined || part === undefined ? undefined : `${parentPath}/${part}`,
        );
      }
      return paths.get(resource);
    };
    return (ref) => {
      const path = pathOf(ref, 0);
      return path === "" ? "/" : path;
    };
  });
}

export const DEFAULT_PUBLIC_ROUTES = ["/health"];

export const apigatewayMethodAuthorization: StackValidationPolicy = {
  name: "apigateway-method-authorization",
  description:
    "Checks whether API Gateway methods require authorization (IAM, an authorizer or an API key), except the routes listed as public.",
  configSchema: {
    properties: {
      publicRoutes: {
        type: "array",
        items: { type: "string" },
        default: DEFAULT_PUBLIC_ROUTES,
        description:
          'Routes that may be called without authorization: a path ("/health", any method) or "METHOD /path".',
      },
    },
  },
  validateStack: (args, report) => {
    const publicRoutes = new Set(
      args.getConfig<{ publicRoutes?: string[] }>().publicRoutes ?? DEFAULT_PUBLIC_ROUTES,
    );
    const pathOf = resourcePaths(args.resources);
    for (const method of stackGraph(args.resources).ofType(TYPE.apiMethod)) {
      const authorization = knownString(method, "authorization");
      const apiKeyRequired = readKnown(() => method.props.apiKeyRequired as boolean | undefined);
      if (authorization === undefined || !apiKeyRequired.known) {
        reportUnknown(
          report,
          `the authorization of API Gateway method ${method.name} is unknown.`,
          method.urn,
        );
        continue;
      }
      if (authorization !== "NONE" || apiKeyRequired.value === true) continue;
      const path = pathOf(reference(method, "resourceId"));
      const httpMethod = knownString(method, "httpMethod")?.toUpperCase() ?? "ANY";
      if (path === undefined) {
        reportUnknown(
          report,
          `the path of API Gateway method ${method.name}, which has no authorization, is unknown.`,
          method.urn,
        );
        continue;
      }
      const route = `${httpMethod} ${path}`;
      if (publicRoutes.has(path) || publicRoutes.has(route)) continue;
      report(
        `API Gateway method ${method.name} (${route}) has authorization "NONE" and no API key: require AWS_IAM, an authorizer or an API key, or list "${route}" in publicRoutes if it must be public.`,
        method.urn,
      );
    }
  },
};
