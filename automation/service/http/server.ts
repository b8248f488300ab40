import * as fs from "node:fs";
import type { ServerResponse } from "node:http";
import * as path from "node:path";
import { AjvCompiler, type ValidatorFactory } from "@fastify/ajv-compiler";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import {
  JobFinishedError,
  type JobManager,
  JobNotFoundError,
  JobRequestError,
  jobSummary,
  QueueFullError,
  ServiceStoppingError,
  StackBusyError,
} from "../jobs/manager";
import { type JobStore, StoreUnavailableError } from "../jobs/store";
import {
  FINISHED_STATES,
  type JobEvent,
  type JobKind,
  type JobOptions,
  type JobRequest,
  type JobState,
} from "../jobs/types";
import type { ServiceMetrics } from "../metrics";
import { listStages } from "../stacks";
import { bearerChecker } from "./auth";
import { componentSchemas, OPENAPI_DOCUMENT, routeSchema } from "./openapi";

export interface ServerOptions {
  manager: JobManager;
  store: JobStore;
  metrics: ServiceMetrics;
  /** The bearer token every endpoint but /healthz (and the dashboard's files) requires. */
  token: string;
  /** Fastify's request log. @default false */
  logger?: boolean;
}

/** The dashboard's files (automation/service/dashboard), read once and served from memory. */
const DASHBOARD_DIR = path.join(__dirname, "..", "dashboard");
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** `/` is index.html; every other file is `/dashboard/<name>`. */
function dashboardFiles(): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of fs.readdirSync(DASHBOARD_DIR)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(DASHBOARD_DIR, name));
    files.set(name === "index.html" ? "/" : `/dashboard/${name}`, { body, type });
  }
  return files;
}
const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Seconds between SSE comments that keep idle proxies from closing the stream. */
const SSE_HEARTBEAT_MS = 15_000;

interface SubmitBody {
  stage: string;
  regions?: string[];
  queue?: boolean;
  parallelism?: number;
  dryRun?: boolean;
  cancelInFlight?: boolean;
  remediate?: JobOptions["remediate"];
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** No bearer token needed. */
    public?: boolean;
  }
}

/** The first validation error as a sentence that names the field (and the allowed values). */
function validationMessage(error: FastifyError): string {
  const first = error.validation?.[0];
  if (!first) return error.message;
  const where = `${error.validationContext ?? "request"}${first.instancePath.replaceAll("/", ".")}`;
  const params = first.params as Record<string, unknown>;
  if (first.keyword === "additionalProperties") {
    return `${where} has an unknown property "${String(params.additionalProperty)}"`;
  }
  if (first.keyword === "enum" && Array.isArray(params.allowedValues)) {
    return `${where} must be one of ${params.allowedValues.join(", ")}`;
  }
  return `${where} ${first.message ?? "is invalid"}`;
}

/** Writes one event as an SSE message. */
function writeEvent(raw: ServerResponse, event: JobEvent): void {
  raw.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
}

function isTerminal(event: JobEvent): boolean {
  return event.type === "job" && FINISHED_STATES.has((event.data as { state: JobState }).state);
}

/**
 * Fastify's validator, but bodies are taken as they are: query strings, paths and headers are text
 * and need `limit=5` coerced to a number, while a JSON body that says `"queue": "true"` or
 * `"stage": ["dev"]` is wrong and gets a 400 rather than a guess.
 */
function strictBodies(): ValidatorFactory {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const coercing = pool(externalSchemas, options);
    const strictOptions = { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } };
    const strict = pool(externalSchemas, strictOptions as typeof options);
    return (route) => (route.httpPart === "body" ? strict(route) : coercing(route));
  };
}

