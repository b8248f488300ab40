import type { RecordedResource } from "../plan/mocks";
import type { PlanResult } from "../plan/types";
import { EVENT_SOURCE_ASSUMPTION, type EventSourceLine, estimateEventSources } from "./event-sources";
import { PRICES } from "./prices";
import { routeModel } from "./traffic-model";

export type Architecture = "arm64" | "x86_64";

/** A stage's traffic assumptions (`platform:monthlyRequests`, `platform:averageDurationMs`). */
export interface TrafficAssumptions {
  /** API requests per month. */
  monthlyRequests: number;
  /** Average function duration per invocation, in ms. */
  averageDurationMs: number;
}

export interface LambdaUsage {
  memoryMb: number;
  architecture: Architecture;
  /** Invocations per month. */
  requests: number;
  averageDurationMs: number;
  /** Provisioned concurrent executions on the function (summed over its aliases). @default 0 */
  provisionedConcurrency?: number;
}

/** One function's monthly charges, in US dollars, unrounded. */
export interface LambdaCost {
  requests: number;
  /** GB-seconds of invocation duration. */
  gbSeconds: number;
  /** GB-seconds of provisioned concurrency: executions × memory × every second of the month. */
  provisionedGbSeconds: number;
  requestCost: number;
  durationCost: number;
  provisionedCost: number;
  cost: number;
}

const durationPrice = (architecture: Architecture) =>
  architecture === "arm64" ? PRICES.lambda.arm64PerGbSecond : PRICES.lambda.x86PerGbSecond;

