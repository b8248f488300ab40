/**
 * Service benchmark: the real `platform serve` (in-memory engine) in a child process, loaded from
 * this process with autocannon at 200 connections: `POST /previews` (queued jobs), then
 * `GET /jobs/:id` over every accepted (finished) job and on a running rollout, against
 * `GET /healthz` as the reference in the same run.
 * Each phase follows an unmeasured warm-up. Then the service is stopped and its SQLite file read:
 * every accepted job must be there, finished.
 *
 * Then the service under abuse, each phase bounded in time, all on 127.0.0.1:
 * - 1,000 clients that never read the event stream of one running, chatty job: the service's RSS
 *   must stay under the bound the stream buffers set (each stream holds at most 256 KiB before
 *   its client is dropped), and /healthz must keep answering;
 * - a flood of idle connections: /healthz p99 during the flood against /healthz alone;
 * - 20,000 finished jobs in the store: `/metrics` and `GET /jobs` latency against /healthz.
 * Then the same job load on two replicas sharing a PostgreSQL job store (service-replicas.ts),
 * beside the SQLite figures (skipped, saying so, where PostgreSQL is not installed).
 * Run alone with `npx tsx test/bench/service.bench.ts`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import autocannon from "autocannon";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import { startServiceProcess } from "../helpers/service-process";
import { abuse } from "./service-abuse";
import { queuedPreview, replicasBench } from "./service-replicas";

const CONNECTIONS = 200;
/** A fixed number of job requests (not a duration), so that every request gets its answer. */
const WRITES = 4000;
const WARM_UP_WRITES = 1000;
const READ_SECONDS = 8;
const MAX_READ_P99_MS = 50;
const TOKEN = "bench-token-0123456789abcdef";

interface Phase {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  /** p99 of the requests sent on an already open connection, and the slowest first request. */
  establishedP99: number;
  firstRequestMax: number;
}

function percentile(sorted: number[], fraction: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] : 0;
}

/** Runs autocannon at CONNECTIONS connections against the service and summarizes the run. */
async function load(name: string, options: Omit<autocannon.Options, "connections">): Promise<Phase> {
  // The first request on each connection waits for the server to accept it, which a busy Node.js
  // server does late (a bare node:http server doing 1 ms of work per request shows the same): it
  // is counted apart so that the figure for requests on open connections stays readable.
  const connected = new Set<unknown>();
  const established: number[] = [];
  const firstRequests: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...options, connections: CONNECTIONS }, (error, finished) =>
      error ? reject(error) : resolve(finished),
    );
    instance.on("response", (client, _status, _bytes, ms) => {
      (connected.has(client) ? established : firstRequests).push(ms);
      connected.add(client);
    });
  });
  established.sort((a, b) => a - b);
  return {
    name,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
    establishedP99: percentile(established, 0.99),
    firstRequestMax: Math.max(0, ...firstRequests),
  };
}

function print(phase: Phase): void {
  console.log(
    `${phase.name.padEnd(26)} ${phase.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${phase.p50.toFixed(1).padStart(5)} ms  p99 ${phase.p99.toFixed(1).padStart(6)} ms  ${phase.total} requests, ${phase.errors} errors`,
  );
  console.log(
    `${"".padEnd(26)} on open connections p99 ${phase.establishedP99.toFixed(1)} ms; slowest first request on a new connection ${phase.firstRequestMax.toFixed(0)} ms`,
  );
}

const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

