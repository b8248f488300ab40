import * as fs from "node:fs";
import * as path from "node:path";
import type { HttpTrigger, ServiceDeclaration } from "../functions/shared/service-declaration";
import type { SmokeTest } from "./canary-deployment";

/** Routes the platform itself serves on the shared API; no service may claim them. */
export const PLATFORM_ROUTES = ["GET /health"] as const;

const NAME = /^[a-z][a-z0-9-]{0,23}$/;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const SCHEDULE = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$/;

/** One HTTP route of a service, resolved: what the API and the canary smoke hook need. */
export interface ServiceRoute {
  service: string;
  /** The function's key in the service's `functions`. */
  function: string;
  handler: string;
  method: string;
  /** The route template (`/users/{userId}`). */
  resource: string;
  auth?: HttpTrigger["auth"];
  /** The smoke request with the route's method and template, as the hook sends it. */
  smoke: SmokeTest;
}

/** The service's HTTP routes, in declaration order. */
export function serviceRoutes(service: ServiceDeclaration): ServiceRoute[] {
  return Object.entries(service.functions).flatMap(([name, fn]) => {
    if (fn.trigger.type !== "http") return [];
    const [method, resource] = fn.trigger.route.split(" ");
    return [
      {
        service: service.name,
        function: name,
        handler: fn.handler,
        method,
        resource,
        auth: fn.trigger.auth,
        smoke: { ...fn.trigger.smoke, method, resource },
      },
    ];
  });
}

/** Does `path` (query string ignored) match the template, a `{param}` standing for one non-empty segment? */
export function pathMatches(template: string, requestPath: string): boolean {
  const segments = (p: string) => p.split("?")[0].split("/").filter(Boolean);
  const want = segments(template);
  const got = segments(requestPath);
  return (
    want.length === got.length &&
    want.every((segment, i) => (/^\{[^}]+\}$/.test(segment) ? got[i].length > 0 : segment === got[i]))
  );
}

/** `GET /users/{userId}` and `GET /users/{id}` are one route to API Gateway. */
function routeKey(method: string, template: string): string {
  return `${method} ${template.replace(/\{[^}]+\}/g, "{}")}`;
}

const list = (names: Iterable<string>) => [...names].join(", ") || "none";

/** One thing wrong with an event source mapping's settings: the field and what it must be. */
export interface MappingProblem {
  field: string;
  message: string;
}

/** Lambda's range for a batching window, on queues and streams alike. */
export const MAX_BATCHING_WINDOW_SECONDS = 300;
/** Lambda's largest batch from a standard SQS queue or a DynamoDB stream. */
export const MAX_BATCH_SIZE = 10000;
/** The largest SQS batch Lambda accepts without a batching window of at least 1 s. */
export const MAX_SQS_BATCH_WITHOUT_WINDOW = 10;

function integerProblem(field: string, value: number | undefined, min: number, max: number) {
  if (value === undefined || (Number.isInteger(value) && value >= min && value <= max)) return [];
  return [{ field, message: `must be an integer from ${min} to ${max} (got ${value})` }];
}

/**
 * What Lambda would refuse in an SQS mapping's batching (standard queues): a batch size of 1 to
 * 10000, a window of 0 to 300 s, and a window of at least 1 s for a batch size above 10
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html). Unset values are
 * Lambda's defaults (10 messages, no window).
 */
export function queueBatchingProblems(options: {
  batchSize?: number;
  maxBatchingWindowSeconds?: number;
}): MappingProblem[] {
  const { batchSize, maxBatchingWindowSeconds: window } = options;
  const problems = [
    ...integerProblem("batchSize", batchSize, 1, MAX_BATCH_SIZE),
    ...integerProblem("maxBatchingWindowSeconds", window, 0, MAX_BATCHING_WINDOW_SECONDS),
  ];
  if (
    problems.length === 0 &&
    batchSize !== undefined &&
    batchSize > MAX_SQS_BATCH_WITHOUT_WINDOW &&
    (window ?? 0) < 1
  ) {
    problems.push({
      field: "maxBatchingWindowSeconds",
      message: `must be from 1 to ${MAX_BATCHING_WINDOW_SECONDS} when batchSize is above ${MAX_SQS_BATCH_WITHOUT_WINDOW} (batchSize ${batchSize}, window ${window ?? 0}): Lambda refuses larger SQS batches without a batching window`,
    });
  }
  return problems;
}

