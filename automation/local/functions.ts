/**
 * The local cloud's Lambda: each function runs in worker threads of its own, each thread one
 * execution environment (its own process.env, one request at a time, the bundle imported once on
 * the first request: the cold start). A pool per function grows on demand up to `maxWorkers`;
 * further requests wait for a free environment.
 */
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import type { LocalFunction } from "./model";

export interface InvokeError {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

/** What one invocation gave: the handler's result as JSON, or its error, with its log lines. */
export interface InvokeResult {
  functionName: string;
  requestId: string;
  /** The result as Lambda returns it: JSON text. Absent on error. */
  payload?: string;
  error?: InvokeError;
  /** The function ran past its timeout; its environment was discarded. */
  timedOut: boolean;
  durationMs: number;
  /** This request started a new execution environment. */
  cold: boolean;
  /** Time to import the bundle, on a cold start. */
  initDurationMs?: number;
  logs: string[];
}

const WORKER_SCRIPT = path.join(__dirname, "lambda-worker.mjs");

/**
 * Execution environments per function: one per core plus one (at least 3). One more than the cores
 * keeps a request from waiting while another environment waits on I/O; many more only queue for the
 * same cores and warm their own JIT, costing CPU per request (measured by `npm run bench -- local`).
 */
export const DEFAULT_MAX_WORKERS = Math.max(2, os.availableParallelism()) + 1;

interface Environment {
  worker: Worker;
  busy: boolean;
  /** Set when new code replaced this environment's: it ends after its request. */
  retired: boolean;
  pending?: {
    resolve(result: InvokeResult): void;
    timer: NodeJS.Timeout;
    requestId: string;
    started: number;
  };
}

export interface FunctionPoolOptions {
  /** Folder holding the function's archive files (`index.mjs`, ...). */
  codeDir: string;
  /** Environment variables beyond the function's own (region, credentials, endpoints). */
  baseEnvironment: Record<string, string>;
  region: string;
  accountId: string;
  /** Most execution environments at once. @default DEFAULT_MAX_WORKERS */
  maxWorkers?: number;
  /** Workers do not keep the process alive. @default false */
  unref?: boolean;
}

/** The execution environments of one function. */
export class FunctionPool {
  private readonly environments: Environment[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(
    private fn: LocalFunction,
    private options: FunctionPoolOptions,
  ) {}

  get name(): string {
    return this.fn.name;
  }

  get definition(): LocalFunction {
    return this.fn;
  }

  /** Number of environments, and how many are busy. */
  stats(): { environments: number; busy: number; waiting: number } {
    return {
      environments: this.environments.length,
      busy: this.environments.filter((e) => e.busy).length,
      waiting: this.waiting.length,
    };
  }

  /**
   * Runs one invocation, as Lambda's synchronous Invoke does. `qualifier`: the alias or version the
   * caller invoked (`live`), which the handler sees in `context.invokedFunctionArn`.
   */
  async invoke(event: unknown, requestId: string = randomUUID(), qualifier?: string): Promise<InvokeResult> {
    if (this.closed) throw new Error(`function ${this.fn.name} is stopped`);
    const environment = await this.acquire();
    return new Promise<InvokeResult>((resolve) => {
      const started = performance.now();
      const timeoutMs = this.fn.timeoutSeconds * 1000;
      const timer = setTimeout(() => {
        // Lambda ends an environment that runs past its timeout; the next request starts cold.
        this.discard(environment);
        resolve({
          functionName: this.fn.name,
          requestId,
          timedOut: true,
          error: {
            errorType: "Sandbox.Timedout",
            errorMessage: `Task timed out after ${this.fn.timeoutSeconds.toFixed(2)} seconds`,
            trace: [],
          },
          durationMs: performance.now() - started,
          cold: false,
          logs: [],
        });
      }, timeoutMs);
      environment.pending = { resolve, timer, requestId, started };
      environment.worker.postMessage({ id: requestId, event, requestId, qualifier });
    });
  }

  /** New code or configuration: environments busy now finish their request on the old code. */
  replace(fn: LocalFunction, options: FunctionPoolOptions): void {
    this.fn = fn;
    this.options = options;
    for (const environment of [...this.environments]) {
      if (environment.busy) environment.retired = true;
      else this.discard(environment);
    }
    this.provision();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.environments].map((environment) => this.discard(environment)));
  }

  private async acquire(): Promise<Environment> {
    for (;;) {
      const idle = this.environments.find((e) => !e.busy && !e.retired);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (
        this.environments.filter((e) => !e.retired).length < (this.options.maxWorkers ?? DEFAULT_MAX_WORKERS)
      ) {
        const environment = this.start();
        environment.busy = true;
        return environment;
      }
      await new Promise<void>((wake) => this.waiting.push(wake));
      if (this.closed) throw new Error(`function ${this.fn.name} is stopped`);
    }
  }

  private release(environment: Environment): void {
    environment.busy = false;
    environment.pending = undefined;
    if (environment.retired) this.discard(environment);
    this.waiting.shift()?.();
  }

