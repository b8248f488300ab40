/**
 * The service benchmark's PostgreSQL run: two replicas of `platform serve` (in-memory engine) on
 * one PostgreSQL job store the benchmark starts (Debian's postgresql package), loaded at 200
 * connections spread over both: `POST /previews` (queued jobs, one stack: the cross-replica queue
 * at its deepest), then `GET /jobs/:id` over the accepted (finished) jobs. Printed beside the
 * SQLite run's figures; then every accepted job must be in the database, succeeded.
 */
import type autocannon from "autocannon";
import pg from "pg";
import { startTestPostgres } from "../helpers/service-postgres";
import { type ServiceProcess, startServiceProcess } from "../helpers/service-process";

/** The write load of the service benches: a queued dev preview, each accepted job's id kept. */
export function queuedPreview(headers: Record<string, string>, accepted: string[]): autocannon.Request {
  return {
    method: "POST",
    path: "/previews",
    headers,
    body: JSON.stringify({ stage: "dev", queue: true }),
    onResponse: (status, body) => {
      if (status === 202) accepted.push((JSON.parse(body) as { id: string }).id);
    },
  };
}

export interface LoadFigures {
  name: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  errors: number;
}

export interface ReplicaBenchTools<P extends LoadFigures> {
  load: (name: string, options: Omit<autocannon.Options, "connections">) => Promise<P>;
  print: (phase: P) => void;
  waitUntilIdle: (url: string, timeoutMs?: number) => Promise<void>;
  token: string;
  /** The SQLite run's figures, by phase name, to print beside. */
  sqlite: Map<string, P>;
}

const REPLICAS = 2;
const WRITES = 2000;
const WARM_UP_WRITES = 500;
const READ_SECONDS = 8;

export async function replicasBench<P extends LoadFigures>(tools: ReplicaBenchTools<P>): Promise<void> {
  const server = await startTestPostgres();
  if ("missing" in server) {
    console.log(`PostgreSQL run skipped: ${server.missing}`);
    return;
  }
  const url = await server.createDatabase();
  const replicas: ServiceProcess[] = [];
  const accepted: string[] = [];
  const problems: string[] = [];
  const headers = { authorization: `Bearer ${tools.token}`, "content-type": "application/json" };
  try {
    for (let index = 0; index < REPLICAS; index++) {
      replicas.push(
        await startServiceProcess({
          PLATFORM_DATABASE_URL: url,
          PLATFORM_API_TOKEN: tools.token,
          PLATFORM_QUEUE_LIMIT: String(WRITES + WARM_UP_WRITES),
          DRIFT_SCHEDULE: "",
        }),
      );
    }
    // autocannon spreads its connections over an array of URLs, round-robin (its types say string).
    const urls = replicas.map((replica) => replica.url) as unknown as string;
    const postPreview = queuedPreview(headers, accepted);
    await tools.load("warm-up", { url: urls, amount: WARM_UP_WRITES, requests: [postPreview] });
    const writes = await tools.load(`POST /previews (${REPLICAS} replicas, PostgreSQL)`, {
      url: urls,
      amount: WRITES,
      requests: [postPreview],
    });
    const drainStart = performance.now();
    await tools.waitUntilIdle(replicas[0].url, 300_000);
    const drainMs = performance.now() - drainStart;
    const pick = () => accepted[Math.floor(Math.random() * accepted.length)];
    const getJob: autocannon.Request = {
      method: "GET",
      headers,
      setupRequest: (request) => ({ ...request, path: `/jobs/${pick()}` }),
    };
    await tools.load("warm-up", { url: urls, duration: 2, requests: [getJob] });
    const reads = await tools.load(`GET /jobs/:id (${REPLICAS} replicas, PostgreSQL)`, {
      url: urls,
      duration: READ_SECONDS,
      requests: [getJob],
    });
    for (const [phase, sqliteName] of [
      [writes, "POST /previews (queued)"],
      [reads, "GET /jobs/:id (finished)"],
    ] as const) {
      tools.print(phase);
      const sqlite = tools.sqlite.get(sqliteName);
      if (sqlite) {
        console.log(
          `${"".padEnd(26)} SQLite, one process: ${sqlite.requestsPerSecond.toFixed(0)} req/s, p99 ${sqlite.p99.toFixed(1)} ms (PostgreSQL ${(phase.requestsPerSecond / sqlite.requestsPerSecond).toFixed(2)}x the throughput)`,
        );
      }
      if (phase.errors > 0) problems.push(`${phase.name}: ${phase.errors} errors`);
    }
    console.log(
      `accepted ${accepted.length} jobs over ${REPLICAS} replicas; the shared queue drained ${(drainMs / 1000).toFixed(1)} s after the load stopped`,
    );
  } finally {
    for (const replica of replicas) replica.child.kill("SIGTERM");
    await Promise.all(replicas.map((replica) => replica.exited));
  }
  // Every accepted job must be in the database, succeeded: none lost across replicas.
  const pool = new pg.Pool({ connectionString: url });
  try {
    const { rows } = await pool.query<{ state: string; count: number }>(
      "SELECT state, COUNT(*)::int AS count FROM platform_jobs WHERE id = ANY($1) GROUP BY state",
      [accepted],
    );
    const succeeded = rows.find((row) => row.state === "succeeded")?.count ?? 0;
    console.log(`database: ${succeeded} of ${accepted.length} accepted jobs succeeded`);
    if (succeeded !== accepted.length)
      problems.push(`${accepted.length - succeeded} accepted jobs missing or not succeeded`);
  } finally {
    await pool.end();
    server.stop();
  }
  if (accepted.length === 0) problems.push("no job was accepted");
  if (problems.length > 0) throw new Error(problems.join("; "));
}
