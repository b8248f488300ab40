/**
 * What the local cloud runs, read from a stack's offline plan: the same resource graph `pulumi up`
 * would create, not a second description of the stack. Tables from `aws:dynamodb/table:Table`,
 * functions from `aws:lambda/function:Function` (their archives as the plan recorded them), and the
 * REST API from its resources, methods, `AWS_PROXY` integrations, stage and method settings, EventBridge
 * Scheduler schedules from `aws:scheduler/schedule:Schedule` (their target resolved to a function).
 */
import type { RecordedResource } from "../plan/mocks";
import type { PlanResult } from "../plan/types";

export interface LocalTable {
  name: string;
  hashKey: string;
  rangeKey?: string;
  attributes: { name: string; type: "S" | "N" | "B" }[];
  globalSecondaryIndexes: { name: string; hashKey: string; rangeKey?: string; projectionType: string }[];
  ttlAttribute?: string;
  streamViewType?: string;
}

export interface LocalFunction {
  /** The physical name (`platform-dev-users-get`), as callers and logs know it. */
  name: string;
  /** The logical name in the program (`users-get`). */
  logicalName: string;
  /** `index.handler` -> module `index.mjs` (or .js/.cjs), export `handler`. */
  handler: string;
  /** Archive file name -> sha256 of its content (kept by the plan in its asset folder). */
  files: Record<string, string>;
  environment: Record<string, string>;
  memoryMb: number;
  timeoutSeconds: number;
  architecture: string;
  runtime: string;
  /** Provisioned concurrency on the qualifier callers invoke (environments initialized ahead). */
  provisionedConcurrency?: number;
  /** The queue (its name) of the function's `DeadLetterConfig`: asynchronous events Lambda gave up on. */
  deadLetterQueueName?: string;
}

/** How API Gateway authorizes a method: `NONE`, `AWS_IAM`, or an API key on top of either. */
export interface LocalRoute {
  /** The resource path template (`/users/{userId}`). */
  resource: string;
  /** `GET`, `POST`, ..., or `ANY`. */
  method: string;
  authorization: string;
  apiKeyRequired: boolean;
  /** The physical function name the `AWS_PROXY` integration invokes. */
  functionName: string;
  /** The qualifier the integration names (`live`), if any. */
  qualifier?: string;
}

export interface LocalApi {
  restApiId: string;
  name: string;
  stageName: string;
  routes: LocalRoute[];
  /** Requests per second and burst, from the stage's method settings (`*\/*`). */
  throttle?: { rateLimit: number; burstLimit: number };
  binaryMediaTypes: string[];
}

export interface LocalQueue {
  name: string;
  arn: string;
  visibilityTimeoutSeconds: number;
  /** Where a message goes once received `maxReceiveCount` times. */
  redrive?: { deadLetterTargetArn: string; maxReceiveCount: number };
}

/** An event source mapping from a queue to a function (its physical name). */
export interface LocalQueueMapping {
  eventSourceArn: string;
  functionName: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
}

/** An event source mapping from a table's stream to a function (its physical name). */
export interface LocalStreamMapping {
  eventSourceArn: string;
  tableName: string;
  functionName: string;
  batchSize: number;
  reportBatchItemFailures: boolean;
  maximumRetryAttempts: number;
  /** The queue a batch goes to once its retries are spent. */
  onFailureQueueName?: string;
}

/** An EventBridge Scheduler schedule, as planned (its expression is parsed by the scheduler). */
export interface LocalSchedule {
  /** The physical name (`platform-dev-orders-reconcile-schedule`). */
  name: string;
  groupName: string;
  /** `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>`, as Scheduler reports it. */
  arn: string;
  /** `rate(...)`, `cron(...)` or `at(...)`, as planned. */
  expression: string;
  /** IANA time zone of `cron` and `at` expressions. @default "UTC" */
  timezone: string;
  state: "ENABLED" | "DISABLED";
  /** ISO 8601 instants bounding the invocations, if planned. */
  startDate?: string;
  endDate?: string;
  targetArn: string;
  /** The physical name of the function the target invokes; absent for a target other than Lambda. */
  functionName?: string;
  /** The alias or version the target names (`live`), if any. */
  qualifier?: string;
  /** `target.input` as planned (JSON text); absent, Scheduler sends its default notification. */
  input?: string;
  /** How long and how often Scheduler retries an event it could not deliver. @default 185 attempts, 86400 s */
  retryPolicy: { maximumRetryAttempts: number; maximumEventAgeSeconds: number };
  /** The queue (its name) an undeliverable event goes to once the retries are spent. */
  deadLetterQueueName?: string;
}

