/**
 * The local cloud of one stack: its offline plan served on this machine. Tables in an embedded
 * dynalite, functions in worker threads (their bundles exactly as the plan's archives hold them),
 * the REST API on loopback, queues, streams and schedules. `apply` brings it to a new plan (what
 * `up` does on the offline engine); `drift` says how it differs from one.
 */
import { randomBytes, randomUUID } from "node:crypto";
import * as path from "node:path";
import { PROJECT_DIR, planStack } from "../plan/plan";
import type { PlanResult } from "../plan/types";
import { type AsyncStep, LocalAsyncInvocations } from "./async-invoke";
import { LocalControlPlane } from "./control-plane";
import { FunctionPool, type InvokeResult, materializeCode } from "./functions";
import { LocalGateway, type RequestRecord } from "./gateway";
import { type LocalFunction, type LocalModel, localModel } from "./model";
import { LocalQueues } from "./queues";
import { LocalSchedules, type ScheduleClock, type ScheduleFiring, scheduleProblem } from "./schedules";
import { LocalStreams } from "./streams";
import { applyTables, LOCAL_CREDENTIALS, type LocalDynamoDb, startDynamoDb, tableDrift } from "./tables";

export interface LocalCloudOptions {
  stack: string;
  /** @default the project of this checkout */
  projectDir?: string;
  /** Port of the API; 0 picks a free one. @default 0 */
  port?: number;
  /** Keep table data in memory only (else under `<dataDir>/dynamodb`). @default false */
  inMemory?: boolean;
  /** Where the stack's local data and function code live. @default `<projectDir>/.data/local/<stack>` */
  dataDir?: string;
  /** Check IAM signatures and API keys as the methods declare. @default true */
  auth?: boolean;
  /** Execution environments per function. @default one per core plus one, at least 3 */
  maxWorkersPerFunction?: number;
  /** A plan already made (else the stack is planned). */
  plan?: PlanResult;
  /** SSM parameters the functions may read, by name (what an operator puts with `aws ssm put-parameter`). */
  parameters?: Record<string, string>;
  /** Let the process exit while the cloud runs (servers and workers unreferenced). @default false */
  unref?: boolean;
  /** Config values that replace the stack file's (`namespace:key`). */
  configOverrides?: Record<string, string>;
  /** Fire the plan's schedules on their own timers (else only by `schedules.fire`). @default true */
  schedules?: boolean;
  /** The time of the cloud's timers: schedules and Lambda's retries (tests move it by hand). @default the system clock */
  scheduleClock?: ScheduleClock;
  onRequest?(record: RequestRecord): void;
  /** Each step of a scheduled event: a run of its function, a retry, its dead-lettering. */
  onSchedule?(firing: ScheduleFiring): void;
  /** Each step of an event a function sent another with `InvocationType: Event`. */
  onAsyncInvoke?(step: AsyncStep): void;
}

/** Where plans keep handler bundles by hash, shared by stacks and runs. */
export function assetCacheDir(projectDir: string): string {
  return path.join(projectDir, "node_modules", ".cache", "platform", "assets");
}

/** One difference between the local cloud and a plan, by the planned resource it concerns. */
export interface LocalDrift {
  type: string;
  /** The resource's physical name. */
  name: string;
  /** The resource is missing locally. */
  gone: boolean;
  why: string;
}

/** What one PreTraffic hook reported for the function it smoke-tests. */
export interface HookOutcome {
  hook: string;
  target: string;
  status: string;
  /** The hook's log lines (its reason, on failure). */
  logs: string[];
}

export class LocalCloud {
  /** The API key `apiKey` methods accept, printed by `platform dev`. */
  readonly apiKey = `local-${randomBytes(12).toString("hex")}`;
  readonly credentials = LOCAL_CREDENTIALS;
  private readonly pools = new Map<string, FunctionPool>();
  private gateway?: LocalGateway;
  private readonly controlPlane = new LocalControlPlane(
    (name, event) => this.invoke(name, event),
    (name, qualifier) => this.pools.has(name) && this.hasQualifier(name, qualifier),
  );
  /** The plan's SQS queues, their API (through the control plane) and their consumers' polling. */
  readonly queues: LocalQueues;
  /** The plan's table streams: a DynamoDB proxy for the functions that turns writes into records. */
  readonly streams: LocalStreams;
  /** The plan's EventBridge Scheduler schedules, firing their functions. */
  readonly schedules: LocalSchedules;
  /** Lambda's asynchronous invocations (Invoke with `Event`, schedules): retries and destinations. */
  readonly lambda: LocalAsyncInvocations;

