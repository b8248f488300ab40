/**
 * The service benchmark's abuse phases (see service.bench.ts), each against a service in a child
 * process of its own, bounded in time, on 127.0.0.1:
 * - non-readers: 1,000 clients open the event stream of one running job that emits a 2 KB event
 *   every 50 ms, and never read. The service's RSS (from /proc) must stay under the bound the
 *   stream buffers set; /healthz must keep answering meanwhile.
 * - flood: idle connections opened as fast as they are accepted (far past the connection cap);
 *   /healthz p99 on new connections during the flood against the same probe without it.
 * - many jobs: 20,000 finished jobs in the store; `/metrics` and `GET /jobs` latency against
 *   /healthz at the same load.
 * Run as a script with SERVICE_ABUSE_CHILD=1, this file is the chatty service itself.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import autocannon from "autocannon";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import type { StackRef, UpOperationOptions, UpResult } from "../../automation/engine/types";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { DEFAULT_LIMITS } from "../../automation/service/http/guard";
import { databaseFile, JobStore } from "../../automation/service/jobs/store";
import type { Job } from "../../automation/service/jobs/types";
import { createService } from "../../automation/service/service";
import { startServiceProcess } from "../helpers/service-process";

const TOKEN = "bench-token-0123456789abcdef";
const NON_READERS = 1000;
const NON_READER_SECONDS = 8;
const MAX_NON_READER_HEALTHZ_P99_MS = 500;
/** What a connection costs the service besides its stream buffer (socket, parser, request objects). */
const PER_CONNECTION_BYTES = 64 * 1024;
const FLOOD_CONNECTIONS = 4000;
const FLOOD_CAP = 512;
const PROBES = 200;
const MAX_FLOOD_P99_MS = 250;
const FINISHED_JOBS = 20_000;
const MAX_LIST_P99_MS = 50;
const LIST_SECONDS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] : 0;
}

/** Resident memory of a process, from /proc (Linux). */
function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** One GET /healthz on a new connection (as a monitor probes): its time in ms, or Infinity on failure. */
function probe(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = http.get(`${url}/healthz`, { agent: false, timeout: 5000 }, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode === 200 ? performance.now() - started : Infinity));
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(Infinity));
  });
}

async function probes(url: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    times.push(await probe(url));
    await sleep(10);
  }
  return times;
}

/** An engine whose `up` emits a 2 KB diagnostic event every 50 ms while it runs (a chatty program). */
class ChattyEngine extends InMemoryEngine {
  override async up(stack: StackRef, options: UpOperationOptions = {}): Promise<UpResult> {
    const message = "x".repeat(2 * 1024);
    let sequence = 0;
    const timer = setInterval(
      () =>
        options.onEvent?.({
          sequence: sequence++,
          timestamp: 0,
          diagnosticEvent: { message, color: "never", severity: "info" },
        }),
      50,
    );
    try {
      return await super.up(stack, options);
    } finally {
      clearInterval(timer);
    }
  }
}

/** The chatty service, in this process (SERVICE_ABUSE_CHILD=1). */
async function serveChatty(): Promise<void> {
  const service = createService({
    engine: new ChattyEngine({ defaults: { durations: { up: 120_000 } } }),
    projectDir: PROJECT_DIR,
    dataDir: process.env.PLATFORM_DATA_DIR,
    token: TOKEN,
    revision: async () => "rev-1",
    health: () => async () => {},
    driftSchedule: false,
    graceMs: 2000,
  });
  const url = await service.listen("127.0.0.1", 0);
  console.log(`Platform service on ${url}`);
  process.once("SIGTERM", () => void service.close().then(() => process.exit(0)));
}

/** Starts this file as the chatty service; resolves with its URL once it listens. */
async function startChatty(
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", __filename], {
    env: { ...process.env, SERVICE_ABUSE_CHILD: "1", PLATFORM_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`the chatty service did not start:\n${output}`)), 30_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Platform service on (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    child,
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
    },
  };
}

