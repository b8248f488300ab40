/**
 * Local cloud benchmark (`npm run bench -- local`): the dev stack's local cloud (planned, tables in
 * dynalite, functions in worker threads, the REST API on 127.0.0.1) in a child process, loaded with
 * autocannon from this one: `GET /health` and `GET /users/{id}` (1,000 seeded users, random ids) at
 * 1, 10 and 50 connections. The ceiling, in the same run and interleaved point by point so that the
 * machine's load weighs on both alike: a bare `node:http` server (another child) doing the same
 * DynamoDB read with the same SDK on a dynalite set up the same way. Also start-up to the first
 * answer, a cold function's first request, and memory over the run and after 50 handler reloads.
 * The target points (GET /users/{id} at 10 and 50 connections) are measured in three interleaved
 * pairs and judged on the median ratio. Throws when a target of issue 20 is missed. Run alone with `npx tsx test/bench/local.bench.ts`;
 * `LOCAL_BENCH_CPU_PROF=<dir>` writes CPU profiles of the local cloud's process there (one per
 * thread: the gateway and dynalite, and each worker); `LOCAL_BENCH_CLOUD_DIR=<dir>` serves a copy of
 * automation/local instead (to measure a change to it before making it).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import autocannon from "autocannon";
import type { LocalTable } from "../../automation/local/model";
import {
  type ColdRecord,
  type Memory,
  type ServerMessage,
  type ServerRequest,
  type Startup,
  USER_COUNT,
  userId,
} from "./local-server";

const CONNECTIONS = [1, 10, 50];
const SECONDS = 5;
const WARM_UP_SECONDS = 1;
const WARM_UP_USERS_SECONDS = 5;
const RELOADS = 50;
/**
 * Pairs (ceiling, then local) measured for each target point. One 5 s pair's p99 ratio moves by a
 * third from run to run on this machine (1.50x to 2.15x for the same code at 50 connections); the
 * target is judged on the median of the pairs' ratios.
 */
const TARGET_ROUNDS = 3;
const TARGET_CONNECTIONS = [10, 50];

const TARGETS = {
  /** GET /users/{id} at 10 and 50 connections, as a fraction of the ceiling's requests/s. */
  minThroughputRatio: 0.6,
  maxP99Ratio: 2,
  maxStartupMs: 3000,
  maxColdRequestMs: 100,
  /** RSS after the run and after the reloads, over RSS after the warm-up. */
  maxMemoryGrowth: 0.2,
};

/** serverless-offline 13 (serverless 3) on this kind of machine, from issue 20, for comparison. */
const SERVERLESS_OFFLINE = [
  "serverless-offline 13 (issue 20, same kind of handler on dynalite, beside a ceiling of ~1,980 req/s, p99 8 ms at 10 connections):",
  "  worker threads (default): ~770 req/s, p99 ~27 ms at 10 connections (0.39x the ceiling); ~600 req/s, p99 ~140 ms, 2 GB RSS at 50",
  "  in-process: ~1,040 req/s, p99 ~15 ms at 10 connections (0.53x, no isolation); reload mode: < 20 req/s, ~8 GB RSS",
  "  start-up ~1.3 s (reads one YAML file); first request to a cold function ~90 ms",
];

const SERVER_SCRIPT = path.join(__dirname, "local-server.ts");