  private constructor(
    private readonly options: LocalCloudOptions,
    readonly dynamoDb: LocalDynamoDb,
    public model: LocalModel,
    public plan: PlanResult,
  ) {
    this.queues = new LocalQueues(
      (name, event) => this.invoke(name, event),
      () => this.controlPlane.url,
      model.region,
      model.accountId,
    );
    this.controlPlane.queues = this.queues;
    this.controlPlane.parameters = { ...options.parameters };
    this.streams = new LocalStreams(
      dynamoDb.endpoint,
      (name, event) => this.invoke(name, event),
      this.queues,
      model.region,
    );
    this.lambda = new LocalAsyncInvocations({
      invoke: (name, event, requestId) => this.invoke(name, event, requestId),
      sendMessage: (queueName, body, attributes) => this.queues.send(queueName, body, attributes),
      region: model.region,
      accountId: model.accountId,
      clock: options.scheduleClock,
      onStep: options.onAsyncInvoke,
    });
    this.controlPlane.lambda = this.lambda;
    this.schedules = new LocalSchedules({
      lambda: this.lambda,
      invoke: (name, event) => this.invoke(name, event),
      sendMessage: (queueName, body, attributes = {}) =>
        this.queues.send(
          queueName,
          body,
          Object.fromEntries(
            Object.entries(attributes).map(([name, value]) => [
              name,
              { DataType: "String", StringValue: value },
            ]),
          ),
        ),
      region: model.region,
      accountId: model.accountId,
      clock: options.scheduleClock,
      timers: options.schedules ?? true,
      onFiring: options.onSchedule,
    });
  }

  /** Plans the stack (unless a plan is given) and starts its tables, functions and API. */
  static async start(options: LocalCloudOptions): Promise<LocalCloud> {
    const projectDir = options.projectDir ?? PROJECT_DIR;
    const plan =
      options.plan ??
      (await planStack(options.stack, {
        projectDir,
        assetDir: assetCacheDir(projectDir),
        configOverrides: options.configOverrides,
      }));
    const model = localModel(plan);
    const dataDir = options.dataDir ?? path.join(projectDir, ".data", "local", options.stack);
    const dynamoDb = await startDynamoDb({
      dataDir: options.inMemory ? undefined : path.join(dataDir, "dynamodb"),
      region: model.region,
      unref: options.unref,
    });
    const cloud = new LocalCloud({ ...options, projectDir, dataDir }, dynamoDb, model, plan);
    try {
      await cloud.controlPlane.listen(options.unref);
      await cloud.streams.listen(options.unref);
      await cloud.apply(plan);
      await cloud.listen();
    } catch (error) {
      await cloud.close();
      throw error;
    }
    return cloud;
  }

  /** The API's base URL (`http://127.0.0.1:<port>`); routes are served without the stage prefix, as `sam local`. */
  get url(): string {
    if (!this.gateway) throw new Error("the local cloud has no API");
    return this.gateway.url;
  }

  get dataDir(): string {
    return this.options.dataDir as string;
  }