/**
 * The HTTP API (see openapi.ts) and the dashboard. Routes take their schemas from the OpenAPI
 * document; errors are JSON `{ message }` with the status the error means.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { manager, store, metrics, token } = options;
  const app = Fastify({
    logger: options.logger ?? false,
    // Bodies are small JSON documents.
    bodyLimit: 64 * 1024,
    // Closing ends the event streams (preClose) and then every connection: a keep-alive connection
    // that Node.js does not count as idle (seen after a client dropped an event stream) would
    // otherwise hold the shutdown until the client's own idle timeout (4 s for fetch, longer for
    // a Prometheus scraper). The job manager has finished its jobs before the server closes.
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: strictBodies() } },
  });
  for (const schema of componentSchemas()) app.addSchema(schema);
  const streams = new Set<ServerResponse>();
  metrics.openStreams = () => streams.size;
  const authorized = bearerChecker(token);

  // A callback hook, not an async one: it runs on every request, and a promise per request costs.
  app.addHook("onRequest", (request, reply, done) => {
    if (request.routeOptions.config.public || authorized(request.headers.authorization)) {
      done();
      return;
    }
    reply
      .code(401)
      .header("WWW-Authenticate", 'Bearer realm="platform"')
      .send({ message: "missing or wrong bearer token (Authorization: Bearer <token>)" });
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.validation) return reply.code(400).send({ message: validationMessage(error) });
    if (error instanceof JobRequestError) return reply.code(400).send({ message: error.message });
    if (error instanceof JobNotFoundError) return reply.code(404).send({ message: error.message });
    if (error instanceof StackBusyError) {
      const { message, jobId, jobState, stackName } = error;
      return reply.code(409).send({ message, jobId, jobState, stackName });
    }
    if (error instanceof JobFinishedError) {
      return reply.code(409).send({ message: error.message, jobId: error.job.id });
    }
    if (error instanceof ServiceStoppingError) return reply.code(503).send({ message: error.message });
    if (error instanceof StoreUnavailableError) {
      return reply
        .code(503)
        .header("Retry-After", String(error.retryAfterSeconds))
        .send({ message: error.message });
    }
    if (error instanceof QueueFullError) return reply.code(429).send({ message: error.message });
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) app.log.error(error);
    return reply
      .code(status)
      .send({ message: status >= 500 ? `internal error: ${error.message}` : error.message });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ message: `no route ${request.method} ${request.url.split("?")[0]}` });
  });

  for (const [url, { body, type }] of dashboardFiles()) {
    app.get(url, { config: { public: true } }, async (_request, reply) =>
      reply
        .header("Content-Type", type)
        .header("Cache-Control", "no-cache")
        .header("Content-Security-Policy", DASHBOARD_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .send(body),
    );
  }

  app.get("/healthz", { config: { public: true }, schema: routeSchema("/healthz", "get") }, async () => ({
    status: "ok",
    engine: manager.engine.kind,
    accepting: manager.accepting,
    store: store.health,
  }));

  app.get("/openapi.json", async () => OPENAPI_DOCUMENT);

  app.get("/stacks", { schema: routeSchema("/stacks", "get") }, async () =>
    listStages(manager.stages, store),
  );

  const submitRoute = (url: "/previews" | "/rollouts" | "/drift", kind: JobKind) => {
    app.post<{ Body: SubmitBody }>(url, { schema: routeSchema(url, "post") }, async (request, reply) => {
      const { stage, regions, queue, parallelism, dryRun, cancelInFlight, remediate } = request.body;
      const jobRequest: JobRequest = {
        kind,
        stage,
        regions,
        queue,
        options: { parallelism, dryRun, cancelInFlight, remediate },
      };
      // Accepted means on disk: submit resolves once the job's (group) commit is done.
      const job = await manager.submit(jobRequest);
      return reply.code(202).header("Location", `/jobs/${job.id}`).send(job);
    });
  };
  submitRoute("/previews", "preview");
  submitRoute("/rollouts", "rollout");
  submitRoute("/drift", "drift");

  app.get<{ Querystring: { stage?: string; kind?: JobKind; state?: JobState; limit?: number } }>(
    "/jobs",
    { schema: routeSchema("/jobs", "get") },
    // The list leaves the reports out: a rollout report is large, and GET /jobs/:id has it.
    async (request) => ({
      jobs: store.listJobs(request.query).map((job) => jobSummary(manager.get(job.id) ?? job)),
    }),
  );

  app.get<{ Params: { id: string } }>(
    "/jobs/:id",
    { schema: routeSchema("/jobs/{id}", "get") },
    async (request, reply) => {
      const { id } = request.params;
      // The job's document as it was written (from the same Job objects this schema describes):
      // an active job's from memory, a finished one's (which never changes) from the store.
      const json = manager.activeJobJson(id) ?? store.getJobJson(id);
      if (json === undefined) throw new JobNotFoundError(id);
      return reply.type("application/json; charset=utf-8").send(json);
    },
  );

  app.post<{ Params: { id: string } }>(
    "/jobs/:id/cancel",
    { schema: routeSchema("/jobs/{id}/cancel", "post") },
    async (request, reply) => {
      const job = manager.cancel(request.params.id);
      await store.whenCommitted();
      return reply.code(202).send(job);
    },
  );

  app.get<{ Params: { id: string }; Headers: { "last-event-id"?: string } }>(
    "/jobs/:id/events",
    { schema: routeSchema("/jobs/{id}/events", "get") },
    async (request, reply) => {
      const { id } = request.params;
      const lastId = Number(request.headers["last-event-id"] || 0);
      // Only committed events go out, replayed or live: an id a client has seen is never given to
      // another event after a crash (the job's next event after a restart is its interruption).
      await store.whenCommitted();
      const job = manager.get(id);
      if (!job) throw new JobNotFoundError(id);
      // Replay and subscription happen in the same tick: no event can fall between them.
      const replay = manager.eventsAfter(id, lastId);
      const finished = FINISHED_STATES.has(job.state);
      if (finished && replay.length === 0) return reply.code(204).send();

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      });
      raw.write("retry: 2000\n\n");
      for (const event of replay) writeEvent(raw, event);
      // The client may have gone while the handler waited for the commit: its `close` has fired.
      if (finished || replay.some(isTerminal) || raw.destroyed) {
        raw.end();
        return reply;
      }
      streams.add(raw);
      const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), SSE_HEARTBEAT_MS);
      heartbeat.unref();
      const stop = () => {
        clearInterval(heartbeat);
        unsubscribe();
        streams.delete(raw);
      };
      // A turn's events are written once the store has committed them (at the end of the turn).
      let pending: JobEvent[] = [];
      const deliver = () => {
        const events = pending;
        pending = [];
        if (raw.writableEnded || raw.destroyed) {
          stop();
          return;
        }
        for (const event of events) {
          writeEvent(raw, event);
          if (isTerminal(event)) {
            stop();
            raw.end();
            return;
          }
        }
      };
      const unsubscribe = manager.subscribe(id, (event) => {
        if (pending.length === 0) void store.whenCommitted().then(deliver);
        pending.push(event);
      });
      raw.on("close", stop);
      return reply;
    },
  );

  app.get("/metrics", async (_request, reply) =>
    reply.header("Content-Type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  // Live event streams would keep `close()` waiting: end them when the server closes.
  app.addHook("preClose", async () => {
    for (const raw of streams) raw.end();
    streams.clear();
  });

  return app;
}