/** One of the benchmark's servers in its own process, driven over IPC. */
export class ServerProcess {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private output = "";

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly table: LocalTable,
    readonly startup: Startup | undefined,
    readonly readyMs: number,
  ) {
    child.on("message", (message: ServerMessage) => {
      if (!("id" in message)) return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    });
  }

  static start(
    mode: "cloud" | "ceiling",
    args: string[] = [],
    nodeOptions: string[] = [],
  ): Promise<ServerProcess> {
    const spawned = performance.now();
    const child = spawn(
      process.execPath,
      ["--expose-gc", ...nodeOptions, "--import", "tsx", SERVER_SCRIPT, mode, ...args],
      {
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      },
    );
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the ${mode} server was not ready in 60 s:\n${output}`));
      }, 60_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the ${mode} server exited (${code}) before it was ready:\n${output}`));
      });
      child.once("message", (message: ServerMessage) => {
        if (!("ready" in message)) return;
        clearTimeout(timer);
        const server = new ServerProcess(
          child,
          message.url,
          message.table,
          message.startup,
          performance.now() - spawned,
        );
        server.output = output;
        child.stdout?.on("data", (chunk: Buffer) => {
          server.output += chunk.toString();
        });
        child.stderr?.on("data", (chunk: Buffer) => {
          server.output += chunk.toString();
        });
        child.on("exit", (code) => {
          for (const waiter of server.pending.values())
            waiter.reject(new Error(`the ${mode} server exited (${code}):\n${server.output}`));
          server.pending.clear();
        });
        resolve(server);
      });
    });
  }

  request<T>(command: ServerRequest["command"], extra: Record<string, unknown> = {}): Promise<T> {
    this.nextId += 1;
    const id = this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, command, ...extra });
    });
  }

  /** Asks the server to close (so that a CPU profile is written), then ends the process if it lingers. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    await Promise.race([this.request("close").catch(() => undefined), exited]);
    // It leaves by itself once its handles are closed (a CPU profile is written at a normal exit).
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

type Route = "GET /health" | "GET /users/{id}";

interface Point {
  route: Route;
  connections: number;
  server: "ceiling" | "local";
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  /** CPU time of the server's process (all its threads) per request: steadier than req/s on a busy machine. */
  cpuMicrosecondsPerRequest: number;
  /** Which pair of a target point (1 to TARGET_ROUNDS): a local point's ceiling is the one of its round. */
  round?: number;
}

function requestsFor(route: Route): autocannon.Request[] {
  if (route === "GET /health") return [{ method: "GET", path: "/health" }];
  return [
    {
      method: "GET",
      setupRequest: (request) => ({
        ...request,
        path: `/users/${userId(Math.floor(Math.random() * USER_COUNT))}`,
      }),
    },
  ];
}

interface Load {
  result: autocannon.Result;
  /** Every response time in ms, unrounded (autocannon's histogram keeps whole milliseconds). */
  latencies: number[];
}

async function load(url: string, route: Route, connections: number, seconds: number): Promise<Load> {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url, connections, duration: seconds, requests: requestsFor(route) },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on("response", (_client, _status, _bytes, ms) => latencies.push(ms));
  });
  return { result, latencies: latencies.sort((a, b) => a - b) };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] : 0;
}

export async function measure(
  server: ServerProcess,
  name: Point["server"],
  route: Route,
  connections: number,
): Promise<Point> {
  await load(server.url, route, connections, WARM_UP_SECONDS);
  const cpuBefore = await server.request<number>("cpu");
  const { result, latencies } = await load(server.url, route, connections, SECONDS);
  const cpu = (await server.request<number>("cpu")) - cpuBefore;
  return {
    route,
    connections,
    server: name,
    requestsPerSecond: result.requests.average,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    total: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    cpuMicrosecondsPerRequest: cpu / Math.max(1, result.requests.total),
  };
}

