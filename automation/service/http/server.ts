import * as fs from "node:fs";
import * as path from "node:path";
import { AjvCompiler, type ValidatorFactory } from "@fastify/ajv-compiler";
import Fastify, { type FastifyInstance } from "fastify";
import { type JobManager, JobNotFoundError, jobSummary } from "../jobs/manager";
import type { JobStoreApi } from "../jobs/store-api";
import type { JobKind, JobOptions, JobRequest, JobState } from "../jobs/types";
import type { ServiceMetrics } from "../metrics";
import { listStages } from "../stacks";
import { bearerChecker } from "./auth";
import { API_HEADERS, clientErrorHandler, type ErrorLog, errorHandler, stderrLog } from "./errors";
import {
  type ConnectionLimits,
  capConnections,
  DEFAULT_LIMITS,
  hostAllowed,
  httpServerOptions,
} from "./guard";
import { componentSchemas, OPENAPI_DOCUMENT, routeSchema } from "./openapi";
import { type EventStream, registerEventRoutes } from "./sse";

export interface ServerOptions {
  manager: JobManager;
  store: JobStoreApi;
  metrics: ServiceMetrics;
  /** The bearer token every endpoint but /healthz (and the dashboard's files) requires. */
  token: string;
  /** Fastify's request log. @default false */
  logger?: boolean;
  /**
   * Host names the service answers to besides `localhost`, loopback addresses and the address a
   * request was sent to (PLATFORM_ALLOWED_HOSTS); `*` allows any. Others get 403 (DNS rebinding).
   * @default []
   */
  allowedHosts?: string[];
  /** Connection and event stream limits. @default DEFAULT_LIMITS */
  limits?: Partial<ConnectionLimits>;
  /** Where 5xx answers are logged, one JSON line each. @default standard error */
  errorLog?: ErrorLog;
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

/** Bodies are small JSON documents. */
const BODY_LIMIT = 64 * 1024;

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

/** A compiled validator as Fastify calls it (Ajv's: a boolean, the errors on the function). */
type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown };

/**
 * The validator of a text part (query string, headers, path), but its numbers must be written as
 * decimal digits: Ajv's coercion would take `0x10`, `1e1`, ` 10` or `5.0` as numbers.
 */
function decimalNumbers(validate: Validate, schema: unknown): Validate {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const keys = Object.keys(properties).filter((key) =>
    ["integer", "number"].includes(String(properties[key].type)),
  );
  if (keys.length === 0) return validate;
  const checked: Validate = (data, context) => {
    const values = (data ?? {}) as Record<string, unknown>;
    for (const key of keys) {
      const texts = Array.isArray(values[key]) ? (values[key] as unknown[]) : [values[key]];
      if (texts.some((text) => typeof text === "string" && !/^-?[0-9]+$/.test(text))) {
        checked.errors = [
          {
            keyword: "type",
            instancePath: `/${key}`,
            schemaPath: "",
            params: {},
            message: "must be a decimal integer",
          },
        ];
        return false;
      }
    }
    const valid = validate(data, context);
    checked.errors = validate.errors;
    return valid;
  };
  checked.schemaEnv = validate.schemaEnv;
  return checked;
}

/**
 * Fastify's validator, but bodies are taken as they are: query strings, paths and headers are text
 * and need `limit=5` coerced to a number (from decimal digits only), while a JSON body that says
 * `"queue": "true"` or `"stage": ["dev"]` is wrong and gets a 400 rather than a guess.
 */
function strictBodies(): ValidatorFactory {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const coercing = pool(externalSchemas, options);
    const strictOptions = { ...options, customOptions: { ...options?.customOptions, coerceTypes: false } };
    const strict = pool(externalSchemas, strictOptions as typeof options);
    return (route) =>
      route.httpPart === "body"
        ? strict(route)
        : (decimalNumbers(coercing(route) as Validate, route.schema) as ReturnType<typeof coercing>);
  };
}

