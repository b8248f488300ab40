/**
 * `platform dev`: a stack's local cloud for a developer. Prints what it serves, one line per
 * request and per scheduled run with the function's log lines under it, and re-plans when the
 * program, a handler or a stack file changes: changed functions get new execution environments
 * (requests in flight finish on the old code), changed tables, routes and schedules are applied. A
 * plan that fails keeps the last one serving and says why.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_DIR, planStack } from "../plan/plan";
import type { AsyncStep } from "./async-invoke";
import { assetCacheDir, LocalCloud, type LocalCloudOptions } from "./cloud";
import type { RequestRecord } from "./gateway";
import type { ScheduleFiring, ScheduleStatus } from "./schedules";

/** What a change to re-plan on looks like: sources of the program, handlers and stack files. */
const WATCHED = ["index.ts", "components", "functions", "Pulumi.yaml"];
const STACK_FILE = /^Pulumi\.[^/]+\.ya?ml$/;

/** One log line of a function, readable: JSON records become `LEVEL message {extra}`. */
export function readableLogLine(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    const level = String(record.level ?? record.type ?? "LOG").toUpperCase();
    const message = String(record.message ?? record.msg ?? "");
    const {
      level: _l,
      message: _m,
      timestamp: _t,
      service: _s,
      sampling_rate: _r,
      xray_trace_id: _x,
      ...rest
    } = record;
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : "";
    return `${level} ${message}${extra}`;
  } catch {
    return line;
  }
}

/** `GET /users/42 200 12 ms platform-dev-users-get (cold, init 80 ms)` and its log lines. */
export function requestLines(record: RequestRecord): string[] {
  const cold = record.cold ? ` (cold, init ${Math.round(record.initDurationMs ?? 0)} ms)` : "";
  const fn = record.functionName ? ` ${record.functionName}` : "";
  const lines = [
    `${record.method} ${record.path} ${record.status} ${Math.round(record.durationMs)} ms${fn}${cold}`,
  ];
  for (const line of record.logs) lines.push(`  │ ${readableLogLine(line)}`);
  if (record.error) lines.push(`  │ ${record.error}`);
  return lines;
}

/**
 * `schedule platform-dev-orders-reconcile-schedule -> platform-dev-orders-reconcile 85 ms`, the
 * function's log lines, and what happens next when it failed (a retry, the dead-letter queue).
 */
export function scheduleLines(firing: ScheduleFiring): string[] {
  const { result } = firing;
  const target = `schedule ${firing.schedule} -> ${firing.functionName ?? "?"}`;
  if (!result) {
    const error = firing.deliveryError;
    return [`${target} not delivered: ${error?.code}: ${error?.message}`, `  │ ${firing.detail}`];
  }
  const cold = result.cold ? ` (cold, init ${Math.round(result.initDurationMs ?? 0)} ms)` : "";
  const run = (firing.run ?? 1) > 1 ? ` run ${firing.run}` : "";
  const lines = [`${target}${run} ${Math.round(result.durationMs)} ms${cold}`];
  for (const line of result.logs) lines.push(`  │ ${readableLogLine(line)}`);
  if (result.error) lines.push(`  │ ${result.error.errorType}: ${result.error.errorMessage}`);
  if (firing.outcome !== "succeeded") lines.push(`  │ ${firing.detail}`);
  return lines;
}

/** `event -> platform-dev-orders-notify:live run 2 12 ms`, its log lines, and what Lambda does next. */
export function asyncInvokeLines(step: AsyncStep): string[] {
  const { result } = step;
  const target = `event -> ${step.functionName}${step.qualifier ? `:${step.qualifier}` : ""}`;
  const cold = result.cold ? ` (cold, init ${Math.round(result.initDurationMs ?? 0)} ms)` : "";
  const run = step.run > 1 ? ` run ${step.run}` : "";
  const lines = [`${target}${run} ${Math.round(result.durationMs)} ms${cold}`];
  for (const line of result.logs) lines.push(`  │ ${readableLogLine(line)}`);
  if (result.error) lines.push(`  │ ${result.error.errorType}: ${result.error.errorMessage}`);
  if (step.outcome !== "succeeded") lines.push(`  │ ${step.detail}`);
  return lines;
}

/** The banner's line for a schedule: its expression, target and next fire time (or why none). */
export function scheduleBannerLine(status: ScheduleStatus, timers: boolean): string {
  const { schedule } = status;
  const zone = schedule.timezone === "UTC" ? "" : ` ${schedule.timezone}`;
  const when = status.problem
    ? `does not fire: ${status.problem}`
    : schedule.state === "DISABLED"
      ? "DISABLED"
      : !timers
        ? "not firing: --no-schedules"
        : status.next === undefined
          ? "no fire time left"
          : `next ${new Date(status.next).toISOString()}`;
  return `  schedule ${schedule.name} ${schedule.expression}${zone} -> ${schedule.functionName ?? schedule.targetArn}  (${when})`;
}

