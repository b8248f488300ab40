import type {
  APIGatewayProxyEvent,
  APIGatewayProxyHandler,
  APIGatewayProxyResult,
  Context,
} from "aws-lambda";
import { errorResponse, HttpError, typeName } from "./http";
import { logger } from "./logger";
import { recordServerError } from "./metrics";

/** What each route module exports as `handler`: promise-based, so it needs no Lambda callback. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

// The event fields that routes read as maps of strings; checked once here, so that no route has to
// distrust its typed event.
const STRING_MAPS = ["pathParameters", "queryStringParameters"] as const;

/**
 * Wraps a route: tags the invocation's log lines with the Lambda and API Gateway request ids, answers
 * a malformed event with a 400 naming the field, turns an `HttpError` into its JSON response and
 * anything else into a logged, opaque 500. The returned promise never rejects: Lambda would report a
 * thrown error to API Gateway as a 502 with no JSON body.
 *
 * Because it never rejects, Lambda's `Errors` metric never counts a failed request; so every 5xx it
 * answers (thrown or returned by the route) writes one `ServerErrors` EMF line (see `./metrics`),
 * the metric the canary's rollback alarm watches on the `live` alias.
 */
export function apiHandler(route: ApiHandler): ApiHandler {
  // `satisfies` proves at compile time that Lambda can invoke the result as a proxy handler.
  return (async (event, context) => {
    try {
      // Inside the guarded block: a null event or context must become a response, not a TypeError.
      // Keys appended during the previous invocation of this container must not leak into this one.
      logger.resetKeys();
      if (typeof context === "object" && context !== null) logger.addContext(context);
      const requestId = (event as { requestContext?: { requestId?: unknown } } | null)?.requestContext
        ?.requestId;
      if (typeof requestId === "string") logger.setCorrelationId(requestId);
      checkEvent(event);
      return counted(await route(event, context), context);
    } catch (error) {
      return counted(failure(error), context);
    }
  }) satisfies APIGatewayProxyHandler;
}

/** 400 naming the field when `event` is not shaped as API Gateway's REST API proxy event. */
function checkEvent(event: unknown): void {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new HttpError(
      400,
      `event must be an API Gateway REST API proxy event (an object), not ${typeName(event)}`,
    );
  }
  for (const field of STRING_MAPS) {
    const map: unknown = (event as Record<string, unknown>)[field];
    if (map === null || map === undefined) continue;
    if (typeof map !== "object" || Array.isArray(map)) {
      throw new HttpError(400, `${field} must be null or an object of strings, not ${typeName(map)}`);
    }
    for (const [name, value] of Object.entries(map)) {
      if (typeof value !== "string") {
        // Cut short: the name comes from the caller.
        throw new HttpError(400, `${field}.${name.slice(0, 64)} must be a string, not ${typeName(value)}`);
      }
    }
  }
}

/** `response`, after counting it as a server error when its status is 5xx. */
function counted(response: APIGatewayProxyResult, context: Context): APIGatewayProxyResult {
  const status = (response as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number" && status >= 500 && status <= 599) recordServerError(context, status);
  return response;
}

function failure(error: unknown): APIGatewayProxyResult {
  if (error instanceof HttpError) {
    logger.debug("Request rejected", { statusCode: error.statusCode, reason: error.message });
    return errorResponse(error.statusCode, error.message);
  }
  try {
    logger.error("Request failed", error instanceof Error ? error : String(error));
  } catch {
    // An error that cannot even be logged (String() of a null-prototype object throws) must still
    // leave the caller with a JSON 500.
  }
  return errorResponse(500, "Internal server error");
}
