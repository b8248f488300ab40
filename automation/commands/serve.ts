import * as path from "node:path";
import type * as Settings from "../../components/settings";
import type { Engine } from "../engine/types";
import { PROCESS_SECRETS, PROJECT_DIR } from "../plan/plan";
import type * as Manager from "../service/jobs/manager";
import type * as PgStore from "../service/jobs/pg-store";
import {
  DEFAULT_RETENTION,
  describeRetention,
  parseRetention,
  type RetentionPolicy,
} from "../service/jobs/retention";
import type * as Store from "../service/jobs/store";
import type * as Service from "../service/service";
import type { ServiceOptions } from "../service/service";
import { CliExit, EXIT, type RegisterCommand } from "./io";

/** What `serve` reads from the environment. */
export interface ServeEnvironment {
  host: string;
  port: number;
  token?: string;
  driftSchedule?: string;
  dataDir: string;
  /** PLATFORM_JOB_RETENTION. */
  retention: RetentionPolicy;
  /** PLATFORM_QUEUE_LIMIT. */
  queueLimit: number;
  /** PLATFORM_ALLOWED_HOSTS, plus HOST when it is a name. */
  allowedHosts: string[];
  /** PLATFORM_MAX_CONNECTIONS. */
  maxConnections?: number;
}

/**
 * Reads HOST, PORT, PLATFORM_API_TOKEN, DRIFT_SCHEDULE, PLATFORM_DATA_DIR, PLATFORM_JOB_RETENTION,
 * PLATFORM_QUEUE_LIMIT, PLATFORM_ALLOWED_HOSTS and PLATFORM_MAX_CONNECTIONS; a bad value names its key.
 */
export function readServeEnvironment(env: NodeJS.ProcessEnv, projectDir: string): ServeEnvironment {
  const problems: string[] = [];
  const portText = env.PORT?.trim() || "8080";
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65535))
    problems.push(`PORT must be an integer from 0 to 65535 (got ${JSON.stringify(env.PORT)})`);
  const token = env.PLATFORM_API_TOKEN === "" ? undefined : env.PLATFORM_API_TOKEN;
  if (token !== undefined && !/^[\x21-\x7e]{16,512}$/.test(token)) {
    problems.push(
      "PLATFORM_API_TOKEN must be 16 to 512 printable characters without spaces (or unset: a random one is generated)",
    );
  }
  let retention: RetentionPolicy = {};
  try {
    retention = parseRetention(env.PLATFORM_JOB_RETENTION?.trim() || DEFAULT_RETENTION);
  } catch (error) {
    problems.push((error as Error).message);
  }
  // The job manager loads the Pulumi SDK and the engines: required by `serve` alone, not at CLI start.
  const { DEFAULT_QUEUE_LIMIT } = require("../service/jobs/manager") as typeof Manager;
  const queueText = env.PLATFORM_QUEUE_LIMIT?.trim() || String(DEFAULT_QUEUE_LIMIT);
  const queueLimit = /^[1-9]\d{0,5}$/.test(queueText) ? Number(queueText) : Number.NaN;
  if (Number.isNaN(queueLimit)) {
    problems.push(
      `PLATFORM_QUEUE_LIMIT must be an integer from 1 to 999999 (got ${JSON.stringify(env.PLATFORM_QUEUE_LIMIT)})`,
    );
  }
  const allowedHosts = (env.PLATFORM_ALLOWED_HOSTS ?? "").split(/[\s,]+/).filter(Boolean);
  const badHost = allowedHosts.find((name) => !/^(\*|[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])$/.test(name));
  if (badHost !== undefined) {
    problems.push(
      `PLATFORM_ALLOWED_HOSTS must be host names without ports, separated by commas, or * (got ${JSON.stringify(badHost)})`,
    );
  }
  const connectionsText = env.PLATFORM_MAX_CONNECTIONS?.trim();
  const maxConnections = connectionsText ? Number(connectionsText) : undefined;
  if (connectionsText && !(/^\d{1,7}$/.test(connectionsText) && maxConnections! >= 16)) {
    problems.push(
      `PLATFORM_MAX_CONNECTIONS must be an integer from 16 to 9999999 (got ${JSON.stringify(env.PLATFORM_MAX_CONNECTIONS)})`,
    );
  }
  if (problems.length > 0)
    throw new CliExit(EXIT.usage, problems.map((problem) => `error: ${problem}`).join("\n"));
  const host = env.HOST?.trim() || "127.0.0.1";
  // Listening on a name (not an address, not every address) makes that name one to answer to.
  if (!["0.0.0.0", "::"].includes(host)) allowedHosts.push(host);
  return {
    allowedHosts,
    maxConnections,
    host,
    port,
    token,
    driftSchedule: env.DRIFT_SCHEDULE?.trim() || undefined,
    dataDir: env.PLATFORM_DATA_DIR ? path.resolve(env.PLATFORM_DATA_DIR) : path.join(projectDir, ".data"),
    retention,
    queueLimit,
  };
}

