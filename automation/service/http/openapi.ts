import { JOB_KINDS, JOB_STATES } from "../jobs/types";

/**
 * The service's OpenAPI 3.1 description, served at `/openapi.json`. It is the one source of the
 * request and response schemas: the routes take their validation and serialization schemas from
 * it (routeSchema), so the description cannot drift from what the service does.
 */

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const stageName = { type: "string", minLength: 1, maxLength: 64, pattern: "^[a-z0-9][a-z0-9-]*$" };
const regionName = { type: "string", minLength: 1, maxLength: 32, pattern: "^[a-z0-9-]+$" };
const regionList = {
  type: "array",
  items: regionName,
  minItems: 1,
  maxItems: 32,
  uniqueItems: true,
  description: "Some of the stage's regions (all of them when absent).",
};
const queueFlag = {
  type: "boolean",
  description: "When a stack of the job is busy, wait for it (in order of arrival) instead of answering 409.",
};
const parallelism = {
  type: "integer",
  minimum: 1,
  maximum: 32,
  description: "Regions at once after the canary (default: the stage's platform:rolloutParallelism).",
};

const gateName = { type: "string", enum: ["preview", "up", "health", "drift", "remediate"] };
const dateTime = { type: "string", format: "date-time" };

/** A request to start a job on a stage: the stage, optionally some of its regions, the kind's own options, and whether to queue behind a busy stack. */
const jobRequest = (options: Record<string, Schema> = {}): Schema => ({
  type: "object",
  additionalProperties: false,
  required: ["stage"],
  properties: { stage: stageName, regions: regionList, ...options, queue: queueFlag },
});

/** What a stack's last job of one kind left there: the job, the stack's state in it, and when. */
const stackMark = (description: string, extra: Record<string, Schema> = {}): Schema => ({
  type: "object",
  description,
  required: ["jobId", "state", "at"],
  properties: { jobId: { type: "string" }, state: { type: "string" }, ...extra, at: dateTime },
});