/**
 * How Lambda handles a function's asynchronous invocations (a schedule's, for the local cloud):
 * `aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig`, or Lambda's defaults.
 */
export interface LocalEventInvokeConfig {
  functionName: string;
  qualifier?: string;
  /** Retries of a run that failed. @default 2 */
  maximumRetryAttempts: number;
  /** @default 21600 */
  maximumEventAgeSeconds: number;
  /** The queue (its name) a record of the failed event goes to once the retries are spent. */
  onFailureQueueName?: string;
}

export interface LocalModel {
  stack: string;
  stage: string;
  region: string;
  accountId: string;
  tables: LocalTable[];
  functions: LocalFunction[];
  apis: LocalApi[];
  queues: LocalQueue[];
  queueMappings: LocalQueueMapping[];
  streamMappings: LocalStreamMapping[];
  schedules: LocalSchedule[];
  eventInvokeConfigs: LocalEventInvokeConfig[];
}

const ofType = (plan: PlanResult, type: string) => plan.resources.filter((r) => r.type === type);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const num = (value: unknown): number | undefined => (typeof value === "number" ? value : undefined);

/**
 * The physical function name and qualifier of a function ARN (`arn:aws:lambda:...:function:<name>`),
 * an alias ARN (`...:function:<name>:live`), or a plain name: what an event source or target names.
 */
export function functionOf(arnOrName: string): { functionName: string; qualifier?: string } {
  const [functionName, qualifier] = arnOrName.replace(/^arn:aws:lambda:[^:]+:\d+:function:/, "").split(":");
  return { functionName, qualifier };
}

/** The queue name of an SQS queue ARN, or none for another ARN. */
const queueNameOf = (arn: unknown): string | undefined =>
  typeof arn === "string" && arn.startsWith("arn:aws:sqs:") ? arn.split(":").pop() : undefined;

/** Builds the local model of a planned stack. */
export function localModel(plan: PlanResult): LocalModel {
  return {
    stack: plan.stack,
    stage: plan.stage,
    region: plan.region,
    accountId: plan.accountId,
    tables: ofType(plan, "aws:dynamodb/table:Table").map(table),
    functions: ofType(plan, "aws:lambda/function:Function").map((fn) => {
      const local = lambdaFunction(fn);
      const provisioned = ofType(
        plan,
        "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig",
      ).find((config) => config.inputs.functionName === local.name);
      const count = num(provisioned?.inputs.provisionedConcurrentExecutions);
      return count ? { ...local, provisionedConcurrency: count } : local;
    }),
    apis: ofType(plan, "aws:apigateway/restApi:RestApi").map((api) => restApi(plan, api)),
    queues: ofType(plan, "aws:sqs/queue:Queue").map((queue) => {
      const name = str(queue.outputs.name) ?? queue.name;
      const redrive =
        typeof queue.inputs.redrivePolicy === "string" ? JSON.parse(queue.inputs.redrivePolicy) : undefined;
      return {
        name,
        arn: str(queue.outputs.arn) ?? `arn:aws:sqs:${plan.region}:${plan.accountId}:${name}`,
        visibilityTimeoutSeconds: num(queue.inputs.visibilityTimeoutSeconds) ?? 30,
        redrive: redrive
          ? {
              deadLetterTargetArn: String(redrive.deadLetterTargetArn),
              maxReceiveCount: Number(redrive.maxReceiveCount),
            }
          : undefined,
      };
    }),
    queueMappings: ofType(plan, "aws:lambda/eventSourceMapping:EventSourceMapping")
      .filter((mapping) => String(mapping.inputs.eventSourceArn).startsWith("arn:aws:sqs:"))
      .map((mapping) => ({
        eventSourceArn: String(mapping.inputs.eventSourceArn),
        // An alias ARN (`...:function:<name>:live`) or a name.
        functionName: functionOf(String(mapping.inputs.functionName)).functionName,
        batchSize: num(mapping.inputs.batchSize) ?? 10,
        reportBatchItemFailures: (
          (mapping.inputs.functionResponseTypes as string[] | undefined) ?? []
        ).includes("ReportBatchItemFailures"),
      })),
    streamMappings: ofType(plan, "aws:lambda/eventSourceMapping:EventSourceMapping").flatMap(streamMapping),
    schedules: ofType(plan, "aws:scheduler/schedule:Schedule").map((resource) => schedule(plan, resource)),
    eventInvokeConfigs: ofType(plan, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").map(
      (resource) => {
        const inputs = resource.outputs;
        const target = functionOf(String(inputs.functionName));
        const onFailure = (inputs.destinationConfig as { onFailure?: { destination?: string } } | undefined)
          ?.onFailure?.destination;
        return {
          functionName: target.functionName,
          qualifier: str(inputs.qualifier) ?? target.qualifier,
          maximumRetryAttempts: num(inputs.maximumRetryAttempts) ?? 2,
          maximumEventAgeSeconds: num(inputs.maximumEventAgeInSeconds) ?? 21600,
          onFailureQueueName: queueNameOf(onFailure),
        };
      },
    ),
  };
}

