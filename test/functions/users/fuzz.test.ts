import * as assert from "node:assert/strict";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import * as fc from "fast-check";
import { apiGatewayEvent } from "../../../functions/shared/api-gateway-event";
import type { ApiHandler } from "../../../functions/shared/handler";
import { lambdaContext } from "../support/api-gateway";
import { createUsersTable, type LocalDynamoDb, sharedLocalDynamoDb } from "../support/local-dynamodb";
import { loadUsersRoutes, type UsersRoutes } from "../support/users-routes";

/**
 * Hundreds of generated hostile events against the real handlers and dynalite: requests a client can
 * send through API Gateway (any path, query, header or body), and events API Gateway never sends
 * (null, wrong types, missing fields). Each run prints its seed when it fails; replay one with
 * FUZZ_SEED=<seed>. FUZZ_RUNS sets the runs per property (default 300).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

/** Fields a 4xx may be about: every message must name one (or, for 404/409, the user). */
const FIELD =
  /\b(event|body|isBase64Encoded|pathParameters|queryStringParameters|userId|name|email|limit|nextToken)\b|is not an allowed field/;
/** What a 404 or 409 names: the user, by the id the caller sent. */
const USER = /^User [A-Za-z0-9_-]{1,64} (not found|already exists)$/;

// Characters that break naive code: controls, invisibles, a lone surrogate, URL and JSON syntax.
const NASTY = [
  "\u0000",
  "\n",
  "\u001b",
  "\u007f",
  "\u200b",
  "\u200d",
  "\ufeff",
  "\u3164",
  "\u2800",
  "\u0301",
  "\u202e",
  "\ud800",
  "\udfff",
  "😀",
  "é",
  "%",
  "%zz",
  "%00",
  "/",
  "?",
  "#",
  "&",
  "=",
  "+",
  "{",
  "}",
  '"',
  "\\",
  " ",
  "a",
  "Z",
  "0",
  "-",
  "_",
  "@",
  ".",
];

const hostileText = fc.oneof(
  fc.string({ unit: fc.constantFrom(...NASTY), maxLength: 24 }),
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.string({ unit: "grapheme", minLength: 190, maxLength: 260 }),
);
// A few ids recur, so that users created by one run are found, updated or deleted by later runs.
const userId = fc.oneof(
  { arbitrary: fc.constantFrom("alice", "bob", "carol"), weight: 3 },
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  hostileText,
);
const fieldValue = fc.oneof(hostileText, fc.jsonValue({ maxDepth: 2 }), fc.emailAddress());
const validUser = fc.record({
  userId: fc.constantFrom("alice", "bob", "carol", "dave"),
  name: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
  email: fc.emailAddress(),
});
const userObject = fc.oneof(
  validUser,
  // A PUT's body: no userId.
  validUser.map(({ userId: _, ...fields }) => fields),
  // One field hostile, the others valid: what reaches the checks after the first one fails.
  fc
    .tuple(validUser, fc.constantFrom("userId", "name", "email"), fieldValue)
    .map(([user, field, value]) => ({ ...user, [field]: value })),
  // Anything goes, unknown keys included.
  fc.record({ userId, name: fieldValue, email: fieldValue }, { requiredKeys: [] }).chain((user) =>
    fc
      .dictionary(fc.oneof(hostileText, fc.constantFrom("__proto__", "constructor")), fc.jsonValue(), {
        maxKeys: 3,
      })
      .map((extra) => ({ ...extra, ...user })),
  ),
);
const manyUnknownKeys = fc
  .integer({ min: 1, max: 3000 })
  .map((count) => JSON.stringify(Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 0]))));
const body = fc.oneof(
  fc.constant(null),
  hostileText,
  { arbitrary: userObject.map((user) => JSON.stringify(user)), weight: 4 },
  fc.jsonValue().map((value) => JSON.stringify(value)),
  manyUnknownKeys,
  // Bytes: the builder sends them base64-encoded, as API Gateway does for binary media types.
  fc.uint8Array({ maxLength: 64 }),
  userObject.map((user) => new TextEncoder().encode(JSON.stringify(user))),
);
/** A path segment the route template matches: anything but `/`, `?` and empty. */
const segment = userId.map((text) => text.replace(/[/?]/g, "%2F") || "x");
const queryValue = fc.oneof(
  hostileText,
  fc.integer({ min: -5, max: 200 }).map(String),
  fc.jsonValue({ maxDepth: 2 }).map((value) => Buffer.from(JSON.stringify(value)).toString("base64url")),
);
// `&` and `#` would end the parameter; anything else, malformed escapes included, goes as sent.
const escapeQuery = (text: string) => text.replace(/[&#]/g, encodeURIComponent);
const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom("limit", "nextToken"), hostileText), queryValue), { maxLength: 4 })
  .map((pairs) => pairs.map(([name, value]) => `${escapeQuery(name)}=${escapeQuery(value)}`).join("&"));
