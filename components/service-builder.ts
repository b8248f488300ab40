import type * as pulumi from "@pulumi/pulumi";
import type {
  FunctionDeclaration,
  ServiceDeclaration,
  TableDeclaration,
} from "../functions/shared/service-declaration";
import type { SmokeTest } from "./canary-deployment";
import { DataTable } from "./data-table";
import type { MonitoredFunction } from "./monitoring";
import type { NamingContext } from "./naming";
import type { Route } from "./serverless-api";
import { ServerlessFunction } from "./serverless-function";
import { ServiceQueue } from "./service-queue";
import { ServiceSchedule } from "./service-schedule";
import { ServiceSecrets } from "./service-secrets";
import { StreamSubscription } from "./service-stream";
import type { Settings } from "./settings";

/** `orders` + `webhook-key` -> `WEBHOOK_KEY`: the default environment variable stem of a resource key. */
export function envName(key: string): string {
  return key.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** The idempotency table's attributes, as Powertools' DynamoDBPersistenceLayer expects by default. */
export const IDEMPOTENCY_TABLE = { keyAttribute: "id", expiryAttribute: "expiration" } as const;

/**
 * A table's logical name: `<service>-table` for the table named like its service (so the users table
 * keeps the name it had before services were declared), `<service>-<table>-table` otherwise.
 */
export function tableLogicalName(service: string, table: string): string {
  return table === service ? `${service}-table` : `${service}-${table}-table`;
}

/** What one service contributes to the platform once built. */
export interface BuiltService {
  /** Its functions, by key relative to the platform (see `functionKey`). */
  functions: Record<string, ServerlessFunction>;
  /** Its tables, by the declaration's key. */
  tables: Record<string, DataTable>;
  /** HTTP routes by `METHOD /path`, for the shared API or the service's own. */
  routes: Record<string, Route>;
  smokeTests: Record<string, SmokeTest>;
  monitored: MonitoredFunction[];
  /** Its queues, by the declaration's key: the platform adds their alarms once the alert topic exists. */
  queues: Record<string, ServiceQueue>;
  /** Stream subscriptions, schedules, ...: the platform adds their alarms once the alert topic exists. */
  alarmSources: AlarmSource[];
}

/** A piece whose alarms need the alert topic, which exists only after every service is built. */
export interface AlarmSource {
  createAlarms(topicArn: pulumi.Input<string>): unknown;
}

export interface BuildContext {
  parent: pulumi.Resource;
  /** The platform's logical name: functions of the service named alike keep bare keys. */
  platformName: string;
  naming: NamingContext;
  settings: Settings;
}

/**
 * A function's key in the platform's `functions` and the `functionNames` output: its logical name
 * relative to the platform (`get` for `users-get` in platform `users`, `orders-create` otherwise).
 */
export function functionKey(platformName: string, service: string, fn: string): string {
  return service === platformName ? fn : `${service}-${fn}`;
}

/** Builds a declared service's tables and functions, with their grants, as children of `ctx.parent`. */
export function buildService(service: ServiceDeclaration, ctx: BuildContext): BuiltService {
  const { naming, settings } = ctx;
  const opts = { parent: ctx.parent };
  const built: BuiltService = {
    functions: {},
    tables: {},
    routes: {},
    smokeTests: {},
    monitored: [],
    queues: {},
    alarmSources: [],
  };
  const timeoutOf = (declaration: FunctionDeclaration) =>
    declaration.timeoutSeconds ?? service.overrides?.timeoutSeconds ?? settings.lambda.timeoutSeconds;

  const tableArgs = (table: TableDeclaration) => ({
    naming,
    hashKey: table.hashKey,
    rangeKey: table.rangeKey,
    attributes: table.attributes,
    globalSecondaryIndexes: table.globalSecondaryIndexes,
    ttlAttribute: table.ttlAttribute,
    stream: table.stream,
    encryption: settings.table.encryption,
    deletionProtection: settings.table.deletionProtection,
    pointInTimeRecovery: true,
  });
  for (const [key, table] of Object.entries(service.tables ?? {})) {
    built.tables[key] = new DataTable(tableLogicalName(service.name, key), tableArgs(table), opts);
  }
  const idempotent = Object.values(service.functions).some(
    (fn) => fn.trigger.type === "http" && fn.trigger.idempotent,
  );
  // Powertools keeps one record per request key until `expiration`; TTL deletes them after it.
  const idempotencyTable = idempotent
    ? new DataTable(
        `${service.name}-idempotency-table`,
        tableArgs({
          hashKey: { name: IDEMPOTENCY_TABLE.keyAttribute, type: "S" },
          ttlAttribute: IDEMPOTENCY_TABLE.expiryAttribute,
        }),
        opts,
      )
    : undefined;

  for (const [key, queue] of Object.entries(service.queues ?? {})) {
    const consumers = Object.values(service.functions).filter(
      (fn) => fn.trigger.type === "queue" && fn.trigger.queue === key,
    );
    built.queues[key] = new ServiceQueue(
      `${service.name}-${key}`,
      {
        naming,
        consumerTimeoutSeconds: Math.max(settings.lambda.timeoutSeconds, ...consumers.map(timeoutOf)),
        maxReceiveCount: queue.maxReceiveCount,
      },
      opts,
    );
  }

  const secretKeys = new Set(Object.values(service.functions).flatMap((fn) => fn.access?.secrets ?? []));
  const secrets =
    secretKeys.size > 0
      ? new ServiceSecrets(
          `${service.name}-secrets`,
          {
            naming,
            parameters: Object.fromEntries(
              [...secretKeys].map((secret) => [secret, service.secrets?.[secret]?.parameter ?? ""]),
            ),
          },
          opts,
        )
      : undefined;

  for (const [name, declaration] of Object.entries(service.functions)) {
    const key = functionKey(ctx.platformName, service.name, name);
    const environment: Record<string, pulumi.Input<string>> = {};
    for (const table of Object.keys(declaration.access?.tables ?? {})) {
      const tableDeclaration = service.tables?.[table];
      environment[tableDeclaration?.env ?? `${envName(table)}_TABLE_NAME`] = built.tables[table].name;
    }
    const usesIdempotency = declaration.trigger.type === "http" && declaration.trigger.idempotent;
    if (usesIdempotency && idempotencyTable) environment.IDEMPOTENCY_TABLE_NAME = idempotencyTable.name;
    for (const queue of declaration.access?.sendTo ?? []) {
      environment[service.queues?.[queue]?.env ?? `${envName(queue)}_QUEUE_URL`] = built.queues[queue].url;
    }

    // The parameter's NAME only: the handler reads the value at run time (secrets only by reference).
    for (const secret of declaration.access?.secrets ?? []) {
      environment[service.secrets?.[secret]?.env ?? `${envName(secret)}_PARAMETER_NAME`] =
        service.secrets?.[secret]?.parameter ?? "";
    }

    const provisioned =
      declaration.provisionedConcurrency ??
      service.overrides?.provisionedConcurrency ??
      // Only request/response functions wait on a cold start; event consumers do not need warm copies.
      (declaration.trigger.type === "http" ? settings.lambda.provisionedConcurrency : 0);
    const fn = new ServerlessFunction(
      `${service.name}-${name}`,
      {
        naming,
        entry: declaration.handler,
        memoryMb: declaration.memoryMb ?? service.overrides?.memoryMb ?? settings.lambda.memoryMb,
        timeoutSeconds:
          declaration.timeoutSeconds ?? service.overrides?.timeoutSeconds ?? settings.lambda.timeoutSeconds,
        logRetentionDays: settings.logRetentionDays,
        architecture: settings.lambda.architecture,
        runtime: settings.lambda.runtime,
        provisionedConcurrency: provisioned,
        lambdaInsightsLayerArn: settings.monitoring.lambdaInsightsLayerArn,
        // CodeDeploy moves the live alias; Pulumi only creates it.
        trafficShiftedByCodeDeploy: true,
        environment,
      },
      opts,
    );
    for (const [table, access] of Object.entries(declaration.access?.tables ?? {})) {
      const dataTable = built.tables[table];
      if (access === "read") dataTable.grantRead(fn);
      else if (access === "write") dataTable.grantWrite(fn);
      else dataTable.grantReadWrite(fn);
    }
    // Powertools reads, writes, updates and deletes its records (GetItem/PutItem/UpdateItem/DeleteItem).
    if (usesIdempotency && idempotencyTable) idempotencyTable.grantReadWrite(fn);
    for (const queue of declaration.access?.sendTo ?? []) built.queues[queue].grantSend(fn);
    for (const secret of declaration.access?.secrets ?? []) secrets?.grantRead(fn, secret);
    if (declaration.trigger.type === "queue") {
      built.queues[declaration.trigger.queue].subscribe(fn, {
        batchSize: declaration.trigger.batchSize,
        maxBatchingWindowSeconds: declaration.trigger.maxBatchingWindowSeconds,
      });
    }

    if (declaration.trigger.type === "stream") {
      built.alarmSources.push(
        new StreamSubscription(
          `${service.name}-${name}-stream`,
          {
            naming,
            table: built.tables[declaration.trigger.table],
            consumer: fn,
            batchSize: declaration.trigger.batchSize,
            maximumRetryAttempts: declaration.trigger.maximumRetryAttempts,
            maximumRecordAgeSeconds: declaration.trigger.maximumRecordAgeSeconds,
          },
          opts,
        ),
      );
    }

    if (declaration.trigger.type === "schedule") {
      built.alarmSources.push(
        new ServiceSchedule(
          `${service.name}-${name}-schedule`,
          {
            naming,
            target: fn,
            expression: declaration.trigger.expression,
            maximumRetryAttempts: declaration.trigger.maximumRetryAttempts,
            maximumEventAgeSeconds: declaration.trigger.maximumEventAgeSeconds,
          },
          opts,
        ),
      );
    }

    built.functions[key] = fn;
    const trigger = declaration.trigger;
    built.monitored.push({
      function: fn,
      streamConsumer: trigger.type === "stream",
      http: trigger.type === "http",
    });
    if (trigger.type === "http") {
      const [method, resource] = trigger.route.split(" ");
      built.routes[trigger.route] = { function: fn, auth: trigger.auth };
      // The hook sends what API Gateway would: the route's method and template, the smoke path.
      built.smokeTests[key] = { ...trigger.smoke, method, resource };
    }
  }
  return built;
}
