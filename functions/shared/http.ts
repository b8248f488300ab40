import type { APIGatewayProxyEvent, APIGatewayProxyResult } from "aws-lambda";

/** API Gateway accepts up to 10 MB; a user record is far smaller, so anything bigger is a mistake or abuse. */
export const MAX_BODY_BYTES = 16 * 1024;

const JSON_HEADERS = { "Content-Type": "application/json" } as const;

/** An error whose message is safe to show the caller, with the status it maps to. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/**
 * Longest message an error response carries: messages quote what the caller sent, and an answer
 * must not grow with the request (a body of thousands of unknown keys is not a 100 KB reply).
 */
export const MAX_MESSAGE_CHARACTERS = 1024;

export function errorResponse(statusCode: number, message: string): APIGatewayProxyResult {
  const bounded =
    message.length > MAX_MESSAGE_CHARACTERS ? `${message.slice(0, MAX_MESSAGE_CHARACTERS - 1)}…` : message;
  return json(statusCode, { message: bounded });
}

export function noContent(): APIGatewayProxyResult {
  return { statusCode: 204, headers: {}, body: "" };
}

// Fatal: a body that is not UTF-8 is refused rather than parsed with replacement characters.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The request body as a JSON object: 413 when over `MAX_BODY_BYTES` (measured after base64 decoding,
 * because that is what would be parsed), 400 when missing, not a string, not strict base64 (when
 * `isBase64Encoded`), not UTF-8, malformed or not an object. Never throws anything but an `HttpError`:
 * the event fields are checked here, at runtime, because a malformed event reaches the handler untyped.
 */
export function parseJsonObjectBody(event: Pick<APIGatewayProxyEvent, "body" | "isBase64Encoded">): {
  [field: string]: unknown;
} {
  const { body, isBase64Encoded } = event as { body: unknown; isBase64Encoded: unknown };
  if (body === null || body === undefined || body === "") {
    throw new HttpError(400, "Request body is required");
  }
  if (typeof body !== "string") {
    throw new HttpError(
      400,
      `Request body must be a string (JSON text, or base64 with isBase64Encoded), not ${typeName(body)}`,
    );
  }
  if (isBase64Encoded !== undefined && isBase64Encoded !== null && typeof isBase64Encoded !== "boolean") {
    throw new HttpError(400, `isBase64Encoded must be true or false, not ${typeName(isBase64Encoded)}`);
  }
  let text = body;
  if (isBase64Encoded) {
    const bytes = Buffer.from(body, "base64");
    // Node's decoder skips characters outside the alphabet; API Gateway sends canonical base64, so
    // anything that does not re-encode to itself (stray characters, missing padding) is not ours.
    if (bytes.toString("base64") !== body) {
      throw new HttpError(
        400,
        "Request body is not valid base64 (isBase64Encoded is true): only A-Z, a-z, 0-9, +, / and = padding",
      );
    }
    if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new HttpError(400, "Request body is not valid UTF-8");
    }
  } else if (Buffer.byteLength(body, "utf8") > MAX_BODY_BYTES) {
    throw tooLarge();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, "Request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, "Request body must be a JSON object");
  }
  return parsed as { [field: string]: unknown };
}

function tooLarge(): HttpError {
  return new HttpError(413, `Request body must be at most ${MAX_BODY_BYTES} bytes`);
}

/** What a caller sent instead of the expected type, for an error message: `null`, `undefined`, `an array`, `a number`. */
export function typeName(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "object" ? "an object" : `a ${type}`;
}

/** A path as API Gateway passes it on: absolute, printable ASCII, no query, no whitespace. */
const CLIENT_PATH = /^\/[\x21-\x3e\x40-\x7e]*$/;

/**
 * Where a created item is, as the path the client used: `requestContext.path` (`/prod/users` on an
 * execute-api URL, whose first segment is the stage; a custom domain's own path behind a base path
 * mapping) plus the id. The top-level `path` lacks the stage, so `/users/<id>` would 403 there. Only
 * an event without a usable `requestContext.path` gets that stage-less form, `fallback` + the id.
 */
export function createdLocation(
  event: Pick<APIGatewayProxyEvent, "requestContext">,
  id: string,
  fallback: string,
): string {
  const context: unknown = event.requestContext;
  const path =
    typeof context === "object" && context !== null ? (context as { path?: unknown }).path : undefined;
  const collection = typeof path === "string" && CLIENT_PATH.test(path) ? path.replace(/\/+$/, "") : fallback;
  return `${collection}/${encodeURIComponent(id)}`;
}
