import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type NamingContext, physicalName } from "./naming";
import type { ServerlessFunction } from "./serverless-function";
import { API_GATEWAY_MAX_TIMEOUT_SECONDS } from "./settings";
import { applyTransform, type Transform } from "./transform";

/**
 * Who may call a route: `public` (no authorization; only when declared), `iam` (SigV4-signed
 * requests, `AWS_IAM`) or `apiKey` (an API key of the API's usage plan).
 */
export type RouteAuth = "public" | "iam" | "apiKey";

export interface Route {
  function: ServerlessFunction;
  /** @default the API's `defaultAuth` */
  auth?: RouteAuth;
}

export interface ServerlessApiArgs {
  naming: NamingContext;
  /**
   * Routes by `METHOD /path`; path parameters in braces.
   * @example { "GET /users/{userId}": { function: getUser }, "GET /health": { function: health, auth: "public" } }
   */
  routes: Record<string, Route>;
  /** Authorization of routes that do not declare one; never `public`. @default "iam" */
  defaultAuth?: Exclude<RouteAuth, "public">;
  /** Stage throttling (and the usage plan's, when API keys are used). */
  throttle: { rateLimit: number; burstLimit: number };
  /** Retention of the access and execution log groups, in days. */
  logRetentionDays: number;
  /**
   * The account's API Gateway logging settings (`ApiGatewayAccountSettings`) when this stack
   * manages them: the stage waits for them, since access logs need the account's CloudWatch role.
   * @default undefined
   */
  accountSettings?: pulumi.Resource;
  /** Name of the API Gateway stage. @default naming.stage */
  stageName?: string;
  transform?: {
    restApi?: Transform<aws.apigateway.RestApiArgs>;
    stage?: Transform<aws.apigateway.StageArgs>;
  };
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"] as const;
type Method = (typeof METHODS)[number];

interface ParsedRoute {
  key: string;
  method: Method;
  path: string;
  segments: string[];
  auth: RouteAuth;
  function: ServerlessFunction;
}

/** One JSON line per request in the access log. */
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  extendedRequestId: "$context.extendedRequestId",
  ip: "$context.identity.sourceIp",
  caller: "$context.identity.caller",
  user: "$context.identity.user",
  requestTime: "$context.requestTime",
  httpMethod: "$context.httpMethod",
  resourcePath: "$context.resourcePath",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  responseLatency: "$context.responseLatency",
  integrationLatency: "$context.integrationLatency",
  integrationError: "$context.integration.error",
  xrayTraceId: "$context.xrayTraceId",
});

/**
 * An API Gateway REST API whose routes invoke functions' `live` aliases, with a stage that has
 * X-Ray tracing, JSON access logs, throttling and method metrics.
 *
 * @example
 * const api = new ServerlessApi("users-api", {
 *   naming, throttle: { rateLimit: 50, burstLimit: 100 }, logRetentionDays: 7,
 *   routes: { "GET /users": { function: listUsers }, "GET /health": { function: health, auth: "public" } },
 * });
 */
export class ServerlessApi extends pulumi.ComponentResource {
  static readonly type = "platform:apigateway:ServerlessApi";

  readonly restApi: aws.apigateway.RestApi;
  readonly stage: aws.apigateway.Stage;
  readonly accessLogGroup: aws.cloudwatch.LogGroup;
  /**
   * The log group API Gateway writes the stage's execution logs to
   * (`API-Gateway-Execution-Logs_<restApiId>/<stage>`), created here with a retention.
   */
  readonly executionLogGroup: aws.cloudwatch.LogGroup;
  readonly deployment: aws.apigateway.Deployment;
  /** The API key, when a route uses `apiKey` auth (its value is in the console, never in outputs). */
  readonly apiKey?: aws.apigateway.ApiKey;
  /** Base URL of the stage, without a trailing slash. */
  readonly url: pulumi.Output<string>;
  readonly stageName: string;
  /** The logical name the API was declared with. */
  readonly logicalName: string;

