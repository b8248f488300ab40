/**
 * The server side of the local-cloud benchmark, run in a child process (so that autocannon, in the
 * parent, does not share its event loop): `cloud` serves the dev stack's local cloud, `ceiling` a
 * bare `node:http` server doing the same DynamoDB read (same SDK, DynamoDBDocumentClient, a
 * dynalite started the same way, the same table and items). The parent drives it over IPC.
 * `node --expose-gc --import tsx test/bench/local-server.ts cloud|ceiling`.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type * as CloudModule from "../../automation/local/cloud";
import type { RequestRecord } from "../../automation/local/gateway";
import type { LocalTable } from "../../automation/local/model";
import { applyTables, type LocalDynamoDb, startDynamoDb } from "../../automation/local/tables";
import { PROJECT_DIR, planStack } from "../../automation/plan/plan";
import type { PlanResult } from "../../automation/plan/types";

export const USER_COUNT = 1000;
export const userId = (index: number): string => `bench-user-${String(index).padStart(4, "0")}`;

/** The stage's throttling (dev: 50 req/s) would answer 429 to any load test: lifted to the maximum. */
export const BENCH_CONFIG = {
  "platform:throttleRateLimit": "100000",
  "platform:throttleBurstLimit": "100000",
};

export interface Startup {
  /** Process start to the local cloud's modules loaded (tsx, AWS SDK). */
  importMs: number;
  /** planStack: the program in a child process under the mock runtime, bundles by esbuild. No plan cache exists. */
  planMs: number;
  /** LocalCloud.start given the plan: dynalite, tables, pools, API listening. */
  startMs: number;
  /** From listening to the first 200 of GET /health (the health function's cold start). */
  firstAnswerMs: number;
}

export interface Memory {
  rssMb: number;
  heapUsedMb: number;
  gc: boolean;
}

export interface ColdRecord {
  functionName: string;
  durationMs: number;
  initDurationMs?: number;
}

/** Messages from the child: the first says it is ready, the others answer a request by id. */
export type ServerMessage =
  | { ready: true; url: string; table: LocalTable; startup?: Startup }
  | { id: number; result?: unknown; error?: string };

export type ServerRequest =
  | { id: number; command: "seed" }
  | { id: number; command: "memory" }
  | { id: number; command: "records" }
  | { id: number; command: "cpu" }
  | { id: number; command: "reload"; times: number }
  | { id: number; command: "close" };

/** Writes USER_COUNT users, shaped as functions/users/table.ts writes them, 25 per batch. */
async function seed(db: LocalDynamoDb, tableName: string): Promise<number> {
  const documents = DynamoDBDocumentClient.from(db.client);
  const now = new Date().toISOString();
  for (let start = 0; start < USER_COUNT; start += 25) {
    let writes: NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]["RequestItems"]>[string] = [];
    for (let index = start; index < Math.min(USER_COUNT, start + 25); index += 1) {
      const id = userId(index);
      writes.push({
        PutRequest: {
          Item: {
            userId: id,
            name: `Bench User ${index}`,
            email: `${id}@example.com`,
            createdAt: now,
            updatedAt: now,
          },
        },
      });
    }
    while (writes.length > 0) {
      const { UnprocessedItems } = await documents.send(
        new BatchWriteCommand({ RequestItems: { [tableName]: writes } }),
      );
      writes = UnprocessedItems?.[tableName] ?? [];
    }
  }
  return USER_COUNT;
}

async function memory(): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Terminated workers free their isolates asynchronously: let them go before measuring.
  await new Promise((resolve) => setTimeout(resolve, 500));
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const usage = process.memoryUsage();
  return { rssMb: usage.rss / 2 ** 20, heapUsedMb: usage.heapUsed / 2 ** 20, gc: gc !== undefined };
}