function schedule(plan: PlanResult, resource: RecordedResource): LocalSchedule {
  const inputs = resource.outputs;
  const name = str(inputs.name) ?? resource.name;
  const groupName = str(inputs.groupName) ?? "default";
  const target = (inputs.target ?? {}) as {
    arn?: string;
    input?: string;
    retryPolicy?: { maximumRetryAttempts?: number; maximumEventAgeInSeconds?: number };
    deadLetterConfig?: { arn?: string };
  };
  const targetArn = String(target.arn ?? "");
  const lambda = /^arn:aws:lambda:[^:]+:\d+:function:/.test(targetArn) ? functionOf(targetArn) : undefined;
  return {
    name,
    groupName,
    // Scheduler's own form; the offline plan's mock ARN leaves out `schedule/<group>/`.
    arn: `arn:aws:scheduler:${plan.region}:${plan.accountId}:schedule/${groupName}/${name}`,
    expression: String(inputs.scheduleExpression ?? ""),
    timezone: str(inputs.scheduleExpressionTimezone) ?? "UTC",
    state: inputs.state === "DISABLED" ? "DISABLED" : "ENABLED",
    startDate: str(inputs.startDate),
    endDate: str(inputs.endDate),
    targetArn,
    functionName: lambda?.functionName,
    qualifier: lambda?.qualifier,
    input: str(target.input),
    retryPolicy: {
      maximumRetryAttempts: num(target.retryPolicy?.maximumRetryAttempts) ?? 185,
      maximumEventAgeSeconds: num(target.retryPolicy?.maximumEventAgeInSeconds) ?? 86400,
    },
    deadLetterQueueName: queueNameOf(target.deadLetterConfig?.arn),
  };
}

/** A mapping from a table's stream (`arn:...:table/<name>/stream/<label>`), or none for other sources. */
function streamMapping(mapping: RecordedResource): LocalStreamMapping[] {
  const inputs = mapping.inputs;
  const table = /^arn:aws:dynamodb:[^:]+:\d+:table\/([^/]+)\/stream\//.exec(
    String(inputs.eventSourceArn),
  )?.[1];
  if (!table) return [];
  const onFailure = (inputs.destinationConfig as { onFailure?: { destinationArn?: string } } | undefined)
    ?.onFailure?.destinationArn;
  return [
    {
      eventSourceArn: String(inputs.eventSourceArn),
      tableName: table,
      functionName: functionOf(String(inputs.functionName)).functionName,
      batchSize: num(inputs.batchSize) ?? 100,
      reportBatchItemFailures: ((inputs.functionResponseTypes as string[] | undefined) ?? []).includes(
        "ReportBatchItemFailures",
      ),
      maximumRetryAttempts: num(inputs.maximumRetryAttempts) ?? 3,
      onFailureQueueName: queueNameOf(onFailure),
    },
  ];
}

function table(resource: RecordedResource): LocalTable {
  const inputs = resource.outputs;
  const name = str(inputs.name) ?? resource.id ?? resource.name;
  const hashKey = str(inputs.hashKey);
  if (!hashKey) throw new Error(`table ${name} has no hashKey in the plan`);
  const attributes = ((inputs.attributes as { name: string; type: "S" | "N" | "B" }[] | undefined) ?? []).map(
    (a) => ({ name: a.name, type: a.type }),
  );
  const gsis = (inputs.globalSecondaryIndexes as Record<string, unknown>[] | undefined) ?? [];
  const ttl = inputs.ttl as { attributeName?: string; enabled?: boolean } | undefined;
  return {
    name,
    hashKey,
    rangeKey: str(inputs.rangeKey),
    attributes,
    globalSecondaryIndexes: gsis.map((gsi) => ({
      name: String(gsi.name),
      hashKey: String(gsi.hashKey),
      rangeKey: str(gsi.rangeKey),
      projectionType: str(gsi.projectionType) ?? "ALL",
    })),
    ttlAttribute: ttl?.enabled ? ttl.attributeName : undefined,
    streamViewType: inputs.streamEnabled ? str(inputs.streamViewType) : undefined,
  };
}

