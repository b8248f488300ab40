import * as path from "node:path";
import type { FastifyInstance } from "fastify";
import { chooseEngine } from "../engine/choose";
import type { Engine } from "../engine/types";
import { PROJECT_DIR } from "../plan/plan";
import type { HealthGate } from "../rollout/health";
import type { StageInfo } from "../rollout/targets";
import { generateToken } from "./http/auth";
import type { ConnectionLimits } from "./http/guard";
import { buildServer } from "./http/server";
import { JobManager } from "./jobs/manager";
import { DEFAULT_LEASE_MS } from "./jobs/pg-cluster";
import { PgJobStore } from "./jobs/pg-store";
import { DEFAULT_RETENTION, parseRetention, type RetentionPolicy } from "./jobs/retention";
import { databaseFile, JobStore, type StoreHealth } from "./jobs/store";
import type { JobCluster, JobStoreApi } from "./jobs/store-api";
import { ServiceMetrics } from "./metrics";
import { type DriftSchedule, startDriftSchedules } from "./schedule";

export interface ServiceOptions {
  /** @default chooseEngine (PulumiEngine when `pulumi` is on PATH, else OfflineEngine) */
  engine?: Engine;
  /** @default PROJECT_DIR */
  projectDir?: string;
  /** Where the job store lives. @default `<projectDir>/.data` */
  dataDir?: string;
  /** The API token. @default a random one (tokenGenerated is then true) */
  token?: string;
  /** The revision a rollout deploys. @default computeRevision */
  revision?: (projectDir: string, stage: string) => Promise<string>;
  /** A rollout's health gate. @default HTTP smoke path + CloudWatch alarms */
  health?: (stage: StageInfo) => HealthGate;
  /** Drift checks on a schedule. false: none. @default per stage, `platform:driftSchedule` */
  driftSchedule?: { override?: string } | false;
  /** How long stopping waits for running jobs to end after cancelling them. @default 30000 */
  graceMs?: number;
  /** Fastify's request log. @default false */
  logger?: boolean;
  /** Told of a scheduled drift check that did not start. */
  onScheduleSkip?: (stage: string, reason: string) => void;
  /** How long finished jobs are kept. @default parseRetention(DEFAULT_RETENTION): 30 days or 10,000 jobs */
  retention?: RetentionPolicy;
  /** How often finished jobs beyond the retention are pruned. @default 600000 (10 minutes) */
  pruneIntervalMs?: number;
  /** Jobs that may wait for their stacks at once (more: HTTP 429). @default 100 */
  queueLimit?: number;
  /** Told when the job store's writes start failing, when they recover, and of writes lost at close. */
  onStoreHealth?: (health: StoreHealth) => void;
  /**
   * A PostgreSQL job store shared by replicas (`postgres://user:password@host:port/db`,
   * PLATFORM_DATABASE_URL) instead of the SQLite file under dataDir. Only `openService` opens one.
   */
  databaseUrl?: string;
  /**
   * With databaseUrl: how long a replica's running jobs outlive its last heartbeat before another
   * replica marks them `interrupted` (PLATFORM_REPLICA_LEASE_MS). @default 15000
   */
  replicaLeaseMs?: number;
  /** Host names answered besides localhost and the listening address (PLATFORM_ALLOWED_HOSTS). @default [] */
  allowedHosts?: string[];
  /** Connection and event stream limits (PLATFORM_MAX_CONNECTIONS). @default DEFAULT_LIMITS of http/guard */
  httpLimits?: Partial<ConnectionLimits>;
}

/** The HTTP service: job store, job manager, metrics, schedules and the Fastify app. */
export interface Service {
  app: FastifyInstance;
  manager: JobManager;
  store: JobStoreApi;
  /** The replicas' coordination, with a PostgreSQL store. */
  cluster?: JobCluster;
  metrics: ServiceMetrics;
  token: string;
  /** True when the token was generated for this run (print it once). */
  tokenGenerated: boolean;
  schedules: DriftSchedule[];
  /** Jobs found queued or running at start (a previous process died): now `interrupted`. */
  interruptedAtStart: number;
  /** Listens; resolves to the base URL (`http://127.0.0.1:8080`). */
  listen(host: string, port: number): Promise<string>;
  /** Stops taking jobs, cancels the running ones, closes the server and the store. */
  close(): Promise<void>;
}

/**
 * The service on its SQLite job store (one process per store).
 *
 * @throws StoreOpenError, StoreInUseError, SettingsError (a bad DRIFT_SCHEDULE)
 */
export function createService(options: ServiceOptions = {}): Service {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const store = new JobStore(databaseFile(options.dataDir ?? path.join(projectDir, ".data")), { lock: true });
  return assemble(store, undefined, store.jobsInStates(["queued", "running"]).length, options);
}

