/**
 * The local cloud's API Gateway: a REST API's routes from the plan, served over HTTP on loopback.
 * A request is routed as API Gateway routes it (most specific resource first: literal segments,
 * then `{param}`, then `{proxy+}`; the method, else `ANY`), authorized as the method says, throttled
 * by the stage's limits, handed to the function as a REST payload 1.0 event (built by the one event
 * builder the hooks and tests use), and the function's result mapped back as API Gateway maps it.
 * Paths are served with or without the stage prefix (`/dev/users` or `/users`).
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { apiGatewayEvent, matchRoute, parseRouteTemplate } from "../../functions/shared/api-gateway-event";
import { type LocalCredentials, verifyApiKey, verifySigV4 } from "./auth";
import type { InvokeResult } from "./functions";
import type { LocalApi, LocalRoute } from "./model";

/** What one request did, for the log line a developer sees. */
export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  durationMs: number;
  functionName?: string;
  cold?: boolean;
  initDurationMs?: number;
  logs: string[];
  error?: string;
}

export interface GatewayOptions {
  api: LocalApi;
  region: string;
  accountId: string;
  /** Calls a function by physical name with an event, through the qualifier the integration names (`live`). */
  invoke(functionName: string, event: unknown, qualifier?: string): Promise<InvokeResult>;
  /** Check `AWS_IAM` and API-key methods. @default true */
  auth?: boolean;
  credentials: LocalCredentials;
  apiKey: string;
  onRequest?(record: RequestRecord): void;
  /** Largest request body API Gateway accepts: 10 MB. */
  maxBodyBytes?: number;
}

type Json = Record<string, unknown>;

/** API Gateway's answer when nothing matches, or the method is not declared on the resource. */
const MISSING_TOKEN = { statusCode: 403, message: "Missing Authentication Token" };

/** Ranks a template: literal segments before `{param}` before `{proxy+}`, segment by segment. */
function specificity(template: string): number[] {
  return parseRouteTemplate(template).map((segment) =>
    segment.literal !== undefined ? 2 : segment.greedy ? 0 : 1,
  );
}

function moreSpecific(a: number[], b: number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const x = a[i] ?? -1;
    const y = b[i] ?? -1;
    if (x !== y) return x > y;
  }
  return false;
}

/** The route API Gateway would pick for `method` and `path`, with its path parameters. */
export function routeRequest(
  routes: LocalRoute[],
  method: string,
  path: string,
): { route: LocalRoute; pathParameters: Record<string, string> } | undefined {
  let best: { resource: string; rank: number[]; pathParameters: Record<string, string> } | undefined;
  for (const resource of new Set(routes.map((r) => r.resource))) {
    const pathParameters = matchRoute(resource, path);
    if (!pathParameters) continue;
    const rank = specificity(resource);
    if (!best || moreSpecific(rank, best.rank)) best = { resource, rank, pathParameters };
  }
  if (!best) return undefined;
  const onResource = routes.filter((r) => r.resource === best.resource);
  const route = onResource.find((r) => r.method === method) ?? onResource.find((r) => r.method === "ANY");
  return route ? { route, pathParameters: best.pathParameters } : undefined;
}

/** A token bucket with the stage's rate (per second) and burst. */
export class Throttle {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Header pairs as the client sent them (case kept), every value of a repeated header. */
function rawHeaders(request: http.IncomingMessage): Record<string, string[]> {
  const headers: Record<string, string[]> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i];
    const existing = Object.keys(headers).find((key) => key.toLowerCase() === name.toLowerCase()) ?? name;
    headers[existing] = [...(headers[existing] ?? []), request.rawHeaders[i + 1]];
  }
  return headers;
}

/** Whether a content type is one of the API's binary media types (`image/png`, `image/*`, `*\/*`). */
export function isBinary(contentType: string | undefined, binaryMediaTypes: string[]): boolean {
  if (!contentType) return false;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return binaryMediaTypes.some((pattern) => {
    const [major, minor] = pattern.toLowerCase().split("/");
    const [typeMajor, typeMinor] = type.split("/");
    return (major === "*" || major === typeMajor) && (minor === "*" || minor === typeMinor);
  });
}