  constructor(name: string, args: ServerlessApiArgs, opts?: pulumi.ComponentResourceOptions) {
    super(ServerlessApi.type, name, {}, opts);
    this.logicalName = name;
    const routes = parseRoutes(name, args);
    const apiName = physicalName(args.naming, name, { maxLength: 128 });
    this.stageName = args.stageName ?? args.naming.stage;

    this.restApi = new aws.apigateway.RestApi(
      `${name}-api`,
      applyTransform(args.transform?.restApi, {
        name: apiName,
        description: `${args.naming.app} ${args.naming.stage} API`,
        endpointConfiguration: { types: "REGIONAL" },
        apiKeySource: "HEADER",
      } satisfies aws.apigateway.RestApiArgs),
      { parent: this },
    );

    // The resource tree: one aws.apigateway.Resource per distinct path prefix.
    const resourceIds = new Map<string, pulumi.Input<string>>([["", this.restApi.rootResourceId]]);
    for (const route of routes) {
      let prefix = "";
      for (const segment of route.segments) {
        const parentId = resourceIds.get(prefix)!;
        prefix = `${prefix}/${segment}`;
        if (resourceIds.has(prefix)) continue;
        const resource = new aws.apigateway.Resource(
          `${name}-resource-${logicalPath(prefix)}`,
          { restApi: this.restApi.id, parentId, pathPart: segment },
          { parent: this },
        );
        resourceIds.set(prefix, resource.id);
      }
    }

    // Everything the deployed snapshot is made of (or needs to serve), by logical name: the
    // deployment's trigger hashes it, so that any change redeploys the stage.
    const stageShape: Record<string, pulumi.Input<object>> = {};
    const integrations: pulumi.Resource[] = [];
    for (const route of routes) {
      const resourceId = resourceIds.get(route.path === "/" ? "" : route.path)!;
      const id = `${name}-${route.method.toLowerCase()}-${logicalPath(route.path)}`;
      const methodArgs = {
        restApi: this.restApi.id,
        resourceId,
        httpMethod: route.method,
        authorization: route.auth === "iam" ? "AWS_IAM" : "NONE",
        apiKeyRequired: route.auth === "apiKey",
      } satisfies aws.apigateway.MethodArgs;
      const method = new aws.apigateway.Method(`${id}-method`, methodArgs, { parent: this });
      const integrationArgs = {
        restApi: this.restApi.id,
        resourceId,
        httpMethod: method.httpMethod,
        integrationHttpMethod: "POST",
        type: "AWS_PROXY",
        uri: route.function.aliasInvokeArn,
      } satisfies aws.apigateway.IntegrationArgs;
      const integration = new aws.apigateway.Integration(`${id}-integration`, integrationArgs, {
        parent: this,
      });
      stageShape[`${id}-method`] = methodArgs;
      stageShape[`${id}-integration`] = integrationArgs;
      integrations.push(method, integration);
    }

    // One permission per function, for this API and the live alias only.
    const routesByFunction = new Map<ServerlessFunction, ParsedRoute[]>();
    for (const route of routes) {
      routesByFunction.set(route.function, [...(routesByFunction.get(route.function) ?? []), route]);
    }
    const permissions: pulumi.Resource[] = [];
    for (const [fn, fnRoutes] of routesByFunction) {
      const only = fnRoutes.length === 1 ? fnRoutes[0] : undefined;
      const methodAndPath = only
        ? `${only.method === "ANY" ? "*" : only.method}${executePath(only.path)}`
        : "*/*";
      const permissionArgs = {
        action: "lambda:InvokeFunction",
        function: fn.function.name,
        // The alias's own name (not the "live" literal), so the permission waits for the alias:
        // Lambda refuses a permission on an alias that does not exist yet.
        qualifier: fn.alias.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${this.restApi.executionArn}/*/${methodAndPath}`,
      } satisfies aws.lambda.PermissionArgs;
      const permissionName = `${name}-${fn.logicalName}-invoke`;
      permissions.push(
        new aws.lambda.Permission(permissionName, permissionArgs, { parent: this, dependsOn: [fn.alias] }),
      );
      stageShape[permissionName] = permissionArgs;
    }

    // A stage serves the snapshot its deployment took: redeploy whenever any method, integration
    // (a new alias ARN, a timeout, ...) or permission changes, not only the route keys.
    const trigger = pulumi.output(stageShape).apply(stableHash);
    this.deployment = new aws.apigateway.Deployment(
      `${name}-deployment`,
      {
        restApi: this.restApi.id,
        description: pulumi.interpolate`Routes ${trigger.apply((hash) => hash.slice(0, 7))}`,
        triggers: { redeployment: trigger },
      },
      // Permissions first, too: a stage that points at functions it may not invoke answers 500.
      { parent: this, dependsOn: [...integrations, ...permissions] },
    );

    this.accessLogGroup = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { name: `/aws/apigateway/${apiName}/${this.stageName}/access`, retentionInDays: args.logRetentionDays },
      { parent: this },
    );

    // API Gateway would create this group itself on the first execution log, without a retention
    // and outside the stack (it would survive a destroy). It must exist before the stage logs.
    this.executionLogGroup = new aws.cloudwatch.LogGroup(
      `${name}-execution-logs`,
      {
        name: pulumi.interpolate`API-Gateway-Execution-Logs_${this.restApi.id}/${this.stageName}`,
        retentionInDays: args.logRetentionDays,
      },
      { parent: this },
    );

    this.stage = new aws.apigateway.Stage(
      `${name}-stage`,
      applyTransform(args.transform?.stage, {
        restApi: this.restApi.id,
        deployment: this.deployment.id,
        stageName: this.stageName,
        xrayTracingEnabled: true,
        accessLogSettings: { destinationArn: this.accessLogGroup.arn, format: ACCESS_LOG_FORMAT },
      } satisfies aws.apigateway.StageArgs),
      {
        parent: this,
        dependsOn: [this.executionLogGroup, ...(args.accountSettings ? [args.accountSettings] : [])],
      },
    );

    new aws.apigateway.MethodSettings(
      `${name}-method-settings`,
      {
        restApi: this.restApi.id,
        stageName: this.stage.stageName,
        methodPath: "*/*",
        settings: {
          metricsEnabled: true,
          loggingLevel: "ERROR",
          dataTraceEnabled: false,
          throttlingRateLimit: args.throttle.rateLimit,
          throttlingBurstLimit: args.throttle.burstLimit,
        },
      },
      { parent: this },
    );

    if (routes.some((route) => route.auth === "apiKey")) {
      const usagePlan = new aws.apigateway.UsagePlan(
        `${name}-usage-plan`,
        {
          name: physicalName(args.naming, `${name}-plan`, { maxLength: 128 }),
          apiStages: [{ apiId: this.restApi.id, stage: this.stage.stageName }],
          throttleSettings: { rateLimit: args.throttle.rateLimit, burstLimit: args.throttle.burstLimit },
        },
        { parent: this },
      );
      this.apiKey = new aws.apigateway.ApiKey(
        `${name}-key`,
        { name: physicalName(args.naming, `${name}-key`, { maxLength: 128 }), enabled: true },
        { parent: this },
      );
      new aws.apigateway.UsagePlanKey(
        `${name}-usage-plan-key`,
        { keyId: this.apiKey.id, keyType: "API_KEY", usagePlanId: usagePlan.id },
        { parent: this },
      );
    }

    this.url = this.stage.invokeUrl;
    this.registerOutputs({ url: this.url, restApiId: this.restApi.id, stageName: this.stage.stageName });
  }
}

