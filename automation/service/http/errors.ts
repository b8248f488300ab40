import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import {
  JobFinishedError,
  JobNotFoundError,
  JobRequestError,
  QueueFullError,
  ServiceStoppingError,
  StackBusyError,
} from "../jobs/manager";
import { StoreUnavailableError } from "../jobs/store";

/**
 * Headers of every API answer: a job's state or a token error must not be served from a cache, and
 * a JSON body must never be sniffed into something a browser runs.
 */
export const API_HEADERS = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" } as const;

/** Where 5xx answers are logged: one JSON line each. */
export type ErrorLog = (line: string) => void;

export const stderrLog: ErrorLog = (line) => {
  process.stderr.write(line);
};

/** The first validation error as a sentence that names the field (and the allowed values). */
export function validationMessage(error: FastifyError): string {
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

/** Fastify's own 4xx errors, reworded to name the part of the request that is wrong. */
function frameworkMessage(error: FastifyError, bodyLimit: number): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `body is larger than ${bodyLimit} bytes`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return "body must be JSON (Content-Type: application/json)";
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return "body is empty but Content-Type is application/json";
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return `body is not valid JSON: ${error.message}`;
    case "FST_ERR_BAD_URL":
      return "url is not valid: it has a malformed percent-encoding";
    case "FST_ERR_MAX_PARAM_LENGTH":
      return "url has a path segment longer than 100 characters";
    default:
      return error.message;
  }
}

/** The status an error of the service means, and the body and headers that say so. */
function answerOf(
  error: FastifyError,
  bodyLimit: number,
): { status: number; body: Record<string, unknown>; headers?: Record<string, string> } {
  if (error.validation) return { status: 400, body: { message: validationMessage(error) } };
  if (error instanceof JobRequestError) return { status: 400, body: { message: error.message } };
  if (error instanceof JobNotFoundError) return { status: 404, body: { message: error.message } };
  if (error instanceof StackBusyError) {
    const { message, jobId, jobState, stackName } = error;
    return { status: 409, body: { message, jobId, jobState, stackName } };
  }
  if (error instanceof JobFinishedError) {
    return { status: 409, body: { message: error.message, jobId: error.job.id } };
  }
  if (error instanceof ServiceStoppingError) return { status: 503, body: { message: error.message } };
  if (error instanceof StoreUnavailableError) {
    return {
      status: 503,
      body: { message: error.message },
      headers: { "Retry-After": String(error.retryAfterSeconds) },
    };
  }
  if (error instanceof QueueFullError) return { status: 429, body: { message: error.message } };
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  if (status >= 500) return { status, body: { message: `internal error: ${error.message}` } };
  return { status, body: { message: frameworkMessage(error, bodyLimit) } };
}

/**
 * The error handler of the app (and of Fastify's router errors, `frameworkErrors`): every error is
 * JSON `{ message }` with the status it means, and every 5xx is logged as a JSON line (method,
 * route, job, error, stack) so that an operator can find what failed.
 */
export function errorHandler(
  bodyLimit: number,
  log: ErrorLog,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return (error, request, reply) => {
    const { status, body, headers } = answerOf(error, bodyLimit);
    if (status >= 500) {
      const params = request.params as { id?: unknown } | undefined;
      log(
        `${JSON.stringify({
          level: "error",
          time: new Date().toISOString(),
          status,
          method: request.method,
          route: request.routeOptions?.url,
          url: request.url,
          jobId: typeof params?.id === "string" ? params.id : undefined,
          error: error.message,
          stack: error.stack,
        })}\n`,
      );
    }
    return reply
      .code(status)
      .headers({ ...API_HEADERS, ...headers })
      .send(body);
  };
}

/** Messages for requests Node.js's HTTP parser rejects before any route sees them. */
function clientErrorAnswer(error: Error & { code?: string }): { status: number; message: string } {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, message: "headers (with the url) are larger than the 16 KiB allowed" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, message: "the request (headers and body) did not arrive in time" };
    case "HPE_INVALID_METHOD":
      return { status: 400, message: "method is not a valid HTTP method" };
    case "HPE_INVALID_URL":
      return { status: 400, message: "url is not a valid request target" };
    default:
      return { status: 400, message: `request is not valid HTTP/1.1 (${error.code ?? error.message})` };
  }
}

/** Fastify's `clientErrorHandler`: the same JSON `{ message }` shape, then the socket is closed. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const { status, message } = clientErrorAnswer(error);
  const body = JSON.stringify({ message });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
