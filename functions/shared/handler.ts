import type {
  APIGatewayProxyEvent,
  APIGatewayProxyHandler,
  APIGatewayProxyResult,
  Context,
} from "aws-lambda";
import { errorResponse, HttpError } from "./http";
import { logger } from "./logger";

/** What each route module exports as `handler`: promise-based, so it needs no Lambda callback. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Wraps a route: tags the invocation's log lines with the Lambda and API Gateway request ids, turns
 * an `HttpError` into its JSON response and anything else into a logged, opaque 500.
 */
export function apiHandler(route: ApiHandler): ApiHandler {
  // `satisfies` proves at compile time that Lambda can invoke the result as a proxy handler.
  return (async (event, context) => {
    // Keys appended during the previous invocation of this container must not leak into this one.
    logger.resetKeys();
    logger.addContext(context);
    logger.setCorrelationId(event.requestContext?.requestId);
    try {
      return await route(event, context);
    } catch (error) {
      if (error instanceof HttpError) {
        logger.debug("Request rejected", { statusCode: error.statusCode, reason: error.message });
        return errorResponse(error.statusCode, error.message);
      }
      logger.error("Request failed", error instanceof Error ? error : String(error));
      return errorResponse(500, "Internal server error");
    }
  }) satisfies APIGatewayProxyHandler;
}