export interface MappedResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Why the result could not be mapped: API Gateway answers 502 and logs this. */
  malformed?: string;
}

const jsonResponse = (
  statusCode: number,
  body: Json,
  headers: Record<string, string> = {},
): MappedResponse => ({
  statusCode,
  headers: { "Content-Type": "application/json", ...headers },
  body: Buffer.from(JSON.stringify(body)),
});

/**
 * A Lambda proxy result mapped to an HTTP response as API Gateway maps it: `statusCode` (an
 * integer), `headers` and `multiValueHeaders` merged (multi-value first), `body` a string,
 * base64-decoded when `isBase64Encoded`. Anything else is a 502 "Internal server error".
 */
export function mapProxyResult(payload: string): MappedResponse {
  let result: unknown;
  try {
    result = JSON.parse(payload);
  } catch {
    return {
      ...jsonResponse(502, { message: "Internal server error" }),
      malformed: "the result is not JSON",
    };
  }
  const malformed = (why: string) => ({
    ...jsonResponse(502, { message: "Internal server error" }),
    malformed: why,
  });
  if (!result || typeof result !== "object" || Array.isArray(result))
    return malformed("the result is not an object");
  const { statusCode, headers, multiValueHeaders, body, isBase64Encoded } = result as Json;
  const status = typeof statusCode === "string" && /^\d+$/.test(statusCode) ? Number(statusCode) : statusCode;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 100 || status > 599) {
    return malformed(`statusCode ${JSON.stringify(statusCode)} is not an HTTP status`);
  }
  if (body !== undefined && body !== null && typeof body !== "string")
    return malformed("body is not a string");
  const merged: Record<string, string | string[]> = {};
  if (headers !== undefined && headers !== null) {
    if (typeof headers !== "object") return malformed("headers is not an object");
    for (const [name, value] of Object.entries(headers as Json)) merged[name] = String(value);
  }
  if (multiValueHeaders !== undefined && multiValueHeaders !== null) {
    if (typeof multiValueHeaders !== "object") return malformed("multiValueHeaders is not an object");
    for (const [name, values] of Object.entries(multiValueHeaders as Json)) {
      if (!Array.isArray(values)) return malformed(`multiValueHeaders.${name} is not a list`);
      merged[name] = values.map(String);
    }
  }
  const text = typeof body === "string" ? body : "";
  return {
    statusCode: status,
    headers: merged,
    body: isBase64Encoded === true ? Buffer.from(text, "base64") : Buffer.from(text),
  };
}

/** A local REST API stage: an HTTP server on 127.0.0.1. */
export class LocalGateway {
  readonly server: http.Server;
  private throttle?: Throttle;