const schemas: Record<string, Schema> = {
  Error: {
    type: "object",
    required: ["message"],
    properties: {
      message: { type: "string" },
      jobId: {
        type: "string",
        description:
          "409: the job running on the busy stack (or, when none runs there yet, first in line for it).",
      },
      jobState: { type: "string", enum: ["running", "queued"], description: "409: that job's state." },
      stackName: { type: "string", description: "409: the busy stack." },
    },
  },
  GateResult: {
    type: "object",
    required: ["gate", "state", "elapsedMs"],
    properties: {
      gate: gateName,
      state: { type: "string", enum: ["succeeded", "failed", "cancelled"] },
      elapsedMs: { type: "number" },
      message: { type: "string" },
    },
  },
  JobRegion: {
    type: "object",
    required: ["region", "stackName", "primary", "state", "elapsedMs", "gates"],
    properties: {
      region: { type: "string" },
      stackName: { type: "string" },
      primary: { type: "boolean" },
      state: {
        type: "string",
        description:
          "pending, running, succeeded, upToDate, previewed, failed, skipped, cancelled (rollouts, previews); pending, running, clean, drifted, remediated, failed, cancelled (drift).",
      },
      gate: gateName,
      message: { type: "string" },
      elapsedMs: { type: "number" },
      gates: { type: "array", items: ref("GateResult") },
      driftedCount: { type: "integer" },
    },
  },
  JobOptions: {
    type: "object",
    properties: {
      parallelism: { type: "integer" },
      dryRun: { type: "boolean" },
      cancelInFlight: { type: "boolean" },
      remediate: { type: "string", enum: ["up", "refresh"] },
    },
  },
  Job: {
    type: "object",
    required: ["id", "kind", "stage", "state", "trigger", "engine", "options", "regions", "createdAt"],
    properties: {
      id: { type: "string" },
      kind: { type: "string", enum: [...JOB_KINDS] },
      stage: { type: "string" },
      state: { type: "string", enum: [...JOB_STATES] },
      trigger: { type: "string", enum: ["api", "schedule"] },
      engine: { type: "string", enum: ["pulumi", "offline", "in-memory"] },
      options: ref("JobOptions"),
      revision: { type: "string" },
      regions: { type: "array", items: ref("JobRegion") },
      createdAt: dateTime,
      startedAt: dateTime,
      finishedAt: dateTime,
      durationMs: { type: "number" },
      error: { type: "string" },
      cancelRequested: { type: "boolean" },
      result: {
        description: "The final report (rollout or drift), once the job finished.",
        type: "object",
        additionalProperties: true,
      },
    },
  },
  JobList: {
    type: "object",
    required: ["jobs"],
    properties: { jobs: { type: "array", items: ref("Job") } },
  },
  JobRef: {
    type: "object",
    required: ["id", "kind", "state", "createdAt"],
    properties: {
      id: { type: "string" },
      kind: { type: "string", enum: [...JOB_KINDS] },
      state: { type: "string", enum: [...JOB_STATES] },
      createdAt: dateTime,
      finishedAt: dateTime,
    },
  },
  StackStatus: {
    type: "object",
    required: ["region", "stackName", "primary"],
    properties: {
      region: { type: "string" },
      stackName: { type: "string" },
      primary: { type: "boolean" },
      lastJob: ref("JobRef"),
      rollout: stackMark("The last rollout (not dry run) that reached this stack: its region state."),
      drift: stackMark("The last drift check of this stack.", { driftedCount: { type: "integer" } }),
    },
  },
  Stage: {
    type: "object",
    required: ["stage", "regions"],
    properties: {
      stage: { type: "string" },
      app: { type: "string" },
      primaryRegion: { type: "string" },
      regions: { type: "array", items: ref("StackStatus") },
      error: { type: "string", description: "Why the stage's settings could not be read." },
    },
  },
  StackList: {
    type: "object",
    required: ["stages", "regions"],
    properties: {
      stages: { type: "array", items: ref("Stage") },
      regions: { type: "array", items: { type: "string" }, description: "Every stage's regions, once." },
    },
  },
  PreviewRequest: jobRequest({ parallelism }),
  RolloutRequest: jobRequest({
    parallelism,
    dryRun: { type: "boolean", description: "Preview every region and change nothing." },
    cancelInFlight: {
      type: "boolean",
      description: "When a region fails, cancel the regions in flight instead of letting them finish.",
    },
  }),
  DriftRequest: jobRequest({
    parallelism,
    remediate: {
      type: "string",
      enum: ["up", "refresh"],
      description:
        "Fix drifted stacks: up restores the code's desired state, refresh accepts the live state.",
    },
  }),
  Health: {
    type: "object",
    required: ["status", "engine", "accepting", "store"],
    properties: {
      status: { type: "string", enum: ["ok"] },
      engine: { type: "string", enum: ["pulumi", "offline", "in-memory"] },
      accepting: { type: "boolean", description: "False once the service is stopping." },
      store: {
        type: "object",
        description:
          "The job store: `degraded` while its writes fail (disk full, read-only, locked); they are kept in memory and retried, and new jobs get 503.",
        required: ["state", "pendingWrites"],
        properties: {
          state: { type: "string", enum: ["ok", "degraded"] },
          message: { type: "string", description: "Why writes fail: the data directory and the cause." },
          since: { type: "string", format: "date-time" },
          pendingWrites: { type: "integer", minimum: 0 },
        },
      },
    },
  },
};

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: ref("Error") } },
});
const json = (description: string, schema: Schema) => ({
  description,
  content: { "application/json": { schema } },
});
const unauthorized = errorResponse("Missing or wrong bearer token.");
const jobIdParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", minLength: 1, maxLength: 64 },
};
const accepted = {
  description: "The job was accepted; `Location` is its URL.",
  headers: { Location: { schema: { type: "string" } } },
  content: { "application/json": { schema: ref("Job") } },
};
const submitResponses = {
  "202": accepted,
  "400": errorResponse("Malformed body, unknown stage or region."),
  "401": unauthorized,
  "409": errorResponse("A stack of the job is busy (and `queue` was not asked): `jobId` holds it."),
  "429": errorResponse("`queue` was asked and the queue is full (PLATFORM_QUEUE_LIMIT)."),
  "503": errorResponse(
    "The service is stopping, or the job store cannot be written (then with `Retry-After`): no new jobs.",
  ),
};
const submit = (summary: string, body: string) => ({
  summary,
  requestBody: { required: true, content: { "application/json": { schema: ref(body) } } },
  responses: submitResponses,
});