/** CPU time of the whole process (every thread: gateway, dynalite, workers) in microseconds. */
function cpuMicroseconds(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** A copy of the plan in which every function's environment differs: every pool replaces its workers. */
function reloadedPlan(plan: PlanResult, generation: number): PlanResult {
  const copy = structuredClone(plan);
  for (const resource of copy.resources) {
    if (resource.type !== "aws:lambda/function:Function") continue;
    for (const properties of [resource.inputs, resource.outputs]) {
      const environment = (properties.environment ?? {}) as { variables?: Record<string, string> };
      environment.variables = { ...environment.variables, BENCH_RELOAD: String(generation) };
      properties.environment = environment;
    }
  }
  return copy;
}

/**
 * `LOCAL_BENCH_CLOUD_DIR=<dir>`: the local cloud from a copy of automation/local (its imports of
 * the project made absolute), to measure a change to it before making it.
 */
function loadCloudModule(): typeof CloudModule {
  const dir = process.env.LOCAL_BENCH_CLOUD_DIR;
  return require(dir ? path.resolve(dir, "cloud") : "../../automation/local/cloud") as typeof CloudModule;
}

async function startCloud(): Promise<{
  ready: ServerMessage;
  handle: (request: ServerRequest) => Promise<unknown>;
}> {
  const { assetCacheDir, LocalCloud } = loadCloudModule();
  const importMs = performance.now();
  const statuses: Record<string, number> = {};
  const cold: ColdRecord[] = [];
  const onRequest = (record: RequestRecord) => {
    statuses[record.status] = (statuses[record.status] ?? 0) + 1;
    if (record.cold && record.functionName && cold.length < 2000)
      cold.push({
        functionName: record.functionName,
        durationMs: record.durationMs,
        initDurationMs: record.initDurationMs,
      });
  };
  const planStarted = performance.now();
  // The same options LocalCloud.start plans with; planned here so that its share can be told apart.
  const plan = await planStack("dev", {
    projectDir: PROJECT_DIR,
    assetDir: assetCacheDir(PROJECT_DIR),
    configOverrides: BENCH_CONFIG,
  });
  const started = performance.now();
  const cloud = await LocalCloud.start({
    stack: "dev",
    inMemory: true,
    auth: false,
    port: 0,
    plan,
    onRequest,
  });
  const listening = performance.now();
  for (;;) {
    const response = await fetch(`${cloud.url}/health`);
    await response.arrayBuffer();
    if (response.status === 200) break;
  }
  const startup: Startup = {
    importMs,
    planMs: started - planStarted,
    startMs: listening - started,
    firstAnswerMs: performance.now() - listening,
  };
  const table = cloud.model.tables.find((t) => t.name === plan.outputs.tableName);
  if (!table)
    throw new Error(`the dev plan has no table named by its tableName output (${plan.outputs.tableName})`);
  const base = cloud.plan;
  /** Concurrent requests to each of the two routes: each starts an environment on the code in force. */
  const traffic = async (concurrency: number, generation: number) => {
    const gets = Array.from({ length: concurrency }, (_, i) => fetch(`${cloud.url}/users/${userId(i * 37)}`));
    const healths = Array.from({ length: concurrency }, () => fetch(`${cloud.url}/health`));
    for (const response of await Promise.all([...gets, ...healths])) {
      await response.arrayBuffer();
      if (response.status !== 200)
        throw new Error(`reload ${generation}: a request answered ${response.status}`);
    }
  };
  const reload = async (times: number) => {
    const started = performance.now();
    for (let generation = 1; generation <= times; generation += 1) {
      await cloud.apply(reloadedPlan(base, generation));
      await traffic(2, generation);
    }
    // Back to the pools' full size (4 environments each), as at the baseline taken after the warm-up.
    await traffic(4, times);
    return { ms: performance.now() - started, functions: cloud.functionStats() };
  };
  return {
    ready: { ready: true, url: cloud.url, table, startup },
    handle: async (request) => {
      switch (request.command) {
        case "seed":
          return seed(cloud.dynamoDb, table.name);
        case "memory":
          return memory();
        case "records":
          return { statuses, cold };
        case "cpu":
          return cpuMicroseconds();
        case "reload":
          return reload(request.times);
        case "close":
          return cloud.close();
      }
    },
  };
}

/** The ceiling: what node:http and the SDK can do on this machine with no gateway and no workers. */
async function startCeiling(
  table: LocalTable,
  region: string,
): Promise<{
  ready: ServerMessage;
  handle: (request: ServerRequest) => Promise<unknown>;
}> {
  const db = await startDynamoDb({ region });
  await applyTables(db.client, [table]);
  const documents = DynamoDBDocumentClient.from(db.client);
  const usersPath = /^\/users\/([^/?]+)$/;
  const server = http.createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(text),
      });
      response.end(text);
    };
    if (request.url === "/health") return send(200, { status: "ok" });
    const match = usersPath.exec(request.url ?? "");
    if (!match) return send(404, { message: "Not Found" });
    documents
      .send(new GetCommand({ TableName: table.name, Key: { userId: decodeURIComponent(match[1]) } }))
      .then(
        ({ Item }) => (Item ? send(200, Item) : send(404, { message: "User not found" })),
        (error: unknown) => send(500, { message: String(error) }),
      );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ready: { ready: true, url, table },
    handle: async (request) => {
      switch (request.command) {
        case "seed":
          return seed(db, table.name);
        case "memory":
          return memory();
        case "records":
          return { statuses: {}, cold: [] };
        case "cpu":
          return cpuMicroseconds();
        case "reload":
          throw new Error("the ceiling has no functions to reload");
        case "close":
          await new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          });
          return db.close();
      }
    },
  };
}

async function main(): Promise<void> {
  const send = (message: ServerMessage) => process.send?.(message);
  const [mode, tableJson, region] = process.argv.slice(2);
  const server =
    mode === "cloud"
      ? await startCloud()
      : mode === "ceiling"
        ? await startCeiling(JSON.parse(tableJson) as LocalTable, region)
        : undefined;
  if (!server) throw new Error(`mode must be cloud or ceiling, got ${JSON.stringify(mode)}`);
  process.on("message", (request: ServerRequest) => {
    server.handle(request).then(
      (result) => {
        send({ id: request.id, result });
        if (request.command === "close") process.disconnect();
      },
      (error: unknown) =>
        send({ id: request.id, error: error instanceof Error ? error.stack : String(error) }),
    );
  });
  send(server.ready);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