const ENGINE_NOTES: Record<Engine["kind"], string> = {
  pulumi: "pulumi (the Pulumi CLI: previews, rollouts and drift checks run for real)",
  offline:
    "offline (the Pulumi CLI is not on PATH: previews are the plan and policy; rollouts deploy to local clouds on this machine, not to AWS, and drift compares them with the plan)",
  "in-memory": "in-memory (scripted, for tests)",
};

export interface ServeCommandDeps extends Omit<ServiceOptions, "token" | "dataDir" | "driftSchedule"> {
  env?: NodeJS.ProcessEnv;
  /** Resolves when the service should stop. @default SIGTERM, SIGINT or the CLI's abort signal */
  stopped?: (signal?: AbortSignal) => Promise<string>;
}

function untilStopped(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string) => {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      resolve(reason);
    };
    const onTerm = () => done("SIGTERM");
    const onInt = () => done("SIGINT");
    process.once("SIGTERM", onTerm);
    process.once("SIGINT", onInt);
    signal?.addEventListener("abort", () => done("interrupted"), { once: true });
  });
}

/** `platform serve`: the HTTP service and dashboard, until SIGTERM or Ctrl-C. */
export function serveCommand(deps: ServeCommandDeps = {}): RegisterCommand {
  return (program, io) => {
    program
      .command("serve")
      .description(
        "Run the HTTP service and dashboard: previews, rollouts and drift checks as jobs (HOST, PORT, PLATFORM_API_TOKEN, DRIFT_SCHEDULE, PLATFORM_DATA_DIR, PLATFORM_JOB_RETENTION, PLATFORM_QUEUE_LIMIT, PLATFORM_ALLOWED_HOSTS, PLATFORM_MAX_CONNECTIONS)",
      )
      .action(async () => {
        const projectDir = deps.projectDir ?? PROJECT_DIR;
        const environment = deps.env ?? process.env;
        const env = readServeEnvironment(environment, projectDir);
        // Read once, then gone from the environment every child process (the Pulumi CLI, the
        // program, git, local cloud workers) inherits: a job's code never sees the API token.
        // A shared job store (replicas): its URL carries a password, gone from children's environment too.
        const databaseUrl = environment.PLATFORM_DATABASE_URL?.trim() || undefined;
        const lease = environment.PLATFORM_REPLICA_LEASE_MS?.trim();
        for (const name of [...PROCESS_SECRETS, "PLATFORM_DATABASE_URL"]) delete environment[name];
        // Required here, not at the top: the service (fastify, the job store, the engines) is
        // loaded by `serve` alone.
        const { openService } = require("../service/service") as typeof Service;
        let service: Awaited<ReturnType<typeof openService>>;
        try {
          service = await openService({
            ...deps,
            databaseUrl,
            replicaLeaseMs: lease ? Number(lease) : undefined,
            projectDir,
            dataDir: env.dataDir,
            token: env.token,
            driftSchedule: { override: env.driftSchedule },
            retention: env.retention,
            queueLimit: env.queueLimit,
            allowedHosts: env.allowedHosts,
            httpLimits: env.maxConnections ? { maxConnections: env.maxConnections } : undefined,
            onScheduleSkip: (stage, reason) =>
              io.stderr(`scheduled drift check of ${stage} skipped: ${reason}\n`),
            onStoreHealth: (health) =>
              io.stderr(
                health.state === "ok"
                  ? "job store: writes recovered; pending jobs and events are saved\n"
                  : `warning: ${health.message} (new jobs get 503 until then)\n`,
              ),
          });
        } catch (error) {
          const { SettingsError } = require("../../components/settings") as typeof Settings;
          const { DatabaseOpenError } = require("../service/jobs/pg-store") as typeof PgStore;
          const { StoreInUseError, StoreOpenError } = require("../service/jobs/store") as typeof Store;
          if (error instanceof SettingsError || error instanceof RangeError)
            throw new CliExit(EXIT.usage, `error: ${error.message}`);
          if (error instanceof DatabaseOpenError) throw new CliExit(EXIT.failed, `error: ${error.message}`);
          if (error instanceof StoreInUseError || error instanceof StoreOpenError)
            throw new CliExit(EXIT.failed, `error: ${error.message}`);
          throw error;
        }
        let url: string;
        try {
          url = await service.listen(env.host, env.port);
        } catch (error) {
          await service.close();
          throw new CliExit(
            EXIT.failed,
            `error: cannot listen on ${env.host}:${env.port}: ${(error as Error).message}`,
          );
        }
        const lines = [
          `Platform service on ${url} (dashboard: ${url}/, API: ${url}/openapi.json)`,
          `  engine: ${ENGINE_NOTES[service.manager.engine.kind]}`,
          ...(service.manager.engine.describeBackend
            ? [`  state:  ${service.manager.engine.describeBackend()}`]
            : []),
          service.tokenGenerated
            ? `  token:  ${service.token}  (generated for this run; set PLATFORM_API_TOKEN to choose one)`
            : "  token:  from PLATFORM_API_TOKEN",
          `  jobs:   ${service.store.file}${service.interruptedAtStart > 0 ? ` (${service.interruptedAtStart} job(s) left running by the last run marked interrupted)` : ""}`,
          `          finished jobs kept: ${describeRetention(env.retention)} (PLATFORM_JOB_RETENTION); at most ${env.queueLimit} waiting (PLATFORM_QUEUE_LIMIT)`,
          ...(service.schedules.length > 0
            ? service.schedules.map(
                (schedule) =>
                  `  drift:  ${schedule.stage} on "${schedule.expression}" UTC (${schedule.source}; next ${schedule.nextRun?.toISOString() ?? "never"})`,
              )
            : ["  drift:  no scheduled checks (platform:driftSchedule or DRIFT_SCHEDULE)"]),
          `Stop with Ctrl-C or SIGTERM: running jobs are cancelled cleanly (the Pulumi CLI finishes its cancel and releases the stack; waiting up to ${Math.round((deps.graceMs ?? 30_000) / 1000)} s).`,
        ];
        io.stdout(`${lines.join("\n")}\n`);
        // A CLI too old for stack tags fails every job; say so now rather than at the first rollout.
        await service.manager.engine
          .start?.()
          .catch((error: Error) => io.stderr(`warning: ${error.message}\n`));
        const reason = await (deps.stopped ?? untilStopped)(io.signal);
        io.stdout(`${reason}: stopping (no new jobs; cancelling running ones)...\n`);
        const running = service.manager.activeCount;
        await service.close();
        io.stdout(`Stopped${running > 0 ? ` (${running} job(s) cancelled)` : ""}.\n`);
      });
  };
}

export const registerServe: RegisterCommand = serveCommand();