const headers = fc.dictionary(
  fc.oneof(fc.constantFrom("Content-Type", "X-Forwarded-For", "User-Agent", "Host"), hostileText),
  fc.oneof(hostileText, fc.array(hostileText, { maxLength: 3 })),
  { maxKeys: 4 },
);

type RouteName = keyof UsersRoutes;
const ROUTES: { route: RouteName; httpMethod: string; resource: string }[] = [
  { route: "list", httpMethod: "GET", resource: "/users" },
  { route: "create", httpMethod: "POST", resource: "/users" },
  { route: "get", httpMethod: "GET", resource: "/users/{userId}" },
  { route: "update", httpMethod: "PUT", resource: "/users/{userId}" },
  { route: "remove", httpMethod: "DELETE", resource: "/users/{userId}" },
  { route: "health", httpMethod: "GET", resource: "/health" },
];

/** A request a client can make, as the shared builder turns it into API Gateway's event. */
const clientRequest = fc
  .record({
    target: fc.constantFrom(...ROUTES),
    segment,
    query,
    headers,
    body,
    gatewayHeaders: fc.boolean(),
    // A text body flagged as base64: what a binary media type mapping does to a client's text.
    flipBase64: fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0),
  })
  .map(({ target, segment, query, headers, body, gatewayHeaders, flipBase64 }) => {
    const path = target.resource.replace("{userId}", segment) + (query ? `?${query}` : "");
    const event = apiGatewayEvent({ ...target, path, headers, body, gatewayHeaders });
    if (flipBase64 && typeof body === "string") event.isBase64Encoded = true;
    return { route: target.route, event: event as unknown };
  });

const EVENT_FIELDS = [
  "body",
  "isBase64Encoded",
  "pathParameters",
  "queryStringParameters",
  "requestContext",
  "headers",
  "multiValueHeaders",
  "httpMethod",
];
/** Events API Gateway never sends: not an object, or a real event with a field removed or replaced. */
const malformedEvent = fc.record({
  route: fc.constantFrom(...ROUTES.map((target) => target.route)),
  event: fc.oneof(
    fc.constantFrom(null, undefined, 0, "", [], {}, true),
    fc.anything(),
    fc
      .tuple(clientRequest, fc.constantFrom(...EVENT_FIELDS), fc.anything(), fc.boolean())
      .map(([request, field, value, remove]) => {
        const event = { ...(request.event as Record<string, unknown>) };
        if (remove) delete event[field];
        else event[field] = value;
        return event as unknown;
      }),
  ),
});

describe("users API handlers fuzzed with hostile events", () => {
  let db: LocalDynamoDb;
  let routes: UsersRoutes;
  let restoreEnvironment: () => void;

  before(async () => {
    db = await sharedLocalDynamoDb();
    ({ routes, restore: restoreEnvironment } = await loadUsersRoutes(db));
    // One table for every run: users created by one run are what later runs get, update or delete.
    process.env.TABLE_NAME = await createUsersTable(db.client);
  });

  after(() => restoreEnvironment?.());

  /** Invokes the handler and returns its answer, or what it threw (which no property allows). */
  async function invoke(handler: ApiHandler, event: unknown) {
    try {
      return { result: await handler(event as APIGatewayProxyEvent, lambdaContext() as Context) };
    } catch (error) {
      return { thrown: error };
    }
  }

  const property = (run: (result: APIGatewayProxyResult) => void) =>
    fc.asyncProperty(
      fc.oneof({ arbitrary: clientRequest, weight: 3 }, malformedEvent),
      async ({ route, event }) => {
        const { result, thrown } = await invoke(routes[route], event);
        assert.equal(thrown, undefined, `${route} threw ${String(thrown)}`);
        run(result!);
      },
    );
  const check = (run: (result: APIGatewayProxyResult) => void) =>
    fc.assert(property(run), { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) });

  it("never throws and never answers a 5xx", async () => {
    await check((result) => {
      assert.ok(
        result.statusCode >= 200 && result.statusCode < 500,
        `status ${result.statusCode}: ${result.body}`,
      );
    });
  });

  it("answers every 4xx with a bounded JSON message naming its field", async () => {
    await check((result) => {
      if (result.statusCode < 400) return;
      assert.equal(result.headers?.["Content-Type"], "application/json");
      const { message } = JSON.parse(result.body) as { message: unknown };
      assert.equal(typeof message, "string");
      assert.ok(result.body.length <= 2048, `a ${result.body.length}-character answer`);
      const named = result.statusCode === 404 || result.statusCode === 409 ? USER : FIELD;
      assert.match(message as string, named);
    });
  });

  it("answers every 2xx with a JSON body, or an empty one for 204", async () => {
    await check((result) => {
      if (result.statusCode >= 300) return;
      if (result.statusCode === 204) assert.equal(result.body, "");
      else assert.doesNotThrow(() => JSON.parse(result.body));
    });
  });
});