/**
 * The HTTP API (see openapi.ts) and the dashboard. Routes take their schemas from the OpenAPI
 * document; errors are JSON `{ message }` with the status the error means.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const { manager, store, metrics, token } = options;
  const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const handleError = errorHandler(BODY_LIMIT, options.errorLog ?? stderrLog);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT,
    // Closing ends the event streams (preClose) and then every connection: a keep-alive connection
    // that Node.js does not count as idle (seen after a client dropped an event stream) would
    // otherwise hold the shutdown until the client's own idle timeout (4 s for fetch, longer for
    // a Prometheus scraper). The job manager has finished its jobs before the server closes.
    forceCloseConnections: true,
    keepAliveTimeout: limits.idleMs,
    // The whole request (headers and a body of at most 64 KiB) must arrive in this time.
    requestTimeout: Math.max(30_000, limits.headersTimeoutMs),
    http: httpServerOptions(limits),
    // A JSON `__proto__` or `constructor` key is kept as data (JSON.parse makes it an own
    // property, never a prototype) so that validation names it as an unknown property; every
    // body schema forbids unknown properties, so it never reaches a handler.
    onProtoPoisoning: "ignore",
    onConstructorPoisoning: "ignore",
    frameworkErrors: (error, request, reply) => {
      handleError(error, request, reply);
    },
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: "array", allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: strictBodies() } },
  });
  // Bodies are JSON: a text/plain body is refused (415) rather than parsed into a string.
  app.removeContentTypeParser("text/plain");
  for (const schema of componentSchemas()) app.addSchema(schema);
  capConnections(app.server, limits);
  const streams = new Set<EventStream>();
  metrics.openStreams = () => streams.size;
  const authorized = bearerChecker(token);
  const allowedHost = hostAllowed(options.allowedHosts ?? []);

  // A callback hook, not an async one: it runs on every request, and a promise per request costs.
  app.addHook("onRequest", (request, reply, done) => {
    const host = request.headers.host;
    // HTTP/1.0 clients may send no Host; a browser always does (and rebinding needs a name).
    if (
      host === undefined ? request.raw.httpVersion !== "1.0" : !allowedHost(host, request.socket.localAddress)
    ) {
      reply.code(host === undefined ? 400 : 403).send({
        message:
          host === undefined
            ? "Host header is required"
            : `Host "${host}" is not one this service answers to (localhost, a loopback address, the address it listens on, or PLATFORM_ALLOWED_HOSTS)`,
      });
      return;
    }
    if (request.routeOptions.config.public) {
      done();
      return;
    }
    if (authorized(request.headers.authorization)) {
      // A client with the token may hold its connection (an event stream) as long as it needs.
      request.socket.setTimeout(0);
      done();
      return;
    }
    reply
      .code(401)
      .header("WWW-Authenticate", 'Bearer realm="platform"')
      .send({ message: "missing or wrong bearer token (Authorization: Bearer <token>)" });
  });

  app.addHook("onSend", (_request, reply, payload, done) => {
    // The dashboard's files set their own caching; everything else is the API's.
    if (!reply.hasHeader("cache-control")) reply.header("Cache-Control", API_HEADERS["Cache-Control"]);
    reply.header("X-Content-Type-Options", API_HEADERS["X-Content-Type-Options"]);
    done(null, payload);
  });

  app.setErrorHandler(handleError);

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
      jobs: (await store.listJobs(request.query)).map((job) => jobSummary(manager.get(job.id) ?? job)),
    }),
  );

  app.get<{ Params: { id: string } }>(
    "/jobs/:id",
    { schema: routeSchema("/jobs/{id}", "get") },
    async (request, reply) => {
      const { id } = request.params;
      // The job's document as it was written (from the same Job objects this schema describes):
      // an active job's from memory, a finished one's (which never changes) from the store.
      const json = manager.activeJobJson(id) ?? (await store.getJobJson(id));
      if (json === undefined) throw new JobNotFoundError(id);
      return reply.type("application/json; charset=utf-8").send(json);
    },
  );

  app.post<{ Params: { id: string } }>(
    "/jobs/:id/cancel",
    { schema: routeSchema("/jobs/{id}/cancel", "post") },
    async (request, reply) => {
      const job = await manager.cancel(request.params.id);
      await store.whenCommitted();
      return reply.code(202).send(job);
    },
  );

  registerEventRoutes(app, { manager, store, streams, bufferBytes: limits.streamBufferBytes });

  app.get("/metrics", async (_request, reply) =>
    reply.header("Content-Type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  // Live event streams would keep `close()` waiting: end them when the server closes.
  app.addHook("preClose", async () => {
    for (const stream of streams) stream.end();
    streams.clear();
  });

  return app;
}