export interface DevServerOptions
  extends Omit<LocalCloudOptions, "onRequest" | "onSchedule" | "onAsyncInvoke"> {
  print(line: string): void;
  /** Watch sources and re-plan on change. @default true */
  watch?: boolean;
}

/** A running `platform dev`: the cloud and its watcher. */
export class DevServer {
  private watchers: fs.FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private replanning?: Promise<void>;
  private pending = false;
  private closed = false;

  private constructor(
    readonly cloud: LocalCloud,
    private readonly options: DevServerOptions,
  ) {}

  static async start(options: DevServerOptions): Promise<DevServer> {
    const started = performance.now();
    const cloud = await LocalCloud.start({
      ...options,
      onRequest: (record) => {
        for (const line of requestLines(record)) options.print(line);
      },
      onSchedule: (firing) => {
        for (const line of scheduleLines(firing)) options.print(line);
      },
      onAsyncInvoke: (step) => {
        for (const line of asyncInvokeLines(step)) options.print(line);
      },
    });
    const server = new DevServer(cloud, options);
    server.printBanner(performance.now() - started);
    if (options.watch ?? true) server.watch();
    return server;
  }

  /** Re-plans the stack and applies the result; resolves when done (or failed, which it prints). */
  replan(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.replanning) {
      this.pending = true;
      return this.replanning;
    }
    this.replanning = (async () => {
      const started = performance.now();
      const projectDir = this.options.projectDir ?? PROJECT_DIR;
      try {
        const plan = await planStack(this.options.stack, {
          projectDir,
          assetDir: assetCacheDir(projectDir),
          configOverrides: this.options.configOverrides,
        });
        const changes = await this.cloud.apply(plan);
        const took = Math.round(performance.now() - started);
        if (changes.length === 0) this.options.print(`re-planned in ${took} ms: nothing changed`);
        else for (const change of changes) this.options.print(`re-planned in ${took} ms: ${change}`);
      } catch (error) {
        this.options.print(
          `re-plan failed, still serving the last plan: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    })().finally(() => {
      this.replanning = undefined;
      if (this.pending && !this.closed) {
        this.pending = false;
        void this.replan();
      }
    });
    return this.replanning;
  }

  async close(): Promise<void> {
    // No re-plan starts from now on (a change seen during the last one would start another, which
    // would apply its plan, writing function code, to a closed cloud).
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
    await this.replanning;
    await this.cloud.close();
  }

  private watch(): void {
    const projectDir = this.options.projectDir ?? PROJECT_DIR;
    const schedule = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.replan(), 150);
    };
    for (const entry of WATCHED) {
      const target = path.join(projectDir, entry);
      if (!fs.existsSync(target)) continue;
      this.watchers.push(fs.watch(target, { recursive: fs.statSync(target).isDirectory() }, schedule));
    }
    this.watchers.push(
      fs.watch(projectDir, (_event, file) => {
        if (file && STACK_FILE.test(String(file))) schedule();
      }),
    );
  }

  private printBanner(startMs: number): void {
    const { cloud } = this;
    const api = cloud.model.apis[0];
    const print = this.options.print;
    print(
      `Local cloud of stack ${cloud.model.stack} (${cloud.model.region}) ready in ${Math.round(startMs)} ms`,
    );
    print(
      `  API        ${cloud.url}  (routes without the /${api?.stageName ?? "stage"} prefix, as sam local)`,
    );
    print(
      `  DynamoDB   ${cloud.dynamoDb.endpoint}  (tables: ${cloud.model.tables.map((t) => t.name).join(", ")})`,
    );
    print(`  data       ${this.options.inMemory ? "in memory" : cloud.dataDir}`);
    if ((this.options.auth ?? true) && api) {
      print("  IAM routes accept SigV4 signed for execute-api with these credentials:");
      print(
        `    AWS_ACCESS_KEY_ID=${cloud.credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${cloud.credentials.secretAccessKey} AWS_REGION=${cloud.model.region}`,
      );
      if (api.routes.some((r) => r.apiKeyRequired)) print(`  API key (x-api-key): ${cloud.apiKey}`);
    } else if (api) {
      print("  auth is off: every route is open");
    }
    for (const mapping of cloud.model.queueMappings) {
      const queue = cloud.model.queues.find((q) => q.arn === mapping.eventSourceArn);
      print(
        `  queue  ${(queue?.name ?? mapping.eventSourceArn).padEnd(31)} -> ${mapping.functionName}  (${cloud.queues.queueUrl(queue?.name ?? "")})`,
      );
    }
    for (const status of cloud.schedules.status()) print(scheduleBannerLine(status, cloud.schedules.timers));
    for (const route of api?.routes ?? []) {
      const auth = route.authorization === "AWS_IAM" ? "iam" : route.apiKeyRequired ? "apiKey" : "public";
      print(
        `  ${route.method.padEnd(6)} ${route.resource.padEnd(24)} ${auth.padEnd(6)} -> ${route.functionName}`,
      );
    }
  }
}