  /** Brings tables, functions, the API and schedules to `plan`; returns one line per change. */
  async apply(plan: PlanResult): Promise<string[]> {
    const model = localModel(plan);
    // A schedule the local cloud cannot run is refused before anything changes.
    for (const schedule of model.schedules) scheduleProblem(schedule, this.schedules.timers);
    const changes = await applyTables(this.dynamoDb.client, model.tables);
    changes.push(...this.queues.apply(model.queues, model.queueMappings));
    this.streams.apply(model.tables, model.streamMappings);
    const projectDir = this.options.projectDir as string;
    const functionsDir = path.join(this.dataDir, "functions");
    const wanted = new Set(model.functions.map((fn) => fn.name));
    for (const fn of model.functions) {
      const codeDir = materializeCode(fn, assetCacheDir(projectDir), functionsDir);
      const poolOptions = {
        codeDir,
        baseEnvironment: this.baseEnvironment(fn, model),
        region: model.region,
        accountId: model.accountId,
        maxWorkers: this.options.maxWorkersPerFunction,
        unref: this.options.unref,
      };
      const existing = this.pools.get(fn.name);
      if (!existing) {
        const pool = new FunctionPool(fn, poolOptions);
        pool.provision();
        this.pools.set(fn.name, pool);
        changes.push(`function ${fn.name} created`);
      } else if (JSON.stringify(existing.definition) !== JSON.stringify(fn)) {
        existing.replace(fn, poolOptions);
        changes.push(`function ${fn.name} updated`);
      }
    }
    for (const [name, pool] of this.pools) {
      if (wanted.has(name)) continue;
      this.pools.delete(name);
      await pool.close();
      changes.push(`function ${name} deleted`);
    }
    if (model.apis.length > 1)
      throw new Error(
        `stack ${model.stack} declares ${model.apis.length} REST APIs; the local cloud serves one`,
      );
    if (this.gateway && model.apis[0]) {
      if (JSON.stringify(model.apis[0]) !== JSON.stringify(this.model.apis[0]))
        changes.push(`API ${model.apis[0].name} redeployed`);
      this.gateway.update({ api: model.apis[0], region: model.region, accountId: model.accountId });
    }
    // Last: a schedule due now fires on the functions just applied.
    changes.push(...this.schedules.apply(model.schedules, model.eventInvokeConfigs, model.functions));
    this.model = model;
    this.plan = plan;
    return changes;
  }

  /** How the running cloud differs from `plan` (tables, functions, routes): one entry each. */
  async drift(plan: PlanResult): Promise<LocalDrift[]> {
    const model = localModel(plan);
    const drift: LocalDrift[] = (await tableDrift(this.dynamoDb.client, model.tables)).map((why) => ({
      type: "aws:dynamodb/table:Table",
      name: why.split(" ")[1].replace(/:$/, ""),
      gone: why.endsWith("is missing"),
      why,
    }));
    const fnType = "aws:lambda/function:Function";
    for (const fn of model.functions) {
      const pool = this.pools.get(fn.name);
      if (!pool)
        drift.push({ type: fnType, name: fn.name, gone: true, why: `function ${fn.name} is missing` });
      else if (JSON.stringify(pool.definition) !== JSON.stringify(fn)) {
        drift.push({
          type: fnType,
          name: fn.name,
          gone: false,
          why: `function ${fn.name} runs other code or settings than planned`,
        });
      }
    }
    for (const name of this.pools.keys()) {
      if (!model.functions.some((fn) => fn.name === name))
        drift.push({ type: fnType, name, gone: false, why: `function ${name} is not in the plan` });
    }
    const api = model.apis[0];
    if (api && JSON.stringify(api.routes) !== JSON.stringify(this.model.apis[0]?.routes)) {
      drift.push({
        type: "aws:apigateway/restApi:RestApi",
        name: api.name,
        gone: false,
        why: "the API's routes differ from the plan",
      });
    }
    return drift;
  }

  /**
   * A function by physical name (`platform-dev-users-get`), logical name (`users-get-function`),
   * or the program's key for it in the `functionNames` output (`get`).
   */
  resolveFunction(name: string): LocalFunction {
    const keys = (this.plan.outputs.functionNames ?? {}) as Record<string, string>;
    const physical = keys[name] ?? name;
    const fn = this.model.functions.find(
      (f) => f.name === physical || f.logicalName === name || f.logicalName === `${name}-function`,
    );
    if (!fn) {
      const known = this.model.functions.map((f) => f.name).join(", ");
      throw new Error(
        `no function ${JSON.stringify(name)} in stack ${this.model.stack}; its functions: ${known}`,
      );
    }
    return fn;
  }

  /** Invokes a function as Lambda's synchronous Invoke would (a retry of an event keeps its request id). */
  invoke(name: string, event: unknown, requestId?: string): Promise<InvokeResult> {
    const fn = this.resolveFunction(name);
    const pool = this.pools.get(fn.name);
    if (!pool) throw new Error(`function ${fn.name} is not running`);
    return pool.invoke(event, requestId);
  }