/** SHA-256 of a value's JSON with sorted keys, so that equal values always hash the same. */
function stableHash(value: unknown): string {
  const json = JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
  return createHash("sha256").update(json).digest("hex");
}

/** `/users/{userId}` -> `users-userId` (logical names cannot hold braces). */
function logicalPath(path: string): string {
  return path === "/" ? "root" : path.replace(/^\//, "").replace(/[{}+]/g, "").replace(/\//g, "-");
}

/** `/users/{userId}` -> `/users/*` (the form `execute-api` source ARNs take). */
function executePath(path: string): string {
  return path.replace(/\{[^}]+\}/g, "*");
}

function parseRoutes(name: string, args: ServerlessApiArgs): ParsedRoute[] {
  const problems: string[] = [];
  const defaultAuth = args.defaultAuth ?? "iam";
  if ((defaultAuth as RouteAuth) === "public") {
    problems.push('defaultAuth must be "iam" or "apiKey": public routes must be declared one by one');
  }
  const routes: ParsedRoute[] = [];
  const entries = Object.entries(args.routes);
  if (entries.length === 0) problems.push("routes must declare at least one route");
  for (const [key, route] of entries) {
    const match = /^([A-Z]+) (\/\S*)$/.exec(key);
    if (!match || !(METHODS as readonly string[]).includes(match[1])) {
      problems.push(`route "${key}" must be "METHOD /path" with METHOD one of ${METHODS.join(", ")}`);
      continue;
    }
    const path = match[2].length > 1 ? match[2].replace(/\/$/, "") : match[2];
    const segments = path.split("/").filter(Boolean);
    const bad = segments.find((s) => !/^([A-Za-z0-9._-]+|\{[A-Za-z0-9_]+\+?\})$/.test(s));
    if (bad !== undefined) {
      problems.push(`route "${key}": path segment "${bad}" must be letters, digits, ._- or a {parameter}`);
      continue;
    }
    if (route.function.timeoutSeconds > API_GATEWAY_MAX_TIMEOUT_SECONDS) {
      problems.push(
        `route "${key}": function ${route.function.functionName} has timeoutSeconds ${route.function.timeoutSeconds}, but API Gateway allows at most ${API_GATEWAY_MAX_TIMEOUT_SECONDS}`,
      );
    }
    const auth = route.auth ?? defaultAuth;
    if (!["public", "iam", "apiKey"].includes(auth)) {
      problems.push(`route "${key}": auth must be one of public, iam, apiKey (got ${JSON.stringify(auth)})`);
    }
    routes.push({
      key: `${match[1]} ${path}`,
      method: match[1] as Method,
      path,
      segments,
      auth,
      function: route.function,
    });
  }
  const seen = new Set<string>();
  for (const route of routes) {
    if (seen.has(route.key)) problems.push(`route "${route.key}" is declared twice`);
    seen.add(route.key);
  }
  if (!(args.throttle.rateLimit > 0 && args.throttle.burstLimit > 0)) {
    problems.push("throttle.rateLimit and throttle.burstLimit must be positive");
  }
  if (problems.length > 0) throw new Error(`ServerlessApi ${name}: ${problems.join("; ")}`);
  return routes.sort((a, b) => a.key.localeCompare(b.key));
}