  /**
   * Starts the function's provisioned environments (its plan's provisioned concurrency on the
   * alias the API invokes): initialized ahead, as Lambda does, so their requests are not cold.
   */
  provision(): void {
    const wanted = Math.min(
      this.fn.provisionedConcurrency ?? 0,
      this.options.maxWorkers ?? DEFAULT_MAX_WORKERS,
    );
    while (this.environments.filter((e) => !e.retired).length < wanted) this.start(true);
  }

  private start(provisioned = false): Environment {
    const fn = this.fn;
    const worker = new Worker(WORKER_SCRIPT, {
      // Not the host's loader flags (tsx): an execution environment runs plain JavaScript bundles.
      execArgv: [],
      env: lambdaEnvironment(fn, this.options),
      workerData: {
        dir: this.options.codeDir,
        handler: fn.handler,
        functionName: fn.name,
        memoryMb: fn.memoryMb,
        timeoutMs: fn.timeoutSeconds * 1000,
        region: this.options.region,
        accountId: this.options.accountId,
        sourceMaps: /--enable-source-maps/.test(fn.environment.NODE_OPTIONS ?? ""),
        provisioned,
      },
      // Lambda gives a function its configured memory; a worker's heap is capped the same way.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(64, fn.memoryMb) },
      stdout: true,
      stderr: true,
    });
    if (this.options.unref) worker.unref();
    const environment: Environment = { worker, busy: false, retired: false };
    worker.on("message", (reply: WorkerReply) => {
      const pending = environment.pending;
      if (!pending || reply.id !== pending.requestId) return;
      clearTimeout(pending.timer);
      pending.resolve({
        functionName: fn.name,
        requestId: pending.requestId,
        payload: reply.ok ? reply.payload : undefined,
        error: reply.ok ? undefined : reply.error,
        timedOut: false,
        durationMs: reply.durationMs,
        cold: reply.cold,
        initDurationMs: reply.initDurationMs,
        logs: reply.logs,
      });
      this.release(environment);
    });
    const crashed = (error: Error | undefined) => {
      const pending = environment.pending;
      this.remove(environment);
      if (!pending) return;
      clearTimeout(pending.timer);
      pending.resolve({
        functionName: fn.name,
        requestId: pending.requestId,
        error: {
          errorType: "Runtime.ExitError",
          errorMessage: error ? `RequestId: ${pending.requestId} Error: ${error.message}` : "Runtime exited",
          trace: error?.stack?.split("\n") ?? [],
        },
        timedOut: false,
        durationMs: performance.now() - pending.started,
        cold: false,
        logs: [],
      });
      this.waiting.shift()?.();
    };
    worker.on("error", crashed);
    worker.on("exit", () => crashed(undefined));
    this.environments.push(environment);
    return environment;
  }

  private remove(environment: Environment): void {
    const index = this.environments.indexOf(environment);
    if (index >= 0) this.environments.splice(index, 1);
  }

  private async discard(environment: Environment): Promise<void> {
    this.remove(environment);
    environment.worker.removeAllListeners("exit");
    environment.worker.removeAllListeners("error");
    if (environment.pending) clearTimeout(environment.pending.timer);
    await environment.worker.terminate();
    this.waiting.shift()?.();
  }
}

type WorkerReply =
  | {
      id: string;
      ok: true;
      payload: string;
      durationMs: number;
      cold: boolean;
      initDurationMs?: number;
      logs: string[];
    }
  | {
      id: string;
      ok: false;
      error: InvokeError;
      durationMs: number;
      cold: boolean;
      initDurationMs?: number;
      logs: string[];
    };

/** The variables Lambda's runtime sets, then the function's own (which win, as on Lambda). */
export function lambdaEnvironment(fn: LocalFunction, options: FunctionPoolOptions): Record<string, string> {
  return {
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: "local",
    LAMBDA_TASK_ROOT: options.codeDir,
    TZ: ":UTC",
    ...options.baseEnvironment,
    ...fn.environment,
  };
}

/**
 * Writes a function's archive files, from the plan's asset folder, into a folder named by the
 * module's hash under `functionsDir`, and returns it. Inside the project, so that `@aws-sdk/*`
 * (left out of bundles because Lambda's runtime provides it) resolves from its node_modules.
 */
export function materializeCode(fn: LocalFunction, assetDir: string, functionsDir: string): string {
  const version = createHash("sha256").update(JSON.stringify(fn.files)).digest("hex").slice(0, 16);
  const dir = path.join(functionsDir, fn.name, version);
  if (fs.existsSync(path.join(dir, ".complete"))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, sha256] of Object.entries(fn.files)) {
    const source = path.join(assetDir, sha256);
    if (!fs.existsSync(source))
      throw new Error(`function ${fn.name}: its archive file ${file} (${sha256}) is not in ${assetDir}`);
    fs.copyFileSync(source, path.join(dir, file));
  }
  fs.writeFileSync(path.join(dir, ".complete"), "");
  return dir;
}