  /** Whether a function has this qualifier: `$LATEST`, a version number, or a planned alias. */
  private hasQualifier(functionName: string, qualifier: string | undefined): boolean {
    if (qualifier === undefined || qualifier === "$LATEST" || /^\d+$/.test(qualifier)) return true;
    return this.plan.resources.some(
      (r) =>
        r.type === "aws:lambda/alias:Alias" &&
        r.inputs.name === qualifier &&
        String(r.inputs.functionName).replace(/^arn:aws:lambda:[^:]+:\d+:function:/, "") === functionName,
    );
  }

  /** Execution environments per function, for tests and the dev server's status. */
  functionStats(): Record<string, ReturnType<FunctionPool["stats"]>> {
    return Object.fromEntries([...this.pools].map(([name, pool]) => [name, pool.stats()]));
  }

  /**
   * Runs every BeforeAllowTraffic hook of the plan's traffic shifts, as CodeDeploy would before
   * moving the alias: the real hook function, reading its deployment's AppSpec from the local
   * CodeDeploy and invoking its target through the local Lambda API. Resolves with each outcome.
   */
  async runPreTrafficHooks(timeoutMs = 60_000): Promise<HookOutcome[]> {
    const shifts = this.plan.resources.filter(
      (r) => r.type.endsWith(":TrafficShift") && typeof r.inputs.beforeAllowTrafficHook === "string",
    );
    return Promise.all(
      shifts.map(async (shift): Promise<HookOutcome> => {
        const hook = String(shift.inputs.beforeAllowTrafficHook);
        const target = String(shift.inputs.functionName);
        const deployment = this.controlPlane.createDeployment(String(shift.inputs.applicationName), {
          version: 0.0,
          Resources: [
            {
              [target]: {
                Type: "AWS::Lambda::Function",
                Properties: {
                  Name: target,
                  Alias: String(shift.inputs.aliasName ?? "live"),
                  CurrentVersion: "1",
                  TargetVersion: "2",
                },
              },
            },
          ],
          Hooks: [{ BeforeAllowTraffic: hook }],
        });
        const executionId = randomUUID();
        const reported = this.controlPlane.hookReported(executionId, timeoutMs);
        const result = await this.invoke(hook, {
          DeploymentId: deployment.deploymentId,
          LifecycleEventHookExecutionId: executionId,
        });
        const status = result.error ? "Failed" : await reported;
        const logs = [
          ...result.logs,
          ...(result.error ? [`${result.error.errorType}: ${result.error.errorMessage}`] : []),
        ];
        return { hook, target, status, logs };
      }),
    );
  }

  async close(): Promise<void> {
    this.schedules.close();
    this.queues.close();
    await this.streams.close();
    await this.controlPlane.close();
    await this.gateway?.close();
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
    await this.dynamoDb.close();
  }

  private async listen(): Promise<void> {
    const api = this.model.apis[0];
    if (!api) return;
    this.gateway = new LocalGateway({
      api,
      region: this.model.region,
      accountId: this.model.accountId,
      invoke: (functionName, event, qualifier) => {
        const pool = this.pools.get(functionName);
        if (!pool)
          throw new Error(
            `the API's integration names function ${functionName}, which the plan does not have`,
          );
        return pool.invoke(event, undefined, qualifier);
      },
      auth: this.options.auth,
      credentials: this.credentials,
      apiKey: this.apiKey,
      onRequest: this.options.onRequest,
    });
    await this.gateway.listen(this.options.port ?? 0);
    if (this.options.unref) this.gateway.server.unref();
  }

  /** What every function gets besides its own variables: the region, local credentials, local endpoints. */
  private baseEnvironment(fn: LocalFunction, model: LocalModel): Record<string, string> {
    // A function that names a table whose stream is consumed reaches DynamoDB through the stream
    // proxy, so that its writes become stream records; the others go straight to dynalite.
    const streamed = new Set(model.streamMappings.map((mapping) => mapping.tableName));
    const writesStreams = Object.values(fn.environment).some((value) => streamed.has(value));
    return {
      AWS_ACCESS_KEY_ID: this.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: writesStreams ? this.streams.url : this.dynamoDb.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: this.controlPlane.url,
      AWS_ENDPOINT_URL_CODEDEPLOY: this.controlPlane.url,
      AWS_ENDPOINT_URL_SQS: this.controlPlane.url,
      AWS_ENDPOINT_URL_SSM: this.controlPlane.url,
      // The SDK warns about the host's Node.js; the function runs as its Lambda runtime says.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    };
  }
}