/**
 * The service on the job store its options name: PostgreSQL (`databaseUrl`: connects, applies the
 * migrations, joins the replicas) or else SQLite (createService).
 *
 * @throws RangeError naming PLATFORM_REPLICA_LEASE_MS; the store's open errors
 */
export async function openService(options: ServiceOptions = {}): Promise<Service> {
  if (!options.databaseUrl) return createService(options);
  if (!/^postgres(ql)?:\/\//.test(options.databaseUrl)) {
    throw new RangeError(
      `PLATFORM_DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:port/database), got a value starting ${JSON.stringify(options.databaseUrl.slice(0, 12))}`,
    );
  }
  const leaseMs = options.replicaLeaseMs ?? DEFAULT_LEASE_MS;
  if (!Number.isInteger(leaseMs) || leaseMs < 300 || leaseMs > 3_600_000) {
    throw new RangeError(
      `PLATFORM_REPLICA_LEASE_MS must be a whole number of milliseconds from 300 to 3600000 (got ${leaseMs})`,
    );
  }
  const store = await PgJobStore.open({ url: options.databaseUrl, leaseMs });
  try {
    return assemble(store, store.cluster, 0, options);
  } catch (error) {
    await store.close();
    throw error;
  }
}

function assemble(
  store: JobStoreApi,
  cluster: JobCluster | undefined,
  before: number,
  options: ServiceOptions,
): Service {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const metrics = new ServiceMetrics(store);
  const engine = options.engine ?? chooseEngine({ projectDir });
  let manager: JobManager;
  try {
    manager = new JobManager({
      store,
      cluster,
      engine,
      projectDir,
      revision: options.revision,
      health: options.health,
      queueLimit: options.queueLimit,
      onFinished: (job) => metrics.observe(job),
    });
  } catch (error) {
    store.close();
    throw error;
  }
  const tokenGenerated = options.token === undefined;
  const token = options.token ?? generateToken();
  const app = buildServer({
    manager,
    store,
    metrics,
    token,
    logger: options.logger,
    allowedHosts: options.allowedHosts,
    limits: options.httpLimits,
  });
  let scheduled: { schedules: DriftSchedule[]; stop: () => void } = { schedules: [], stop: () => {} };
  if (options.driftSchedule !== false) {
    try {
      scheduled = startDriftSchedules({
        manager,
        store,
        isLeader: cluster ? () => cluster.leader : undefined,
        override: options.driftSchedule?.override,
        onSkip: options.onScheduleSkip,
      });
    } catch (error) {
      store.close();
      throw error;
    }
  }
  store.onHealthChange = options.onStoreHealth;
  const pruning = startPruning(
    store,
    options.retention ?? parseRetention(DEFAULT_RETENTION),
    options.pruneIntervalMs,
  );
  let closing: Promise<void> | undefined;
  return {
    app,
    manager,
    store,
    cluster,
    metrics,
    token,
    tokenGenerated,
    schedules: scheduled.schedules,
    interruptedAtStart: before,
    async listen(host, port) {
      await app.listen({ host, port });
      const address = app.server.address();
      const actualPort = typeof address === "object" && address ? address.port : port;
      return `http://${host.includes(":") ? `[${host}]` : host}:${actualPort}`;
    },
    close() {
      closing ??= (async () => {
        scheduled.stop();
        pruning.stop();
        await manager.shutdown(options.graceMs);
        // The jobs' last events go to their live streams once committed: commit them now, and let
        // the streams write them (a turn) before closing the server ends the streams.
        store.flush();
        await new Promise((resolve) => setImmediate(resolve));
        await app.close();
        const lost = await store.close();
        if (lost > 0) {
          options.onStoreHealth?.({
            ...store.health,
            state: "degraded",
            message: `${store.health.message ?? "the job store cannot be written"}: ${lost} write(s) were not saved at stop; the next start marks their jobs interrupted`,
          });
        }
      })();
      return closing;
    },
  };
}

/**
 * Prunes finished jobs beyond the retention policy now and every `intervalMs`, a batch per turn of
 * the event loop until none is left (a store of many thousands of jobs is pruned without holding
 * requests up).
 */
function startPruning(
  store: JobStoreApi,
  policy: RetentionPolicy,
  intervalMs = 600_000,
): { stop: () => void } {
  let stopped = false;
  let running = false;
  const run = () => {
    if (stopped || running) return;
    running = true;
    const step = () => {
      const pruned = stopped ? 0 : store.prune(policy);
      if (typeof pruned === "number") {
        if (pruned === 0) running = false;
        else setImmediate(step);
        return;
      }
      // A shared store prunes in a transaction of its own (whichever replica does, harmless twice).
      pruned.then(
        (count) => {
          if (count === 0 || stopped) running = false;
          else setImmediate(step);
        },
        () => {
          running = false;
        },
      );
    };
    step();
  };
  const first = setImmediate(run);
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearImmediate(first);
      clearInterval(timer);
    },
  };
}