/** The ceiling's point measured in the same pair as a local point. */
function ceilingOf(points: Point[], local: Point): Point | undefined {
  return points.find(
    (p) =>
      p.server === "ceiling" &&
      p.route === local.route &&
      p.connections === local.connections &&
      p.round === local.round,
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const fixed = (value: number, digits: number, width: number) => value.toFixed(digits).padStart(width);

function printPoints(points: Point[]): void {
  console.log(
    `${"route".padEnd(19)}${"conns".padStart(5)}  ${"server".padEnd(8)}${"req/s".padStart(7)}${"p50 ms".padStart(8)}${"p99 ms".padStart(8)}${"requests".padStart(10)}${"errors".padStart(8)}${"CPU us/req".padStart(11)}  ratio req/s  ratio p99`,
  );
  for (const point of points) {
    const ceiling = ceilingOf(points, point);
    const ratios =
      point.server === "local" && ceiling
        ? `  ${fixed(point.requestsPerSecond / ceiling.requestsPerSecond, 2, 10)}x ${fixed(point.p99 / ceiling.p99, 2, 9)}x`
        : "";
    const route = point.round ? `${point.route} #${point.round}` : point.route;
    console.log(
      `${route.padEnd(19)}${String(point.connections).padStart(5)}  ${point.server.padEnd(8)}${fixed(point.requestsPerSecond, 0, 7)}${fixed(point.p50, 2, 8)}${fixed(point.p99, 2, 8)}${String(point.total).padStart(10)}${String(point.errors).padStart(8)}${fixed(point.cpuMicrosecondsPerRequest, 0, 11)}${ratios}`,
    );
  }
}

/** The first request to a function of a fresh cloud, as the client sees it and as the cloud recorded it. */
async function coldRequest(url: string): Promise<{ status: number; clientMs: number }> {
  const started = performance.now();
  const response = await fetch(`${url}/users/${userId(0)}`);
  await response.arrayBuffer();
  return { status: response.status, clientMs: performance.now() - started };
}

export async function run(): Promise<void> {
  const profileDir = process.env.LOCAL_BENCH_CPU_PROF;
  const cloud = await ServerProcess.start(
    "cloud",
    [],
    profileDir ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profileDir)}`] : [],
  );
  let ceiling: ServerProcess | undefined;
  const problems: string[] = [];
  try {
    await cloud.request("seed");
    const cold = await coldRequest(cloud.url);
    ceiling = await ServerProcess.start("ceiling", [JSON.stringify(cloud.table), "us-east-1"]);
    await ceiling.request("seed");

    // Warm-up at the largest load, so that the pools have all their environments before the
    // baseline of memory is taken, and each environment's JIT is warm: every worker is an isolate
    // of its own that compiles the SDK for itself (the ceiling warms one), and a few hundred
    // requests each leave the workers at twice their steady CPU cost per request.
    for (const server of [ceiling, cloud]) {
      await load(server.url, "GET /users/{id}", 50, WARM_UP_USERS_SECONDS);
      await load(server.url, "GET /health", 50, 2);
    }
    const baseline = await cloud.request<Memory>("memory");
    const ceilingMemory = await ceiling.request<Memory>("memory");

    const points: Point[] = [];
    const series: { when: string; memory: Memory }[] = [];
    for (const connections of CONNECTIONS) {
      for (const route of ["GET /health", "GET /users/{id}"] as Route[]) {
        const target = route === "GET /users/{id}" && TARGET_CONNECTIONS.includes(connections);
        for (let round = 1; round <= (target ? TARGET_ROUNDS : 1); round += 1) {
          points.push({ ...(await measure(ceiling, "ceiling", route, connections)), round });
          points.push({ ...(await measure(cloud, "local", route, connections)), round });
        }
      }
      series.push({
        when: `after ${connections} connections`,
        memory: await cloud.request<Memory>("memory"),
      });
    }
    const reload = await cloud.request<{ ms: number; functions: Record<string, { environments: number }> }>(
      "reload",
      { times: RELOADS },
    );
    const afterReloads = await cloud.request<Memory>("memory");
    const records = await cloud.request<{ statuses: Record<string, number>; cold: ColdRecord[] }>("records");

    console.log(
      `${SECONDS} s per point after a ${WARM_UP_SECONDS} s warm-up; ceiling = bare node:http + DynamoDBDocumentClient GetItem on its own dynalite (same setup, same ${USER_COUNT} users)`,
    );
    console.log(
      "local = the dev stack's local cloud, auth off, the stage's throttling lifted (dev allows 50 req/s)",
    );
    printPoints(points);

    const startup = cloud.startup as Startup;
    const startupMs = startup.planMs + startup.startMs + startup.firstAnswerMs;
    console.log(
      `\nstart-up to the first answer: ${startupMs.toFixed(0)} ms = plan ${startup.planMs.toFixed(0)} ms (cold: no plan cache exists; the program runs in a child process) + start ${startup.startMs.toFixed(0)} ms (dynalite, tables, pools, listen) + first GET /health ${startup.firstAnswerMs.toFixed(0)} ms (cold)`,
    );
    console.log(
      `  before it: process start to modules loaded ${startup.importMs.toFixed(0)} ms; spawn to ready ${cloud.readyMs.toFixed(0)} ms in all`,
    );
    const coldGet = records.cold.find((r) => r.functionName.endsWith("-users-get"));
    const coldHealth = records.cold.find((r) => r.functionName.endsWith("-users-health"));
    console.log(
      `cold request GET /users/{id} (first to its function): ${cold.clientMs.toFixed(1)} ms at the client (status ${cold.status}); recorded ${coldGet?.durationMs.toFixed(1)} ms, initDurationMs ${coldGet?.initDurationMs?.toFixed(1)}`,
    );
    console.log(
      `cold request GET /health: recorded ${coldHealth?.durationMs.toFixed(1)} ms, initDurationMs ${coldHealth?.initDurationMs?.toFixed(1)}`,
    );
    const growth = (memory: Memory) => memory.rssMb / baseline.rssMb - 1;
    const mb = (memory: Memory) =>
      `RSS ${memory.rssMb.toFixed(0)} MB (main heap ${memory.heapUsedMb.toFixed(0)} MB)`;
    console.log(
      `memory of the local cloud's process${baseline.gc ? " (after a GC of its main thread)" : " (after a settle delay)"}: after the warm-up ${mb(baseline)}`,
    );
    for (const { when, memory } of [...series, { when: `after ${RELOADS} reloads`, memory: afterReloads }])
      console.log(`  ${when}: ${mb(memory)} (${(growth(memory) * 100).toFixed(1)}%)`);
    const environments = Object.entries(reload.functions)
      .filter(([, stats]) => stats.environments > 0)
      .map(([name, stats]) => `${name} ${stats.environments}`)
      .join(", ");
    console.log(
      `  ${RELOADS} reloads (every function's environment changed, then 2 concurrent requests to each of its two routes; 4 after the last) took ${(reload.ms / 1000).toFixed(1)} s; environments after them: ${environments}; ceiling's process ${mb(ceilingMemory)}`,
    );
    const gatewayErrors = Object.entries(records.statuses).filter(([status]) => !status.startsWith("2"));
    console.log(
      `the local gateway answered ${Object.entries(records.statuses)
        .map(([status, count]) => `${count} x ${status}`)
        .join(", ")}`,
    );
    for (const line of SERVERLESS_OFFLINE) console.log(line);

    for (const connections of TARGET_CONNECTIONS) {
      const pairs = points
        .filter((p) => p.server === "local" && p.route === "GET /users/{id}" && p.connections === connections)
        .map((local) => ({ local, reference: ceilingOf(points, local) as Point }));
      const throughputs = pairs.map((p) => p.local.requestsPerSecond / p.reference.requestsPerSecond);
      const p99s = pairs.map((p) => p.local.p99 / p.reference.p99);
      const throughput = median(throughputs);
      const p99 = median(p99s);
      const rounds = (ratios: number[]) => ratios.map((r) => `${r.toFixed(2)}x`).join(", ");
      console.log(
        `GET /users/{id} at ${connections} connections, median of ${pairs.length} pairs: throughput ${throughput.toFixed(2)}x the ceiling's (${rounds(throughputs)}; target >= ${TARGETS.minThroughputRatio}x), p99 ${p99.toFixed(2)}x (${rounds(p99s)}; target <= ${TARGETS.maxP99Ratio}x)`,
      );
      if (throughput < TARGETS.minThroughputRatio)
        problems.push(
          `GET /users/{id} at ${connections} connections: ${throughput.toFixed(2)}x the ceiling's throughput, median of ${rounds(throughputs)} (target >= ${TARGETS.minThroughputRatio}x)`,
        );
      if (p99 > TARGETS.maxP99Ratio)
        problems.push(
          `GET /users/{id} at ${connections} connections: p99 ${p99.toFixed(2)}x the ceiling's, median of ${rounds(p99s)} (target <= ${TARGETS.maxP99Ratio}x)`,
        );
    }
    for (const point of points)
      if (point.errors > 0)
        problems.push(
          `${point.server} ${point.route} at ${point.connections} connections: ${point.errors} errors`,
        );
    if (gatewayErrors.length > 0)
      problems.push(`the local gateway answered ${gatewayErrors.map(([s, n]) => `${n} x ${s}`).join(", ")}`);
    if (cold.status !== 200) problems.push(`the cold GET /users/{id} answered ${cold.status}`);
    if (startupMs >= TARGETS.maxStartupMs)
      problems.push(
        `start-up to the first answer ${startupMs.toFixed(0)} ms (target < ${TARGETS.maxStartupMs} ms)`,
      );
    if (cold.clientMs >= TARGETS.maxColdRequestMs)
      problems.push(
        `a cold function's first request took ${cold.clientMs.toFixed(0)} ms (target < ${TARGETS.maxColdRequestMs} ms)`,
      );
    if (!coldGet) problems.push("the cloud recorded no cold start of the users-get function");
    for (const { when, memory } of [...series, { when: `after ${RELOADS} reloads`, memory: afterReloads }])
      if (growth(memory) >= TARGETS.maxMemoryGrowth)
        problems.push(
          `memory not flat ${when}: RSS ${memory.rssMb.toFixed(0)} MB, ${(growth(memory) * 100).toFixed(0)}% over ${baseline.rssMb.toFixed(0)} MB after the warm-up (target < ${TARGETS.maxMemoryGrowth * 100}%)`,
        );
    console.log(problems.length === 0 ? "all targets met" : `targets missed:\n  ${problems.join("\n  ")}`);
  } finally {
    await Promise.all([cloud.stop(), ceiling?.stop()]);
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
}

if (require.main === module) {
  run().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