/** A client that asks for the job's event stream and never reads. */
function nonReader(url: string, jobId: string): Promise<net.Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.pause();
      socket.write(
        `GET /jobs/${jobId}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
      );
      resolve(socket);
    });
    socket.on("error", () => resolve(socket));
  });
}

async function openStreams(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  return Number(/^platform_event_streams (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

async function nonReaders(problems: string[]): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bench-abuse-"));
  const service = await startChatty(dataDir);
  const sockets: net.Socket[] = [];
  try {
    const response = await fetch(`${service.url}/rollouts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ stage: "dev" }),
    });
    const job = (await response.json()) as { id: string; state: string };
    if (response.status !== 202) throw new Error(`the rollout was not accepted: ${response.status}`);
    await sleep(500);
    const baseline = rssBytes(service.child.pid!);
    const started = performance.now();
    for (let index = 0; index < NON_READERS; index += 100) {
      const batch = Array.from({ length: Math.min(100, NON_READERS - index) }, () =>
        nonReader(service.url, job.id),
      );
      sockets.push(...(await Promise.all(batch)));
    }
    let opened = await openStreams(service.url);
    while (opened < NON_READERS && performance.now() - started < 10_000) {
      await sleep(100);
      opened = await openStreams(service.url);
    }
    let peak = baseline;
    const healthz: number[] = [];
    while (performance.now() - started < NON_READER_SECONDS * 1000) {
      peak = Math.max(peak, rssBytes(service.child.pid!));
      healthz.push(await probe(service.url));
      await sleep(100);
    }
    const stillOpen = await openStreams(service.url);
    const growth = peak - baseline;
    const bound = NON_READERS * (DEFAULT_LIMITS.streamBufferBytes + PER_CONNECTION_BYTES);
    console.log(
      `${NON_READERS} non-reading clients on one running job (a 2 KB event every 50 ms) for ${NON_READER_SECONDS} s: ${opened} streams opened, ${opened - stillOpen} dropped at their ${DEFAULT_LIMITS.streamBufferBytes / 1024} KiB bound (the kernel's socket buffers hold the rest)`,
    );
    console.log(
      `  RSS ${mib(baseline)} before, peak ${mib(peak)}: +${mib(growth)} (${(growth / NON_READERS / 1024).toFixed(0)} KiB per client); bound ${NON_READERS} x (${DEFAULT_LIMITS.streamBufferBytes / 1024} KiB stream buffer + ${PER_CONNECTION_BYTES / 1024} KiB connection) = ${mib(bound)}`,
    );
    console.log(
      `  /healthz meanwhile: p99 ${percentile(healthz, 0.99).toFixed(1)} ms over ${healthz.length} probes (target < ${MAX_NON_READER_HEALTHZ_P99_MS} ms)`,
    );
    if (growth > bound) problems.push(`non-readers: RSS grew ${mib(growth)} (bound ${mib(bound)})`);
    if (healthz.some((time) => time === Infinity)) problems.push("non-readers: /healthz failed meanwhile");
    const healthzP99 = percentile(healthz, 0.99);
    if (healthzP99 >= MAX_NON_READER_HEALTHZ_P99_MS) {
      problems.push(
        `non-readers: /healthz p99 ${healthzP99.toFixed(1)} ms meanwhile (target < ${MAX_NON_READER_HEALTHZ_P99_MS} ms)`,
      );
    }
  } finally {
    for (const socket of sockets) socket.destroy();
    await service.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function flood(problems: string[]): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bench-abuse-"));
  const service = await startServiceProcess({
    PLATFORM_DATA_DIR: dataDir,
    PLATFORM_API_TOKEN: TOKEN,
    PLATFORM_MAX_CONNECTIONS: String(FLOOD_CAP),
  });
  const { hostname, port } = new URL(service.url);
  const sockets = new Set<net.Socket>();
  let flooding = true;
  let opened = 0;
  try {
    await probes(service.url, 20);
    const reference = await probes(service.url, PROBES);
    // Idle connections, opened as fast as they are accepted, until FLOOD_CONNECTIONS have been.
    const attacker = (async () => {
      while (flooding && opened < FLOOD_CONNECTIONS) {
        for (let index = 0; index < 50; index++) {
          const socket = net.connect(Number(port), hostname);
          socket.on("error", () => {});
          socket.on("close", () => sockets.delete(socket));
          sockets.add(socket);
          opened++;
        }
        await sleep(5);
      }
    })();
    await sleep(200);
    const during = await probes(service.url, PROBES);
    flooding = false;
    await attacker;
    const referenceP99 = percentile(reference, 0.99);
    const duringP99 = percentile(during, 0.99);
    const failed = during.filter((time) => time === Infinity).length;
    console.log(
      `flood: ${opened} idle connections opened against a cap of ${FLOOD_CAP} (${sockets.size} still open at the end); /healthz on new connections p99 ${duringP99.toFixed(1)} ms during vs ${referenceP99.toFixed(1)} ms alone (${(duringP99 / Math.max(referenceP99, 0.1)).toFixed(2)}x), ${failed} of ${PROBES} failed`,
    );
    if (failed > 0) problems.push(`flood: ${failed} /healthz probes failed`);
    if (duringP99 >= MAX_FLOOD_P99_MS)
      problems.push(`flood: /healthz p99 ${duringP99.toFixed(1)} ms (target < ${MAX_FLOOD_P99_MS} ms)`);
  } finally {
    flooding = false;
    for (const socket of sockets) socket.destroy();
    service.child.kill("SIGTERM");
    await service.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A store with FINISHED_JOBS finished previews, dev's last job the newest. */
function fillStore(dataDir: string): void {
  const store = new JobStore(databaseFile(dataDir));
  const start = Date.UTC(2025, 0, 1);
  let last: Job | undefined;
  for (let index = 0; index < FINISHED_JOBS; index++) {
    const createdAt = new Date(start + index * 60_000).toISOString();
    last = {
      id: `bench-${String(index).padStart(6, "0")}`,
      kind: index % 3 === 0 ? "drift" : "preview",
      stage: "dev",
      state: index % 10 === 0 ? "failed" : "succeeded",
      trigger: "api",
      engine: "in-memory",
      options: {},
      regions: [],
      createdAt,
      finishedAt: createdAt,
      durationMs: 1000,
    };
    store.insertJob(last);
    if (index % 1000 === 999) store.flush();
  }
  if (last) store.setLastJob("dev", last);
  store.close();
}

async function latency(url: string, pathname: string): Promise<autocannon.Result> {
  return new Promise((resolve, reject) =>
    autocannon(
      { url: `${url}${pathname}`, connections: 10, duration: LIST_SECONDS, headers },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
}

async function manyJobs(problems: string[]): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bench-abuse-"));
  fillStore(dataDir);
  const service = await startServiceProcess({
    PLATFORM_DATA_DIR: dataDir,
    PLATFORM_API_TOKEN: TOKEN,
    // Keep all 20,000: the phase measures a full store, not its pruning.
    PLATFORM_JOB_RETENTION: "off",
  });
  try {
    await latency(service.url, "/healthz");
    const reference = await latency(service.url, "/healthz");
    for (const pathname of ["/metrics", "/jobs", "/jobs?limit=500"]) {
      const result = await latency(service.url, pathname);
      const errors = result.errors + result.timeouts + result.non2xx;
      console.log(
        `${FINISHED_JOBS} finished jobs: GET ${pathname.padEnd(15)} ${result.requests.average.toFixed(0).padStart(6)} req/s  p99 ${result.latency.p99.toFixed(1)} ms (${(result.latency.p99 / Math.max(reference.latency.p99, 1)).toFixed(1)}x /healthz's ${reference.latency.p99.toFixed(1)} ms, counted as at least 1 ms), ${errors} errors`,
      );
      if (errors > 0) problems.push(`GET ${pathname} with ${FINISHED_JOBS} jobs: ${errors} errors`);
      if (pathname !== "/jobs?limit=500" && result.latency.p99 >= MAX_LIST_P99_MS) {
        problems.push(
          `GET ${pathname} with ${FINISHED_JOBS} jobs: p99 ${result.latency.p99} ms (target < ${MAX_LIST_P99_MS} ms)`,
        );
      }
    }
  } finally {
    service.child.kill("SIGTERM");
    await service.exited;
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The three abuse phases; throws naming every target missed. */
export async function abuse(): Promise<void> {
  const problems: string[] = [];
  for (const phase of [nonReaders, flood, manyJobs]) {
    try {
      await phase(problems);
    } catch (error) {
      problems.push(`${phase.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join("; "));
}

if (require.main === module && process.env.SERVICE_ABUSE_CHILD === "1") void serveChatty();