function lambdaFunction(resource: RecordedResource): LocalFunction {
  const inputs = resource.outputs;
  const name = str(inputs.name) ?? resource.id ?? resource.name;
  const code = inputs.code as { $archive?: Record<string, { sha256?: string }> } | undefined;
  const files: Record<string, string> = {};
  for (const [file, description] of Object.entries(code?.$archive ?? {})) {
    if (description?.sha256) files[file] = description.sha256;
  }
  if (Object.keys(files).length === 0) {
    throw new Error(
      `function ${name} has no inline archive in the plan: the local cloud runs only bundled code`,
    );
  }
  const variables =
    (inputs.environment as { variables?: Record<string, unknown> } | undefined)?.variables ?? {};
  return {
    name,
    logicalName: resource.name,
    handler: str(inputs.handler) ?? "index.handler",
    files,
    environment: Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, String(value)])),
    memoryMb: num(inputs.memorySize) ?? 128,
    timeoutSeconds: num(inputs.timeout) ?? 3,
    architecture: (inputs.architectures as string[] | undefined)?.[0] ?? "x86_64",
    runtime: str(inputs.runtime) ?? "nodejs22.x",
    ...deadLetterQueue(inputs.deadLetterConfig),
  };
}

function deadLetterQueue(config: unknown): Pick<LocalFunction, "deadLetterQueueName"> {
  const queueName = queueNameOf((config as { targetArn?: unknown } | undefined)?.targetArn);
  return queueName ? { deadLetterQueueName: queueName } : {};
}

/** `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations`. */
export function integrationTarget(uri: string): { functionName: string; qualifier?: string } | undefined {
  const match = /:function:([A-Za-z0-9_-]+)(?::([A-Za-z0-9_$-]+))?\/invocations$/.exec(uri);
  return match ? { functionName: match[1], qualifier: match[2] } : undefined;
}

function restApi(plan: PlanResult, api: RecordedResource): LocalApi {
  const restApiId = api.id ?? api.name;
  const sameApi = (r: RecordedResource) => r.inputs.restApi === restApiId;
  const rootId = str(api.outputs.rootResourceId);
  const nodes = new Map<string, { parentId?: string; pathPart: string }>();
  for (const resource of ofType(plan, "aws:apigateway/resource:Resource").filter(sameApi)) {
    if (resource.id)
      nodes.set(resource.id, {
        parentId: str(resource.inputs.parentId),
        pathPart: String(resource.inputs.pathPart),
      });
  }
  const pathOf = (resourceId: string, seen = new Set<string>()): string => {
    if (resourceId === rootId) return "/";
    const node = nodes.get(resourceId);
    if (!node || seen.has(resourceId))
      throw new Error(`API ${restApiId}: resource ${resourceId} is not in the plan's tree`);
    seen.add(resourceId);
    const parent = node.parentId ? pathOf(node.parentId, seen) : "/";
    return `${parent === "/" ? "" : parent}/${node.pathPart}`;
  };

  const methods = ofType(plan, "aws:apigateway/method:Method").filter(sameApi);
  const routes: LocalRoute[] = [];
  for (const integration of ofType(plan, "aws:apigateway/integration:Integration").filter(sameApi)) {
    if (integration.inputs.type !== "AWS_PROXY") continue;
    const resourceId = String(integration.inputs.resourceId);
    const httpMethod = String(integration.inputs.httpMethod);
    const target = integrationTarget(String(integration.inputs.uri ?? ""));
    if (!target) continue;
    const method = methods.find(
      (m) => m.inputs.resourceId === resourceId && m.inputs.httpMethod === httpMethod,
    );
    routes.push({
      resource: pathOf(resourceId),
      method: httpMethod,
      authorization: str(method?.inputs.authorization) ?? "NONE",
      apiKeyRequired: method?.inputs.apiKeyRequired === true,
      functionName: target.functionName,
      qualifier: target.qualifier,
    });
  }

  const stage = ofType(plan, "aws:apigateway/stage:Stage").find(sameApi);
  const settings = ofType(plan, "aws:apigateway/methodSettings:MethodSettings").find(
    (r) => sameApi(r) && r.inputs.methodPath === "*/*",
  );
  const throttle = settings?.inputs.settings as
    | { throttlingRateLimit?: number; throttlingBurstLimit?: number }
    | undefined;
  return {
    restApiId,
    name: str(api.inputs.name) ?? api.name,
    stageName: str(stage?.inputs.stageName) ?? plan.stage,
    routes,
    throttle:
      throttle?.throttlingRateLimit !== undefined && throttle.throttlingBurstLimit !== undefined
        ? { rateLimit: throttle.throttlingRateLimit, burstLimit: throttle.throttlingBurstLimit }
        : undefined,
    binaryMediaTypes: (api.inputs.binaryMediaTypes as string[] | undefined) ?? [],
  };
}