/**
 * What Lambda (or the platform, stricter) would refuse in a DynamoDB stream mapping: a batch size
 * of 1 to 10000, retries of 0 to 10000 and a record age of 60 to 604800 s. Lambda also accepts -1
 * (unbounded) for both bounds; the platform does not, so that a poison record cannot block its shard
 * until it expires (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html).
 */
export function streamMappingProblems(options: {
  batchSize?: number;
  maximumRetryAttempts?: number;
  maximumRecordAgeSeconds?: number;
}): MappingProblem[] {
  return [
    ...integerProblem("batchSize", options.batchSize, 1, MAX_BATCH_SIZE),
    ...integerProblem("maximumRetryAttempts", options.maximumRetryAttempts, 0, 10000),
    ...integerProblem("maximumRecordAgeSeconds", options.maximumRecordAgeSeconds, 60, 604800),
  ];
}

/**
 * Checks every declaration before anything is created, and throws one error listing each problem
 * as `service <name>: <field>: <what is wrong>` (unknown handler files, access to a table, queue or
 * secret the service does not declare, a route claimed twice, a smoke request its route cannot
 * serve, ...).
 */
export function validateServices(services: readonly ServiceDeclaration[], projectRoot: string): void {
  const problems: string[] = [];
  const routeOwners = new Map<string, string>(
    PLATFORM_ROUTES.map((route) => [routeKey(...split(route)), "the platform"]),
  );
  const basePaths = new Map<string, string>();
  const seen = new Set<string>();

  for (const service of services) {
    const problem = (field: string, message: string) =>
      problems.push(`service ${service.name}: ${field}: ${message}`);
    if (!NAME.test(service.name)) {
      problem("name", "must be 1-24 lower-case letters, digits or dashes, starting with a letter");
    }
    if (seen.has(service.name)) problem("name", "is declared twice");
    seen.add(service.name);

    const tables = service.tables ?? {};
    const queues = service.queues ?? {};
    const secrets = service.secrets ?? {};
    const basePath = "basePath" in service.api ? service.api.basePath : undefined;
    if (basePath !== undefined) {
      if (!/^\/[a-z0-9-]+$/.test(basePath)) {
        problem("api.basePath", `must be one path segment like "/users" (got ${JSON.stringify(basePath)})`);
      } else if (basePaths.has(basePath)) {
        problem("api.basePath", `${basePath} is already the base path of service ${basePaths.get(basePath)}`);
      } else {
        basePaths.set(basePath, service.name);
      }
    }
    for (const [key, secret] of Object.entries(secrets)) {
      if (!/^\/[A-Za-z0-9_.\-/]+$/.test(secret.parameter)) {
        problem(
          `secrets.${key}.parameter`,
          `must be an SSM parameter name starting with "/" (got ${JSON.stringify(secret.parameter)})`,
        );
      }
    }
    for (const key of Object.keys(tables)) {
      if (!NAME.test(key))
        problem(`tables.${key}`, "table keys must be lower-case letters, digits or dashes");
    }
    if (Object.keys(service.functions).length === 0) problem("functions", "declares no function");

    for (const [name, fn] of Object.entries(service.functions)) {
      const field = `functions.${name}`;
      if (!NAME.test(name)) problem(field, "function names must be lower-case letters, digits or dashes");
      if (!fn.handler.startsWith("functions/") || !fs.existsSync(path.join(projectRoot, fn.handler))) {
        problem(`${field}.handler`, `no handler file ${JSON.stringify(fn.handler)} under functions/`);
      }
      for (const [table, access] of Object.entries(fn.access?.tables ?? {})) {
        if (!(table in tables)) {
          problem(
            `${field}.access.tables.${table}`,
            `the service has no table ${table} (its tables: ${list(Object.keys(tables))})`,
          );
        } else if (!["read", "write", "readWrite"].includes(access)) {
          problem(
            `${field}.access.tables.${table}`,
            `must be read, write or readWrite (got ${JSON.stringify(access)})`,
          );
        }
      }
      for (const queue of fn.access?.sendTo ?? []) {
        if (!(queue in queues)) {
          problem(
            `${field}.access.sendTo`,
            `the service has no queue ${queue} (its queues: ${list(Object.keys(queues))})`,
          );
        }
      }
      for (const secret of fn.access?.secrets ?? []) {
        if (!(secret in secrets)) {
          problem(
            `${field}.access.secrets`,
            `the service has no secret ${secret} (its secrets: ${list(Object.keys(secrets))})`,
          );
        }
      }

      const trigger = fn.trigger;
      switch (trigger.type) {
        case "http": {
          const [method, resource, extra] = trigger.route.split(" ");
          if (!METHODS.includes(method) || !resource?.startsWith("/") || extra !== undefined) {
            problem(
              `${field}.trigger.route`,
              `must be "METHOD /path" with METHOD one of ${METHODS.join(", ")} (got ${JSON.stringify(trigger.route)})`,
            );
            break;
          }
          if (basePath !== undefined && resource !== basePath && !resource.startsWith(`${basePath}/`)) {
            problem(
              `${field}.trigger.route`,
              `${trigger.route} is outside the service's base path ${basePath}`,
            );
          }
          const key = routeKey(method, resource);
          const owner = routeOwners.get(key);
          if (owner !== undefined) {
            problem(`${field}.trigger.route`, `${trigger.route} is already served by ${owner}`);
          } else {
            routeOwners.set(key, `service ${service.name} (function ${name})`);
          }
          if (!pathMatches(resource, trigger.smoke.path)) {
            problem(
              `${field}.trigger.smoke.path`,
              `${trigger.smoke.path} does not match the route ${trigger.route}`,
            );
          }
          break;
        }
        case "queue":
          if (!(trigger.queue in queues)) {
            problem(
              `${field}.trigger.queue`,
              `the service has no queue ${trigger.queue} (its queues: ${list(Object.keys(queues))})`,
            );
          }
          for (const wrong of queueBatchingProblems(trigger)) {
            problem(`${field}.trigger.${wrong.field}`, wrong.message);
          }
          break;
        case "stream": {
          const table = tables[trigger.table];
          if (table === undefined) {
            problem(
              `${field}.trigger.table`,
              `the service has no table ${trigger.table} (its tables: ${list(Object.keys(tables))})`,
            );
          } else if (table.stream === undefined) {
            problem(`${field}.trigger.table`, `table ${trigger.table} declares no stream`);
          }
          for (const wrong of streamMappingProblems(trigger)) {
            problem(`${field}.trigger.${wrong.field}`, wrong.message);
          }
          break;
        }
        case "schedule":
          if (!SCHEDULE.test(trigger.expression)) {
            problem(
              `${field}.trigger.expression`,
              `must be rate(N unit), cron(...) or at(...) (got ${JSON.stringify(trigger.expression)})`,
            );
          }
          break;
        default:
          problem(
            `${field}.trigger.type`,
            `must be http, queue, stream or schedule (got ${JSON.stringify((trigger as { type: unknown }).type)})`,
          );
      }
    }
  }
  if (problems.length > 0) throw new Error(`Invalid service declarations:\n  ${problems.join("\n  ")}`);
}

function split(route: string): [string, string] {
  const [method, resource] = route.split(" ");
  return [method, resource];
}