async function waitUntilIdle(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [queued, running] = await Promise.all(
      ["queued", "running"].map(async (state) => {
        const response = await fetch(`${url}/jobs?state=${state}&limit=1`, { headers });
        return ((await response.json()) as { jobs: unknown[] }).jobs.length;
      }),
    );
    if (queued + running === 0) return;
    if (Date.now() > deadline) throw new Error(`jobs still queued or running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function run(): Promise<void> {
  const problems: string[] = [];
  const replicas = () => replicasBench({ load, print, waitUntilIdle, token: TOKEN, sqlite: sqliteFigures });
  for (const phase of [throughput, replicas, abuse]) {
    try {
      await phase();
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
}

/** The SQLite run's figures, by phase name (printed beside the PostgreSQL run's). */
const sqliteFigures = new Map<string, Phase>();

/** 200 connections of job requests and reads, against /healthz; then every accepted job in the store. */
async function throughput(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-service-bench-"));
  // dev's stack answers at once (the previews under load); prod's canary stack takes ten minutes
  // to `up`, so that a rollout of prod stays running while it is read.
  const service = await startServiceProcess({
    PLATFORM_DATA_DIR: dataDir,
    PLATFORM_API_TOKEN: TOKEN,
    // Every job of the load waits for dev's stack: a queue limit would answer most of them 429.
    PLATFORM_QUEUE_LIMIT: String(WRITES + WARM_UP_WRITES),
    ENGINE_SCRIPT: JSON.stringify({ regions: { prod: { durations: { up: 600_000 } } } }),
  });
  const accepted: string[] = [];
  const problems: string[] = [];
  try {
    const postPreview = queuedPreview(headers, accepted);
    // Warm-up, not measured: the first burst of 200 connections meets a cold JIT (its jobs count
    // in the lost-job check all the same).
    await load("warm-up", { url: service.url, amount: WARM_UP_WRITES, requests: [postPreview] });
    const writeStart = performance.now();
    const writes = await load("POST /previews (queued)", {
      url: service.url,
      amount: WRITES,
      requests: [postPreview],
    });
    const writeSeconds = (performance.now() - writeStart) / 1000;
    const drainStart = performance.now();
    await waitUntilIdle(service.url);
    const drainMs = performance.now() - drainStart;

    const pick = () => accepted[Math.floor(Math.random() * accepted.length)];
    const getJob: autocannon.Request = {
      method: "GET",
      headers,
      setupRequest: (request) => ({ ...request, path: `/jobs/${pick()}` }),
    };
    await load("warm-up", { url: service.url, duration: 2, requests: [getJob] });
    const reads = await load("GET /jobs/:id (finished)", {
      url: service.url,
      duration: READ_SECONDS,
      requests: [getJob],
    });
    // A running job is read from memory: its document, made once per change, plus its duration.
    const rollout = await fetch(`${service.url}/rollouts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ stage: "prod" }),
    });
    const running = (await rollout.json()) as { id: string; state: string };
    if (rollout.status !== 202 || running.state !== "running") {
      throw new Error(`the prod rollout did not start: ${rollout.status} ${JSON.stringify(running)}`);
    }
    const runningReads = await load("GET /jobs/:id (running)", {
      url: `${service.url}/jobs/${running.id}`,
      duration: READ_SECONDS,
      headers,
    });
    const reference = await load("GET /healthz (reference)", {
      url: `${service.url}/healthz`,
      duration: READ_SECONDS,
    });
    for (const phase of [writes, reads, runningReads, reference]) print(phase);
    for (const phase of [writes, reads]) sqliteFigures.set(phase.name, phase);
    console.log(
      `accepted ${accepted.length} jobs (${(WRITES / writeSeconds).toFixed(0)}/s measured); the queue drained ${(drainMs / 1000).toFixed(1)} s after the load stopped`,
    );
    for (const phase of [reads, runningReads]) {
      console.log(
        `${phase.name} vs /healthz: ${(phase.requestsPerSecond / reference.requestsPerSecond).toFixed(2)}x the throughput, p99 ${(phase.p99 / Math.max(reference.p99, 0.1)).toFixed(2)}x`,
      );
    }
    for (const phase of [writes, reads, runningReads, reference]) {
      if (phase.errors > 0) problems.push(`${phase.name}: ${phase.errors} errors`);
    }
    for (const phase of [reads, runningReads]) {
      if (phase.p99 >= MAX_READ_P99_MS)
        problems.push(`${phase.name} p99 ${phase.p99} ms (target < ${MAX_READ_P99_MS} ms)`);
    }
  } finally {
    service.child.kill("SIGTERM");
    await service.exited;
  }

  // Every accepted job must be in the store, finished: none lost, none left behind.
  const store = new JobStore(databaseFile(dataDir));
  try {
    const missing = accepted.filter((id) => store.getJob(id) === undefined);
    const unfinished = accepted.filter((id) => store.getJob(id)?.state !== "succeeded");
    // The accepted previews and the prod rollout (cancelled when the service stopped).
    const stored = store.countByKindAndState().reduce((sum, row) => sum + row.count, 0) - 1;
    console.log(
      `store: ${stored} previews; ${missing.length} accepted jobs missing, ${unfinished.length} not succeeded`,
    );
    if (missing.length > 0) problems.push(`${missing.length} accepted jobs lost`);
    if (unfinished.length > 0) problems.push(`${unfinished.length} accepted jobs did not succeed`);
    if (stored !== accepted.length)
      problems.push(`the store has ${stored} jobs for ${accepted.length} accepted`);
  } finally {
    store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (accepted.length === 0) problems.push("no job was accepted");
  if (problems.length > 0) throw new Error(problems.join("; "));
}

if (require.main === module) {
  run().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