function requireNonNegative(field: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${field} must be a finite number of at least 0 (got ${value})`);
  }
}

/**
 * The monthly cost of one function, in the guide's model: requests plus duration at the
 * on-demand rates, plus provisioned concurrency for every second of a 730-hour month. (AWS bills
 * invocations served by provisioned concurrency at a lower duration rate; the guide, and this
 * estimate, use the on-demand rate, so with provisioned concurrency this is an upper bound.)
 *
 * @example
 * // The guide's example: 512 MB, 200 ms, 1 million requests, x86 -> $0.20 + $1.67 = $1.87.
 * estimateLambda({ memoryMb: 512, architecture: "x86_64", requests: 1_000_000, averageDurationMs: 200 });
 */
export function estimateLambda(usage: LambdaUsage): LambdaCost {
  const provisionedConcurrency = usage.provisionedConcurrency ?? 0;
  requireNonNegative("memoryMb", usage.memoryMb);
  requireNonNegative("requests", usage.requests);
  requireNonNegative("averageDurationMs", usage.averageDurationMs);
  requireNonNegative("provisionedConcurrency", provisionedConcurrency);
  const memoryGb = usage.memoryMb / 1024;
  const gbSeconds = usage.requests * (usage.averageDurationMs / 1000) * memoryGb;
  const provisionedGbSeconds = provisionedConcurrency * memoryGb * PRICES.hoursPerMonth * 3600;
  const requestCost = (usage.requests / 1_000_000) * PRICES.lambda.perMillionRequests;
  const durationCost = gbSeconds * durationPrice(usage.architecture);
  const provisionedCost = provisionedGbSeconds * PRICES.lambda.provisionedConcurrencyPerGbSecond;
  return {
    requests: usage.requests,
    gbSeconds,
    provisionedGbSeconds,
    requestCost,
    durationCost,
    provisionedCost,
    cost: requestCost + durationCost + provisionedCost,
  };
}

/** One API route of the plan and the traffic the model gives it. */
export interface RouteTraffic {
  /** `METHOD /path`, e.g. `GET /users/{userId}`. */
  route: string;
  /** The physical name of the function its integration invokes, if it invokes one. */
  functionName?: string;
  carriesTraffic: boolean;
  requests: number;
  readUnitsPerRequest: number;
  writeUnitsPerRequest: number;
  reason: string;
}

/** One Lambda function's line. */
export interface LambdaCostLine extends LambdaCost {
  functionName: string;
  memoryMb: number;
  architecture: Architecture;
  provisionedConcurrency: number;
  /** The API routes that invoke it (none for, e.g., CodeDeploy hook functions). */
  routes: string[];
  /** The queues, streams and schedules that invoke it (`queue <name>`, `stream of <table>`, `schedule <name>`). */
  triggers: string[];
}

/** One line of a service other than Lambda. */
export interface ServiceCostLine {
  service: "API Gateway" | "DynamoDB" | EventSourceLine["service"];
  item: string;
  quantity: number;
  unit: string;
  /** The price as read, e.g. "$3.50 per million". */
  price: string;
  cost: number;
}

export interface CostEstimate {
  stack: string;
  stage: string;
  region: string;
  traffic: TrafficAssumptions;
  routes: RouteTraffic[];
  lambda: LambdaCostLine[];
  services: ServiceCostLine[];
  /** The sum of every line's cost, unrounded. */
  total: number;
  /** The model's assumptions and what is left out, one sentence each. */
  notes: string[];
}

export interface EstimateContext {
  /** All regions of the stage, to say that each region stack is estimated on its own. */
  stageRegions?: string[];
}

const TYPES = {
  function: "aws:lambda/function:Function",
  provisionedConcurrency: "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
  restApi: "aws:apigateway/restApi:RestApi",
  apiResource: "aws:apigateway/resource:Resource",
  integration: "aws:apigateway/integration:Integration",
  table: "aws:dynamodb/table:Table",
} as const;

const ofType = (plan: PlanResult, type: string) => plan.resources.filter((r) => r.type === type);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** The function name in a name, a function ARN (qualified or not) or an integration URI. */
function functionNameOf(reference: string): string {
  const arn = /functions\/(arn:[^/]+)\/invocations/.exec(reference)?.[1] ?? reference;
  const parts = arn.split(":");
  return arn.startsWith("arn:") && parts[5] === "function" ? parts[6] : arn;
}

/** `/users/{userId}` for an API Gateway resource id, from the planned resources' path parts. */
function resourcePaths(plan: PlanResult): (resourceId: string) => string {
  const byId = new Map<string, RecordedResource>();
  for (const resource of ofType(plan, TYPES.apiResource)) {
    if (resource.id) byId.set(resource.id, resource);
  }
  const pathOf = (id: string, seen: Set<string>): string => {
    const resource = byId.get(id);
    if (!resource || seen.has(id)) return "";
    seen.add(id);
    return `${pathOf(String(resource.inputs.parentId), seen)}/${resource.inputs.pathPart}`;
  };
  return (resourceId) => pathOf(resourceId, new Set()) || "/";
}

/** Splits `total` as evenly as whole numbers allow: the first `total % count` parts get one more. */
function splitEvenly(total: number, count: number): number[] {
  if (!Number.isInteger(total)) return Array.from({ length: count }, () => total / count);
  const base = Math.floor(total / count);
  const remainder = total - base * count;
  return Array.from({ length: count }, (_, index) => base + (index < remainder ? 1 : 0));
}

const SQS_NOTE = "three requests per message (send, receive, delete; batching would lower it)";

const perMillion = (quantity: number, price: number) => (quantity / 1_000_000) * price;

/**
 * The routes of the plan's REST APIs in route order (method, then path), with the traffic the model
 * gives each: the split's remainder goes to the first, whatever order the plan lists them in.
 */
function planRoutes(plan: PlanResult, traffic: TrafficAssumptions): RouteTraffic[] {
  const pathOf = resourcePaths(plan);
  const routes = ofType(plan, TYPES.integration).map((integration) => {
    const uri = text(integration.inputs.uri) ?? "";
    const route = `${String(integration.inputs.httpMethod).toUpperCase()} ${pathOf(String(integration.inputs.resourceId))}`;
    const model = routeModel(route);
    return {
      route,
      functionName: uri.includes(":lambda:path/") ? functionNameOf(uri) : undefined,
      carriesTraffic: model.carriesTraffic,
      requests: 0,
      readUnitsPerRequest: model.readUnits,
      writeUnitsPerRequest: model.writeUnits,
      reason: model.reason,
    };
  });
  routes.sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
  const carrying = routes.filter((route) => route.carriesTraffic);
  if (carrying.length > 0) {
    splitEvenly(traffic.monthlyRequests, carrying.length).forEach((requests, index) => {
      carrying[index].requests = requests;
    });
  }
  return routes;
}

/**
 * The monthly cost of a planned stack: one line per Lambda function (its routes' share of the
 * requests, its memory and architecture, its provisioned concurrency), the REST API's requests,
 * and the on-demand DynamoDB request units the routes consume, with the total.
 */
export function estimatePlan(
  plan: PlanResult,
  traffic: TrafficAssumptions,
  context: EstimateContext = {},
): CostEstimate {
  requireNonNegative("monthlyRequests", traffic.monthlyRequests);
  requireNonNegative("averageDurationMs", traffic.averageDurationMs);
  const routes = planRoutes(plan, traffic);
  const carrying = routes.filter((route) => route.carriesTraffic).length;
  const events = estimateEventSources(plan, carrying > 0 ? traffic.monthlyRequests / carrying : 0);

  const provisioned = new Map<string, number>();
  for (const config of ofType(plan, TYPES.provisionedConcurrency)) {
    const name = functionNameOf(String(config.inputs.functionName));
    const executions = Number(config.inputs.provisionedConcurrentExecutions ?? 0);
    provisioned.set(name, (provisioned.get(name) ?? 0) + executions);
  }

  const lambda: LambdaCostLine[] = ofType(plan, TYPES.function).map((fn) => {
    const functionName = text(fn.inputs.name) ?? text(fn.outputs.name) ?? fn.name;
    const memoryMb = Number(fn.inputs.memorySize ?? 128);
    const architecture: Architecture =
      (fn.inputs.architectures as unknown[] | undefined)?.[0] === "arm64" ? "arm64" : "x86_64";
    const served = routes.filter((route) => route.functionName === functionName);
    const provisionedConcurrency = provisioned.get(functionName) ?? 0;
    const triggered = events.invocations.get(functionName);
    const cost = estimateLambda({
      memoryMb,
      architecture,
      requests: served.reduce((sum, route) => sum + route.requests, 0) + (triggered?.count ?? 0),
      averageDurationMs: traffic.averageDurationMs,
      provisionedConcurrency,
    });
    return {
      functionName,
      memoryMb,
      architecture,
      provisionedConcurrency,
      routes: served.map((route) => route.route),
      triggers: triggered?.triggers ?? [],
      ...cost,
    };
  });

  const services: ServiceCostLine[] = [];
  const apiRequests = routes.reduce((sum, route) => sum + route.requests, 0);
  if (ofType(plan, TYPES.restApi).length > 0) {
    services.push({
      service: "API Gateway",
      item: "REST API requests",
      quantity: apiRequests,
      unit: "requests",
      price: `$${PRICES.apiGateway.restPerMillionRequests.toFixed(2)} per million`,
      cost: perMillion(apiRequests, PRICES.apiGateway.restPerMillionRequests),
    });
  }
  const onDemandTables = ofType(plan, TYPES.table).filter((t) => t.inputs.billingMode === "PAY_PER_REQUEST");
  if (onDemandTables.length > 0) {
    const readUnits = routes.reduce((sum, route) => sum + route.requests * route.readUnitsPerRequest, 0);
    const writeUnits = routes.reduce((sum, route) => sum + route.requests * route.writeUnitsPerRequest, 0);
    services.push(
      {
        service: "DynamoDB",
        item: "on-demand read request units",
        quantity: readUnits,
        unit: "RRU",
        price: `$${PRICES.dynamodb.onDemandPerMillionReadUnits} per million`,
        cost: perMillion(readUnits, PRICES.dynamodb.onDemandPerMillionReadUnits),
      },
      {
        service: "DynamoDB",
        item: "on-demand write request units",
        quantity: writeUnits,
        unit: "WRU",
        price: `$${PRICES.dynamodb.onDemandPerMillionWriteUnits} per million`,
        cost: perMillion(writeUnits, PRICES.dynamodb.onDemandPerMillionWriteUnits),
      },
    );
  }

  services.push(...events.lines);

  const total =
    lambda.reduce((sum, line) => sum + line.cost, 0) + services.reduce((sum, line) => sum + line.cost, 0);
  return {
    stack: plan.stack,
    stage: plan.stage,
    region: plan.region,
    traffic: { ...traffic },
    routes,
    lambda,
    services,
    total,
    notes: modelNotes(plan, routes, lambda, services, context),
  };
}

function modelNotes(
  plan: PlanResult,
  routes: RouteTraffic[],
  lambda: LambdaCostLine[],
  services: ServiceCostLine[],
  context: EstimateContext,
): string[] {
  const carrying = routes.filter((route) => route.carriesTraffic).length;
  const left = routes.filter((route) => !route.carriesTraffic).map((route) => route.route);
  const notes = [
    `Requests are split evenly over the ${carrying} API routes that carry traffic` +
      (left.length > 0 ? ` (${left.join(", ")} left out: deployment checks only)` : "") +
      "; each request invokes one function for the average duration.",
    "Prices are us-east-1 list prices (automation/cost/prices.ts): no free tier, Savings Plans or taxes; API Gateway at its first tier (up to 333 million requests).",
  ];
  if (lambda.some((line) => line.provisionedConcurrency > 0)) {
    notes.push(
      `Provisioned concurrency is billed for all ${PRICES.hoursPerMonth} hours of the month; invocations on it are charged the usual request and duration prices, as in the guide (AWS charges a lower duration rate for them, so this is an upper bound).`,
    );
  }
  if (services.some((line) => line.service === "SQS" || line.service === "DynamoDB Streams")) {
    notes.push(
      `Event sources: ${EVENT_SOURCE_ASSUMPTION}; their consumers are invoked once per batch (the mapping's batch size), SQS is charged ${SQS_NOTE}, and Lambda's idle long polling of a queue is left out.`,
    );
  }
  if (lambda.some((line) => line.routes.length === 0 && line.triggers.length === 0)) {
    notes.push(
      "Functions without an API route, queue, stream or schedule (e.g. CodeDeploy hooks) get no requests: they run a few times per deployment.",
    );
  }
  if (context.stageRegions && context.stageRegions.length > 1) {
    notes.push(
      `The traffic assumption is taken as this ${plan.region} stack's own; stage ${plan.stage} has ${context.stageRegions.length} region stacks (${context.stageRegions.join(", ")}), each estimated alone and each paying its own provisioned concurrency.`,
    );
  }
  notes.push(
    "Not included: CloudWatch Logs, alarms and dashboard, X-Ray, KMS keys, DynamoDB storage and backups, data transfer.",
  );
  return notes;
}
