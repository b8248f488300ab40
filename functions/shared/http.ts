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

export function errorResponse(statusCode: number, message: string): APIGatewayProxyResult {
  return json(statusCode, { message });
}

export function noContent(): APIGatewayProxyResult {
  return { statusCode: 204, headers: {}, body: "" };
}

/**
 * The request body as a JSON object: 413 when over `MAX_BODY_BYTES` (measured after base64 decoding,
 * because that is what would be parsed), 400 when missing, malformed or not an object.
 */
export function parseJsonObjectBody(event: Pick<APIGatewayProxyEvent, "body" | "isBase64Encoded">): {
  [field: string]: unknown;
} {
  if (event.body === null || event.body === undefined || event.body === "") {
    throw new HttpError(400, "Request body is required");
  }
  const bytes = event.isBase64Encoded ? Buffer.from(event.body, "base64") : Buffer.from(event.body, "utf8");
  if (bytes.byteLength > MAX_BODY_BYTES) {
    throw new HttpError(413, `Request body must be at most ${MAX_BODY_BYTES} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new HttpError(400, "Request body is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, "Request body must be a JSON object");
  }
  return parsed as { [field: string]: unknown };
}
