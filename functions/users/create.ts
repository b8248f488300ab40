import type { APIGatewayProxyEvent } from "aws-lambda";
import { apiHandler } from "../shared/handler";
import { json, parseJsonObjectBody } from "../shared/http";
import { createUser } from "./table";
import { parseNewUser } from "./validation";

/** A path as API Gateway passes it on: absolute, printable ASCII, no query, no whitespace. */
const CLIENT_PATH = /^\/[\x21-\x3e\x40-\x7e]*$/;

/**
 * Where the new user is, as the path the client used: `requestContext.path` (`/prod/users` on an
 * execute-api URL, whose first segment is the stage; a custom domain's own path behind a base path
 * mapping) plus the id. The top-level `path` lacks the stage, so `/users/<id>` would 403 there. Only
 * an event without a usable `requestContext.path` gets that stage-less form.
 */
function userLocation(event: APIGatewayProxyEvent, userId: string): string {
  const context: unknown = event.requestContext;
  const path =
    typeof context === "object" && context !== null ? (context as { path?: unknown }).path : undefined;
  const collection = typeof path === "string" && CLIENT_PATH.test(path) ? path.replace(/\/+$/, "") : "/users";
  return `${collection}/${encodeURIComponent(userId)}`;
}

/** POST /users */
export const handler = apiHandler(async (event) => {
  const newUser = parseNewUser(parseJsonObjectBody(event));
  const user = await createUser(newUser);
  return json(201, user, { Location: userLocation(event, user.userId) });
});