  constructor(private options: GatewayOptions) {
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { "Content-Type": "application/json" });
        response.end(JSON.stringify({ message: `local gateway error: ${String(error)}` }));
      });
    });
    this.server.keepAliveTimeout = 5_000;
    this.setThrottle();
  }

  /** Serves another version of the API (a re-plan); requests in flight finish as they began. */
  update(options: Partial<GatewayOptions>): void {
    this.options = { ...this.options, ...options };
    this.setThrottle();
  }

  private setThrottle(): void {
    const limits = this.options.api.throttle;
    this.throttle = limits ? new Throttle(limits.rateLimit, limits.burstLimit) : undefined;
  }

  async listen(port = 0, host = "127.0.0.1"): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const failed = (error: NodeJS.ErrnoException) => {
        reject(
          error.code === "EADDRINUSE"
            ? new Error(
                `port ${port} on ${host} is in use: stop what listens there, or choose another with --port`,
              )
            : error,
        );
      };
      this.server.once("error", failed);
      this.server.listen(port, host, () => {
        this.server.off("error", failed);
        resolve();
      });
    });
    return this.url;
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const method = (request.method ?? "GET").toUpperCase();
    const url = request.url ?? "/";
    const pathname = url.split("?")[0];
    const body = await readBody(request, this.options.maxBodyBytes ?? 10 * 1024 * 1024);
    const record: RequestRecord = { method, path: url, status: 0, durationMs: 0, logs: [] };
    const send = (mapped: MappedResponse) => {
      record.status = mapped.statusCode;
      record.durationMs = performance.now() - started;
      response.writeHead(mapped.statusCode, {
        ...mapped.headers,
        "x-amzn-RequestId": requestId,
        "Content-Length": String(mapped.body.length),
      });
      response.end(method === "HEAD" ? undefined : mapped.body);
      this.options.onRequest?.(record);
    };
    const requestId = randomUUID();
    if (body === undefined) return send(jsonResponse(413, { message: "Request Too Long" }));

    const { api } = this.options;
    // Served without the stage prefix (as `sam local start-api`), and with it, as execute-api URLs
    // are (`/<stage>/users`): a `Location` a function builds from `requestContext.path` works here too.
    // Only a resource of the API whose first segment is the stage's name keeps the prefix as a path.
    const stagePrefix = `/${api.stageName}`;
    const underStage = (p: string) => p === stagePrefix || p.startsWith(`${stagePrefix}/`);
    let path = url;
    if (underStage(pathname) && !api.routes.some((r) => underStage(r.resource))) {
      path = url.slice(stagePrefix.length);
      if (path === "" || path.startsWith("?")) path = `/${path}`;
    }
    const routed = routeRequest(api.routes, method, path.split("?")[0]);
    if (!routed)
      return send(
        jsonResponse(
          403,
          { message: MISSING_TOKEN.message },
          { "x-amzn-ErrorType": "MissingAuthenticationTokenException" },
        ),
      );
    const { route } = routed;
    record.functionName = route.functionName;

    if (this.options.auth ?? true) {
      const refusal =
        (route.authorization === "AWS_IAM"
          ? await verifySigV4(
              { method, host: request.headers.host ?? "", url, headers: request.headers, body },
              this.options.credentials,
              this.options.region,
            )
          : undefined) ??
        (route.apiKeyRequired ? verifyApiKey(request.headers, this.options.apiKey) : undefined);
      if (refusal) return send(jsonResponse(refusal.statusCode, { message: refusal.message }));
    }
    if (this.throttle && !this.throttle.take())
      return send(jsonResponse(429, { message: "Too Many Requests" }));

    const headers = rawHeaders(request);
    const contentType = request.headers["content-type"];
    const signed = route.authorization === "AWS_IAM";
    const event = apiGatewayEvent({
      resource: route.resource,
      httpMethod: method,
      path,
      headers,
      body:
        body.length === 0 ? null : isBinary(contentType, api.binaryMediaTypes) ? body : body.toString("utf8"),
      stage: api.stageName,
      apiId: api.restApiId,
      accountId: this.options.accountId,
      region: this.options.region,
      requestId,
      identity: {
        sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "127.0.0.1",
        ...(signed && (this.options.auth ?? true)
          ? {
              accessKey: this.options.credentials.accessKeyId,
              accountId: this.options.accountId,
              caller: `AIDALOCALCLOUDCALLER:${this.options.credentials.accessKeyId}`,
              userArn: `arn:aws:iam::${this.options.accountId}:user/local`,
            }
          : {}),
        ...(route.apiKeyRequired ? { apiKey: this.options.apiKey, apiKeyId: "localkey01" } : {}),
      },
    });

    const result = await this.options.invoke(route.functionName, event, route.qualifier);
    record.cold = result.cold;
    record.initDurationMs = result.initDurationMs;
    record.logs = result.logs;
    if (result.timedOut) {
      record.error = result.error?.errorMessage;
      return send(jsonResponse(504, { message: "Endpoint request timed out" }));
    }
    if (result.error || result.payload === undefined) {
      record.error = `${result.error?.errorType}: ${result.error?.errorMessage}`;
      return send(jsonResponse(502, { message: "Internal server error" }));
    }
    const mapped = mapProxyResult(result.payload);
    if (mapped.malformed) record.error = `Malformed Lambda proxy response: ${mapped.malformed}`;
    return send(mapped);
  }
}

/** The request body, or undefined when it is larger than API Gateway accepts. */
async function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