export const OPENAPI_DOCUMENT = {
  openapi: "3.1.0",
  info: {
    title: "Serverless platform service",
    version: "1.0.0",
    description:
      "Runs previews, rollouts and drift checks of the platform's stages as jobs. Every endpoint but /healthz needs `Authorization: Bearer <token>`. Every error is JSON `{ message }` naming what is wrong; API answers carry `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`. A request whose Host is not localhost, a loopback address, the address it was sent to or a name of PLATFORM_ALLOWED_HOSTS gets 403 (DNS rebinding).",
  },
  components: {
    schemas,
    securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
  },
  security: [{ bearer: [] }],
  paths: {
    "/healthz": {
      get: {
        summary: "Liveness (no token needed)",
        security: [],
        responses: { "200": json("The service is up.", ref("Health")) },
      },
    },
    "/stacks": {
      get: {
        summary: "Stages, their region stacks, and the last job, rollout and drift state of each",
        responses: { "200": json("The stages.", ref("StackList")), "401": unauthorized },
      },
    },
    "/previews": { post: submit("Preview a stage's region stacks (with the policy pack)", "PreviewRequest") },
    "/rollouts": {
      post: submit("Roll a stage out: canary region, then the others in waves", "RolloutRequest"),
    },
    "/drift": {
      post: submit("Check a stage's region stacks for drift, optionally fixing it", "DriftRequest"),
    },
    "/jobs": {
      get: {
        summary: "Recent jobs, newest first (without their reports)",
        parameters: [
          { name: "stage", in: "query", schema: stageName },
          { name: "kind", in: "query", schema: { type: "string", enum: [...JOB_KINDS] } },
          { name: "state", in: "query", schema: { type: "string", enum: [...JOB_STATES] } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 500, default: 50 } },
        ],
        responses: {
          "200": json("The jobs.", ref("JobList")),
          "400": errorResponse("A bad query parameter."),
          "401": unauthorized,
        },
      },
    },
    "/jobs/{id}": {
      get: {
        summary: "A job: state, per-region gates and results, timings, error, report",
        parameters: [jobIdParam],
        responses: {
          "200": json("The job.", ref("Job")),
          "401": unauthorized,
          "404": errorResponse("No such job."),
        },
      },
    },
    "/jobs/{id}/events": {
      get: {
        summary: "The job's events as Server-Sent Events; `Last-Event-ID` replays what was missed",
        parameters: [
          jobIdParam,
          { name: "Last-Event-ID", in: "header", schema: { type: "string", pattern: "^[0-9]{0,15}$" } },
        ],
        responses: {
          "200": {
            description:
              "text/event-stream: `id` is the event's sequence number, `event` its type (job, region, wave, engine), `data` JSON. The stream ends after the job finishes. A client that stops reading is disconnected once 256 KiB wait for it: it reconnects with `Last-Event-ID` and misses nothing.",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          "204": { description: "The job has finished and there is nothing after Last-Event-ID." },
          "401": unauthorized,
          "404": errorResponse("No such job."),
        },
      },
      head: {
        summary: "The event stream's status and headers, at once (no stream is opened or counted)",
        parameters: [
          jobIdParam,
          { name: "Last-Event-ID", in: "header", schema: { type: "string", pattern: "^[0-9]{0,15}$" } },
        ],
        responses: {
          "200": { description: "GET would open a stream." },
          "204": { description: "The job has finished and there is nothing after Last-Event-ID." },
          "401": { description: "Missing or wrong bearer token." },
          "404": { description: "No such job." },
        },
      },
    },
    "/jobs/{id}/cancel": {
      post: {
        summary: "Cancel a queued or running job",
        parameters: [jobIdParam],
        responses: {
          "202": json("Cancelled (queued job) or being cancelled (running job).", ref("Job")),
          "401": unauthorized,
          "404": errorResponse("No such job."),
          "409": errorResponse("The job has already finished."),
        },
      },
    },
    "/metrics": {
      get: {
        summary: "Prometheus metrics: jobs by kind and state, durations, drifted resources",
        responses: {
          "200": {
            description: "Prometheus text exposition format.",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          "401": unauthorized,
        },
      },
    },
  },
} as const;

/** The component schemas, each with its `$id` (`<Name>`) for the validator; refs rewritten to `<Name>#`. */
export function componentSchemas(): Schema[] {
  return Object.entries(schemas).map(([name, schema]) => ({ $id: name, ...rewriteRefs(schema) }) as Schema);
}

function rewriteRefs<T>(value: T): T {
  if (Array.isArray(value)) return value.map(rewriteRefs) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      out[key] =
        key === "$ref" && typeof child === "string"
          ? `${child.replace("#/components/schemas/", "")}#`
          : rewriteRefs(child);
    }
    return out as T;
  }
  return value;
}

type Method = "get" | "post";

interface Operation {
  parameters?: readonly { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}

/**
 * The Fastify route schema of an operation of the document: body, params, querystring and headers
 * to validate, and the JSON responses to serialize. Component schemas must have been added to the
 * instance (componentSchemas).
 */
export function routeSchema(path: keyof typeof OPENAPI_DOCUMENT.paths, method: Method): Schema {
  const operation = (OPENAPI_DOCUMENT.paths[path] as unknown as Record<Method, Operation | undefined>)[
    method
  ];
  if (!operation) throw new Error(`no ${method.toUpperCase()} ${path} in the OpenAPI document`);
  const route: Schema = {};
  const group = (location: string): Schema | undefined => {
    const parameters = (operation.parameters ?? []).filter((parameter) => parameter.in === location);
    if (parameters.length === 0) return undefined;
    // Header names are case-insensitive: Fastify sees them lower-cased.
    const key = (name: string) => (location === "header" ? name.toLowerCase() : name);
    return {
      type: "object",
      properties: Object.fromEntries(parameters.map((parameter) => [key(parameter.name), parameter.schema])),
      required: parameters.filter((parameter) => parameter.required).map((parameter) => key(parameter.name)),
    };
  };
  const params = group("path");
  const querystring = group("query");
  const headers = group("header");
  if (params) route.params = rewriteRefs(params);
  if (querystring) route.querystring = { ...rewriteRefs(querystring), additionalProperties: false };
  if (headers) route.headers = rewriteRefs(headers);
  const body = operation.requestBody?.content["application/json"]?.schema;
  if (body) route.body = rewriteRefs(body);
  const response: Schema = {};
  for (const [status, definition] of Object.entries(operation.responses)) {
    const schema = definition.content?.["application/json"]?.schema;
    if (schema) response[status] = rewriteRefs(schema);
  }
  if (Object.keys(response).length > 0) route.response = response;
  return route;
}
